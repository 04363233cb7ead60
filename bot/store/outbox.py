"""The audit outbox: every event is written durably first, then each sink's copy is delivered by any replica.

An event is one `audit_events` row and one `audit_outbox` row per sink, written in one transaction (in the
ledger's own transaction when a mint settles). The sinks are those this process is configured with and
those the serving bot recorded in `audit_sinks` at its start ("slack", "webhook"): so the admin CLI, whose
shell names neither, still writes a row for each, and the serving bot delivers its events.

A delivery worker `claim`s due rows of its sink: the claim is a single
`UPDATE ... WHERE id IN (SELECT ... LIMIT n) RETURNING`, which leases the rows to the worker
(`claimed_by`, `lease_until`) and counts the attempt. On PostgreSQL the inner SELECT is
`FOR UPDATE SKIP LOCKED`, so two workers never wait on, nor get, the same row; on SQLite the write lock
serializes claims. A worker that dies leaves its lease to expire, and the rows become claimable again.
`delivered` marks rows done; `retry` gives them back with the next attempt time (backoff) and the error.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from bot.domain.audit import AuditEvent, linger_of
from bot.domain.ports import ClaimedEvent
from bot.store.db import reading, upsert, writing
from bot.store.schema import BigId, UTCDateTime, audit_events, audit_outbox, audit_sinks

DEFAULT_SINKS = ("slack",)
_ERROR_LENGTH = 500


def append_event(conn: Connection, event: AuditEvent, *, sinks: Sequence[str], now: datetime) -> int:
    """Insert an event and one delivery row per sink on `conn` (the caller's transaction); its row ID.

    The event gets its `event_id` here (a UUID) unless it has one: stored in its record, so every sink's copy
    and every retry carries the same one."""
    record = event.as_record()
    record.setdefault("event_id", uuid.uuid4().hex)
    event_id = conn.execute(
        sa.insert(audit_events)
        .values(
            occurred_at=event.occurred_at,
            recorded_at=now,
            outcome=str(event.outcome),
            request_id=event.request_id[:64],
            record=record,
            registry=event.registry,
        )
        .returning(audit_events.c.id)
    ).scalar_one()
    due = now + timedelta(seconds=linger_of(event.priority))
    if sinks:
        conn.execute(
            sa.insert(audit_outbox),
            [
                {
                    "event_id": event_id,
                    "sink": sink,
                    "priority": int(event.priority),
                    "created_at": now,
                    "due_at": due,
                    "attempts": 0,
                }
                for sink in sinks
            ],
        )
    # And one for each sink the serving bot recorded that this process does not know (one INSERT ... SELECT).
    s = audit_sinks.c
    recorded = sa.select(
        sa.literal(event_id, BigId),
        s.name,
        sa.literal(int(event.priority), sa.SmallInteger()),
        sa.literal(now, UTCDateTime()),
        sa.literal(due, UTCDateTime()),
        sa.literal(0, sa.Integer()),
    ).where(s.name.not_in(list(sinks)))
    columns = ["event_id", "sink", "priority", "created_at", "due_at", "attempts"]
    conn.execute(sa.insert(audit_outbox).from_select(columns, recorded))
    return int(event_id)


def live_sinks(sinks: Sequence[str]) -> sa.ColumnElement[bool]:
    """An outbox row whose sink someone delivers to: configured here, or recorded by the serving bot. The rows
    of a sink since removed from the bot's settings are not: they must not keep their events past the retention."""
    return sa.or_(audit_outbox.c.sink.in_(list(sinks)), audit_outbox.c.sink.in_(sa.select(audit_sinks.c.name)))


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

    def record_sinks(self, sinks: Mapping[str, str], *, holder: str, now: datetime) -> None:
        """The serving bot, at start: these are the sinks it delivers to (name: a description without secrets).

        Replaces what an earlier start recorded: a sink removed from the bot's settings gets no new rows."""
        s = audit_sinks.c
        with writing(self._engine) as conn:
            conn.execute(sa.delete(audit_sinks).where(s.name.not_in(list(sinks))))
            insert = upsert(conn)
            for name, description in sinks.items():
                values = {"name": name, "description": description[:255], "recorded_at": now, "recorded_by": holder}
                new = insert(audit_sinks).values(values)
                update = {key: new.excluded[key] for key in ("description", "recorded_at", "recorded_by")}
                conn.execute(new.on_conflict_do_update(index_elements=[s.name], set_=update))

    def recorded_sinks(self) -> dict[str, str]:
        """The sinks the serving bot recorded at its last start (name: description); empty when it never did."""
        with reading(self._engine) as conn:
            rows = conn.execute(sa.select(audit_sinks.c.name, audit_sinks.c.description).order_by(audit_sinks.c.name))
            return {str(name): str(description) for name, description in rows}

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
            ClaimedEvent(id=row.id, event=_event(row.event_id, records[row.event_id]), attempts=row.attempts - 1)
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

    def extend(self, ids: list[int], *, worker: str, until: datetime) -> int:
        """Renew the lease of events `worker` still holds undelivered, to `until`; how many it still held (a
        lease that lapsed and was claimed by another replica is not taken back)."""
        if not ids:
            return 0
        o = audit_outbox.c
        with writing(self._engine) as conn:
            result = conn.execute(
                sa.update(audit_outbox)
                .where(o.id.in_(ids), o.claimed_by == worker[:128], o.delivered_at.is_(None))
                .values(lease_until=until)
            )
        return int(result.rowcount or 0)

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

    def last_error(self, *, sink: str) -> str | None:
        """The error that stopped the undelivered event of `sink` given back last (None when none was): what any
        replica saw, for doctor, which has no sender of its own to ask."""
        o = audit_outbox.c
        with reading(self._engine) as conn:
            return conn.execute(
                sa.select(o.last_error)
                .where(o.sink == sink, o.delivered_at.is_(None), o.last_error.is_not(None))
                .order_by(o.due_at.desc(), o.id.desc())
                .limit(1)
            ).scalar_one_or_none()


def _event(row_id: int, record: dict[str, Any]) -> AuditEvent:
    """A stored event; one written before events had IDs gets a stable one from its row (`row-<id>`)."""
    return AuditEvent.from_record({"event_id": f"row-{row_id}", **record})
