"""`serve` imports what the bot is assembled with while auth.test waits on Slack (BotServer's `prepare`), and
joins it before the assembly: against the fake Slack answering auth.test late, as Slack does from a cluster. And
a start asks auth.test once: Bolt's App gets the server's answer (bot/slack/client.py)."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from slack_sdk.errors import SlackApiError

from bot.bootstrap import build_web_client
from bot.domain.identity import Workspace
from bot.slack.client import SlackClient
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


@pytest.mark.parametrize("socket_mode", [False, True], ids=["http", "socket"])
def test_a_start_asks_slack_for_auth_test_once_and_bolt_gets_that_answer(socket_mode: bool) -> None:
    with Sandbox(socket_mode=socket_mode) as box:
        box.idle()
        assert len(box.slack.calls_to("auth.test")) == 1
        # Every request after it went through Bolt's authorization, built on that one answer.
        box.slash("U0JDOE", "1h")
        box.wait_private("U0JDOE")
        assert len(box.slack.calls_to("auth.test")) == 1


def test_the_client_hands_the_answer_it_was_given_to_one_auth_test_of_its_own_token() -> None:
    with Sandbox(start_bot=False) as box:
        client = build_web_client(box.settings())
        answer = client.auth_test()
        assert isinstance(client, SlackClient)
        client.verified(answer)
        assert client.auth_test() is answer  # the hand-over: no call
        assert len(box.slack.calls_to("auth.test")) == 1
        assert client.auth_test() is not answer  # once only
        client.verified(answer)
        with pytest.raises(SlackApiError):  # another token: asked of Slack, which does not know it
            client.auth_test(token="xoxb-another")
        assert len(box.slack.calls_to("auth.test")) == 3
