"""Rows as an older release of the bot wrote them, for tests of what this release makes of them."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from bot.store import Store
from bot.store.schema import audit_events, audit_outbox


def unversioned_event(store: Store, *, sink: str, request_id: str, at: datetime) -> int:
    """An undelivered `issued` event as a release before versioning (and event IDs) wrote it: its record has no
    `schema_version` and no `event_id`. Its row ID."""
    record = {"outcome": "issued", "request_id": request_id, "token_uuid": "0b1c", "occurred_at": at.isoformat()}
    with store.engine.begin() as conn:
        row_id = conn.execute(
            sa.insert(audit_events)
            .values(occurred_at=at, recorded_at=at, outcome="issued", request_id=request_id, record=record)
            .returning(audit_events.c.id)
        ).scalar_one()
        conn.execute(
            sa.insert(audit_outbox).values(event_id=row_id, sink=sink, priority=0, created_at=at, due_at=at, attempts=0)
        )
    return int(row_id)
