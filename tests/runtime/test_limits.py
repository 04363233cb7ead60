"""Process limits in memory: the cap on issues in flight and the Verify cooldown's shared checks."""

from __future__ import annotations

import threading

from bot.runtime.cache import RecentChecks
from bot.runtime.jobs import Capacity


def test_capacity() -> None:
    cap = Capacity(2)
    assert cap.try_enter() and cap.try_enter() and not cap.try_enter()
    cap.leave()
    assert cap.try_enter() and cap.in_flight == 2


def test_recent_checks_reuse_an_answer_for_the_cooldown_and_share_one_check() -> None:
    now = [0.0]
    checks = RecentChecks[str, str](cooldown=10, clock=lambda: now[0], keep=lambda v: v != "unreachable")
    calls: list[str] = []

    def check(answer: str) -> str:
        calls.append(answer)
        return answer

    assert checks.get("k", lambda: check("valid")) == ("valid", None)
    now[0] = 4.0
    assert checks.get("k", lambda: check("again")) == ("valid", 4.0)
    now[0] = 10.0
    assert checks.get("k", lambda: check("rejected")) == ("rejected", None)
    assert checks.get("u", lambda: check("unreachable")) == ("unreachable", None)
    assert checks.get("u", lambda: check("valid")) == ("valid", None)  # an outage is not remembered
    assert calls == ["valid", "rejected", "unreachable", "valid"]

    release = threading.Event()
    results: list[tuple[str, float | None]] = []

    def slow() -> str:
        release.wait(5)
        return check("shared")

    threads = [threading.Thread(target=lambda: results.append(checks.get("s", slow))) for _ in range(5)]
    for t in threads:
        t.start()
    release.set()
    for t in threads:
        t.join(5)
    assert calls.count("shared") == 1
    assert sorted(r[1] is None for r in results) == [False] * 4 + [True]
