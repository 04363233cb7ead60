"""The bot's periodic work, on the one clock: each `Loop` runs its round on a thread of its own, every so often.

The composition root says what the rounds are (the store's crash sweep and approval lapses every minute, the
retention every hour, expiry reminders every few seconds); this module only runs them. A round that fails
(the database is down) is logged and marked failing for /readyz, and the next round tries again; a round is
never run twice at once. Every replica runs the same loops: what must happen once is claimed in the store.

The loops wait on the clock (`Clock.wait`), so on the sandbox's manual clock a reminder due in 45 seconds
comes as soon as a test advances the clock past it, and nothing waits in real time.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from bot.runtime.clock import Clock

log = logging.getLogger(__name__)


@dataclass
class Loop:
    """One periodic round: `run` every `every` seconds of the clock (and once at start when `at_start`), on a
    thread named `name`. `after_ready`: the loop begins at `Upkeep.ready()` (the server takes requests), for a
    round that nothing in the start waits for."""

    name: str
    every: float
    run: Callable[[], object]
    at_start: bool = True
    after_ready: bool = False
    failing: str | None = field(default=None, init=False)  # the last round's error, until a round succeeds
    next_at: float = field(default=-math.inf, init=False)  # on the clock's monotonic seconds

    def round(self) -> None:
        try:
            self.run()
        except Exception as exc:  # the database or Slack is down: say so, try again next round
            self.failing = f"failing: {type(exc).__name__}"
            log.warning("%s round failed", self.name, extra={"error": type(exc).__name__})
        else:
            self.failing = None


class Upkeep:
    """Runs the loops until `stop()`."""

    def __init__(self, clock: Clock, loops: Sequence[Loop]) -> None:
        self._clock = clock
        self.loops = list(loops)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()  # ready() against stop(): no thread starts once stop() began
        self._ready = False

    def start(self) -> None:
        """The loops not `after_ready` begin; the others are not due until `ready()` (`settle()` does not wait)."""
        self._stop.clear()
        self._ready = False
        for loop in self.loops:
            if loop.after_ready:
                loop.next_at = math.inf
        self._begin([loop for loop in self.loops if not loop.after_ready])

    def ready(self) -> None:
        """The server takes requests: the `after_ready` loops begin, on threads started only now (a start pays
        neither their threads nor their first rounds)."""
        with self._lock:
            if self._ready:
                return
            self._ready = True
        waiting = [loop for loop in self.loops if loop.after_ready]
        for loop in waiting:
            loop.next_at = -math.inf  # due now: `settle()` waits for the first round
        self._begin(waiting)

    def _begin(self, loops: Sequence[Loop]) -> None:
        with self._lock:
            if self._stop.is_set():
                return
            for loop in loops:
                thread = threading.Thread(target=self._run, args=(loop,), name=loop.name, daemon=True)
                thread.start()
                self._threads.append(thread)

    def _run(self, loop: Loop) -> None:
        """Each round starts `every` seconds after the last one began: a clock moved on during a round (a test
        advancing a manual clock, a round slower than its period) starts the next one at once."""
        began = self._clock.monotonic() - (loop.every if loop.at_start else 0.0)
        while True:
            loop.next_at = began + loop.every
            left = loop.next_at - self._clock.monotonic()
            if (left > 0 and self._clock.wait(left, self._stop)) or self._stop.is_set():
                return
            began = self._clock.monotonic()
            loop.round()

    def settle(self, timeout: float = 10.0) -> bool:
        """Wait until no round is due by the clock (each due one has run): on a manual clock, what a test's
        `advance()` made due has happened when this returns. True when settled within `timeout`."""
        deadline = time.monotonic() + timeout
        while any(loop.next_at <= self._clock.monotonic() for loop in self.loops) and self._threads:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.002)
        return True

    def failing(self, name: str) -> str | None:
        """The error of the named loop's last round, None when it succeeded (or there is no such loop)."""
        return next((loop.failing for loop in self.loops if loop.name == name), None)

    def stop(self, timeout: float = 5.0) -> None:
        """End every loop (a round in progress finishes first, bounded by `timeout`)."""
        with self._lock:
            self._stop.set()
            threads, self._threads = self._threads, []
        for thread in threads:
            thread.join(timeout)
