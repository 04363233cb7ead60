"""The audit outbox: durable first, per sink, leased, most urgent first, each event delivered once."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.domain.audit import REFUSAL_LINGER_SECONDS, AuditEvent, Outcome
from bot.store import Store, open_url
from tests.store.workers import run_together

T0 = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def _event(outcome: str, request_id: str, at: datetime = T0) -> AuditEvent:
    return AuditEvent(outcome=outcome, request_id=request_id, slack_user="U1", occurred_at=at)


def test_events_appended_while_slack_fails_survive_closing_and_reopening_the_database(db_url: str) -> None:
    store = open_url(db_url, sinks=("slack",))
    store.upgrade()
    for i in range(3):
        store.outbox.append(_event(Outcome.ISSUED, f"r{i}", T0 + timedelta(seconds=i)))
    claimed = store.outbox.claim(sink="slack", worker="w1", limit=10, lease_seconds=30, now=T0 + timedelta(seconds=5))
    assert [c.event.request_id for c in claimed] == ["r0", "r1", "r2"]
    store.outbox.retry([c.id for c in claimed], at=T0 + timedelta(seconds=60), error="ratelimited")
    store.close()

    reopened = open_url(db_url, sinks=("slack",))
    try:
        assert reopened.outbox.backlog(sink="slack", now=T0 + timedelta(seconds=10)) == (3, 10.0)
        again = reopened.outbox.claim(
            sink="slack", worker="w2", limit=10, lease_seconds=30, now=T0 + timedelta(seconds=61)
        )
        assert [c.event for c in again] == [c.event for c in claimed]
        assert [c.event.occurred_at for c in again] == [T0 + timedelta(seconds=i) for i in range(3)]
        assert [c.attempts for c in again] == [1, 1, 1]
    finally:
        reopened.close()


def test_each_sink_gets_its_own_copy(store: Store) -> None:
    store.outbox.append(_event(Outcome.ISSUED, "r1"))
    (slack,) = store.outbox.claim(sink="slack", worker="w", limit=10, lease_seconds=30, now=T0)
    store.outbox.delivered([slack.id], now=T0)
    assert store.outbox.backlog(sink="slack", now=T0) == (0, 0.0)
    assert store.outbox.backlog(sink="webhook", now=T0 + timedelta(seconds=2)) == (1, 2.0)
    (webhook,) = store.outbox.claim(sink="webhook", worker="w", limit=10, lease_seconds=30, now=T0)
    assert webhook.event == slack.event
    assert webhook.id != slack.id


def test_an_expired_lease_hands_the_event_to_another_worker(store: Store) -> None:
    store.outbox.append(_event(Outcome.ISSUED, "r1"))
    first = store.outbox.claim(sink="slack", worker="dead-replica", limit=10, lease_seconds=30, now=T0)
    assert len(first) == 1
    during = store.outbox.claim(sink="slack", worker="w2", limit=10, lease_seconds=30, now=T0 + timedelta(seconds=29))
    assert during == []
    after = store.outbox.claim(sink="slack", worker="w2", limit=10, lease_seconds=30, now=T0 + timedelta(seconds=30))
    assert [c.id for c in after] == [first[0].id]
    assert after[0].attempts == 1


def test_a_renewed_lease_keeps_the_event_and_only_its_holder_renews_it(store: Store) -> None:
    """A sender whose delivery is slow renews its lease; a lease that lapsed and went to another worker is not
    taken back, and a delivered event is no longer held by anyone."""
    store.outbox.append(_event(Outcome.ISSUED, "r1"))
    [held] = store.outbox.claim(sink="slack", worker="w1", limit=10, lease_seconds=30, now=T0)
    assert store.outbox.extend([held.id], worker="w2", until=T0 + timedelta(seconds=90)) == 0
    assert store.outbox.extend([held.id], worker="w1", until=T0 + timedelta(seconds=90)) == 1
    later = T0 + timedelta(seconds=60)  # past the first lease, inside the renewed one
    assert store.outbox.claim(sink="slack", worker="w2", limit=10, lease_seconds=30, now=later) == []
    [taken] = store.outbox.claim(sink="slack", worker="w2", limit=10, lease_seconds=30, now=T0 + timedelta(seconds=90))
    assert store.outbox.extend([taken.id], worker="w1", until=T0 + timedelta(seconds=200)) == 0  # not taken back
    store.outbox.delivered([taken.id], now=T0 + timedelta(seconds=91))
    assert store.outbox.extend([taken.id], worker="w2", until=T0 + timedelta(seconds=200)) == 0


def test_the_most_urgent_events_are_claimed_first_then_the_oldest(store: Store) -> None:
    store.outbox.append(_event(Outcome.REFUSED, "refused-1"))
    store.outbox.append(_event(Outcome.VERIFIED, "verified-1"))
    store.outbox.append(_event(Outcome.ISSUED, "issued-1"))
    store.outbox.append(_event(Outcome.REFUSED, "refused-2"))
    store.outbox.append(_event(Outcome.POSSIBLY_MINTED, "possibly-1"))
    claimed = store.outbox.claim(sink="slack", worker="w", limit=3, lease_seconds=30, now=T0)
    assert [c.event.request_id for c in claimed] == ["issued-1", "possibly-1", "verified-1"]
    assert store.outbox.claim(sink="slack", worker="w", limit=10, lease_seconds=30, now=T0) == []
    # Refusals linger a few seconds, so a burst of them merges into one line per user and reason.
    later = T0 + timedelta(seconds=REFUSAL_LINGER_SECONDS)
    rest = store.outbox.claim(sink="slack", worker="w", limit=10, lease_seconds=30, now=later)
    assert [c.event.request_id for c in rest] == ["refused-1", "refused-2"]


def test_a_retried_event_waits_for_its_next_attempt(store: Store) -> None:
    store.outbox.append(_event(Outcome.ISSUED, "r1"))
    (claimed,) = store.outbox.claim(sink="slack", worker="w", limit=1, lease_seconds=30, now=T0)
    store.outbox.retry([claimed.id], at=T0 + timedelta(minutes=1), error="x" * 2000)
    assert store.outbox.claim(sink="slack", worker="w", limit=1, lease_seconds=30, now=T0 + timedelta(seconds=59)) == []
    (again,) = store.outbox.claim(sink="slack", worker="w", limit=1, lease_seconds=30, now=T0 + timedelta(minutes=1))
    assert again.id == claimed.id


def test_a_late_retry_does_not_undo_a_delivery(store: Store) -> None:
    store.outbox.append(_event(Outcome.ISSUED, "r1"))
    (claimed,) = store.outbox.claim(sink="slack", worker="slow", limit=1, lease_seconds=1, now=T0)
    store.outbox.delivered([claimed.id], now=T0)
    store.outbox.retry([claimed.id], at=T0, error="the slow worker's timeout")
    assert store.outbox.backlog(sink="slack", now=T0) == (0, 0.0)
    assert store.outbox.claim(sink="slack", worker="w", limit=1, lease_seconds=30, now=T0 + timedelta(hours=1)) == []


def test_four_threads_claiming_at_once_deliver_every_event_once(store: Store) -> None:
    for i in range(120):
        store.outbox.append(_event(Outcome.ISSUED if i % 3 else Outcome.REFUSED, f"r{i}"))
    got: list[list[int]] = [[] for _ in range(4)]
    barrier = threading.Barrier(4)

    def work(n: int) -> None:
        barrier.wait()
        later = T0 + timedelta(seconds=REFUSAL_LINGER_SECONDS)  # refusals included
        while claimed := store.outbox.claim(sink="slack", worker=f"w{n}", limit=5, lease_seconds=60, now=later):
            got[n] += [c.id for c in claimed]
            store.outbox.delivered([c.id for c in claimed], now=later)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ids = [i for worker in got for i in worker]
    assert len(ids) == len(set(ids)) == 120
    assert store.outbox.backlog(sink="slack", now=T0) == (0, 0.0)


def test_two_processes_claiming_at_once_deliver_every_event_once(store: Store, db_url: str, tmp_path: Path) -> None:
    for i in range(150):
        store.outbox.append(_event(Outcome.ISSUED, f"r{i}", datetime.now(UTC)))
    results = run_together("drain", db_url, tmp_path, [["p1", "slack"], ["p2", "slack"]])
    ids = results[0]["ids"] + results[1]["ids"]
    assert len(ids) == len(set(ids)) == 150
    assert store.outbox.backlog(sink="slack", now=datetime.now(UTC))[0] == 0


def test_an_event_has_one_id_for_every_sink_and_every_claim(store: Store) -> None:
    store.outbox.append(_event(Outcome.ISSUED, "r1"))
    (slack,) = store.outbox.claim(sink="slack", worker="w", limit=10, lease_seconds=30, now=T0)
    store.outbox.retry([slack.id], at=T0, error="ratelimited")
    (again,) = store.outbox.claim(sink="slack", worker="w", limit=10, lease_seconds=30, now=T0)
    (webhook,) = store.outbox.claim(sink="webhook", worker="w", limit=10, lease_seconds=30, now=T0)
    assert slack.event.event_id is not None
    assert slack.event.event_id == again.event.event_id == webhook.event.event_id
    assert slack.event.as_record()["event_id"] == slack.event.event_id


def test_the_last_error_of_a_sink_is_the_latest_retry_of_an_event_still_waiting(store: Store) -> None:
    """What doctor shows of a webhook no process of its own delivers to: the error the replicas last met."""
    assert store.outbox.last_error(sink="webhook") is None
    for i in range(3):
        store.outbox.append(_event(Outcome.ISSUED, f"r{i}"))
    first, second, third = store.outbox.claim(sink="webhook", worker="w", limit=10, lease_seconds=30, now=T0)
    store.outbox.retry([first.id], at=T0 + timedelta(seconds=4), error="HTTP 503, HEC code 9 (server is busy)")
    store.outbox.retry([second.id], at=T0 + timedelta(seconds=300), error="HTTP 403, HEC code 4 (invalid token)")
    store.outbox.delivered([third.id], now=T0)
    assert store.outbox.last_error(sink="webhook") == "HTTP 403, HEC code 4 (invalid token)"
    assert store.outbox.last_error(sink="slack") is None  # another sink's copies were never tried
    store.outbox.delivered([second.id], now=T0 + timedelta(seconds=300))
    assert store.outbox.last_error(sink="webhook") == "HTTP 503, HEC code 9 (server is busy)"
