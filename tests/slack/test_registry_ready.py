"""/readyz and `rok_bot_registry_up` on the running bot: the registry's cluster probed on the upkeep's clock."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from bot.runtime.registry_health import PROBE_SECONDS
from sandbox.world import Sandbox


@pytest.fixture
def box() -> Iterator[Sandbox]:
    with Sandbox() as box:
        yield box


def test_the_registry_probe_reaches_readyz_and_the_metric(box: Sandbox) -> None:
    ready = httpx.get(box.url + "/readyz")
    assert ready.status_code == 200 and ready.json()["checks"]["registries"] == {"default": "ok"}
    assert re.search(r'^rok_bot_registry_up\{registry="default"\} 1\.0$', httpx.get(box.url + "/metrics").text, re.M)
    box.kube.stop()  # the only registry's cluster is gone: shown, but the bot stays ready to say so to users
    box.advance(PROBE_SECONDS)
    ready = httpx.get(box.url + "/readyz")
    assert ready.status_code == 200 and ready.json()["checks"]["registries"]["default"].startswith("failing: ")
    assert re.search(r'^rok_bot_registry_up\{registry="default"\} 0\.0$', httpx.get(box.url + "/metrics").text, re.M)
    assert box.kube.execs == []  # probes never exec
