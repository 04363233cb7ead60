"""Both adapters tell the job gate (bot/runtime/jobs.py) about their acks, so post-ack work waits for a pause in them:
each ack is marked (the HTTP listener's handler in HTTP mode, the Socket Mode client's handler in Socket Mode), and
each mode answers the gate's question "are requests still waiting for their ack?".
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest

from bot.slack.socket import CountingPool
from sandbox.world import Sandbox


@pytest.fixture(scope="module")
def socket_world() -> Iterator[Sandbox]:
    with Sandbox(socket_mode=True) as box:
        yield box


def _wait_for(predicate: Callable[[], bool], timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return False


def test_every_ack_is_marked_for_the_job_gate(box: Sandbox) -> None:
    jobs = box.server.bot.jobs
    before = jobs.acks_answered
    box.slash("U0JDOE", "5x")  # refused in the ack
    box.slash("U0JDOE", "1h")  # issued after the ack
    # Socket Mode: the fake has the ack before the handler's `acking()` block has closed.
    assert _wait_for(lambda: jobs.acks_answered == before + 2), jobs.acks_answered - before
    assert box.wait_private("U0JDOE")


def test_http_mode_reports_requests_queued_on_the_event_loop(http_box: Sandbox) -> None:
    server = http_box.server
    assert server.loop_backlog() is False  # idle: a callback posted now runs at once
    blocker, blocking = threading.Event(), threading.Event()

    def busy() -> None:  # stands for requests being answered on the loop
        blocking.set()
        blocker.wait(10)

    server.loop.call_soon_threadsafe(busy)
    assert blocking.wait(10)
    try:
        assert server.loop_backlog() is True
    finally:
        blocker.set()
    assert _wait_for(lambda: server.loop_backlog() is False)


def test_socket_mode_reports_envelopes_not_yet_acked(socket_world: Sandbox) -> None:
    client = socket_world.server.socket_client
    assert _wait_for(lambda: client.backlog() is False)
    release, started = threading.Event(), threading.Event()

    def answering() -> None:  # stands for an envelope being answered on the client's ack pool
        started.set()
        release.wait(10)

    client.message_workers.submit(answering)
    try:
        assert started.wait(10)
        assert client.backlog() is True
    finally:
        release.set()
    assert _wait_for(lambda: client.backlog() is False)


def test_the_socket_ack_pool_counts_the_tasks_it_has_not_finished() -> None:
    pool = CountingPool(max_workers=1, thread_name_prefix="test-ack")
    release, started = threading.Event(), threading.Event()

    def held() -> None:
        started.set()
        release.wait(10)

    try:
        assert pool.unfinished == 0
        pool.submit(held)
        pool.submit(lambda: None)  # queued behind it
        assert started.wait(10)
        assert pool.unfinished == 2
        release.set()
        assert _wait_for(lambda: pool.unfinished == 0)
    finally:
        release.set()
        pool.shutdown(wait=True)
