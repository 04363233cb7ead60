"""ROK_BOT_REGISTRIES in the settings: the file, else one registry named `default`; both is an error."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot.settings import SettingsError, load_settings

URL = "https://rok.example.com/registry"


def registries_file(tmp_path: Path, *entries: dict[str, object]) -> Path:
    path = tmp_path / "registries.yaml"
    path.write_text(yaml.safe_dump({"registries": list(entries)}), encoding="utf-8")
    return path


def fails(monkeypatch: pytest.MonkeyPatch, **variables: str) -> str:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as err:
        load_settings()
    message = str(err.value)
    assert "\n" not in message and len(message) < 300
    return message


def test_unset_one_registry_named_default_from_the_rok_registry_settings(
    clean_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n", encoding="utf-8")
    for name, value in {
        "ROK_REGISTRY_URL": "http://rok-registry.rok.svc:8080/",
        "ROK_REGISTRY_ALLOW_HTTP": "true",
        "ROK_REGISTRY_NAMESPACE": "rok",
        "ROK_REGISTRY_SERVICE": "rok-api",
        "ROK_REGISTRY_CONTAINER": "api",
        "ROK_REGISTRY_CA_BUNDLE": str(ca),
        "ROK_BOT_MAX_CONCURRENT_EXECS": "8",
    }.items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    registries = settings.registries()
    assert registries.single and registries.names() == ("default",)
    (default,) = registries
    assert (default.name, default.title, default.url) == ("default", "default", "http://rok-registry.rok.svc:8080/")
    assert (default.namespace, default.service, default.container, default.ca_bundle) == ("rok", "rok-api", "api", ca)
    assert (default.allow_http, default.max_concurrent_execs) == (True, 8)
    assert (default.kubeconfig, default.context, default.user_map, default.channels) == (None, None, None, ())
    assert default.policy.empty and registries.default_for("C0ANY") is default
    # Everything that reads the single registry's settings today still does.
    assert (settings.registry_url, settings.namespace, settings.service) == (default.url, "rok", "rok-api")


def test_the_defaults_make_the_default_registry(clean_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROK_REGISTRY_URL", URL)
    settings = load_settings()
    assert settings.registries() is settings.registries()  # one catalogue, as with the file
    (default,) = settings.registries()
    assert (default.url, default.namespace, default.service, default.container) == (
        URL,
        "rok-registry",
        "rok-registry",
        None,
    )
    assert (default.ca_bundle, default.allow_http, default.max_concurrent_execs) == (None, False, 4)


def test_the_file_gives_the_registries(
    clean_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = registries_file(
        tmp_path,
        {"name": "prod", "url": "https://rok.prod.example.com", "channels": ["C0PRODOPS"]},
        {"name": "staging", "title": "Staging", "url": "https://rok.staging.example.com", "max_concurrent_execs": 2},
    )
    monkeypatch.setenv("ROK_BOT_REGISTRIES", str(path))
    settings = load_settings()
    registries = settings.registries()
    assert registries.names() == ("prod", "staging") and not registries.single
    assert registries.default_for("C0PRODOPS") is registries["prod"] and registries["staging"].max_concurrent_execs == 2
    assert settings.registries() is registries  # loaded once, at start
    assert settings.registry_url == ""


def test_a_context_alone_is_found_in_kubeconfig(
    clean_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = tmp_path / "config"
    config.write_text(yaml.safe_dump({"contexts": [{"name": "prod", "context": {}}]}), encoding="utf-8")
    path = registries_file(tmp_path, {"name": "prod", "url": URL, "context": "prod"})
    monkeypatch.setenv("ROK_BOT_REGISTRIES", str(path))
    message = fails(monkeypatch)
    assert message == "ROK_BOT_REGISTRIES: registry prod: context: needs a kubeconfig: set kubeconfig (or KUBECONFIG)"
    monkeypatch.setenv("KUBECONFIG", str(config))
    assert load_settings().registries()["prod"].context == "prod"


def test_both_the_file_and_a_registry_url_is_an_error(
    clean_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = registries_file(tmp_path, {"name": "prod", "url": URL})
    message = fails(monkeypatch, ROK_BOT_REGISTRIES=str(path), ROK_REGISTRY_URL=URL)
    assert message.startswith("ROK_BOT_REGISTRIES: set either it or ROK_REGISTRY_URL, not both")


def test_neither_is_the_error_of_today(clean_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    assert fails(monkeypatch) == "ROK_REGISTRY_URL: required but not set"


def test_an_invalid_file_stops_the_start_with_one_line(
    clean_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = registries_file(
        tmp_path,
        {"name": "prod", "url": URL, "channels": ["C0OPS"]},
        {"name": "staging", "url": "https://rok.staging.example.com", "channels": ["C0OPS"]},
    )
    message = fails(monkeypatch, ROK_BOT_REGISTRIES=str(path))
    assert message == "ROK_BOT_REGISTRIES: registry staging: channels: C0OPS is already the default of registry prod"


def test_a_missing_file_is_refused(clean_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    message = fails(monkeypatch, ROK_BOT_REGISTRIES=str(tmp_path / "absent.yaml"))
    assert message == f"ROK_BOT_REGISTRIES: {tmp_path / 'absent.yaml'} is not a readable file"
