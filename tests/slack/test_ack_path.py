"""The ack path does no I/O: with post-ack work held back, the listeners and middleware ack every kind of
request while the fakes record no call at all (no users.info, no exec, no registry, no audit post).

A careless `users.info` in middleware would stall every ack in production; here it fails CI instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from sandbox.slack import wait_for
from sandbox.world import Sandbox


@pytest.fixture(scope="module", params=["http", "socket"])
def quiet(request: pytest.FixtureRequest) -> Iterator[Sandbox]:
    with Sandbox(socket_mode=request.param == "socket") as box:
        yield box


def _io_so_far(box: Sandbox) -> tuple[int, int, int, int]:
    return len(box.slack.calls), len(box.kube.requests), len(box.kube.execs), box.registry.requests


def _settled(bot: Any) -> None:
    """Let the warm-up's work finish (after the private message come the ledger and the Home tab's refresh)
    and its audit be posted, so what the fakes record next is the ack path's alone."""
    wait_for(lambda: bot.jobs.in_flight == 0 and (bot.ui_jobs is None or bot.ui_jobs.in_flight == 0), 10)
    bot.flush_audit()


def test_listeners_and_middleware_make_no_call_before_the_ack(quiet: Sandbox) -> None:
    box = quiet
    assert box.server is not None and box.server.bot is not None
    box.slash("U0JDOE", "1h")  # warm every cache first: a cold one must not hide behind a warm one
    value = box.wait_private("U0JDOE")[-1].verify_value
    assert value is not None
    bot = box.server.bot
    _settled(bot)
    before = _io_so_far(box)
    acks: list[object] = []
    with bot.jobs.hold():
        acks.append(box.slash("U0JDOE", "2h")[1])  # issue
        acks.append(box.slash("U0ALICE", "help")[1])  # help
        acks.append(box.slash("U0MALLORY", "1h")[1])  # refused after the ack: its audit is I/O too
        acks.append(box.slash("U0JDOE", "5x")[1])  # refused in the ack
        acks.append(box.slash("U0JDOE", "1h", team_id="T0ELSEWHERE")[1])  # another workspace
        acks.append(box.slash("U0ALICE", "who")[1])  # who holds tokens: whether she is an admin is I/O
        box.click("U0JDOE", value)  # Verify
        assert _io_so_far(box) == before, "a listener or middleware made a network call before the ack"
    assert "Checking your request for a 2h token" in str(acks[0])
    assert "not a duration" in str(acks[3])
    assert "only serves its own Slack workspace" in str(acks[4])
    assert not isinstance(acks[5], dict) or not acks[5].get("text")
    # Released: the work happens after all (the sandbox's policy names no admins: `who` is refused, audited).
    assert box.wait_private("U0JDOE", count=2)
    box.wait_audit("refused", count=4)


def test_the_home_tab_form_renew_and_list_make_no_call_before_the_ack(quiet: Sandbox) -> None:
    """The token's life in Slack: app_home_opened, Get a token, a form submission (valid or not), Renew, Dismiss,
    `/rok-token list` are acked while both the main pool and the UI pool are held."""
    box = quiet
    assert box.server is not None and box.server.bot is not None
    bot = box.server.bot
    assert bot.ui_jobs is not None
    box.slash("U0BOB", "1h")
    box.wait_private("U0BOB")

    def renewable() -> list[str]:  # the Home tab, published again once the token is in the ledger
        home = box.slack.home_view("U0BOB") or {}
        return [b["accessory"]["value"] for b in home.get("blocks", []) if "accessory" in b and b["block_id"] != "get"]

    renew = box.slack.wait_for(renewable, 10)[0]
    home = box.slack.home_view("U0BOB")
    assert home is not None
    box.open_home("U0BOB")
    box.click_view("U0BOB", home, "get_token")
    form = box.wait_modal("U0BOB")
    _settled(bot)
    before = _io_so_far(box)
    values: dict[str, dict[str, dict[str, Any]]] = {  # block_id -> action_id -> the element's state
        "duration": {"duration": {"type": "static_select", "selected_option": {"value": "3600"}}},
        "duration_text": {"duration_text": {"type": "plain_text_input", "value": None}},
        "reason": {"reason": {"type": "plain_text_input", "value": None}},
    }
    bad = values | {"duration_text": {"duration_text": {"type": "plain_text_input", "value": "5x"}}}
    with bot.jobs.hold(), bot.ui_jobs.hold():
        box.open_home("U0BOB")
        box.click_view("U0BOB", home, "get_token")
        sent = box.submit_view("U0BOB", form, values)
        refused = box.submit_view("U0BOB", form, bad)
        box.click_view("U0BOB", home, "renew_token", value=renew)
        listed = box.slash("U0BOB", "list")[1]
        assert _io_so_far(box) == before, "a listener made a network call before the ack"
    assert sent is not None and sent["response_action"] == "update"
    assert refused is not None and "not a duration" in refused["errors"]["duration_text"]
    assert listed is None or not listed.get("text")
    # Released: the form's token, the renewal and the list arrive after all.
    box.wait_private("U0BOB", count=3)
    assert box.slack.block_errors == []
