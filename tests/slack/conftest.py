"""The real Slack app against the fakes: one sandbox per module and mode, faults reset between tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sandbox.world import Sandbox


def _reset(box: Sandbox) -> None:
    box.slack.clear_faults()
    box.kube.exec_fault = None
    box.kube.exec_fault_commands = set()
    box.rok.fault = None
    box.rok.fault_commands = set()
    box.registry.fault = None
    box.rok.token_shape = "urlsafe"


@pytest.fixture(scope="module", params=["http", "socket"])
def world(request: pytest.FixtureRequest) -> Iterator[Sandbox]:
    """A running sandbox in HTTP mode and in Socket Mode."""
    with Sandbox(socket_mode=request.param == "socket") as box:
        yield box


@pytest.fixture
def box(world: Sandbox) -> Iterator[Sandbox]:
    _reset(world)
    yield world
    _reset(world)


@pytest.fixture(scope="module")
def http_world() -> Iterator[Sandbox]:
    """A running sandbox in HTTP mode only (signatures, HTTP status codes)."""
    with Sandbox() as box:
        yield box


@pytest.fixture
def http_box(http_world: Sandbox) -> Iterator[Sandbox]:
    _reset(http_world)
    yield http_world
    _reset(http_world)
