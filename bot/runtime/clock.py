"""The one clock: every class that reads time gets it from here, and `bootstrap` creates it once per process.

    clock.now()          the wall clock, timezone-aware UTC: ledger rows, expiries, audit events, reminders
    clock.monotonic()    seconds that never go back: cache TTLs, the Verify cooldown, the replay window
    clock.wait(s, stop)  sleep `s` seconds of this clock, or until `stop` is set (True then): the upkeep loops

`SystemClock` is the real one. `ManualClock` moves only when told (`advance`): the sandbox, the demo and the
tests run the real bot on it, so a reminder due in 45 seconds, an approval that lapses after an hour or a
cooldown is reached by advancing the clock, never by waiting for it. A wait on a manual clock ends as soon
as the clock has been advanced past its end.

What a clock does not measure: how fast the process itself is (the ack gate's millisecond pauses in
`bot.runtime.jobs`, exec and ack latencies for the metrics). Those read `time.monotonic()`/`perf_counter()`
directly: they time the machine, not the business, and a test has no reason to move them.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol

# How often a wait on a manual clock looks at its stop event (real seconds): a stop is seen this fast.
_STOP_POLL = 0.05


class Clock(Protocol):
    """What every time-reading class is given."""

    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...

    def monotonic(self) -> float:
        """Seconds from an arbitrary start that never go back."""
        ...

    def wait(self, seconds: float, stop: threading.Event) -> bool:
        """Sleep `seconds` of this clock, or until `stop` is set; True when `stop` ended it."""
        ...


class SystemClock:
    """The machine's clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    def wait(self, seconds: float, stop: threading.Event) -> bool:
        return stop.wait(max(seconds, 0.0))


class ManualClock:
    """A clock that stands still until `advance()` moves it; thread-safe, for the sandbox and the tests."""

    def __init__(self, start: datetime | None = None) -> None:
        # Whole seconds: timestamps round-trip through Slack's and the database's formats unchanged.
        begin = start or datetime.now(UTC)  # wall clock: where a manual clock starts, once
        self._now = begin.replace(microsecond=0)
        self._mono = 1_000.0
        self._moved = threading.Condition()

    def now(self) -> datetime:
        with self._moved:
            return self._now

    def monotonic(self) -> float:
        with self._moved:
            return self._mono

    def advance(self, seconds: float) -> datetime:
        """Move the clock forward; every wait that ends by then ends now. The new time."""
        if seconds < 0:
            raise ValueError("a clock does not go back")
        with self._moved:
            self._now += timedelta(seconds=seconds)
            self._mono += seconds
            self._moved.notify_all()
            return self._now

    def wait(self, seconds: float, stop: threading.Event) -> bool:
        with self._moved:
            deadline = self._mono + max(seconds, 0.0)
            while self._mono < deadline:
                if stop.is_set():
                    return True
                self._moved.wait(_STOP_POLL)
        return stop.is_set()
