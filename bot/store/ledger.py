"""The token ledger and its per-user, per-registry quota, atomic across replicas.

Every row names the registry its token lives in (revision 0007; rows from before it are `default`).
`reserve` reads the user's rows of the last hour in that registry, asks `QuotaRule.check`, and inserts the
new row, all under a lock that covers that one user only (in every registry: a user's requests to two
registries at once queue for a millisecond, nobody else's do):
- PostgreSQL: `pg_advisory_xact_lock(<namespace>, hashtext(user_id))`, taken first in the transaction and
  released by its commit. Under READ COMMITTED the SELECT after it sees every row committed by the
  previous holder. Two users share a lock only on a 32-bit hash collision, so a burst of distinct users
  runs in parallel.
- SQLite: `BEGIN IMMEDIATE`, the database's one write lock (SQLite has no finer one; its transactions
  here take about a millisecond, and the store is for one replica).
A released reservation (nothing was minted) deletes its row, giving the place back. `mark_minted` writes
the token's UUID and expiry as soon as it exists (status `minted`, before delivery). `settle` updates the
row and appends the audit event in one transaction; both are safe to retry (the serving bot retries them
when the database blinks, `bot.adapters.retries`). `sweep` turns rows left `reserved` by a crashed mint
into `possibly_minted`, and rows left `minted` into `unconfirmed` (with the UUID), each with an audit
event; its `UPDATE ... WHERE status = ... RETURNING` hands each row to one sweeper only (PostgreSQL
re-checks the WHERE on a row another transaction changed).

The token's life in Slack (revision 0002): a renewal's row names the row it renews (`renewed_from`, unique,
checked in `reserve` under the same per-user lock, so two Renew clicks cannot both mint); an expiry
reminder is claimed with `UPDATE ... SET reminded_at WHERE reminded_at IS NULL` (one winner across
replicas, and only while the token is live and not renewed), then its message's place is recorded.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from bot.domain.audit import AuditEvent, Origin, Outcome
from bot.domain.errors import RenewRefused
from bot.domain.ledger import HOUR, LedgerEntry, Minted, QuotaRule, TokenStatus
from bot.domain.lifecycle import already_renewed
from bot.domain.patterns import DEFAULT_REGISTRY
from bot.domain.ports import Reservation, TokenQuery
from bot.store.db import reading, writing
from bot.store.outbox import DEFAULT_SINKS, append_event, live_sinks
from bot.store.schema import REASON_COLUMN, audit_events, audit_outbox, ledger, once_claims

# The first key of the ledger's two-integer advisory locks (b"rokq"): keeps them apart from any other
# application's advisory locks in a shared database.
QUOTA_LOCK_SPACE = 0x726F6B71
STALE_AFTER = timedelta(minutes=10)
CRASH_REASON = "the bot stopped during the mint"
UNCONFIRMED_REASON = (
    "minted, delivery/settle unconfirmed: the bot stopped (or lost its database) after the mint; "
    "revoke this token UUID unless its owner has it"
)


class Pruned(msgspec.Struct, frozen=True):
    """What one retention pass deleted."""

    ledger: int
    events: int
    deliveries: int
    claims: int


class SqlLedger:
    """`Ledger` on SQLAlchemy (SQLite or PostgreSQL)."""

    def __init__(self, engine: Engine, *, sinks: Sequence[str] = DEFAULT_SINKS) -> None:
        self._engine = engine
        self._sinks = tuple(sinks)

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
        """Take a place in `registry` under a per-user lock (never a global one); LimitExceeded (from `rule`)
        when none; RenewRefused when `renewed_from` was renewed already; ValueError when it lives in another
        registry than `registry` (a renewal stays where its token lives)."""
        with writing(self._engine) as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(
                    sa.text("SELECT pg_advisory_xact_lock(:space, hashtext(:user))"),
                    {"space": QUOTA_LOCK_SPACE, "user": user_id},
                )
            if renewed_from is not None:
                # Only the owner renews, so a second click waits on the same user's lock and sees the first.
                # The unique index stays the last word should anything else ever write the column.
                _check_not_renewed(conn, renewed_from)
                _check_same_registry(conn, renewed_from, registry)
            # Raises LimitExceeded: the rollback frees the lock.
            rule.check(self._taken(conn, user_id, registry, now), now)
            row_id = conn.execute(
                sa.insert(ledger)
                .values(
                    request_id=request_id[:64],
                    slack_team=team_id,
                    slack_enterprise=enterprise_id,
                    user_id=user_id,
                    duration_seconds=duration_seconds,
                    origin=str(origin),
                    status=str(TokenStatus.RESERVED),
                    reserved_at=now,
                    renewed_from=renewed_from,
                    registry=registry,
                )
                .returning(ledger.c.id)
            ).scalar_one()
        return Reservation(id=int(row_id), user_id=user_id, reserved_at=now, registry=registry)

    @staticmethod
    def _taken(conn: Connection, user_id: str, registry: str, now: datetime) -> list[datetime]:
        """The user's places of the last hour in one registry (index ix_ledger_user_registry_reserved)."""
        c = ledger.c
        return list(
            conn.execute(
                sa.select(c.reserved_at).where(c.user_id == user_id, c.registry == registry, c.reserved_at > now - HOUR)
            ).scalars()
        )

    def release(self, reservation: Reservation) -> None:
        """Nothing was minted: give the place back (delete the row)."""
        with writing(self._engine) as conn:
            conn.execute(sa.delete(ledger).where(ledger.c.id == reservation.id))

    def settle(
        self,
        reservation: Reservation,
        *,
        status: TokenStatus,
        minted: Minted | None,
        event: AuditEvent,
        now: datetime | None = None,
    ) -> None:
        """Record what became of the attempt and append its audit event, in one transaction."""
        values: dict[str, object] = {"status": str(status), "settled_at": now or event.occurred_at}
        if minted is not None:
            values |= _minted_values(minted)
        c = ledger.c
        with writing(self._engine) as conn:
            # A row already in `status` was settled by an earlier try whose commit we never heard back from:
            # a retry changes nothing and appends no second event.
            changed = conn.execute(
                sa.update(ledger).where(c.id == reservation.id, c.status != str(status)).values(values)
            ).rowcount
            if changed:
                append_event(conn, event, sinks=self._sinks, now=now or event.occurred_at)

    def mark_minted(self, reservation: Reservation, *, minted: Minted) -> None:
        """A `reserved` row becomes `minted` with the token's UUID and expiry, before delivery; any other row
        (settled already, or marked by an earlier try) is left alone."""
        c = ledger.c
        with writing(self._engine) as conn:
            conn.execute(
                sa.update(ledger)
                .where(c.id == reservation.id, c.status == str(TokenStatus.RESERVED))
                .values(status=str(TokenStatus.MINTED), **_minted_values(minted))
            )

    def remaining(self, user_id: str, *, rule: QuotaRule, now: datetime, registry: str = DEFAULT_REGISTRY) -> int:
        """Places left in the user's rolling hour in `registry`."""
        with reading(self._engine) as conn:
            return rule.remaining(self._taken(conn, user_id, registry, now), now)

    def tokens(self, query: TokenQuery) -> list[LedgerEntry]:
        """Ledger rows, newest first."""
        c = ledger.c
        stmt = sa.select(ledger).order_by(c.reserved_at.desc(), c.id.desc()).limit(query.limit)
        if query.slack_user is not None:
            stmt = stmt.where(c.user_id == query.slack_user)
        if query.rok_user is not None:
            stmt = stmt.where(c.rok_user == query.rok_user)
        if query.registry is not None:
            stmt = stmt.where(c.registry == query.registry)
        if query.since is not None:
            stmt = stmt.where(c.reserved_at >= query.since)
        if query.active_at is not None:
            stmt = stmt.where(c.status == str(TokenStatus.ISSUED), c.expires_at > query.active_at)
        with reading(self._engine) as conn:
            return [_entry(row) for row in conn.execute(stmt)]

    # -- the token's life in Slack -------------------------------------------------------------------

    def entry(self, entry_id: int) -> LedgerEntry | None:
        """One row by its ID; None when there is none (never was, or pruned)."""
        with reading(self._engine) as conn:
            row = conn.execute(sa.select(ledger).where(ledger.c.id == entry_id)).first()
        return _entry(row) if row is not None else None

    def renewal_of(self, entry_id: int) -> LedgerEntry | None:
        """The row that renewed this one, if any (each row is renewed at most once)."""
        with reading(self._engine) as conn:
            row = conn.execute(sa.select(ledger).where(ledger.c.renewed_from == entry_id)).first()
        return _entry(row) if row is not None else None

    def due_reminders(self, *, now: datetime, lead: int, limit: int) -> list[LedgerEntry]:
        """Issued, live rows of Slack users expiring within `lead` seconds, not reminded and not renewed,
        soonest first: the candidates of a reminder sweep (each still to be claimed)."""
        c = ledger.c
        stmt = (
            sa.select(ledger)
            .where(
                c.reminded_at.is_(None),
                c.expires_at > now,
                c.expires_at <= now + timedelta(seconds=lead),
                c.status == str(TokenStatus.ISSUED),
                ~c.user_id.startswith("cli:"),  # the admin CLI's tokens have no Slack owner to remind
                _not_renewed(),
            )
            .order_by(c.expires_at, c.id)
            .limit(limit)
        )
        with reading(self._engine) as conn:
            return [_entry(row) for row in conn.execute(stmt)]

    def claim_reminder(self, entry_id: int, *, now: datetime) -> bool:
        """Mark a row reminded: True for exactly one caller, whichever replica asks, and only while the token
        is live and not renewed."""
        c = ledger.c
        with writing(self._engine) as conn:
            # PostgreSQL re-checks this WHERE on a row another transaction just updated: one winner.
            claimed = conn.execute(
                sa.update(ledger)
                .where(c.id == entry_id, c.reminded_at.is_(None), c.expires_at > now, _not_renewed())
                .values(reminded_at=now)
            ).rowcount
        return claimed == 1

    def reminder_posted(self, entry_id: int, *, channel: str, ts: str) -> None:
        """Where the row's reminder message lives, so a renewal or a dismissal can edit it."""
        with writing(self._engine) as conn:
            conn.execute(
                sa.update(ledger)
                .where(ledger.c.id == entry_id)
                .values(reminder_channel=channel[:32], reminder_ts=ts[:32])
            )

    def release_reminder(self, entry_id: int) -> None:
        """Undo a claim whose reminder was not posted, so the next sweep claims it again."""
        c = ledger.c
        with writing(self._engine) as conn:
            conn.execute(
                sa.update(ledger)
                .where(c.id == entry_id, c.reminded_at.is_not(None), c.reminder_ts.is_(None))
                .values(reminded_at=None)
            )

    def sweep(self, *, now: datetime, older_than: timedelta = STALE_AFTER) -> int:
        """Settle rows a crash left behind past `older_than`, each audited once: `reserved` (the bot stopped
        during the mint) becomes `possibly_minted`; `minted` (it stopped after the mint, or its settle never
        landed) becomes `unconfirmed`, with the token's UUID an admin can revoke."""
        with writing(self._engine) as conn:
            swept = _sweep(conn, TokenStatus.RESERVED, TokenStatus.POSSIBLY_MINTED, now=now, older_than=older_than)
            swept += _sweep(conn, TokenStatus.MINTED, TokenStatus.UNCONFIRMED, now=now, older_than=older_than)
            for row in sorted(swept, key=lambda r: r.id):
                append_event(conn, _swept_event(row, now=now), sinks=self._sinks, now=now)
        return len(swept)

    def prune(self, *, now: datetime, retention: timedelta, refusal_retention: timedelta | None = None) -> Pruned:
        """Delete ledger rows and delivered audit events older than `retention` (refused ones: older than
        `refusal_retention`, when shorter), and expired once-claims.

        A token still live, and an event some sink has not received, are kept whatever their age (unless nobody
        delivers to that sink any more: neither configured here nor recorded by the serving bot).
        """
        cutoff = now - retention
        refusals_cutoff = now - min(refusal_retention or retention, retention)
        c, e, o = ledger.c, audit_events.c, audit_outbox.c
        old = sa.or_(
            e.recorded_at < cutoff, sa.and_(e.outcome == str(Outcome.REFUSED), e.recorded_at < refusals_cutoff)
        )
        with writing(self._engine) as conn:
            rows = conn.execute(
                sa.delete(ledger).where(
                    c.reserved_at < cutoff,
                    sa.or_(c.status != str(TokenStatus.ISSUED), c.expires_at.is_(None), c.expires_at <= now),
                )
            ).rowcount
            undelivered = sa.select(o.event_id).where(o.delivered_at.is_(None), live_sinks(self._sinks))
            old_events = sa.select(e.id).where(old, e.id.not_in(undelivered))
            deliveries = conn.execute(sa.delete(audit_outbox).where(o.event_id.in_(old_events))).rowcount
            events = conn.execute(sa.delete(audit_events).where(old, e.id.not_in(undelivered))).rowcount
            claims = conn.execute(sa.delete(once_claims).where(once_claims.c.expires_at <= now)).rowcount
        return Pruned(ledger=rows, events=events, deliveries=deliveries, claims=claims)


