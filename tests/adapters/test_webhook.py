"""The SIEM webhook sink against a real HTTP receiver on loopback, with the real outbox (SQLite) and sender.

A fake SIEM (sandbox/siem.py) answers what each test plans (429 with a Retry-After, 200); the sender waits on a
ManualClock, so "delivered within five minutes" is checked by advancing the clock, never by waiting for it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.adapters.audit import OutboxSender
from bot.adapters.webhook import AuditWebhook
from bot.domain.audit import AuditEvent, Outcome
from bot.runtime.clock import ManualClock
from bot.store import Store
from sandbox.siem import FakeSiem
from tests.adapters.conftest import SECRET


@pytest.fixture
def sender(store: Store, receiver: FakeSiem, clock: ManualClock) -> Iterator[OutboxSender]:
    hook = AuditWebhook(receiver.url, SECRET, clock=clock)
    running = OutboxSender(outbox=store.outbox, sink="webhook", deliver=hook.deliver, worker="w", clock=clock)
    running.start()
    try:
        yield running
    finally:
        running.stop(timeout=2)
        hook.close()


def issued(clock: ManualClock, request_id: str = "req-1") -> AuditEvent:
    return AuditEvent(
        outcome=Outcome.ISSUED, request_id=request_id, username="jdoe", token_uuid="0b1c", occurred_at=clock.now()
    )


@pytest.mark.parametrize("retry_after", ["86400", "inf", "nan", "-5", "1e12", "1" + "0" * 30, "tomorrow"])
def test_a_429_parks_an_issued_event_five_minutes_at_most_whatever_its_retry_after(
    store: Store, receiver: FakeSiem, sender: OutboxSender, clock: ManualClock, retry_after: str
) -> None:
    receiver.plan.append((429, retry_after))
    store.outbox.append(issued(clock))
    sender.wake()
    assert sender.flush(5)
    # The round gave the event back with the sink's answer; it did not crash (`inf` overflowed a timedelta).
    assert (len(receiver.posts), receiver.accepted, sender.last_error) == (1, [], "HTTP 429")
    clock.advance(300)
    sender.wake()
    assert sender.flush(5)
    assert [e["request_id"] for e in receiver.accepted] == ["req-1"]
    assert store.outbox.backlog(sink="webhook", now=clock.now()) == (0, 0.0)


def test_every_record_carries_an_event_id_the_same_on_every_retry_so_a_siem_can_drop_duplicates(
    store: Store, receiver: FakeSiem, sender: OutboxSender, clock: ManualClock
) -> None:
    receiver.plan.append((503, None))  # delivery is at least once: the same batch comes again
    store.outbox.append(issued(clock, "req-1"))
    store.outbox.append(issued(clock, "req-2"))
    sender.wake()
    assert sender.flush(5)
    clock.advance(300)
    sender.wake()
    assert sender.flush(5)
    (_, first), (_, again) = receiver.posts
    ids = [record["event_id"] for record in first["events"]]
    assert [record["event_id"] for record in again["events"]] == ids
    assert len(set(ids)) == 2 and all(len(i) == 32 and int(i, 16) >= 0 for i in ids)  # a UUID4, hex
