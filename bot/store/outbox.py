"""The audit outbox: every event is written durably first, then each sink's copy is delivered by any replica.

An event is one `audit_events` row and one `audit_outbox` row per configured sink ("slack" always,
"webhook" when a webhook is set), written in one transaction (in the ledger's own transaction when a
mint settles). A delivery worker `claim`s due rows of its sink: the claim is a single
`UPDATE ... WHERE id IN (SELECT ... LIMIT n) RETURNING`, which leases the rows to the worker
(`claimed_by`, `lease_until`) and counts the attempt. On PostgreSQL the inner SELECT is
`FOR UPDATE SKIP LOCKED`, so two workers never wait on, nor get, the same row; on SQLite the write lock
serializes claims. A worker that dies leaves its lease to expire, and the rows become claimable again.
`delivered` marks rows done; `retry` gives them back with the next attempt time (backoff) and the error.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from bot.domain.audit import AuditEvent, linger_of
from bot.domain.ports import ClaimedEvent
from bot.store.db import reading, writing
from bot.store.schema import audit_events, audit_outbox

DEFAULT_SINKS = ("slack",)
_ERROR_LENGTH = 500


def append_event(conn: Connection, event: AuditEvent, *, sinks: Sequence[str], now: datetime) -> int:
    """Insert an event and one delivery row per sink on `conn` (the caller's transaction); its ID."""
    record = event.as_record()
    event_id = conn.execute(
        sa.insert(audit_events)
        .values(
            occurred_at=event.occurred_at,
            recorded_at=now,
            outcome=str(event.outcome),
            request_id=event.request_id[:64],
            record=record,
        )
        .returning(audit_events.c.id)
    ).scalar_one()
    if sinks:
        conn.execute(
            sa.insert(audit_outbox),
            [
                {
                    "event_id": event_id,
                    "sink": sink,
                    "priority": int(event.priority),
                    "created_at": now,
                    "due_at": now + timedelta(seconds=linger_of(event.priority)),
                    "attempts": 0,
                }
                for sink in sinks
            ],
        )
    return int(event_id)


class SqlAuditOutbox:
    """`AuditOutbox` on SQLAlchemy (SQLite or PostgreSQL)."""

    def __init__(self, engine: Engine, *, sinks: Sequence[str] = DEFAULT_SINKS) -> None:
        if len(set(sinks)) != len(sinks):
            raise ValueError(f"duplicate sinks: {list(sinks)}")
        self._engine = engine
        self.sinks = tuple(sinks)

    def append(self, event: AuditEvent, *, now: datetime | None = None) -> None:
        """Record an event for every sink (one transaction)."""
        with writing(self._engine) as conn:
            append_event(conn, event, sinks=self.sinks, now=now or event.occurred_at)

    def expedite(self, *, now: datetime) -> int:
        """Make every undelivered event due now (refusals linger to merge; shutdown and tests do not wait)."""
        o = audit_outbox.c
        with writing(self._engine) as conn:
            result = conn.execute(
                sa.update(audit_outbox).where(o.delivered_at.is_(None), o.due_at > now).values(due_at=now)
            )
        return int(result.rowcount or 0)

    def claim(self, *, sink: str, worker: str, limit: int, lease_seconds: float, now: datetime) -> list[ClaimedEvent]:
        """Lease up to `limit` due events of one sink, most urgent first (Priority, then age)."""
        if limit <= 0:
            return []
        o = audit_outbox.c
        due = (
            sa.select(o.id)
            .where(
                o.sink == sink,
                o.delivered_at.is_(None),
                o.due_at <= now,
                sa.or_(o.lease_until.is_(None), o.lease_until <= now),
            )
            .order_by(o.priority, o.id)
            .limit(limit)
        )
        with writing(self._engine) as conn:
            if conn.dialect.name == "postgresql":
                due = due.with_for_update(skip_locked=True)
            claimed = list(
                conn.execute(
                    sa.update(audit_outbox)
                    .where(o.id.in_(due.scalar_subquery()))
                    .values(
                        claimed_by=worker[:128],
                        lease_until=now + timedelta(seconds=lease_seconds),
                        attempts=o.attempts + 1,
                    )
                    .returning(o.id, o.event_id, o.priority, o.attempts)
                )
            )
            if not claimed:
                return []
            records = dict(
                conn.execute(
                    sa.select(audit_events.c.id, audit_events.c.record).where(
                        audit_events.c.id.in_([row.event_id for row in claimed])
                    )
                ).all()
            )
        # RETURNING has no order: restore the claim's.
        claimed.sort(key=lambda row: (row.priority, row.id))
        return [
            ClaimedEvent(id=row.id, event=AuditEvent.from_record(records[row.event_id]), attempts=row.attempts - 1)
            for row in claimed
        ]

    def delivered(self, ids: list[int], *, now: datetime) -> None:
        """Mark claimed events as posted."""
        if not ids:
            return
        with writing(self._engine) as conn:
            conn.execute(
                sa.update(audit_outbox)
                .where(audit_outbox.c.id.in_(ids), audit_outbox.c.delivered_at.is_(None))
                .values(delivered_at=now, claimed_by=None, lease_until=None)
            )

    def retry(self, ids: list[int], *, at: datetime, error: str) -> None:
        """Give claimed events back, due again at `at` (backoff), with the error that stopped them."""
        if not ids:
            return
        with writing(self._engine) as conn:
            conn.execute(
                sa.update(audit_outbox)
                .where(audit_outbox.c.id.in_(ids), audit_outbox.c.delivered_at.is_(None))
                .values(due_at=at, last_error=error[:_ERROR_LENGTH], claimed_by=None, lease_until=None)
            )

    def backlog(self, *, sink: str, now: datetime) -> tuple[int, float]:
        """Events not yet delivered to `sink`, and the age in seconds of the oldest (0 when none)."""
        o = audit_outbox.c
        with reading(self._engine) as conn:
            count, oldest = conn.execute(
                sa.select(sa.func.count(), sa.func.min(o.created_at)).where(o.sink == sink, o.delivered_at.is_(None))
            ).one()
        if not count or oldest is None:
            return 0, 0.0
        # min() keeps the column's type, so `oldest` is an aware datetime on both backends.
        return int(count), max((now - oldest).total_seconds(), 0.0)
