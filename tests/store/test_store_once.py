"""Once-claims: one winner per key within the TTL, across threads and processes; expired keys come back."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.store import Store
from tests.store.workers import run_together

T0 = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def test_a_key_is_claimed_once_within_its_ttl_then_again_after(store: Store) -> None:
    assert store.once.claim("trigger-1", holder="a", now=T0, ttl_seconds=60)
    assert not store.once.claim("trigger-1", holder="b", now=T0 + timedelta(seconds=59), ttl_seconds=60)
    assert store.once.claim("trigger-2", holder="b", now=T0, ttl_seconds=60)
    assert store.once.claim("trigger-1", holder="c", now=T0 + timedelta(seconds=60), ttl_seconds=60)
    assert not store.once.claim("trigger-1", holder="a", now=T0 + timedelta(seconds=61), ttl_seconds=60)


def test_keys_longer_than_the_column_are_told_apart(store: Store) -> None:
    long_a, long_b = "a" * 300, "a" * 299 + "b"
    assert store.once.claim(long_a, holder="x", now=T0, ttl_seconds=60)
    assert store.once.claim(long_b, holder="x", now=T0, ttl_seconds=60)
    assert not store.once.claim(long_a, holder="y", now=T0, ttl_seconds=60)


def test_expired_claims_are_pruned(store: Store) -> None:
    store.once.claim("old", holder="a", now=T0, ttl_seconds=60)
    store.once.claim("new", holder="a", now=T0 + timedelta(minutes=5), ttl_seconds=60)
    assert store.once.prune(T0 + timedelta(minutes=5)) == 1
    assert not store.once.claim("new", holder="b", now=T0 + timedelta(minutes=5), ttl_seconds=60)


def test_sixteen_threads_racing_for_one_key_have_one_winner(store: Store) -> None:
    barrier = threading.Barrier(16)
    wins: list[bool] = [False] * 16

    def race(n: int) -> None:
        barrier.wait()
        wins[n] = store.once.claim("approval-42", holder=f"t{n}", now=T0, ttl_seconds=60)

    threads = [threading.Thread(target=race, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(wins) == 1


def test_two_processes_racing_over_the_same_keys_win_each_key_once(store: Store, db_url: str, tmp_path: Path) -> None:
    results = run_together("once", db_url, tmp_path, [["p1", "200"], ["p2", "200"]])
    won = results[0]["won"] + results[1]["won"]
    assert sorted(won) == list(range(200))
