"""A value loaded on demand, kept for a TTL, and refreshed once for many concurrent callers."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass
class _Flight(Generic[T]):
    started: float
    done: threading.Event = field(default_factory=threading.Event)
    value: T | None = None
    error: BaseException | None = None


@dataclass(frozen=True, slots=True)
class Loaded(Generic[T]):
    """A value, when its load started, and whether the caller got it from the cache."""

    value: T
    loaded_at: float
    hit: bool


class SingleFlight(Generic[T]):
    """Cache one value; concurrent callers that need a reload share a single load (single flight)."""

    def __init__(self, load: Callable[[], T], *, ttl: float, clock: Callable[[], float]) -> None:
        self._load = load
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._value: T | None = None
        self._loaded_at = 0.0
        self._flight: _Flight[T] | None = None

    def get(self, *, newer_than: float | None = None) -> Loaded[T]:
        """The cached value if fresh (and loaded after `newer_than`), else the result of one shared load."""
        while True:
            with self._lock:
                now = self._clock()
                fresh = self._value is not None and now - self._loaded_at < self._ttl
                if fresh and (newer_than is None or self._loaded_at >= newer_than):
                    assert self._value is not None
                    return Loaded(self._value, self._loaded_at, hit=True)
                flight = self._flight
                leader = flight is None
                if flight is None:
                    flight = self._flight = _Flight(started=now)
                # A flight that started before the caller's cut-off cannot answer it: wait, then go round.
                stale_flight = newer_than is not None and flight.started < newer_than
            if leader:
                return self._lead(flight)
            flight.done.wait()
            if flight.error is not None:
                raise flight.error
            if not stale_flight:
                assert flight.value is not None
                return Loaded(flight.value, flight.started, hit=False)

    def _lead(self, flight: _Flight[T]) -> Loaded[T]:
        try:
            value = self._load()
        except BaseException as exc:
            with self._lock:
                self._flight = None
            flight.error = exc
            flight.done.set()
            raise
        with self._lock:
            self._value, self._loaded_at, self._flight = value, flight.started, None
        flight.value = value
        flight.done.set()
        return Loaded(value, flight.started, hit=False)


K = TypeVar("K")


class TtlMap(Generic[K, T]):
    """Values by key, each kept for a TTL after it was loaded; hits and misses counted under `name`."""

    def __init__(self, *, name: str, ttl: float, clock: Callable[[], float]) -> None:
        from bot.runtime import metrics

        self._hits = metrics.CACHE_LOOKUPS.labels(name, "hit")
        self._misses = metrics.CACHE_LOOKUPS.labels(name, "miss")
        self._ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._values: dict[K, tuple[float, T]] = {}

    def get(self, key: K, load: Callable[[], T]) -> T:
        """The cached value for `key` if fresh, else `load()` (not cached when it raises)."""
        now = self._clock()
        with self._lock:
            hit = self._values.get(key)
        if hit is not None and now - hit[0] < self._ttl:
            self._hits.inc()
            return hit[1]
        self._misses.inc()
        value = load()
        with self._lock:
            self._values[key] = (now, value)
        return value


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
        clock: Callable[[], float],
        keep: Callable[[V], bool] = lambda _: True,
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
