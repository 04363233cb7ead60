"""Abuse limits, per replica: a per-user hourly quota and cooldown, and a cap on issues in flight."""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from bot.domain.durations import format_duration
from bot.domain.errors import LimitExceeded


def _wait(seconds: float) -> str:
    whole = max(int(seconds + 0.999), 1)
    return format_duration(whole - whole % 60 if whole >= 120 else whole)


class Reservation:
    """A provisional place in the user's quota: commit it once a token is minted, release it otherwise."""

    def __init__(self, limiter: RateLimiter, user_id: str, at: float) -> None:
        self._limiter, self._user, self._at = limiter, user_id, at
        self._done = False

    def commit(self) -> None:
        self._done = True

    def release(self) -> None:
        if not self._done:
            self._done = True
            self._limiter._forget(self._user, self._at)


class RateLimiter:
    """At most `per_hour` tokens per user in any rolling hour, and `cooldown` seconds between two."""

    def __init__(self, *, per_hour: int, cooldown: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_hour = per_hour
        self.cooldown = cooldown
        self._clock = clock
        self._lock = threading.Lock()
        self._issued: dict[str, deque[float]] = {}

    def reserve(self, user_id: str) -> Reservation:
        """Take a place in the user's quota now (so concurrent requests cannot both slip through)."""
        now = self._clock()
        with self._lock:
            times = self._issued.setdefault(user_id, deque())
            while times and now - times[0] >= 3600:
                times.popleft()
            if times and now - times[-1] < self.cooldown:
                left = self.cooldown - (now - times[-1])
                raise LimitExceeded(
                    f"You got a token moments ago; wait {_wait(left)} before asking again.",
                    detail=f"cooldown {format_duration(int(self.cooldown))}",
                )
            if len(times) >= self.per_hour:
                left = 3600 - (now - times[0])
                raise LimitExceeded(
                    f"You have had {self.per_hour} tokens in the last hour, the limit; "
                    f"the next one is possible in {_wait(left)}.",
                    detail=f"quota {self.per_hour}/h",
                )
            times.append(now)
        return Reservation(self, user_id, now)

    def remaining(self, user_id: str) -> int:
        """Tokens the user may still get in the current rolling hour."""
        now = self._clock()
        with self._lock:
            times = self._issued.get(user_id, deque())
            return max(self.per_hour - sum(1 for t in times if now - t < 3600), 0)

    def _forget(self, user_id: str, at: float) -> None:
        with self._lock:
            times = self._issued.get(user_id)
            if times is not None:
                with contextlib.suppress(ValueError):
                    times.remove(at)


K = TypeVar("K")
V = TypeVar("V")


@dataclass
class _Check(Generic[V]):
    done: threading.Event = field(default_factory=threading.Event)
    at: float = 0.0
    value: V | None = None


class RecentChecks(Generic[K, V]):
    """The last answer per key, reused for `cooldown` seconds; concurrent askers of one key share one check.

    Answers `keep(value)` refuses (e.g. "unreachable") are handed to the askers waiting for them but not
    reused afterwards, so the next click after an outage checks again.
    """

    def __init__(
        self,
        *,
        cooldown: float,
        keep: Callable[[V], bool] = lambda _: True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.cooldown = cooldown
        self._keep = keep
        self._clock = clock
        self._lock = threading.Lock()
        self._checks: dict[K, _Check[V]] = {}

    def get(self, key: K, check: Callable[[], V]) -> tuple[V, float | None]:
        """(answer, seconds since it was checked) — None when `check` ran for this caller."""
        with self._lock:
            now = self._clock()
            self._checks = {k: c for k, c in self._checks.items() if not c.done.is_set() or now - c.at < self.cooldown}
            entry = self._checks.get(key)
            mine = entry is None
            if entry is None:
                entry = self._checks[key] = _Check()
        if not mine:
            entry.done.wait()
            assert entry.value is not None
            return entry.value, max(self._clock() - entry.at, 0.0)
        try:
            entry.value = check()
        except BaseException:
            with self._lock:
                self._checks.pop(key, None)
            entry.done.set()
            raise
        entry.at = self._clock()
        if not self._keep(entry.value):
            with self._lock:
                self._checks.pop(key, None)
        entry.done.set()
        return entry.value, None


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
