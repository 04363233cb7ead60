"""The one clock and the upkeep loops that run on it: a manual clock ends waits when it is moved, not before."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import pytest

from bot.runtime.clock import ManualClock, SystemClock
from bot.runtime.upkeep import Loop, Upkeep

START = datetime(2026, 12, 1, 9, 30, 15, 123456, tzinfo=UTC)


def _eventually(condition: object, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return True
        time.sleep(0.005)
    return False


def test_a_manual_clock_stands_still_until_advanced_in_whole_seconds() -> None:
    clock = ManualClock(START)
    assert clock.now() == START.replace(microsecond=0) and clock.now().tzinfo is UTC
    mono = clock.monotonic()
    time.sleep(0.01)
    assert clock.now() == START.replace(microsecond=0) and clock.monotonic() == mono
    assert clock.advance(90) == START.replace(microsecond=0, minute=31, second=45)
    assert clock.monotonic() == mono + 90
    with pytest.raises(ValueError, match="does not go back"):
        clock.advance(-1)


def test_a_wait_on_a_manual_clock_ends_when_the_clock_passes_its_end_or_on_stop() -> None:
    clock, stop = ManualClock(START), threading.Event()
    ended: list[bool] = []
    waiter = threading.Thread(target=lambda: ended.append(clock.wait(60, stop)))
    waiter.start()
    clock.advance(59)
    waiter.join(0.2)
    assert waiter.is_alive() and ended == []  # a second of its time is still to pass
    clock.advance(1)
    waiter.join(5)
    assert ended == [False]
    stopped = threading.Thread(target=lambda: ended.append(clock.wait(3600, stop)))
    stopped.start()
    stop.set()
    stopped.join(5)
    assert ended == [False, True]


def test_the_system_clock_is_the_machines() -> None:
    clock = SystemClock()
    assert abs((clock.now() - datetime.now(UTC)).total_seconds()) < 5
    stop = threading.Event()
    stop.set()
    assert clock.wait(3600, stop) is True


def test_upkeep_runs_each_loop_at_start_then_every_so_often_of_the_clock() -> None:
    clock = ManualClock(START)
    rounds: list[tuple[str, datetime]] = []
    loops = [
        Loop("fast", 10, lambda: rounds.append(("fast", clock.now()))),
        Loop("slow", 60, lambda: rounds.append(("slow", clock.now())), at_start=False),
    ]
    upkeep = Upkeep(clock, loops)
    upkeep.start()
    try:
        assert _eventually(lambda: rounds == [("fast", clock.now())])
        clock.advance(10)
        assert _eventually(lambda: len(rounds) == 2)
        clock.advance(50)
        assert _eventually(lambda: sorted(name for name, _ in rounds) == ["fast", "fast", "fast", "slow"])
    finally:
        upkeep.stop(timeout=5)
    assert [t.name for t in threading.enumerate() if t.name in ("fast", "slow")] == []


def test_an_after_ready_loop_begins_when_the_server_is_ready_and_ends_with_the_upkeep_if_it_never_is() -> None:
    clock = ManualClock(START)
    rounds: list[str] = []
    loops = [
        Loop("at-start", 60, lambda: rounds.append("at-start")),
        Loop("later", 60, lambda: rounds.append("later"), after_ready=True),
    ]
    upkeep = Upkeep(clock, loops)
    upkeep.start()
    try:
        assert _eventually(lambda: rounds == ["at-start"])
        assert upkeep.settle()  # the waiting loop is not due: settle does not wait for it
        clock.advance(60)
        assert _eventually(lambda: rounds == ["at-start", "at-start"])
        upkeep.ready()
        assert _eventually(lambda: rounds == ["at-start", "at-start", "later"])
        clock.advance(60)
        assert _eventually(lambda: sorted(rounds) == ["at-start"] * 3 + ["later"] * 2)
    finally:
        upkeep.stop(timeout=5)
    never = Upkeep(clock, [Loop("never-ready", 60, lambda: rounds.append("never"), after_ready=True)])
    never.start()
    never.stop(timeout=5)
    assert "never" not in rounds
    assert [t.name for t in threading.enumerate() if t.name in ("at-start", "later", "never-ready")] == []


def test_an_after_ready_loop_has_no_thread_before_ready_and_a_second_ready_starts_it_once() -> None:
    """The serving bot's rounds are all `after_ready`: a start pays neither their threads nor their first rounds
    (issue 26)."""
    clock = ManualClock(START)
    rounds: list[str] = []
    upkeep = Upkeep(clock, [Loop("sweep", 60, lambda: rounds.append("sweep"), after_ready=True)])
    upkeep.start()
    try:
        assert [t.name for t in threading.enumerate() if t.name == "sweep"] == []
        upkeep.ready()
        upkeep.ready()
        assert _eventually(lambda: rounds == ["sweep"])
        assert upkeep.settle()
        assert [t.name for t in threading.enumerate() if t.name == "sweep"] == ["sweep"]
    finally:
        upkeep.stop(timeout=5)
    upkeep.ready()  # after stop(): nothing starts
    assert [t.name for t in threading.enumerate() if t.name == "sweep"] == []


def test_a_failing_round_is_reported_until_one_succeeds_and_the_loop_goes_on() -> None:
    clock = ManualClock(START)
    outcomes = iter([RuntimeError("database down"), None])
    calls: list[int] = []

    def round_() -> None:
        calls.append(1)
        failure = next(outcomes, None)
        if failure is not None:
            raise failure

    upkeep = Upkeep(clock, [Loop("store-upkeep", 60, round_)])
    upkeep.start()
    try:
        assert _eventually(lambda: upkeep.failing("store-upkeep") == "failing: RuntimeError")
        clock.advance(60)
        assert _eventually(lambda: len(calls) == 2 and upkeep.failing("store-upkeep") is None)
    finally:
        upkeep.stop(timeout=5)
    assert upkeep.failing("no-such-loop") is None
