"""Every event the SIEM webhook delivers carries `schema_version`, one an older release left in the outbox too
(a real receiver on loopback, the real outbox on SQLite and its sender, on a ManualClock)."""

from __future__ import annotations

from bot.adapters.audit import OutboxSender
from bot.adapters.webhook import AuditWebhook
from bot.domain.audit import AUDIT_SCHEMA_VERSION, AuditEvent, Outcome
from bot.runtime.clock import ManualClock
from bot.store import Store
from sandbox.siem import FakeSiem
from tests.adapters.conftest import SECRET, T0
from tests.store.older import unversioned_event


def test_every_delivered_event_carries_the_schema_version(store: Store, clock: ManualClock, receiver: FakeSiem) -> None:
    unversioned_event(store, sink="webhook", request_id="old-1", at=T0)
    store.outbox.append(AuditEvent(Outcome.REFUSED, "new-1", slack_user="U1", occurred_at=T0))
    store.outbox.expedite(now=T0)
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