def _sweep(
    conn: Connection, stale: TokenStatus, settled: TokenStatus, *, now: datetime, older_than: timedelta
) -> list[sa.Row[tuple[object, ...]]]:
    """Claim the stale rows in status `stale` for this sweeper (one winner per row across replicas)."""
    c = ledger.c
    return list(
        conn.execute(
            sa.update(ledger)
            .where(c.status == str(stale), c.reserved_at < now - older_than)
            .values(status=str(settled), settled_at=now)
            .returning(
                c.id,
                c.request_id,
                c.user_id,
                c.duration_seconds,
                c.rok_user,
                c.token_uuid,
                c.expires_at,
                c.registry,
                c.slack_team,
                c.slack_enterprise,
            )
        ).all()
    )


def _swept_event(row: sa.Row[tuple[object, ...]], *, now: datetime) -> AuditEvent:
    """What the sweep says of a row: possibly minted (no UUID), or minted and unconfirmed (with its UUID)."""
    m = row._mapping
    unconfirmed = m["token_uuid"] is not None
    return AuditEvent(
        outcome=Outcome.UNCONFIRMED if unconfirmed else Outcome.POSSIBLY_MINTED,
        request_id=str(m["request_id"]),
        slack_user=m["user_id"],
        username=m["rok_user"],
        duration_seconds=m["duration_seconds"],
        expires_at=m["expires_at"],
        token_uuid=m["token_uuid"],
        reason=UNCONFIRMED_REASON if unconfirmed else CRASH_REASON,
        registry=str(m["registry"]),
        team_id=m["slack_team"],
        enterprise_id=m["slack_enterprise"],
        occurred_at=now,
    )


