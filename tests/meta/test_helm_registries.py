"""The Helm chart's `registries` values and the bot's ROK_BOT_REGISTRIES file stay in step.

The chart renders the file (templates/_helpers.tpl, `rok-token-bot.registriesFile`) and .ci/helm.sh checks the
renders with scripts/helmcheck.py; neither can import the bot. These tests can: a key added to the file's model
without a way to set it from the chart, or unknown to the render checks, fails here, not in a cluster.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

from bot.domain.registries import Registry

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "rok-token-bot"

# Each key of the file, and the value of a `registries` entry the chart renders it from.
FILE_KEY_FROM_VALUE = {
    "name": "name",
    "title": "title",
    "url": "url",
    "kubeconfig": "kubeconfigSecret",  # the path where the chart mounts that Secret
    "context": "context",
    "namespace": "namespace",
    "service": "service",
    "container": "container",
    "ca_bundle": "caBundle",  # the path where the chart mounts that ConfigMap's key
    "allow_http": "allowHttp",
    "max_concurrent_execs": "maxConcurrentExecs",
    "channels": "channels",
    "user_map": "userMap",  # the path of the map the chart writes to its ConfigMap
    "policy": "policy",
}


def _helmcheck() -> ModuleType:
    spec = importlib.util.spec_from_file_location("helmcheck", ROOT / "scripts" / "helmcheck.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    return module


def test_the_chart_can_set_every_key_of_the_registries_file() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text(encoding="utf-8"))
    values = set(schema["definitions"]["registry"]["properties"])
    assert set(FILE_KEY_FROM_VALUE) == set(Registry.model_fields), "a file key the chart cannot set, or a stale one"
    missing = sorted(set(FILE_KEY_FROM_VALUE.values()) - values)
    assert not missing, f"values.schema.json has no registries[].{missing}"
    template = (CHART / "templates" / "_helpers.tpl").read_text(encoding="utf-8")
    unrendered = [key for key in FILE_KEY_FROM_VALUE if f'"{key}"' not in template]
    assert not unrendered, f"the registries file template never writes {unrendered}"


def test_the_render_checks_know_the_file_keys() -> None:
    assert set(Registry.model_fields) == _helmcheck().REGISTRY_FILE_KEYS


def test_the_chart_readme_documents_every_registry_value() -> None:
    readme = (CHART / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Several registries", 1)[1].split("\n## ", 1)[0]
    schema = json.loads((CHART / "values.schema.json").read_text(encoding="utf-8"))
    values = schema["definitions"]["registry"]["properties"]
    missing = [key for key in values if f"`{key}" not in section]
    assert not missing, f'"Several registries" in the chart README does not document {missing}'
