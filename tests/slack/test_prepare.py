"""`serve` imports what the bot is assembled with while auth.test waits on Slack (BotServer's `prepare`), and
joins it before the assembly: against the fake Slack answering auth.test late, as Slack does from a cluster."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from bot.bootstrap import build_web_client
from bot.domain.identity import Workspace
from bot.slack.server import BotServer
from sandbox.world import Sandbox


class _Assembled(Exception):
    """Stops the start once the assembly was reached (this test needs nothing after it)."""


def test_prepare_runs_while_auth_test_waits_and_ends_before_the_assembly() -> None:
    seen: dict[str, object] = {}
    done = threading.Event()
    with Sandbox(start_bot=False) as box:
        box.slack.latency = 0.3
        settings = box.settings()

        def prepare() -> None:
            seen["answered_at_start"] = bool(box.slack.calls_to("auth.test"))
            # Only a prepare that runs beside auth.test sees its answer come while it waits.
            seen["answered_meanwhile"] = bool(box.slack.wait_for_calls("auth.test", timeout=5))
            seen["thread"] = threading.current_thread().name
            done.set()

        def assemble(client: object, workspace: Workspace) -> Any:
            seen["prepared_before_assembly"] = done.is_set()
            raise _Assembled

        server: BotServer[Any] = BotServer(
            settings, connect=lambda: build_web_client(settings), assemble=assemble, prepare=prepare
        )
        try:
            with pytest.raises(_Assembled):
                server.start(auth_attempts=1)
        finally:
            server.stop(drain_timeout=0)
    assert seen == {
        "answered_at_start": False,
        "answered_meanwhile": True,
        "thread": "prepare",
        "prepared_before_assembly": True,
    }
