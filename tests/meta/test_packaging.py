"""Packaging: one version (pyproject's) everywhere, and the Apache-2.0 license declared and shipped."""

from __future__ import annotations

import tomllib
from importlib.metadata import metadata
from pathlib import Path

import yaml

import bot

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def test_the_package_reports_the_version_pyproject_declares() -> None:
    """A stale install (pyproject bumped, not reinstalled) fails here: reinstall with `pip install -e .`."""
    assert bot.__version__ == PROJECT["version"]


def test_the_charts_app_version_is_the_package_version() -> None:
    chart = yaml.safe_load((ROOT / "helm" / "rok-token-bot" / "Chart.yaml").read_text(encoding="utf-8"))
    assert chart["appVersion"] == PROJECT["version"], "bump appVersion in Chart.yaml with pyproject's version"


def test_the_charts_artifact_hub_annotations_name_the_image_license_and_changes() -> None:
    """Artifact Hub shows these: the image must be the one the chart runs by default, at the app's version."""
    chart = yaml.safe_load((ROOT / "helm" / "rok-token-bot" / "Chart.yaml").read_text(encoding="utf-8"))
    values = yaml.safe_load((ROOT / "helm" / "rok-token-bot" / "values.yaml").read_text(encoding="utf-8"))
    annotations = chart["annotations"]
    assert annotations["artifacthub.io/license"] == PROJECT["license"]
    [image] = yaml.safe_load(annotations["artifacthub.io/images"])
    assert image == {"name": "rok-token-bot", "image": f"{values['image']['repository']}:{PROJECT['version']}"}
    changes = yaml.safe_load(annotations["artifacthub.io/changes"])
    assert changes and all(set(c) == {"kind", "description"} for c in changes)
    assert {c["kind"] for c in changes} <= {"added", "changed", "deprecated", "removed", "fixed", "security"}


def test_the_license_is_apache_2_declared_per_pep_639_and_shipped() -> None:
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License\n                           Version 2.0, January 2004" in text
    assert "TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION" in text
    assert "END OF TERMS AND CONDITIONS" in text
    assert PROJECT["license"] == "Apache-2.0"
    assert PROJECT["license-files"] == ["LICENSE"]
    # PEP 639: a license expression excludes License :: classifiers.
    assert not [c for c in PROJECT["classifiers"] if c.startswith("License ::")]
    installed = metadata("rok-token-bot")
    assert installed["License-Expression"] == "Apache-2.0"
    assert installed.get_all("License-File") == ["LICENSE"]
