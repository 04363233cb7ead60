"""In-memory fakes for the token's life in Slack: a ledger (the store's rules, in a list) and Slack's surfaces.

They extend `tests.usecases.fakes`: `life_world()` wires the same ports as `world()`, with the quota on the fake
ledger (as the bot's quota is on the store's) and the surfaces recorded, so the use cases of the Home tab,
the form, the list, reminders and Renew are tested one decision at a time.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import msgspec

from bot.adapters.quota import LedgerQuota
from bot.adapters.retries import PendingWrites
from bot.domain.audit import AuditEvent, Origin
from bot.domain.errors import RenewRefused
from bot.domain.holders import Holdings, WhoRefusal
from bot.domain.ledger import HOUR, LedgerEntry, Minted, QuotaRule, TokenStatus
from bot.domain.lifecycle import (
    Deferred,
    HomeView,
    Posted,
    Reminder,
    ReminderPace,
    TokenForm,
    TokenList,
    already_renewed,
)
from bot.domain.models import RequestContext
from bot.domain.patterns import DEFAULT_REGISTRY
from bot.domain.ports import Reservation, TokenQuery
from bot.domain.report import LiveToken, live_tokens
from bot.store.errors import StoreUnreachable
from bot.usecases import Ports, send_reminders
from tests.usecases.fakes import FakeAudit, World, world


@dataclass
class FakeLedger:
    """The `Ledger` port in a list, with the store's rules: per-user, per-registry quota, one renewal per row
    (in its row's registry), one claim."""

    clock: Any
    audit: FakeAudit  # the store appends a settled row's event to the outbox: the same audit trail
    rows: list[LedgerEntry] = field(default_factory=list)
    # The database blinks: these writes raise the store's error (e.g. {"settle"}, {"mark_minted", "settle"}).
    unavailable: set[str] = field(default_factory=set)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def reserve(
        self,
        *,
        user_id: str,
        team_id: str | None,
        request_id: str,
        origin: Origin,
        duration_seconds: int,
        rule: QuotaRule,
        now: datetime,
        renewed_from: int | None = None,
        registry: str = DEFAULT_REGISTRY,
        enterprise_id: str | None = None,
    ) -> Reservation:
        with self._lock:
            if renewed_from is not None and (done := self._renewal(renewed_from)) is not None:
                issued = done.status is TokenStatus.ISSUED
                raise RenewRefused(
                    already_renewed(token_uuid=done.token_uuid, issued=issued, request_id=done.request_id)
                )
            renewed = self.entry(renewed_from) if renewed_from is not None else None
            if renewed is not None and renewed.registry != registry:
                raise ValueError(f"row {renewed_from} lives in registry {renewed.registry!r}, not {registry!r}")
            rule.check(self._taken(user_id, registry), now)
            entry = LedgerEntry(
                id=next(self._ids),
                request_id=request_id,
                slack_team=team_id,
                slack_enterprise=enterprise_id,
                slack_user=user_id,
                rok_user=None,
                account_uuid=None,
                token_uuid=None,
                duration_seconds=duration_seconds,
                reserved_at=now,
                issued_at=None,
                expires_at=None,
                origin=origin,
                status=TokenStatus.RESERVED,
                renewed_from=renewed_from,
                registry=registry,
            )
            self.rows.append(entry)
        return Reservation(entry.id, user_id, now, registry)

    def release(self, reservation: Reservation) -> None:
        with self._lock:
            self.rows = [r for r in self.rows if r.id != reservation.id]

    def settle(
        self, reservation: Reservation, *, status: TokenStatus, minted: Minted | None, event: AuditEvent
    ) -> None:
        self._blink("settle")
        row = self.entry(reservation.id)
        if row is not None and row.status is status:
            return  # settled by an earlier try: no second event (as the store)
        changes: dict[str, Any] = {"status": status}
        if minted is not None:
            changes |= _minted_changes(minted)
        self._update(reservation.id, **changes)
        self.audit.record(event)

    def mark_minted(self, reservation: Reservation, *, minted: Minted) -> None:
        self._blink("mark_minted")
        row = self.entry(reservation.id)
        if row is not None and row.status is TokenStatus.RESERVED:
            self._update(reservation.id, status=TokenStatus.MINTED, **_minted_changes(minted))

    def remaining(self, user_id: str, *, rule: QuotaRule, now: datetime, registry: str = DEFAULT_REGISTRY) -> int:
        return rule.remaining(self._taken(user_id, registry), now)

    def _taken(self, user_id: str, registry: str) -> list[datetime]:
        return [r.reserved_at for r in self.rows if r.slack_user == user_id and r.registry == registry]

    def tokens(self, query: TokenQuery) -> list[LedgerEntry]:
        rows = sorted(self.rows, key=lambda r: (r.reserved_at, r.id), reverse=True)
        if query.slack_user is not None:
            rows = [r for r in rows if r.slack_user == query.slack_user]
        if query.rok_user is not None:
            rows = [r for r in rows if r.rok_user == query.rok_user]
        if query.registry is not None:
            rows = [r for r in rows if r.registry == query.registry]
        if query.since is not None:
            rows = [r for r in rows if r.reserved_at >= query.since]
        if query.active_at is not None:
            rows = [
                r for r in rows if r.status is TokenStatus.ISSUED and r.expires_at and r.expires_at > query.active_at
            ]
        return rows[: query.limit]

    def entry(self, entry_id: int) -> LedgerEntry | None:
        return next((r for r in self.rows if r.id == entry_id), None)

    def live_at(
        self, at: datetime, *, registry: str | None = None, limit: int | None = None
    ) -> tuple[list[LiveToken], int]:
        """The `LiveTokens` port over these rows (the domain's rule; the store's SQL is held to it)."""
        return live_tokens(list(self.rows), at, registry=registry, limit=limit)

    def renewal_of(self, entry_id: int) -> LedgerEntry | None:
        return self._renewal(entry_id)

    def due_reminders(self, *, now: datetime, lead: int, limit: int) -> list[LedgerEntry]:
        due = [
            r
            for r in self.rows
            if r.reminded_at is None
            and r.status is TokenStatus.ISSUED
            and r.expires_at is not None
            and now < r.expires_at <= now + timedelta(seconds=lead)
            and not (r.slack_user or "").startswith("cli:")
            and self._renewal(r.id) is None
        ]
        return sorted(due, key=lambda r: (r.expires_at, r.id))[:limit]

    def claim_reminder(self, entry_id: int, *, now: datetime) -> bool:
        with self._lock:
            row = self.entry(entry_id)
            if row is None or row.reminded_at is not None or self._renewal(entry_id) is not None:
                return False
            if row.expires_at is None or row.expires_at <= now:
                return False
            self._update(entry_id, reminded_at=now)
            return True

    def reminder_posted(self, entry_id: int, *, channel: str, ts: str) -> None:
        self._update(entry_id, reminder_channel=channel, reminder_ts=ts)

    def release_reminder(self, entry_id: int) -> None:
        row = self.entry(entry_id)
        if row is not None and row.reminder_ts is None:
            self._update(entry_id, reminded_at=None)

    # -- helpers for the tests

    def _blink(self, write: str) -> None:
        if write in self.unavailable:
            raise StoreUnreachable(detail=f"{write}: the database blinked (test switch)")

    def _renewal(self, entry_id: int) -> LedgerEntry | None:
        return next((r for r in self.rows if r.renewed_from == entry_id), None)

    def _update(self, entry_id: int, **changes: Any) -> None:
        self.rows = [msgspec.structs.replace(r, **changes) if r.id == entry_id else r for r in self.rows]

    def add_issued(
        self, user_id: str, *, seconds: int, issued_at: datetime, token_uuid: str, rok_user: str = "jdoe"
    ) -> int:
        """A row issued earlier (by another replica, before a restart): its ID."""
        entry_id = next(self._ids)
        self.rows.append(
            LedgerEntry(
                id=entry_id,
                request_id=f"old-{entry_id}",
                slack_team="T0UNIT",
                slack_user=user_id,
                rok_user=rok_user,
                account_uuid="acc",
                token_uuid=token_uuid,
                duration_seconds=seconds,
                reserved_at=issued_at,
                issued_at=issued_at,
                expires_at=issued_at + timedelta(seconds=seconds),
                origin=Origin.COMMAND,
                status=TokenStatus.ISSUED,
            )
        )
        return entry_id


@dataclass
class FakeLiveTokens:
    """The `LiveTokens` port over the fake ledger (`FakeLedger.live_at`, the domain's rule), recording what was
    asked; `broken` makes the reads raise the store's error (a database blink)."""

    ledger: FakeLedger
    broken: bool = False
    asked: list[tuple[datetime, int | None]] = field(default_factory=list)

    def live_at(
        self, at: datetime, *, registry: str | None = None, limit: int | None = None
    ) -> tuple[list[LiveToken], int]:
        self.asked.append((at, limit))
        if self.broken:
            raise StoreUnreachable(detail="live tokens: the database blinked (test switch)")
        return self.ledger.live_at(at, registry=registry, limit=limit)


def _minted_changes(minted: Minted) -> dict[str, Any]:
    return {
        "rok_user": minted.rok_user,
        "account_uuid": minted.account_uuid,
        "token_uuid": minted.token_uuid,
        "issued_at": minted.issued_at,
        "expires_at": minted.expires_at,
        "approved_by": minted.approved_by,
        "reason": minted.reason,
    }


@dataclass
class FakeSurfaces:
    """Records what the Home tab, the form, the list and reminders would show; switches make Slack refuse."""

    homes: list[HomeView] = field(default_factory=list)
    forms: list[tuple[str, TokenForm]] = field(default_factory=list)
    lists: list[tuple[RequestContext, TokenList]] = field(default_factory=list)
    reminders: list[Reminder] = field(default_factory=list)
    answers: list[tuple[RequestContext, Holdings | WhoRefusal]] = field(default_factory=list)  # /rok-token who
    edits: list[tuple[str, Posted, str | None]] = field(default_factory=list)
    open_ok: bool = True
    post_ok: bool = True
    # Answers Slack gives the next reminders before it posts again: a Deferred each (a 429 or an outage).
    deferrals: list[Deferred] = field(default_factory=list)

    def publish_home(self, home: HomeView) -> bool:
        self.homes.append(home)
        return True

    def open_form(self, *, trigger: str, form: TokenForm) -> bool:
        self.forms.append((trigger, form))
        return self.open_ok

    def token_list(self, ctx: RequestContext, tokens: TokenList) -> None:
        self.lists.append((ctx, tokens))

    def who(self, ctx: RequestContext, answer: Holdings | WhoRefusal) -> None:
        self.answers.append((ctx, answer))

    def remind(self, reminder: Reminder) -> Posted | Deferred | None:
        if self.deferrals:
            return self.deferrals.pop(0)  # nothing posted
        self.reminders.append(reminder)
        return Posted("D0JDOE", f"1700000000.{len(self.reminders):06d}") if self.post_ok else None

    def renewed(self, posted: Posted, *, old: Reminder, new_uuid: str | None, new_expires_at: datetime) -> None:
        self.edits.append(("renewed", posted, new_uuid))

    def dismissed(self, posted: Posted, *, reminder: Reminder) -> None:
        self.edits.append(("dismissed", posted, None))


@dataclass
class LifeWorld:
    """`World` with the fake ledger (under the quota) and surfaces."""

    base: World
    ledger: FakeLedger
    surfaces: FakeSurfaces
    retries: PendingWrites  # the writes after a mint the fake ledger refused; `retry_due()` is the upkeep's round
    holders: FakeLiveTokens  # everyone's live tokens, for the policy's admins

    @property
    def ports(self) -> Ports:
        return self.base.ports

    def ctx(
        self, user_id: str = "U0JDOE", request_id: str = "r1", *, origin: Origin = Origin.COMMAND
    ) -> RequestContext:
        return msgspec.structs.replace(self.base.ctx(user_id, request_id), origin=origin)

    def at(self, when: datetime) -> None:
        """Move the world's clock forward to `when`."""
        self.base.clock.advance((when - self.base.clock.now()).total_seconds())

    def remind_at(self, when: datetime, *, pace: ReminderPace | None = None) -> int:
        """One reminder sweep at `when` (the clock moved there first): how many were sent."""
        self.at(when)
        return send_reminders(self.ports, pace=pace)


def life_world(*, remind_before: int = 3600, policy: dict[str, Any] | None = None) -> LifeWorld:
    """jdoe (mapped, with an account) in a workspace whose quota lives in a fake ledger."""
    base = world(policy=policy)
    ledger = FakeLedger(clock=base.clock, audit=base.audit)
    surfaces = FakeSurfaces()
    retries = PendingWrites(clock=base.clock)
    rule = QuotaRule(base.ports.policy.per_hour, base.ports.policy.cooldown)
    quota = LedgerQuota(ledger=ledger, rule=rule, clock=base.clock, retries=retries)
    holders = FakeLiveTokens(ledger)
    base.ports = replace(
        base.ports, quota=quota, ledger=ledger, surfaces=surfaces, remind_before=remind_before, holders=holders
    )
    return LifeWorld(base, ledger, surfaces, retries, holders)


__all__ = ["HOUR", "FakeLedger", "FakeLiveTokens", "FakeSurfaces", "LifeWorld", "life_world"]
