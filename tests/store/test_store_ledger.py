"""The ledger: a row per mint attempt, the quota enforced atomically per user, the crash sweep, retention."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from bot.domain.audit import AuditEvent, Origin, Outcome
from bot.domain.errors import LimitExceeded
from bot.domain.ledger import Minted, QuotaRule, TokenStatus
from bot.domain.ports import Reservation, TokenQuery
from bot.store import Store
from bot.store.ledger import CRASH_REASON, QUOTA_LOCK_SPACE, UNCONFIRMED_REASON
from bot.store.schema import audit_events, ledger
from tests.store.workers import run_together

T0 = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
THREE = QuotaRule(per_hour=3, cooldown=0)


def _reserve(
    store: Store, user: str = "U1", *, now: datetime = T0, rule: QuotaRule = THREE, rid: str = "r"
) -> Reservation:
    return store.ledger.reserve(
        user_id=user, team_id="T1", request_id=rid, origin=Origin.COMMAND, duration_seconds=3600, rule=rule, now=now
    )


def _minted(rok_user: str = "jdoe", token_uuid: str = "0b9f6c1e-0000-4000-8000-000000000001") -> Minted:
    return Minted(
        rok_user=rok_user,
        account_uuid="5f0c5a2e-0000-4000-8000-00000000000a",
        token_uuid=token_uuid,
        issued_at=T0,
        expires_at=T0 + timedelta(hours=1),
    )


def _issued_event(rid: str = "r") -> AuditEvent:
    return AuditEvent(outcome=Outcome.ISSUED, request_id=rid, slack_user="U1", username="jdoe", occurred_at=T0)


def test_a_settled_mint_is_one_row_with_its_facts_and_its_event_for_every_sink(store: Store) -> None:
    reservation = _reserve(store, rid="req-1")
    assert store.ledger.tokens(TokenQuery())[0].status is TokenStatus.RESERVED
    store.ledger.settle(reservation, status=TokenStatus.ISSUED, minted=_minted(), event=_issued_event("req-1"))
    (entry,) = store.ledger.tokens(TokenQuery())
    assert (entry.request_id, entry.slack_team, entry.slack_user, entry.origin) == ("req-1", "T1", "U1", Origin.COMMAND)
    assert (entry.rok_user, entry.token_uuid, entry.status) == ("jdoe", _minted().token_uuid, TokenStatus.ISSUED)
    assert (entry.reserved_at, entry.issued_at, entry.expires_at) == (T0, T0, T0 + timedelta(hours=1))
    assert entry.live(T0 + timedelta(minutes=59)) and not entry.live(T0 + timedelta(hours=1))
    for sink in ("slack", "webhook"):
        (claimed,) = store.outbox.claim(sink=sink, worker="w", limit=5, lease_seconds=30, now=T0)
        assert claimed.event == _issued_event("req-1")


def test_settle_is_one_transaction_a_failing_event_leaves_the_row_reserved(store: Store) -> None:
    reservation = _reserve(store)
    unwritable = AuditEvent(outcome=Outcome.ISSUED, request_id="r", detail={1, 2}, occurred_at=T0)  # type: ignore[arg-type]
    with pytest.raises(Exception, match="not JSON serializable"):
        store.ledger.settle(reservation, status=TokenStatus.ISSUED, minted=_minted(), event=unwritable)
    (entry,) = store.ledger.tokens(TokenQuery())
    assert entry.status is TokenStatus.RESERVED and entry.token_uuid is None
    assert store.outbox.backlog(sink="slack", now=T0) == (0, 0.0)


def test_the_quota_counts_the_last_hour_and_a_released_place_comes_back(store: Store) -> None:
    first = _reserve(store, now=T0)
    _reserve(store, now=T0 + timedelta(minutes=10))
    _reserve(store, now=T0 + timedelta(minutes=20))
    assert store.ledger.remaining("U1", rule=THREE, now=T0 + timedelta(minutes=30)) == 0
    with pytest.raises(LimitExceeded) as refused:
        _reserve(store, now=T0 + timedelta(minutes=30))
    assert refused.value.user_message == (
        "You have had 3 tokens in the last hour, the limit; the next one is possible in 30m."
    )
    store.ledger.release(first)
    assert store.ledger.remaining("U1", rule=THREE, now=T0 + timedelta(minutes=30)) == 1
    _reserve(store, now=T0 + timedelta(minutes=30))
    # An hour after the second place, it no longer counts.
    assert store.ledger.remaining("U1", rule=THREE, now=T0 + timedelta(minutes=70)) == 1
    assert store.ledger.remaining("U2", rule=THREE, now=T0) == 3


def test_the_cooldown_is_enforced_from_the_ledger(store: Store) -> None:
    rule = QuotaRule(per_hour=10, cooldown=120)
    _reserve(store, now=T0, rule=rule)
    with pytest.raises(LimitExceeded, match="wait 1m30s"):
        _reserve(store, now=T0 + timedelta(seconds=30), rule=rule)
    _reserve(store, now=T0 + timedelta(seconds=120), rule=rule)


def test_twelve_threads_of_one_user_get_exactly_the_quota(store: Store) -> None:
    barrier = threading.Barrier(12)
    outcomes: list[str] = [""] * 12

    def ask(n: int) -> None:
        barrier.wait()
        try:
            _reserve(store, now=datetime.now(UTC), rid=f"t{n}")
            outcomes[n] = "ok"
        except LimitExceeded:
            outcomes[n] = "refused"

    threads = [threading.Thread(target=ask, args=(n,)) for n in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("ok") == 3
    assert outcomes.count("refused") == 9
    assert len(store.ledger.tokens(TokenQuery(slack_user="U1"))) == 3


def test_two_processes_of_one_user_get_exactly_the_quota(store: Store, db_url: str, tmp_path: Path) -> None:
    results = run_together("reserve", db_url, tmp_path, [["U1", "6", "3"], ["U1", "6", "3"]])
    assert sum(r["ok"] for r in results) == 3
    assert sum(r["refused"] for r in results) == 9
    assert len(store.ledger.tokens(TokenQuery(slack_user="U1"))) == 3


def test_two_hundred_users_reserving_at_once_all_get_a_place(store: Store) -> None:
    barrier = threading.Barrier(200)
    errors: list[BaseException] = []

    def ask(n: int) -> None:
        barrier.wait()
        try:
            _reserve(store, f"U{n:03d}", now=datetime.now(UTC), rid=f"burst-{n}")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=ask, args=(n,)) for n in range(200)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(store.ledger.tokens(TokenQuery())) == 200


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_the_quota_lock_is_per_user_on_postgresql(store: Store) -> None:
    """While U1's lock is held, U2 reserves at once and U1's next request waits on U1's lock alone."""
    holder = store.engine.connect()
    holder.begin()
    holder.execute(sa.text("SELECT pg_advisory_xact_lock(:s, hashtext('U1'))"), {"s": QUOTA_LOCK_SPACE})
    try:
        other = threading.Thread(target=_reserve, args=(store, "U2"), kwargs={"now": T0})
        other.start()
        other.join(timeout=30)
        assert not other.is_alive(), "U2 waited on U1's lock"
        blocked = threading.Thread(target=_reserve, args=(store, "U1"), kwargs={"now": T0})
        blocked.start()
        waiting = 0
        for _ in range(3000):
            waiting = holder.execute(
                sa.text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
            ).scalar_one()
            if waiting:
                break
            time.sleep(0.01)
        assert waiting == 1
        assert blocked.is_alive()
    finally:
        holder.rollback()
        holder.close()
    blocked.join(timeout=30)
    assert not blocked.is_alive()
    assert sorted(e.slack_user or "" for e in store.ledger.tokens(TokenQuery())) == ["U1", "U2"]


