"""The registries' probe on real clients: each registry's engine (build_engines) against its own fake cluster;
one cluster gone leaves the bot ready and `rok_bot_registry_up` at 0 for that registry only."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from bot.bootstrap import build_engine, build_engines, registry_health
from bot.runtime.clock import SystemClock
from bot.settings import SettingsError, load_settings
from tests.e2e.registries import Site, two_sites, write_world


@pytest.fixture
def sites(clean_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Site]]:
    with two_sites() as built:
        monkeypatch.setenv("ROK_BOT_REGISTRIES", str(write_world(built, tmp_path)))
        yield built


def up(name: str) -> float | None:
    return REGISTRY.get_sample_value("rok_bot_registry_up", {"registry": name})


def test_each_registry_gets_its_own_engine_and_the_probe_names_the_one_down(sites: dict[str, Site]) -> None:
    engines = build_engines(load_settings(), clock=SystemClock())
    try:
        assert list(engines) == ["prod", "staging"]
        assert engines["staging"].name == "staging"
        assert engines["staging"].executor.where == "namespace 'rok-staging', Service 'rok-registry'"
        assert engines["prod"].executor.api_host == sites["prod"].kube.url
        assert engines["staging"].executor.api_host == sites["staging"].kube.url  # its context, not current-context
        health = registry_health(engines)
        health.probe_all()
        assert health.report() == (True, {"registries": {"prod": "ok", "staging": "ok"}})
        assert (up("prod"), up("staging")) == (1.0, 1.0)
        assert [site.kube.execs for site in sites.values()] == [[], []]  # a probe never execs

        sites["staging"].kube.stop()
        health.probe_all()
        ready, checks = health.report()
        assert ready and checks["registries"]["prod"] == "ok"
        assert checks["registries"]["staging"] == "failing: MaxRetryError"  # connection refused, after retries
        assert (up("prod"), up("staging")) == (1.0, 0.0)
        sites["prod"].kube.stop()
        health.probe_all()
        assert health.report()[0] is False
    finally:
        engines.close()


def test_building_one_engine_with_several_registries_needs_its_name(sites: dict[str, Site]) -> None:
    settings = load_settings()
    with pytest.raises(SettingsError, match=r"several registries are configured \(prod, staging\)"):
        build_engine(settings, clock=SystemClock())
    engine = build_engine(settings, settings.registries()["staging"], clock=SystemClock())
    try:
        assert engine.engine.account("jdoe").username == "jdoe"
        assert len(sites["staging"].kube.execs) == 1 and sites["prod"].kube.execs == []
    finally:
        engine.close()
