"""Abuse limits in one replica's memory: a per-user quota (without a store), a cap on issues in flight, and
the Verify cooldown."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from datetime import datetime

from bot.adapters.audit import log_event
from bot.adapters.retries import PendingWrites
from bot.domain.audit import AuditEvent
from bot.domain.ledger import HOUR, Minted, QuotaRule, TokenStatus
from bot.domain.models import RequestContext
from bot.domain.patterns import DEFAULT_REGISTRY
from bot.domain.ports import AuditLog, Ledger, QuotaPlace, Reservation
from bot.runtime.clock import Clock

log = logging.getLogger(__name__)


class _MemoryPlace:
    """A place in the in-memory quota; settling it keeps the place and records the audit event."""

    def __init__(self, quota: MemoryQuota, user_id: str, at: datetime) -> None:
        self._quota, self._user, self._at = quota, user_id, at
        self._done = False

    def release(self) -> None:
        if not self._done:
            self._done = True
            self._quota._forget(self._user, self._at)

    def minted(self, minted: Minted) -> None:
        """No ledger here: the settle's audit event carries the UUID."""

    def settle(self, *, status: TokenStatus, minted: Minted | None, event: AuditEvent) -> None:
        self._done = True
        self._quota.audit.record(event)


class MemoryQuota:
    """The quota of one replica in one registry, in memory (the `Quota` port without a store; the store's holds
    across replicas). Each registry has its own, so a user's places in one never count in another."""

    def __init__(self, *, rule: QuotaRule, audit: AuditLog, clock: Clock, registry: str = DEFAULT_REGISTRY) -> None:
        self._rule = rule
        self.registry = registry
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
        now = self._clock.now()
        with self._lock:
            taken = [t for t in self._taken.get(ctx.user_id, []) if now - t < HOUR]
            self._rule.check(taken, now)
            taken.append(now)
            self._taken[ctx.user_id] = taken
        return _MemoryPlace(self, ctx.user_id, now)

    def remaining(self, user_id: str) -> int:
        now = self._clock.now()
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

    def minted(self, minted: Minted) -> None:
        ledger, reservation = self._quota.ledger, self._reservation
        self._write("minted", lambda: ledger.mark_minted(reservation, minted=minted))

    def settle(self, *, status: TokenStatus, minted: Minted | None, event: AuditEvent) -> None:
        self._done = True
        log_event(event)  # the event's log line now, whatever the database says
        ledger, reservation = self._quota.ledger, self._reservation
        self._write("settle", lambda: ledger.settle(reservation, status=status, minted=minted, event=event))
        self._quota.wake()

    def _write(self, what: str, write: Callable[[], None]) -> None:
        """A write after the mint: done now, or (with retries) kept for the upkeep when the database refuses it.
        Never an error for the request: the token exists and the user has it, or is getting it."""
        retries = self._quota.retries
        if retries is None:
            write()  # the admin CLI: no upkeep to retry, the admin sees the error
            return
        try:
            write()
        except Exception as exc:
            log.warning(
                "ledger write failed after the mint, retrying in the background",
                extra={"error": type(exc).__name__, "ledger_row": self._reservation.id, "write": what},
            )
            retries.keep(self._reservation.id, what, write)
        else:
            retries.forget(self._reservation.id)


class LedgerQuota:
    """The `Quota` port on the store's ledger for one registry: the quota holds across replicas and restarts,
    and counts the user's rows of that registry only. One per registry, each with its registry's rule."""

    def __init__(
        self,
        *,
        ledger: Ledger,
        rule: QuotaRule,
        wake: Callable[[], None] = lambda: None,
        clock: Clock,
        retries: PendingWrites | None = None,
        registry: str = DEFAULT_REGISTRY,
    ) -> None:
        self.ledger = ledger
        self.registry = registry
        self._rule = rule
        self.wake = wake
        self._clock = clock
        # Where a write after the mint waits when the database refuses it (the serving bot's upkeep retries it).
        self.retries = retries

    @property
    def rule(self) -> QuotaRule:
        return self._rule

    def reserve(self, ctx: RequestContext, *, seconds: int, renewed_from: int | None = None) -> QuotaPlace:
        reservation = self.ledger.reserve(
            user_id=ctx.user_id,
            team_id=ctx.team_id,
            enterprise_id=ctx.enterprise_id,
            request_id=ctx.request_id,
            origin=ctx.origin,
            duration_seconds=seconds,
            rule=self._rule,
            now=self._clock.now(),
            renewed_from=renewed_from,
            registry=self.registry,
        )
        return _LedgerPlace(self, reservation)

    def remaining(self, user_id: str) -> int:
        return self.ledger.remaining(user_id, rule=self._rule, now=self._clock.now(), registry=self.registry)
