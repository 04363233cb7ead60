"""The job gate: post-ack work does not start while an ack is being answered, starts once the acks pause or
within the cap, and `hold()` and `drain()` still work. No timing asserts: the rule is checked on given times,
the threads through latches and the decisions the gate thread asked the rule for.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest

from bot.runtime.jobs import AckGate, Jobs


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class RecordingGate(AckGate):
    """The real rule; every decision the gate thread asked for: (acks in progress, seconds to wait)."""

    def __init__(self, *, quiet: float, max_wait: float) -> None:
        super().__init__(quiet=quiet, max_wait=max_wait)
        self.decisions: list[tuple[int, float]] = []
        self._asked = threading.Condition()

    def delay(self, *, now: float, since: float) -> float:
        wait = super().delay(now=now, since=since)
        self._record(wait)
        return wait

    def capped(self, *, now: float, since: float) -> bool:
        capped = super().capped(now=now, since=since)
        if capped:
            self._record(0.0)  # the cap lets it start now
        return capped

    def _record(self, wait: float) -> None:
        with self._asked:
            self.decisions.append((self.acks_in_progress, wait))
            self._asked.notify_all()

    def wait_until(self, seen: Callable[[list[tuple[int, float]]], bool]) -> None:
        with self._asked:
            assert self._asked.wait_for(lambda: seen(self.decisions), timeout=10), self.decisions


def _declined_during_an_ack(decisions: list[tuple[int, float]]) -> bool:
    return any(in_progress and wait > 0 for in_progress, wait in decisions)


def _errors() -> tuple[list[BaseException], Callable[[BaseException, object], None]]:
    seen: list[BaseException] = []
    return seen, lambda exc, _context: seen.append(exc)


@pytest.fixture
def make() -> Iterator[Callable[..., Jobs]]:
    made: list[Jobs] = []

    def build(**kwargs: object) -> Jobs:
        jobs = Jobs(workers=2, on_error=lambda exc, ctx: None, **kwargs)  # type: ignore[arg-type]
        made.append(jobs)
        return jobs

    yield build
    for jobs in made:
        jobs.drain(10)


# -- the rule, on given times (in whole units, ms say: quiet 2, cap 250) ------------------------------


def test_work_with_no_ack_around_may_start_at_once() -> None:
    gate = AckGate(quiet=2, max_wait=250)
    assert gate.delay(now=10, since=10) == 0


def test_work_waits_while_an_ack_is_in_progress_until_the_cap() -> None:
    gate = AckGate(quiet=2, max_wait=250)
    gate.begin()
    for now in (10, 100, 259):
        assert gate.delay(now=now, since=10) > 0
    assert gate.delay(now=260, since=10) == 0


def test_work_waits_for_a_quiet_spell_after_the_last_ack() -> None:
    gate = AckGate(quiet=2, max_wait=250)
    gate.begin()
    gate.begin()  # two acks at once (Socket Mode answers on several threads)
    gate.end(now=20)
    assert gate.delay(now=21, since=10) > 0  # one still in progress
    gate.end(now=22)
    assert gate.delay(now=22, since=10) == 2
    assert gate.delay(now=23, since=10) == 1
    assert gate.delay(now=24, since=10) == 0
    gate.begin()  # the next ack of the burst: quiet no more
    assert gate.delay(now=30, since=10) > 0
    gate.end(now=31)
    assert gate.delay(now=32, since=10) == 1
    assert gate.delay(now=33, since=10) == 0
    assert gate.acks_answered == 3


def test_the_cap_bounds_the_quiet_spell_too() -> None:
    gate = AckGate(quiet=2, max_wait=250)
    gate.begin()
    gate.end(now=259)
    assert gate.delay(now=259, since=10) == 1
    assert gate.delay(now=260, since=10) == 0


# -- the gate thread ---------------------------------------------------------------------------------------


def test_work_submitted_during_an_ack_starts_only_once_the_ack_is_answered(make: Callable[..., Jobs]) -> None:
    gate = RecordingGate(quiet=0.0, max_wait=3600)
    jobs = make(gate=gate)
    ran = threading.Event()
    with jobs.acking():
        assert jobs.submit(ran.set, context=None)
        gate.wait_until(_declined_during_an_ack)
        # The gate looked and declined: only a later decision of 0 can hand the work over.
        assert not ran.is_set()
        assert jobs.queued == 1
    assert ran.wait(10)
    assert all(in_progress == 0 for in_progress, wait in gate.decisions if wait == 0)
    assert jobs.acks_answered == 1


def test_work_waits_for_every_ack_of_a_burst(make: Callable[..., Jobs]) -> None:
    gate = RecordingGate(quiet=0.0, max_wait=3600)
    jobs = make(gate=gate)
    ran: list[int] = []
    second_ack_open = threading.Event()
    release_second = threading.Event()

    def other_ack() -> None:
        with jobs.acking():
            second_ack_open.set()
            release_second.wait(10)

    with jobs.acking():
        jobs.submit(lambda: ran.append(1), context=None)
        other = threading.Thread(target=other_ack)
        other.start()
        assert second_ack_open.wait(10)
    gate.wait_until(lambda d: sum(1 for p, w in d if p and w > 0) >= 2)
    assert ran == [] and jobs.queued == 1  # the first ack is answered, the second is not
    release_second.set()
    other.join(10)
    assert jobs.drain(10)
    assert ran == [1]
    assert all(in_progress == 0 for in_progress, wait in gate.decisions if wait == 0)


def test_work_starts_within_the_cap_when_the_acks_never_pause(make: Callable[..., Jobs]) -> None:
    clock = FakeClock()
    gate = RecordingGate(quiet=0.001, max_wait=5.0)
    jobs = make(gate=gate, clock=clock)
    ran = threading.Event()
    with jobs.acking():  # an ack that does not end: a stream of acks with no pause in it
        jobs.submit(ran.set, context=None)
        gate.wait_until(_declined_during_an_ack)
        assert not ran.is_set()
        clock.now += 5.0
        assert ran.wait(10)
        # Released by the cap, the ack still in progress.
        assert (1, 0.0) in gate.decisions


def test_hold_still_keeps_released_work_from_running(make: Callable[..., Jobs]) -> None:
    gate = RecordingGate(quiet=0.0, max_wait=3600)
    jobs = make(gate=gate)
    ran = threading.Event()
    with jobs.hold():
        jobs.submit(ran.set, context=None)
        gate.wait_until(lambda d: any(w == 0 for _, w in d))  # handed to the pool
        assert not ran.is_set()
    assert ran.wait(10)


def test_drain_starts_queued_work_at_once_and_waits_for_it(make: Callable[..., Jobs]) -> None:
    jobs = make(gate=AckGate(quiet=0.0, max_wait=3600))
    ran = threading.Event()
    with jobs.acking():  # without the drain this work would wait an hour
        jobs.submit(ran.set, context=None)
        assert jobs.drain(10)
    assert ran.is_set()
    assert jobs.in_flight == 0
    assert not jobs.submit(ran.set, context=None)


def test_drain_gives_up_on_work_that_outlives_the_timeout() -> None:
    jobs = Jobs(workers=1, on_error=lambda exc, ctx: None, quiet=0.0)
    started, release = threading.Event(), threading.Event()

    def stuck() -> None:
        started.set()
        release.wait(10)

    jobs.submit(stuck, context=None)
    assert started.wait(10)
    try:
        assert not jobs.drain(0.01)
    finally:
        release.set()


def test_a_failing_job_reaches_the_error_reporter_with_its_context() -> None:
    seen: list[tuple[BaseException, object]] = []
    jobs = Jobs(workers=1, on_error=lambda exc, ctx: seen.append((exc, ctx)), quiet=0.0)

    def boom() -> None:
        raise RuntimeError("boom")

    jobs.submit(boom, context="facts")
    assert jobs.drain(10)
    assert [(str(e), c) for e, c in seen] == [("boom", "facts")]


# -- the ack path's own word on its backlog (Jobs.watch) -------------------------------------------------


class Backlog:
    """A backlog probe the test controls; counts the gate's questions."""

    def __init__(self, busy: bool) -> None:
        self.busy = busy
        self.asked = 0
        self.during: Callable[[], None] | None = None
        self._cond = threading.Condition()

    def __call__(self) -> bool:
        if self.during is not None:
            self.during()
        with self._cond:
            self.asked += 1
            self._cond.notify_all()
            return self.busy

    def wait_asked(self, times: int) -> None:
        with self._cond:
            assert self._cond.wait_for(lambda: self.asked >= times, timeout=10), self.asked


