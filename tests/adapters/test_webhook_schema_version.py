"""Every event the SIEM webhook delivers carries `schema_version`, one an older release left in the outbox too
(a real receiver on loopback, the real outbox on SQLite and its sender, on a ManualClock)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.adapters.audit import OutboxSender
from bot.adapters.webhook import AuditWebhook
from bot.domain.audit import AUDIT_SCHEMA_VERSION, AuditEvent, Outcome
from bot.runtime.clock import ManualClock
from bot.store import Store, open_url
from sandbox.siem import FakeSiem
from tests.store.older import unversioned_event

SECRET = "siem-webhook-secret-0123456789"
T0 = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = open_url(f"sqlite:///{tmp_path / 'rok-token-bot.sqlite3'}", sinks=("webhook",))
    opened.upgrade()
    try:
        yield opened
    finally:
        opened.close()


def test_every_delivered_event_carries_the_schema_version(store: Store) -> None:
    clock = ManualClock(T0)
    unversioned_event(store, sink="webhook", request_id="old-1", at=T0)
    store.outbox.append(AuditEvent(Outcome.REFUSED, "new-1", slack_user="U1", occurred_at=T0))
    store.outbox.expedite(now=T0)
    with FakeSiem(SECRET) as receiver:
        hook = AuditWebhook(receiver.url, SECRET, clock=clock)
        sender = OutboxSender(outbox=store.outbox, sink="webhook", deliver=hook.deliver, worker="w", clock=clock)
        sender.start()
        try:
            assert sender.flush(5)
        finally:
            sender.stop(timeout=2)
            hook.close()
    delivered = {e["request_id"]: e for e in receiver.accepted}
    assert set(delivered) == {"old-1", "new-1"}
    assert all(next(iter(e)) == "schema_version" for e in delivered.values())
    assert {e["schema_version"] for e in delivered.values()} == {AUDIT_SCHEMA_VERSION}