def _minted_values(minted: Minted) -> dict[str, object]:
    return {
        "rok_user": minted.rok_user,
        "account_uuid": minted.account_uuid,
        "token_uuid": minted.token_uuid,
        "issued_at": minted.issued_at,
        "expires_at": minted.expires_at,
        "approved_by": minted.approved_by[:64] if minted.approved_by else None,
        "reason": minted.reason[:REASON_COLUMN] if minted.reason else None,
    }


def _not_renewed() -> sa.ColumnElement[bool]:
    """No other row renews this one (a correlated NOT EXISTS on the unique `renewed_from`)."""
    renewal = ledger.alias("renewal")
    return ~sa.exists().where(renewal.c.renewed_from == ledger.c.id)


def _check_not_renewed(conn: Connection, entry_id: int) -> None:
    """RenewRefused, saying what became of the first renewal, when the row was renewed already."""
    c = ledger.c
    row = conn.execute(sa.select(c.token_uuid, c.status, c.request_id).where(c.renewed_from == entry_id)).first()
    if row is None:
        return
    message = already_renewed(
        token_uuid=row.token_uuid, issued=row.status == str(TokenStatus.ISSUED), request_id=row.request_id
    )
    raise RenewRefused(message, detail=f"row {entry_id} already renewed by request {row.request_id}")


