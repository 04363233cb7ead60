"""Two replicas' senders on one outbox (SQLite), one delivery held past the lease: the holder renews its claim
while its POST is under way, so the other replica never sends the same events again. The clock is a
ManualClock: "two minutes later" is an advance, never a wait."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from bot.adapters.audit import LEASE_SECONDS, Delivery, OutboxSender
from bot.domain.audit import AuditEvent, Outcome
from bot.domain.ports import ClaimedEvent
from bot.runtime.clock import ManualClock
from bot.store import Store
from sandbox.slack import wait_for


def test_a_delivery_held_past_the_lease_is_not_sent_again_by_another_replica(store: Store, clock: ManualClock) -> None:
    store.outbox.append(
        AuditEvent(Outcome.ISSUED, "req-1", username="jdoe", token_uuid="0b1c", occurred_at=clock.now())
    )
    store.outbox.expedite(now=clock.now())
    started, release = threading.Event(), threading.Event()
    sent: list[tuple[str, list[str]]] = []

    def deliverer(name: str, held: threading.Event | None) -> Callable[[Sequence[ClaimedEvent]], Delivery]:
        def deliver(claimed: Sequence[ClaimedEvent]) -> Delivery:
            sent.append((name, [c.event.request_id for c in claimed]))
            if held is not None:  # a collector that holds the POST (slowly answering, or dripping bytes)
                started.set()
                held.wait(10)
            return Delivery(delivered=[c.id for c in claimed])

        return deliver

    slow = OutboxSender(
        outbox=store.outbox, sink="webhook", deliver=deliverer("a", release), worker="replica-a", clock=clock
    )
    other = OutboxSender(
        outbox=store.outbox, sink="webhook", deliver=deliverer("b", None), worker="replica-b", clock=clock
    )
    slow.start()
    try:
        assert started.wait(5)
        other.start()
        for step in range(1, 7):  # twice the lease, a third of it at a time
            clock.advance(LEASE_SECONDS / 3)
            wait_for(lambda step=step: slow.renewals >= step)  # type: ignore[misc]
            assert other.flush(5)
        release.set()
        assert slow.flush(5) and other.flush(5)
    finally:
        release.set()
        other.stop(timeout=2)
        slow.stop(timeout=2)
    assert sent == [("a", ["req-1"])]
    assert store.outbox.backlog(sink="webhook", now=clock.now()) == (0, 0.0)
