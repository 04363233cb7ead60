"""Post-ack work: a bounded thread pool that can stop taking work and drain what is in flight."""

from __future__ import annotations

import contextlib
import contextvars
import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

log = logging.getLogger(__name__)


class Jobs:
    """Runs work after the ack, so Bolt's own listener threads are never held by cluster calls."""

    def __init__(self, *, workers: int, on_error: Callable[[BaseException, Any], None]) -> None:
        self._workers = workers
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="job")
        self._on_error = on_error
        self._lock = threading.Lock()
        self._in_flight = 0
        self._idle = threading.Condition(self._lock)
        self._open = threading.Event()
        self._open.set()
        self.accepting = True

    def warm(self, timeout: float = 10.0) -> None:
        """Start every worker thread now: a thread start costs milliseconds the first burst should not pay."""
        barrier = threading.Barrier(self._workers + 1)
        for _ in range(self._workers):
            self._pool.submit(barrier.wait, timeout)
        barrier.wait(timeout)

    @property
    def in_flight(self) -> int:
        with self._lock:
            return self._in_flight

    def submit(self, fn: Callable[[], None], *, context: Any) -> bool:
        """Run fn later (with the caller's context variables); False when shutting down."""
        with self._lock:
            if not self.accepting:
                return False
            self._in_flight += 1
        ctx = contextvars.copy_context()
        future: Future[None] = self._pool.submit(ctx.run, self._guard, fn, context)
        del future
        return True

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        """Accept work but start none of it until the block ends: what runs meanwhile is the ack path alone."""
        self._open.clear()
        try:
            yield
        finally:
            self._open.set()

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
            with self._lock:
                self._in_flight -= 1
                if self._in_flight == 0:
                    self._idle.notify_all()

    def drain(self, timeout: float) -> bool:
        """Stop taking work and wait (bounded) for what is in flight; True when all of it finished."""
        deadline = time.monotonic() + timeout
        with self._lock:
            self.accepting = False
            while self._in_flight and (left := deadline - time.monotonic()) > 0:
                self._idle.wait(left)
            done = self._in_flight == 0
        self._pool.shutdown(wait=done, cancel_futures=not done)
        return done
