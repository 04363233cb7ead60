"""Abuse limits in one replica's memory: a per-user quota (without a store), a cap on issues in flight, and
the Verify cooldown."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Generic, TypeVar

from bot.audit import log_event
from bot.domain.audit import AuditEvent
from bot.domain.ledger import HOUR, Minted, QuotaRule, TokenStatus
from bot.domain.models import RequestContext
from bot.domain.ports import AuditLog, Ledger, QuotaPlace, Reservation


class _MemoryPlace:
    """A place in the in-memory quota; settling it keeps the place and records the audit event."""

    def __init__(self, quota: MemoryQuota, user_id: str, at: datetime) -> None:
        self._quota, self._user, self._at = quota, user_id, at
        self._done = False

    def release(self) -> None:
        if not self._done:
            self._done = True
            self._quota._forget(self._user, self._at)

    def settle(self, *, status: TokenStatus, minted: Minted | None, event: AuditEvent) -> None:
        self._done = True
        self._quota.audit.record(event)


class MemoryQuota:
    """The quota of one replica, in memory (the `Quota` port without a store; the store's holds across replicas)."""

    def __init__(
        self, *, rule: QuotaRule, audit: AuditLog, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self._rule = rule
        self.audit = audit
        self._clock = clock
        self._lock = threading.Lock()
        self._taken: dict[str, list[datetime]] = {}

    @property
    def rule(self) -> QuotaRule:
        return self._rule

    def reserve(self, ctx: RequestContext, *, seconds: int, renewed_from: int | None = None) -> QuotaPlace:
        """Take a place now (so concurrent requests cannot both slip through), or LimitExceeded (no ledger here,
        so `renewed_from` is not recorded: renewals need the store's quota)."""
        now = self._clock()
        with self._lock:
            taken = [t for t in self._taken.get(ctx.user_id, []) if now - t < HOUR]
            self._rule.check(taken, now)
            taken.append(now)
            self._taken[ctx.user_id] = taken
        return _MemoryPlace(self, ctx.user_id, now)

    def remaining(self, user_id: str) -> int:
        now = self._clock()
        with self._lock:
            return self._rule.remaining(list(self._taken.get(user_id, [])), now)

    def _forget(self, user_id: str, at: datetime) -> None:
        with self._lock, contextlib.suppress(ValueError):
            self._taken.get(user_id, []).remove(at)


class _LedgerPlace:
    """A place in the store's quota: a ledger row, settled with its audit event in one transaction."""

    def __init__(self, quota: LedgerQuota, reservation: Reservation) -> None:
        self._quota, self._reservation = quota, reservation
        self._done = False

    def release(self) -> None:
        if not self._done:
            self._done = True
            self._quota.ledger.release(self._reservation)

    def settle(self, *, status: TokenStatus, minted: Minted | None, event: AuditEvent) -> None:
        self._done = True
        log_event(event)
        self._quota.ledger.settle(self._reservation, status=status, minted=minted, event=event)
        self._quota.wake()


class LedgerQuota:
    """The `Quota` port on the store's ledger: the quota holds across replicas and restarts."""

    def __init__(
        self,
        *,
        ledger: Ledger,
        rule: QuotaRule,
        wake: Callable[[], None] = lambda: None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.ledger = ledger
        self._rule = rule
        self.wake = wake
        self._clock = clock

    @property
    def rule(self) -> QuotaRule:
        return self._rule

    def reserve(self, ctx: RequestContext, *, seconds: int, renewed_from: int | None = None) -> QuotaPlace:
        reservation = self.ledger.reserve(
            user_id=ctx.user_id,
            team_id=ctx.team_id,
            request_id=ctx.request_id,
            origin=ctx.origin,
            duration_seconds=seconds,
            rule=self._rule,
            now=self._clock(),
            renewed_from=renewed_from,
        )
        return _LedgerPlace(self, reservation)

    def remaining(self, user_id: str) -> int:
        return self.ledger.remaining(user_id, rule=self._rule, now=self._clock())


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
