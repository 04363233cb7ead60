"""Which registries answer: /readyz stays ready while one does, and `rok_bot_registry_up` says which one does not.

The probes are plain callables here (pure rule, no fakes); tests/e2e/test_registry_probe.py runs the real
probes against two fake clusters. The loops run on a ManualClock: no real waiting.
"""

from __future__ import annotations

import logging

import pytest
from prometheus_client import REGISTRY

from bot.domain.errors import ClusterError
from bot.runtime.clock import ManualClock
from bot.runtime.registry_health import PROBE_SECONDS, RegistryHealth
from bot.runtime.upkeep import Upkeep


class Switch:
    """A probe that answers while `up`, else raises what a dead API server raises."""

    def __init__(self) -> None:
        self.up = True
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if not self.up:
            raise ClusterError(detail="reading /version: connection refused to https://user:pw@10.0.0.1")
        return "v1.30.0"


def up(name: str) -> float | None:
    return REGISTRY.get_sample_value("rok_bot_registry_up", {"registry": name})


def test_ready_while_at_least_one_registry_answers() -> None:
    prod, staging = Switch(), Switch()
    health = RegistryHealth({"hp-prod": prod, "hp-staging": staging})
    assert health.report() == (True, {"registries": {"hp-prod": "pending", "hp-staging": "pending"}})
    health.probe_all()
    assert health.report() == (True, {"registries": {"hp-prod": "ok", "hp-staging": "ok"}})
    assert (up("hp-prod"), up("hp-staging")) == (1.0, 1.0)
    staging.up = False
    health.probe_all()
    assert health.report() == (True, {"registries": {"hp-prod": "ok", "hp-staging": "failing: cluster_error"}})
    assert (up("hp-prod"), up("hp-staging")) == (1.0, 0.0)
    assert not health.up("hp-staging") and health.up("hp-prod")
    prod.up = False
    health.probe_all()
    assert health.ready is False
    staging.up = True
    health.probe_all()
    assert health.ready is True and up("hp-staging") == 1.0


def test_a_registry_not_yet_probed_counts_as_up() -> None:
    """A start does not wait for the first round: pending is not down."""
    down = Switch()
    down.up = False
    health = RegistryHealth({"hp-a": down, "hp-b": Switch()})
    health.probe("hp-a")
    assert health.ready and health.states() == {"hp-a": "failing: cluster_error", "hp-b": "pending"}


def test_the_state_shows_no_url_and_the_log_says_it_once_per_outage(caplog: pytest.LogCaptureFixture) -> None:
    down = Switch()
    down.up = False
    health = RegistryHealth({"hp-once": down})
    with caplog.at_level(logging.INFO, logger="bot.runtime.registry_health"):
        for _ in range(3):
            health.probe("hp-once")
        down.up = True
        health.probe("hp-once")
    assert "10.0.0.1" not in str(health.report())
    assert [r.getMessage() for r in caplog.records] == ["registry probe failed", "registry probe answers again"]


def test_any_exception_marks_the_registry_down() -> None:
    def broken() -> None:
        raise OSError("no route to host")

    health = RegistryHealth({"hp-oserror": broken, "hp-other": broken})
    health.probe_all()
    assert health.states() == {"hp-oserror": "failing: OSError", "hp-other": "failing: OSError"}
    assert not health.ready


def test_one_registry_down_shows_but_leaves_the_bot_ready() -> None:
    """With one registry, users keep getting the bot's own "cluster could not be reached" sentence, as before."""
    down = Switch()
    down.up = False
    health = RegistryHealth({"hp-single": down})
    health.probe("hp-single")
    assert health.report() == (True, {"registries": {"hp-single": "failing: cluster_error"}})
    assert up("hp-single") == 0.0


def test_each_registry_is_probed_on_its_own_loop_once_the_server_is_ready_and_every_period() -> None:
    clock = ManualClock()
    prod, staging = Switch(), Switch()
    health = RegistryHealth({"hp-loop-prod": prod, "hp-loop-staging": staging})
    loops = health.loops()
    assert [loop.name for loop in loops] == ["registry-probe-hp-loop-prod", "registry-probe-hp-loop-staging"]
    upkeep = Upkeep(clock, loops)
    upkeep.start()
    try:
        assert upkeep.settle()
        assert (prod.calls, staging.calls) == (0, 0)  # not during the start (it loads the Kubernetes client)
        upkeep.ready()
        assert upkeep.settle()
        assert (prod.calls, staging.calls) == (1, 1)
        staging.up = False
        clock.advance(PROBE_SECONDS)
        assert upkeep.settle()
        assert (prod.calls, staging.calls) == (2, 2)
        assert health.states() == {"hp-loop-prod": "ok", "hp-loop-staging": "failing: cluster_error"}
    finally:
        upkeep.stop()
