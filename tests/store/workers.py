"""Other processes on the same database: `python -m tests.store.workers JOB URL GO_FILE ARGS...` prints JSON.

Each waits for GO_FILE to exist before it starts, so processes started one after the other begin their
work together; `run_together` starts them, releases them and returns what each printed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.domain.audit import Origin
from bot.domain.errors import LimitExceeded
from bot.domain.ledger import QuotaRule
from bot.store import open_url

ROOT = Path(__file__).resolve().parents[2]


def reserve(url: str, user: str, attempts: str, per_hour: str) -> dict[str, Any]:
    """Try `attempts` reservations for one user; how many succeeded and were refused."""
    store = open_url(url)
    ok = refused = 0
    for i in range(int(attempts)):
        try:
            store.ledger.reserve(
                user_id=user,
                team_id="T1",
                request_id=f"proc-{i}",
                origin=Origin.COMMAND,
                duration_seconds=60,
                rule=QuotaRule(per_hour=int(per_hour), cooldown=0),
                now=datetime.now(UTC),
            )
            ok += 1
        except LimitExceeded:
            refused += 1
    store.close()
    return {"ok": ok, "refused": refused}


def drain(url: str, worker: str, sink: str) -> dict[str, Any]:
    """Claim and deliver a sink's events until none is left; the IDs this worker delivered."""
    store = open_url(url, sinks=(sink,))
    got: list[int] = []
    idle = 0
    while idle < 3:
        now = datetime.now(UTC)
        claimed = store.outbox.claim(sink=sink, worker=worker, limit=5, lease_seconds=60, now=now)
        if not claimed:
            idle += 1
            time.sleep(0.01)
            continue
        idle = 0
        got += [c.id for c in claimed]
        store.outbox.delivered([c.id for c in claimed], now=now)
    store.close()
    return {"ids": got}


def once(url: str, holder: str, keys: str) -> dict[str, Any]:
    """Claim keys 0..keys-1; the ones this process won."""
    store = open_url(url)
    now = datetime.now(UTC)
    won = [k for k in range(int(keys)) if store.once.claim(f"key-{k}", holder=holder, now=now, ttl_seconds=600)]
    store.close()
    return {"won": won}


# Each job takes its own number of string arguments from the command line, hence the `...`.
JOBS: dict[str, Callable[..., dict[str, Any]]] = {"reserve": reserve, "drain": drain, "once": once}


def run_together(job: str, url: str, tmp: Path, argv_per_process: list[list[str]]) -> list[dict[str, Any]]:
    """Start one process per argv, release them at once, and return each one's JSON result."""
    go = tmp / f"go-{job}-{time.monotonic_ns()}"
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.store.workers", job, url, str(go), *argv],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for argv in argv_per_process
    ]
    deadline = datetime.now(UTC) + timedelta(seconds=30)
    ready = [tmp / f"{go.name}.{p.pid}" for p in procs]
    while not all(r.exists() for r in ready) and datetime.now(UTC) < deadline:
        time.sleep(0.01)
    go.touch()
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        results.append(json.loads(out))
    return results


def main() -> None:
    job, url, go = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    Path(f"{go}.{os.getpid()}").touch()  # imported and ready
    while not go.exists():
        time.sleep(0.002)
    print(json.dumps(JOBS[job](url, *sys.argv[4:])))


if __name__ == "__main__":
    main()
