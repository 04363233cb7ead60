"""The durable store's cost per token: reserve + settle (with its outbox append) + claim + delivered.

    .venv/bin/python -m bench.store                       # SQLite and PostgreSQL, 1 and 8 threads
    .venv/bin/python -m bench.store --tokens 500 --threads 1,4,16 --backends postgresql
    ROK_BOT_TEST_POSTGRES_URL=postgresql+psycopg://postgres@127.0.0.1:5432/postgres .venv/bin/python -m bench.store

Each configuration runs on a fresh database: `--tokens` tokens, spread over `--threads` threads. A token is
the store's whole part of one mint: `reserve` (quota check under the user's lock, insert), `settle` (update
the row, append the audit event for the "slack" sink, one transaction), then `claim(limit=1)` and
`delivered` of one outbox row, as a delivery worker would. "distinct users" gives every token its own
user; "one user" gives all threads the same user (quota set high), so every reserve waits on that one
user's lock: the contrast shows distinct users do not serialize on PostgreSQL. "client CPU ms/token" is this process's
CPU time per token (SQLAlchemy and psycopg under one GIL): tokens/s x that near 1000 means the client, not a
lock, is the limit. SQLite has one write lock
for the database: its threads queue whatever the users (one replica is what it is for).

PostgreSQL: ROK_BOT_TEST_POSTGRES_URL (a superuser URL; a database is created per configuration), else a
throwaway server started from the local binaries (tests/store/pgserver.py), else PostgreSQL is skipped.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.stats import percentile
from bot.domain.audit import AuditEvent, Origin, Outcome
from bot.domain.ledger import Minted, QuotaRule, TokenStatus
from bot.store import Store, open_url
from tests.store.pgserver import PostgresServer, fresh_databases

RULE = QuotaRule(per_hour=1_000_000, cooldown=0)


@dataclass
class Sample:
    total: list[float] = field(default_factory=list)
    reserve: list[float] = field(default_factory=list)
    settle: list[float] = field(default_factory=list)
    deliver: list[float] = field(default_factory=list)
    lock = threading.Lock()

    def add(self, reserve: float, settle: float, deliver: float) -> None:
        with self.lock:
            self.reserve.append(reserve)
            self.settle.append(settle)
            self.deliver.append(deliver)
            self.total.append(reserve + settle + deliver)


def one_token(store: Store, user: str, n: int, sample: Sample) -> None:
    """The store's part of one mint, timed by phase."""
    now = datetime.now(UTC)
    t0 = time.perf_counter()
    reservation = store.ledger.reserve(
        user_id=user, team_id="T1", request_id=f"bench-{n}", origin=Origin.COMMAND, duration_seconds=3600,
        rule=RULE, now=now,
    )  # fmt: skip
    t1 = time.perf_counter()
    minted = Minted("jdoe", "5f0c5a2e-0000-4000-8000-00000000000a", f"tok-{n}", now, now + timedelta(hours=1))
    event = AuditEvent(
        outcome=Outcome.ISSUED, request_id=f"bench-{n}", slack_user=user, username="jdoe",
        duration_seconds=3600, expires_at=minted.expires_at, token_uuid=minted.token_uuid, occurred_at=now,
    )  # fmt: skip
    store.ledger.settle(reservation, status=TokenStatus.ISSUED, minted=minted, event=event)
    t2 = time.perf_counter()
    claimed = store.outbox.claim(
        sink="slack", worker=threading.current_thread().name, limit=1, lease_seconds=30, now=now
    )
    store.outbox.delivered([c.id for c in claimed], now=now)
    t3 = time.perf_counter()
    sample.add(t1 - t0, t2 - t1, t3 - t2)


def run(store: Store, *, tokens: int, threads: int, one_user: bool) -> tuple[Sample, float, float]:
    """`tokens` tokens over `threads` threads; the sample, the wall time and this process's CPU time."""
    sample = Sample()
    per_thread = [list(range(i, tokens, threads)) for i in range(threads)]
    barrier = threading.Barrier(threads + 1)

    def work(numbers: list[int]) -> None:
        barrier.wait()
        for n in numbers:
            one_token(store, "U-ONE" if one_user else f"U{n:06d}", n, sample)

    workers = [threading.Thread(target=work, args=(numbers,), name=f"w{i}") for i, numbers in enumerate(per_thread)]
    for w in workers:
        w.start()
    barrier.wait()
    started, cpu = time.perf_counter(), time.process_time()
    for w in workers:
        w.join()
    return sample, time.perf_counter() - started, time.process_time() - cpu


@contextmanager
def sqlite_databases() -> Iterator[Callable[[], str]]:
    with tempfile.TemporaryDirectory(prefix="rok-bench-") as tmp:
        count = iter(range(1_000_000))
        yield lambda: f"sqlite:///{Path(tmp) / f'bench-{next(count)}.sqlite3'}"


@contextmanager
def postgres_databases() -> Iterator[Callable[[], str] | None]:
    url = os.environ.get("ROK_BOT_TEST_POSTGRES_URL", "").strip()
    server = None
    if not url:
        server = PostgresServer.start()
        if server is None:
            yield None
            return
        url = server.url
    try:
        with fresh_databases(url, prefix="rok_bench") as make:
            yield make
    finally:
        if server is not None:
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--tokens", type=int, default=400, help="tokens per configuration (default 400)")
    parser.add_argument("--threads", default="1,8", help="comma-separated thread counts (default 1,8)")
    parser.add_argument("--backends", default="sqlite,postgresql", help="sqlite, postgresql or both")
    args = parser.parse_args()
    thread_counts = [int(t) for t in args.threads.split(",")]
    rows: list[tuple[str, ...]] = []
    for backend in args.backends.split(","):
        databases = sqlite_databases() if backend == "sqlite" else postgres_databases()
        with databases as make:
            if make is None:
                print(f"{backend}: skipped (no ROK_BOT_TEST_POSTGRES_URL and no local PostgreSQL binaries)")
                continue
            for threads in thread_counts:
                for one_user in (False, True) if threads > 1 else (False,):
                    store = open_url(make())
                    store.upgrade()
                    run(store, tokens=min(50, args.tokens), threads=threads, one_user=one_user)  # warm the pool
                    sample, wall, cpu = run(store, tokens=args.tokens, threads=threads, one_user=one_user)
                    store.close()
                    rows.append(
                        (
                            backend,
                            str(threads),
                            "one user" if one_user else "distinct",
                            str(len(sample.total)),
                            f"{percentile(sample.total, 0.5) * 1000:.2f}",
                            f"{percentile(sample.total, 0.99) * 1000:.2f}",
                            f"{percentile(sample.reserve, 0.5) * 1000:.2f}",
                            f"{percentile(sample.settle, 0.5) * 1000:.2f}",
                            f"{percentile(sample.deliver, 0.5) * 1000:.2f}",
                            f"{len(sample.total) / wall:.0f}",
                            f"{cpu / len(sample.total) * 1000:.2f}",
                        )
                    )
    header = ("backend", "threads", "users", "tokens", "p50 ms", "p99 ms", "reserve p50", "settle p50",
              "claim+deliv p50", "tokens/s", "client CPU ms/token")  # fmt: skip
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print(
            "  ".join(
                cell.rjust(w) if i else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths, strict=True))
            )
        )


if __name__ == "__main__":
    main()
