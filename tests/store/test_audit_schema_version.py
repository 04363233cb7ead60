"""The schema version in the store: written with every new event; an event an older release wrote (no version in
its `record`, still in the outbox after an upgrade) is delivered with it, and `rok-token-bot audit` shows it."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from bot.domain.audit import AUDIT_SCHEMA_VERSION, AuditEvent, Outcome
from bot.store import Store
from bot.store.admin import list_audit
from bot.store.schema import audit_events
from tests.store.older import unversioned_event

T0 = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)


def test_a_new_event_is_stored_with_the_schema_version(store: Store) -> None:
    store.outbox.append(AuditEvent(Outcome.ISSUED, "r1", token_uuid="0b1c", occurred_at=T0))
    with store.engine.connect() as conn:
        (record,) = conn.execute(sa.select(audit_events.c.record)).scalars()
    assert record["schema_version"] == AUDIT_SCHEMA_VERSION


def test_an_event_an_older_release_stored_is_delivered_with_the_schema_version(store: Store) -> None:
    row_id = unversioned_event(store, sink="slack", request_id="old-1", at=T0)
    (claimed,) = store.outbox.claim(sink="slack", worker="w", limit=10, lease_seconds=30, now=T0)
    record = claimed.event.as_record()
    assert (record["schema_version"], record["event_id"], record["token_uuid"]) == (
        AUDIT_SCHEMA_VERSION,
        f"row-{row_id}",
        "0b1c",
    )
    (line,) = list_audit(store, since=T0, limit=10)
    assert next(iter(line.record.items())) == ("schema_version", 1)
