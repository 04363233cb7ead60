"""The ack path does no I/O: with post-ack work held back, the listeners and middleware ack every kind of
request while the fakes record no call at all (no users.info, no exec, no registry, no audit post).

A careless `users.info` in middleware would stall every ack in production; here it fails CI instead.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from sandbox.world import Sandbox


@pytest.fixture(scope="module", params=["http", "socket"])
def quiet(request: pytest.FixtureRequest) -> Iterator[Sandbox]:
    with Sandbox(socket_mode=request.param == "socket") as box:
        yield box


def _io_so_far(box: Sandbox) -> tuple[int, int, int, int]:
    return len(box.slack.calls), len(box.kube.requests), len(box.kube.execs), box.registry.requests


def test_listeners_and_middleware_make_no_call_before_the_ack(quiet: Sandbox) -> None:
    box = quiet
    assert box.server is not None and box.server.bot is not None
    box.slash("U0JDOE", "1h")  # warm every cache first: a cold one must not hide behind a warm one
    value = box.wait_private("U0JDOE")[-1].verify_value
    assert value is not None
    bot = box.server.bot
    # The job records its audit event after the private message: let it finish before the audit is flushed.
    deadline = time.monotonic() + 10
    while bot.jobs.in_flight and time.monotonic() < deadline:
        time.sleep(0.01)
    bot.audit.flush()
    before = _io_so_far(box)
    acks: list[object] = []
    with bot.jobs.hold():
        acks.append(box.slash("U0JDOE", "2h")[1])  # issue
        acks.append(box.slash("U0ALICE", "help")[1])  # help
        acks.append(box.slash("U0MALLORY", "1h")[1])  # refused after the ack: its audit is I/O too
        acks.append(box.slash("U0JDOE", "5x")[1])  # refused in the ack
        acks.append(box.slash("U0JDOE", "1h", team_id="T0ELSEWHERE")[1])  # another workspace
        box.click("U0JDOE", value)  # Verify
        assert _io_so_far(box) == before, "a listener or middleware made a network call before the ack"
    assert "Checking your request for a 2h token" in str(acks[0])
    assert "not a duration" in str(acks[3])
    assert "only serves its own Slack workspace" in str(acks[4])
    # Released: the work happens after all.
    assert box.wait_private("U0JDOE", count=2)
    box.wait_audit("refused", count=3)
