"""Post-ack work: a bounded thread pool that starts work when the acks pause, and can stop taking work and drain.

Why the pause: the ack path and the job threads share one GIL. Profiled under a burst of 200 `/rok-token` on
2 cores, job threads that started while acks were still queued (users.info and policy work of the first
requests) took the GIL from the thread answering the acks: in the first 50 ms the event loop ran 28.5 ms and
the 32 job threads 26.8 ms, with ~1,000 context switches, and the last acks left late.

So submitted work queues here, and one gate thread (`job-gate`) hands all of it to the pool once
- no ack is in progress and none has ended for `quiet` seconds (the adapters mark each ack with `acking()`:
  the HTTP listener's handler in HTTP mode, the Socket Mode client's handler in Socket Mode), and
- the ack path, asked through `watch()`, has no request waiting for its ack (a pause in the acks can be the
  OS running another process while requests are still queued: HTTP mode asks the event loop with a
  callback that runs after what is queued on it, Socket Mode counts the envelopes not yet acked), and no
  ack ended while it was asked;
or once the oldest item has waited `max_wait`: a stream of acks that never pauses must not starve the work it
creates. A lone request pays `quiet` and one probe, about a millisecond and a half, once.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

log = logging.getLogger(__name__)

# 1 ms: four times and more the gap between two acks of a burst (the HTTP listener's own work per request, 0.15 to
# 0.25 ms on the floor of a burst of 200), so a burst reads as one busy spell; and also how often the gate looks
# while an ack is in progress.
QUIET_SECONDS = 0.001
# Longer than a burst of 200 takes to ack, short enough that a never-pausing stream of acks delays its work
# by a fraction of the 0.3 s exec it is about to wait for.
MAX_WAIT_SECONDS = 0.25


class AckGate:
    """The rule: whether queued post-ack work may start now, from the acks in progress and when the last ended.

    Not thread-safe on its own: `Jobs` calls it under its lock.
    """

    def __init__(self, *, quiet: float, max_wait: float) -> None:
        self.quiet = quiet
        self.max_wait = max_wait
        # Acks end without waking the gate (a wake-up per ack would cost the GIL hand-offs this avoids): while
        # one is in progress the gate looks again this often.
        self.poll = max(quiet, 0.0005)
        self.acks_in_progress = 0
        self.acks_answered = 0
        self.last_ack_end = -math.inf

    def begin(self) -> None:
        self.acks_in_progress += 1

    def end(self, now: float) -> None:
        self.acks_in_progress -= 1
        self.acks_answered += 1
        self.last_ack_end = now

    def capped(self, *, now: float, since: float) -> bool:
        """Whether work queued at `since` has waited as long as it may."""
        return now - since >= self.max_wait

    def delay(self, *, now: float, since: float) -> float:
        """Seconds work queued at `since` must still wait (0: start it now); ask again after that long."""
        capped = since + self.max_wait - now
        if capped <= 0:
            return 0.0
        if self.acks_in_progress:
            return min(self.poll, capped)
        return max(0.0, min(self.last_ack_end + self.quiet - now, capped))


# Work waiting for the gate: (when it was submitted, its context variables, the work, its error context).
_Queued = tuple[float, contextvars.Context, Callable[[], None], Any]


class Jobs:
    """Runs work after the ack, so Bolt's own listener threads are never held by cluster calls."""

    def __init__(
        self,
        *,
        workers: int,
        on_error: Callable[[BaseException, Any], None],
        quiet: float = QUIET_SECONDS,
        max_wait: float = MAX_WAIT_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        gate: AckGate | None = None,
    ) -> None:
        self._workers = workers
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="job")
        self._on_error = on_error
        self._clock = clock
        self._gate = gate or AckGate(quiet=quiet, max_wait=max_wait)
        self._lock = threading.Lock()
        self._in_flight = 0
        self._idle = threading.Condition(self._lock)
        self._wake = threading.Condition(self._lock)
        self._queue: deque[_Queued] = deque()
        self._backlog: Callable[[], bool] | None = None
        self._flush = False  # draining: no ack is coming, start what is queued at once
        self._dispatcher: threading.Thread | None = None
        self._open = threading.Event()
        self._open.set()
        self.accepting = True

    def warm(self, timeout: float = 10.0) -> None:
        """Start every worker thread now: a thread start costs milliseconds the first burst should not pay."""
        self._start_dispatcher()
        barrier = threading.Barrier(self._workers + 1)
        for _ in range(self._workers):
            self._pool.submit(barrier.wait, timeout)
        barrier.wait(timeout)

    @property
    def in_flight(self) -> int:
        """Work accepted and not finished: queued for the gate or running."""
        with self._lock:
            return self._in_flight

    @property
    def queued(self) -> int:
        """Work accepted and not yet handed to the pool (waiting for the acks to pause)."""
        with self._lock:
            return len(self._queue)

    def watch(self, backlog: Callable[[], bool]) -> None:
        """Before starting work, also ask `backlog()`: True while requests wait to be acked.

        Called on the gate thread, outside any lock, once the acks have been quiet for `quiet` seconds; it may
        block briefly (HTTP mode: one round trip through the event loop). An ack answered meanwhile counts as
        a backlog too.
        """
        self._backlog = backlog

    @property
    def acks_answered(self) -> int:
        """Acks marked with `acking()` since start."""
        with self._lock:
            return self._gate.acks_answered

    @contextlib.contextmanager
    def acking(self) -> Iterator[None]:
        """Mark an ack in progress: queued work waits until the acks pause (or for `max_wait` at most)."""
        with self._lock:
            self._gate.begin()
        try:
            yield
        finally:
            with self._lock:
                self._gate.end(self._clock())

    def submit(self, fn: Callable[[], None], *, context: Any) -> bool:
        """Run fn later (with the caller's context variables); False when shutting down."""
        ctx = contextvars.copy_context()
        with self._lock:
            if not self.accepting:
                return False
            self._in_flight += 1
            self._queue.append((self._clock(), ctx, fn, context))
            if len(self._queue) == 1:
                # The gate sleeps without a deadline only when nothing is queued: wake it for the first item.
                self._wake.notify()
        if self._dispatcher is None:
            self._start_dispatcher()
        return True

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        """Accept work but start none of it until the block ends: what runs meanwhile is the ack path alone."""
        self._open.clear()
        try:
            yield
        finally:
            self._open.set()

    def _start_dispatcher(self) -> None:
        with self._lock:
            if self._dispatcher is not None:
                return
            self._dispatcher = threading.Thread(target=self._dispatch, name="job-gate", daemon=True)
        self._dispatcher.start()

    def _dispatch(self) -> None:
        """The gate thread: hand queued work to the pool whenever the rule says it may start."""
        while (batch := self._next_batch()) is not None:
            for _since, ctx, fn, context in batch:
                try:
                    future: Future[None] = self._pool.submit(ctx.run, self._guard, fn, context)
                except RuntimeError:  # a drain that timed out shut the pool down: this work is abandoned
                    self._done()
                    continue
                del future

    def _next_batch(self) -> list[_Queued] | None:
        """Wait until the queued work may start and take all of it; None once drained and empty."""
        while True:
            with self._lock:
                if not self._queue:
                    if self._flush:
                        return None
                    self._wake.wait()
                    continue
                now, since = self._clock(), self._queue[0][0]
                forced = self._flush or self._gate.capped(now=now, since=since)
                if not forced and (wait := self._gate.delay(now=now, since=since)) > 0:
                    self._wake.wait(wait)
                    continue
                if forced or self._backlog is None:
                    return self._take()
                answered = self._gate.acks_answered
            # Quiet by the clock: ask the ack path itself whether requests wait (outside the lock: acks take it).
            try:
                busy = self._backlog()
            except Exception:  # a broken probe must not stop the work: the gate falls back on the clock alone
                log.exception("the ack backlog probe failed")
                busy = False
            with self._lock:
                if not busy and not self._gate.acks_in_progress and self._gate.acks_answered == answered:
                    return self._take()
                self._wake.wait(self._gate.poll)

    def _take(self) -> list[_Queued]:
        batch = list(self._queue)
        self._queue.clear()
        return batch

    def _done(self) -> None:
        """One accepted item is done with (finished, failed or dropped)."""
        with self._lock:
            self._in_flight -= 1
            if self._in_flight == 0:
                self._idle.notify_all()

    def _guard(self, fn: Callable[[], None], context: Any) -> None:
        try:
            self._open.wait()
            fn()
        except BaseException as exc:  # every failure reaches the one error reporter
            try:
                self._on_error(exc, context)
            except Exception:
                log.exception("error reporter failed")
        finally:
            self._done()

    def drain(self, timeout: float) -> bool:
        """Stop taking work, start what is queued, and wait (bounded) for all of it; True when all finished."""
        deadline = time.monotonic() + timeout
        with self._lock:
            self.accepting = False
            self._flush = True
            self._wake.notify()
            while self._in_flight and (left := deadline - time.monotonic()) > 0:
                self._idle.wait(left)
            done = self._in_flight == 0
        if self._dispatcher is not None:
            self._dispatcher.join(timeout=1.0)
        self._pool.shutdown(wait=done, cancel_futures=not done)
        return done


class Capacity:
    """A cap on issue requests accepted and not yet finished (queued or running), across all users."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._in_flight = 0

    def try_enter(self) -> bool:
        with self._lock:
            if self._in_flight >= self.limit:
                return False
            self._in_flight += 1
            return True

    def leave(self) -> None:
        with self._lock:
            self._in_flight = max(self._in_flight - 1, 0)

    @property
    def in_flight(self) -> int:
        with self._lock:
            return self._in_flight
