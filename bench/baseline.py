"""The manual procedure as the baseline: for each token, exec account-list, read the UUID, exec token-create.

This is what an admin (or a naive script) does with `kubectl exec svc/rok-registry -- rok-fort-manage ...`:
no account cache and no concurrency limit, every token at once. It goes through the same fake cluster and
the same official kubernetes client (`KubeExecutor`), so the difference is the bot's cache and its limit.
The executor's 30 s pod cache is kept: it saves REST reads, not execs, and makes the baseline cheaper.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bench.stats import summarize
from bench.timeline import execs_from, peak_concurrency
from bot.domain.tables import render_argv
from sandbox.world import Sandbox


def run_baseline(box: Sandbox, usernames: list[str]) -> dict[str, Any]:
    """All len(usernames) tokens at once, the manual way; wall time, execs, peak concurrency, time per token."""
    from bot.bootstrap import build_engine, system_clock
    from bot.domain.tables import parse_accounts, parse_token_output

    # The bot's own executor, used without the engine's cache and exec limit: the manual procedure.
    settings = box.settings()
    executor = build_engine(settings, clock=system_clock()).executor
    box.kube.reset_records()
    barrier = threading.Barrier(len(usernames) + 1)

    def one(username: str) -> tuple[float, float, str | None]:
        barrier.wait()
        started = time.perf_counter()
        try:
            listing = executor.run(settings.account_list_command)
            account = parse_accounts(listing.stdout).lookup(username)
            argv = render_argv(settings.token_create_command, {"uuid": account.uuid, "seconds": "86400"})
            parse_token_output(executor.run(argv).stdout)
        except Exception as exc:  # a failure is a result here, counted and shown
            return started, time.perf_counter(), f"{type(exc).__name__}: {exc}"
        return started, time.perf_counter(), None

    with ThreadPoolExecutor(max_workers=len(usernames), thread_name_prefix="manual") as pool:
        futures = [pool.submit(one, u) for u in usernames]
        barrier.wait()
        released = time.perf_counter()
        results = [f.result() for f in futures]
    wall = max(end for _, end, _ in results) - released
    errors = [err for _, _, err in results if err]
    execs = execs_from(box.kube.execs)
    return {
        "tokens": len(usernames) - len(errors),
        "errors": len(errors),
        "first_error": errors[0] if errors else None,
        "wall_seconds": wall,
        "per_token": summarize(end - start for start, end, err in results if not err),
        "execs": len(execs),
        "account_list_execs": sum(e.command == "account-list" for e in execs),
        "token_create_execs": sum(e.command == "token-create" for e in execs),
        "peak_concurrent_execs": box.kube.max_concurrent_execs,
        "peak_concurrent_execs_from_records": peak_concurrency(execs),
        "exec_seconds_total": sum(e.seconds for e in execs),
    }