def test_a_mint_left_reserved_by_a_crash_is_swept_into_possibly_minted_once(store: Store) -> None:
    _reserve(store, "U1", now=T0, rid="crashed")
    _reserve(store, "U2", now=T0 + timedelta(minutes=9), rid="in-flight")
    now = T0 + timedelta(minutes=11)
    assert store.sweep(now=now) == 1
    assert store.sweep(now=now) == 0
    entries = {e.request_id: e for e in store.ledger.tokens(TokenQuery())}
    assert entries["crashed"].status is TokenStatus.POSSIBLY_MINTED
    assert entries["in-flight"].status is TokenStatus.RESERVED
    (claimed,) = store.outbox.claim(sink="slack", worker="w", limit=5, lease_seconds=30, now=now)
    event = claimed.event
    assert (event.outcome, event.request_id, event.slack_user, event.reason) == (
        Outcome.POSSIBLY_MINTED,
        "crashed",
        "U1",
        CRASH_REASON,
    )
    assert event.duration_seconds == 3600
    assert (event.team_id, event.enterprise_id) == ("T1", None)  # the row's workspace (and organisation, on Grid)
    # It still counts against the quota: a token may exist.
    assert store.ledger.remaining("U1", rule=THREE, now=now) == 2


def test_a_mint_left_minted_is_swept_as_unconfirmed_with_its_uuid_not_as_possibly_minted(store: Store) -> None:
    """The bot was killed (or lost its database for good) after the mint: the row has the token's UUID, and the
    sweep names it, so an admin revokes that one token."""
    crashed = _reserve(store, "U1", now=T0, rid="killed-after-mint")
    store.ledger.mark_minted(crashed, minted=_minted())
    _reserve(store, "U2", now=T0, rid="killed-during-mint")
    now = T0 + timedelta(minutes=11)
    assert store.sweep(now=now) == 2
    assert store.sweep(now=now) == 0
    entries = {e.request_id: e for e in store.ledger.tokens(TokenQuery())}
    kept = entries["killed-after-mint"]
    assert kept.status is TokenStatus.UNCONFIRMED and kept.token_uuid == _minted().token_uuid
    assert kept.expires_at == T0 + timedelta(hours=1) and kept.rok_user == "jdoe"
    assert entries["killed-during-mint"].status is TokenStatus.POSSIBLY_MINTED
    claimed = store.outbox.claim(sink="slack", worker="w", limit=5, lease_seconds=30, now=now)
    events = {c.event.request_id: c.event for c in claimed}
    unconfirmed = events["killed-after-mint"]
    assert (unconfirmed.outcome, unconfirmed.reason) == (Outcome.UNCONFIRMED, UNCONFIRMED_REASON)
    assert unconfirmed.token_uuid == _minted().token_uuid and unconfirmed.username == "jdoe"
    assert "minted, delivery/settle unconfirmed" in UNCONFIRMED_REASON
    assert (events["killed-during-mint"].outcome, events["killed-during-mint"].reason) == (
        Outcome.POSSIBLY_MINTED,
        CRASH_REASON,
    )