def _check_same_registry(conn: Connection, entry_id: int, registry: str) -> None:
    """A renewal's row copies the registry of the row it renews: the caller must reserve it there (its quota,
    its cluster). A row since pruned names no registry and is not checked."""
    renewed = conn.execute(sa.select(ledger.c.registry).where(ledger.c.id == entry_id)).scalar_one_or_none()
    if renewed is not None and renewed != registry:
        raise ValueError(f"row {entry_id} lives in registry {renewed!r}: its renewal is not reserved in {registry!r}")


def _entry(row: sa.Row[tuple[object, ...]]) -> LedgerEntry:
    m = row._mapping
    return LedgerEntry(
        id=int(m["id"]),
        request_id=str(m["request_id"]),
        slack_team=m["slack_team"],
        slack_enterprise=m["slack_enterprise"],
        slack_user=m["user_id"],
        rok_user=m["rok_user"],
        account_uuid=m["account_uuid"],
        token_uuid=m["token_uuid"],
        duration_seconds=int(m["duration_seconds"]),
        reserved_at=m["reserved_at"],
        issued_at=m["issued_at"],
        expires_at=m["expires_at"],
        origin=Origin(m["origin"]),
        status=TokenStatus(m["status"]),
        renewed_from=None if m["renewed_from"] is None else int(m["renewed_from"]),
        reminded_at=m["reminded_at"],
        reminder_channel=m["reminder_channel"],
        reminder_ts=m["reminder_ts"],
        registry=str(m["registry"]),
        approved_by=m["approved_by"],
        reason=m["reason"],
    )
