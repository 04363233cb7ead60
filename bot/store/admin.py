"""What the admin CLI shows of the store: the token ledger and the audit events, as JSON lines or a table.

Read-only, and needs only the database settings: no Slack, no cluster (`rok-token-bot tokens`, `audit`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import msgspec
import sqlalchemy as sa

from bot.domain.audit import UNVERSIONED_SCHEMA_VERSION
from bot.domain.durations import format_duration
from bot.domain.ledger import LedgerEntry
from bot.domain.patterns import DEFAULT_REGISTRY
from bot.store import Store
from bot.store.db import reading
from bot.store.schema import audit_events, audit_outbox, ledger

TOKEN_FIELDS = (
    "token_uuid", "slack_user", "rok_user", "issued_at", "expires_at", "status",
    "request_id", "origin", "reserved_at", "duration_seconds",
)  # fmt: skip


def _time(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%SZ") if value is not None else "-"


def token_record(entry: LedgerEntry) -> dict[str, Any]:
    """One ledger row as a JSON object (times in ISO 8601, UTC)."""
    values: dict[str, Any] = {
        "token_uuid": entry.token_uuid,
        "slack_user": entry.slack_user,
        "rok_user": entry.rok_user,
        "issued_at": entry.issued_at,
        "expires_at": entry.expires_at,
        "status": str(entry.status),
        "request_id": entry.request_id,
        "origin": str(entry.origin),
        "reserved_at": entry.reserved_at,
        "duration_seconds": entry.duration_seconds,
        # The token's life in Slack: the row's ID, the row it renewed, when its owner was reminded.
        "id": entry.id,
        "renewed_from": entry.renewed_from,
        "reminded_at": entry.reminded_at,
        "registry": entry.registry,
        # Who approved it and the requester's reason (revision 0009): what `report --at` shows as its origin.
        "approved_by": entry.approved_by,
        "reason": entry.reason,
    }
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in values.items()}


def tokens_table(entries: Sequence[LedgerEntry], *, now: datetime) -> str:
    """An aligned table of ledger rows, for a terminal. A REGISTRY column first when a row lives in a registry
    other than `default`: with several registries configured (with one, the table of before)."""
    named = any(e.registry != DEFAULT_REGISTRY for e in entries)
    header = ("ISSUED", "EXPIRES", "STATUS", "SLACK USER", "ROK USER", "TOKEN UUID", "DURATION", "REQUEST")
    rows = [
        (
            *((e.registry,) if named else ()),
            _time(e.issued_at or e.reserved_at),
            _time(e.expires_at),
            "live" if e.live(now) else str(e.status),
            e.slack_user or "-",
            e.rok_user or "-",
            e.token_uuid or "-",
            format_duration(e.duration_seconds),
            e.request_id,
        )
        for e in entries
    ]
    return _table(("REGISTRY", *header) if named else header, rows)


def ledger_registries(store: Store) -> list[str]:
    """The registries the ledger has rows of, by name: what `tokens --registry` can match."""
    with reading(store.engine) as conn:
        return list(conn.execute(sa.select(ledger.c.registry).distinct().order_by(ledger.c.registry)).scalars())


class AuditLine(msgspec.Struct, frozen=True):
    """An audit event as recorded, with where each sink's copy stands."""

    id: int
    recorded_at: datetime
    record: dict[str, Any]
    deliveries: dict[str, dict[str, Any]]

    def as_json(self) -> str:
        """The event's record, plus `recorded_at` and `delivery` per sink."""
        return json.dumps(
            {**self.record, "recorded_at": self.recorded_at.isoformat(), "delivery": self.deliveries}, sort_keys=False
        )


def list_audit(store: Store, *, since: datetime, limit: int) -> list[AuditLine]:
    """Audit events recorded since `since`, newest last (the newest `limit` of them)."""
    e, o = audit_events.c, audit_outbox.c
    with reading(store.engine) as conn:
        events = conn.execute(
            sa.select(e.id, e.recorded_at, e.record).where(e.recorded_at >= since).order_by(e.id.desc()).limit(limit)
        ).all()
        ids = [row.id for row in events]
        deliveries: dict[int, dict[str, dict[str, Any]]] = {i: {} for i in ids}
        if ids:
            for row in conn.execute(
                sa.select(o.event_id, o.sink, o.attempts, o.delivered_at, o.last_error, o.due_at).where(
                    o.event_id.in_(ids)
                )
            ):
                deliveries[row.event_id][row.sink] = {
                    "delivered_at": row.delivered_at.isoformat() if row.delivered_at else None,
                    "attempts": row.attempts,
                    "last_error": row.last_error,
                }
    return [
        AuditLine(id=row.id, recorded_at=row.recorded_at, record=_versioned(row.record), deliveries=deliveries[row.id])
        for row in reversed(events)
    ]


def _versioned(record: dict[str, Any]) -> dict[str, Any]:
    """A stored record with its `schema_version` (first), which records stored before versioning lack."""
    return {"schema_version": UNVERSIONED_SCHEMA_VERSION} | dict(record)


def audit_table(lines: Sequence[AuditLine]) -> str:
    """An aligned table of audit events, for a terminal."""
    header = ("TIME", "OUTCOME", "SLACK USER", "ROK USER", "DURATION", "TOKEN UUID", "REQUEST", "DELIVERY", "REASON")
    rows = []
    for line in lines:
        r = line.record
        duration = r.get("duration_seconds")
        delivery = ", ".join(_delivery(sink, d) for sink, d in sorted(line.deliveries.items()))
        rows.append(
            (
                _time(line.recorded_at),
                str(r.get("outcome", "-")),
                str(r.get("slack_user") or "-"),
                str(r.get("username") or "-"),
                format_duration(duration) if isinstance(duration, int) and duration >= 0 else "-",
                str(r.get("token_uuid") or "-"),
                str(r.get("request_id", "-")),
                delivery or "-",
                str(r.get("reason") or "-"),
            )
        )
    return _table(header, rows)


def _delivery(sink: str, state: dict[str, Any]) -> str:
    if state["delivered_at"]:
        return f"{sink} ok"
    return f"{sink} pending ({state['attempts']} tries)"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=False)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in [header, *rows]]
    return "\n".join(lines)