def test_two_sweepers_at_once_audit_each_stale_row_once(store: Store) -> None:
    for n in range(40):
        _reserve(store, f"U{n}", now=T0, rid=f"crashed-{n}")
    now = T0 + timedelta(hours=1)
    counts: list[int] = [0, 0]
    barrier = threading.Barrier(2)

    def sweep(i: int) -> None:
        barrier.wait()
        counts[i] = store.sweep(now=now)

    threads = [threading.Thread(target=sweep, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(counts) == 40
    with store.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(audit_events)).scalar_one() == 40


def test_retention_prunes_old_rows_but_keeps_live_tokens_and_undelivered_events(store: Store) -> None:
    old = _reserve(store, "U1", now=T0, rid="old")
    store.ledger.settle(old, status=TokenStatus.UNDELIVERED, minted=_minted(), event=_issued_event("old"))
    long_lived = _reserve(store, "U2", now=T0, rid="long")
    store.ledger.settle(
        long_lived,
        status=TokenStatus.ISSUED,
        minted=Minted("jdoe", "acc", "tok", T0, T0 + timedelta(days=120)),
        event=_issued_event("long"),
    )
    for claimed in store.outbox.claim(sink="slack", worker="w", limit=10, lease_seconds=30, now=T0):
        store.outbox.delivered([claimed.id], now=T0)
    # The webhook has not received "long" yet; "old" it has.
    for claimed in store.outbox.claim(sink="webhook", worker="w", limit=10, lease_seconds=30, now=T0):
        if claimed.event.request_id == "old":
            store.outbox.delivered([claimed.id], now=T0)
    store.once.claim("k", holder="h", now=T0, ttl_seconds=60)
    _reserve(store, "U3", now=T0 + timedelta(days=89), rid="recent")

    pruned = store.prune(now=T0 + timedelta(days=91))
    assert (pruned.ledger, pruned.events, pruned.deliveries, pruned.claims) == (1, 1, 2, 1)
    left = {e.request_id for e in store.ledger.tokens(TokenQuery())}
    assert left == {"long", "recent"}
    with store.engine.connect() as conn:
        events = conn.execute(sa.select(audit_events.c.request_id)).scalars().all()
    assert events == ["long"]


def test_the_token_list_filters_exactly_and_lists_newest_first(store: Store) -> None:
    for n, (user, rok, minutes) in enumerate([("U1", "jdoe", 0), ("U2", "jdoe2", 10), ("U1", "ajdoe", 20)]):
        reservation = _reserve(store, user, now=T0 + timedelta(minutes=minutes), rid=f"r{n}")
        minted = Minted(rok, "acc", f"tok-{n}", T0 + timedelta(minutes=minutes), T0 + timedelta(minutes=minutes + 30))
        store.ledger.settle(reservation, status=TokenStatus.ISSUED, minted=minted, event=_issued_event(f"r{n}"))
    _reserve(store, "U3", now=T0 + timedelta(minutes=25), rid="pending")

    def ids(**query: object) -> list[str]:
        return [e.request_id for e in store.ledger.tokens(TokenQuery(**query))]  # type: ignore[arg-type]

    assert ids() == ["pending", "r2", "r1", "r0"]
    assert ids(rok_user="jdoe") == ["r0"]
    assert ids(slack_user="U1") == ["r2", "r0"]
    assert ids(since=T0 + timedelta(minutes=10)) == ["pending", "r2", "r1"]
    assert ids(active_at=T0 + timedelta(minutes=35)) == ["r2", "r1"]
    assert ids(limit=2) == ["pending", "r2"]


def test_rows_are_counted_by_the_user_id_column(store: Store) -> None:
    """The quota's index is on (user_id, reserved_at): the query the quota runs must be the one it serves."""
    _reserve(store)
    with store.engine.connect() as conn:
        assert conn.execute(sa.select(ledger.c.user_id)).scalar_one() == "U1"


def test_a_swept_row_is_audited_in_its_own_registry(store: Store) -> None:
    """The crash sweep runs over every registry at once; each event names the registry of its row."""
    for user, registry in (("U1", "prod"), ("U2", "default")):
        store.ledger.reserve(
            user_id=user,
            team_id="T1",
            request_id=f"crashed-{registry}",
            origin=Origin.COMMAND,
            duration_seconds=3600,
            rule=THREE,
            now=T0,
            registry=registry,
        )
    now = T0 + timedelta(minutes=11)
    assert store.sweep(now=now) == 2
    claimed = store.outbox.claim(sink="slack", worker="w", limit=5, lease_seconds=30, now=now)
    assert {(c.event.request_id, c.event.registry) for c in claimed} == {
        ("crashed-prod", "prod"),
        ("crashed-default", "default"),
    }
    assert store.ledger.remaining("U1", rule=THREE, now=now, registry="prod") == 2
    assert store.ledger.remaining("U1", rule=THREE, now=now) == 3


def test_the_quota_query_uses_the_user_registry_index(store: Store) -> None:
    """The quota's SELECT (user, registry, last hour) searches the (user_id, registry, reserved_at) index, not
    every row, however many users and registries the ledger holds (SQLite's and PostgreSQL's planners)."""
    rows = [
        {
            "request_id": f"r{i}",
            "user_id": f"U{i % 500}",
            "registry": ("prod", "staging", "default")[i % 3],
            "duration_seconds": 3600,
            "origin": "command",
            "status": "issued",
            "reserved_at": T0 - timedelta(seconds=i),
        }
        for i in range(6000)
    ]
    query = "SELECT reserved_at FROM ledger WHERE user_id = 'U7' AND registry = 'prod' AND reserved_at > :since"
    with store.engine.begin() as conn:
        conn.execute(sa.insert(ledger), rows)
        conn.execute(sa.text("ANALYZE ledger" if store.backend == "postgresql" else "ANALYZE"))
        explain = "EXPLAIN " if store.backend == "postgresql" else "EXPLAIN QUERY PLAN "
        plan = " ".join(str(r[-1]) for r in conn.execute(sa.text(explain + query), {"since": T0 - timedelta(hours=1)}))
    assert "ix_ledger_user_registry_reserved" in plan, plan
