"""The admin's YAML files are read safely and on libyaml's C parser (bot/domain/yamlfile.py)."""

from __future__ import annotations

import pytest
import yaml

from bot.domain.yamlfile import safe_load, safe_loader


def test_the_c_parser_is_used_when_pyyaml_has_it() -> None:
    assert yaml.__with_libyaml__  # the locked wheels carry libyaml
    assert safe_loader() is yaml.CSafeLoader


def test_it_reads_what_safe_load_reads_and_refuses_python_tags() -> None:
    text = "a: 1\nb: [x, 'y']\nc: {d: 2026-12-07}\n"
    assert safe_load(text) == yaml.safe_load(text)
    with pytest.raises(yaml.YAMLError):
        safe_load("!!python/object/apply:os.system ['true']\n")