def test_work_waits_while_the_ack_path_reports_a_backlog(make: Callable[..., Jobs]) -> None:
    jobs = make(gate=AckGate(quiet=0.0, max_wait=3600))
    backlog = Backlog(busy=True)  # e.g. requests queued on the event loop behind a pause the OS made
    jobs.watch(backlog)
    ran = threading.Event()
    jobs.submit(ran.set, context=None)
    backlog.wait_asked(2)  # asked, told busy, asked again: never started in between
    assert not ran.is_set()
    backlog.busy = False
    assert ran.wait(10)


def test_an_ack_answered_while_the_gate_asks_counts_as_a_backlog(make: Callable[..., Jobs]) -> None:
    jobs = make(gate=AckGate(quiet=0.0, max_wait=3600))
    backlog = Backlog(busy=False)
    asked_when_run: list[int] = []

    def one_more_ack() -> None:
        backlog.during = None
        with jobs.acking():  # the ack path answered a request before it got to the gate's question
            pass

    backlog.during = one_more_ack
    jobs.watch(backlog)
    ran = threading.Event()

    def job() -> None:
        asked_when_run.append(backlog.asked)
        ran.set()

    jobs.submit(job, context=None)
    assert ran.wait(10)
    assert asked_when_run == [2]  # not started on the first answer: an ack came in while it was asked


def test_the_cap_does_not_wait_for_the_backlog(make: Callable[..., Jobs]) -> None:
    clock = FakeClock()
    jobs = make(gate=AckGate(quiet=0.001, max_wait=5.0), clock=clock)
    backlog = Backlog(busy=True)
    jobs.watch(backlog)
    ran = threading.Event()
    jobs.submit(ran.set, context=None)
    backlog.wait_asked(1)
    clock.now += 5.0
    assert ran.wait(10)


def test_a_broken_backlog_probe_does_not_stop_the_work(make: Callable[..., Jobs]) -> None:
    jobs = make(gate=AckGate(quiet=0.0, max_wait=3600))

    def broken() -> bool:
        raise RuntimeError("event loop is closed")

    jobs.watch(broken)
    ran = threading.Event()
    jobs.submit(ran.set, context=None)
    assert ran.wait(10)
