"""Where the bot's CPU went while a burst was being acked, per thread group, from /proc/PID/task/*/schedstat.

/proc is read when the burst is released (every connection already open), 50 ms into it (from a timer
thread: one read, ~1 ms of this process's CPU) and just after the last ack. The kernel names every thread
of a CPython 3.11 process `python`, so the Python names (`bot-http`, `job_7`, `socket-ack_3`...) come from
one `py-spy dump` taken when the mode is over (py-spy is optional: without it threads show as `tid`).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class ThreadTimes:
    """One thread's counters: CPU time, time spent runnable but waiting for a CPU, context switches."""

    cpu_ns: int
    wait_ns: int
    switches: int


def snapshot(pid: int) -> dict[int, ThreadTimes]:
    """Every thread of `pid` now (threads that exit meanwhile are skipped)."""
    out: dict[int, ThreadTimes] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            cpu, wait, _slices = (int(x) for x in (task / "schedstat").read_text().split())
            status = (task / "status").read_text()
        except (OSError, ValueError):
            continue
        switches = sum(int(m) for m in re.findall(r"^(?:non)?voluntary_ctxt_switches:\s+(\d+)", status, re.M))
        out[int(task.name)] = ThreadTimes(cpu, wait, switches)
    return out


# The early window: how the bot's threads shared the CPU at the start of a burst.
EARLY_SECONDS = 0.05


class Window:
    """Snapshots at `start()` (the burst released), `early` seconds later (from a timer thread) and `stop()`."""

    def __init__(self, pid: int, *, early: float) -> None:
        self._pid = pid
        self._early = early
        self._snaps: dict[str, tuple[float, dict[int, ThreadTimes]]] = {}
        self._timer: threading.Timer | None = None

    def _take(self, name: str) -> None:
        self._snaps[name] = (time.perf_counter(), snapshot(self._pid))

    def start(self) -> None:
        self._take("start")
        self._timer = threading.Timer(self._early, self._take, args=("early",))
        self._timer.start()

    def stop(self) -> None:
        self._take("stop")
        if self._timer is not None:
            self._timer.join()

    def result(self, names: dict[int, str]) -> dict[str, Any]:
        """`early_profile` (the first `early` seconds) and `ack_window_profile` (until the last ack)."""
        if "start" not in self._snaps:
            return {}
        t0, first = self._snaps["start"]
        out = {}
        for name, key in (("early", "early_profile"), ("stop", "ack_window_profile")):
            if name in self._snaps:
                at, snap = self._snaps[name]
                out[key] = window(first, snap, names, at - t0)
        return out


def py_spy() -> str | None:
    """The py-spy next to this interpreter, or on PATH."""
    near = Path(sys.executable).with_name("py-spy")
    return str(near) if near.exists() else shutil.which("py-spy")


def thread_names(pid: int) -> dict[int, str]:
    """Native thread id -> Python thread name, from `py-spy dump --json` ({} without py-spy)."""
    exe = py_spy()
    if exe is None:
        return {}
    try:
        done = subprocess.run(
            [exe, "dump", "--json", "--pid", str(pid)], check=False, capture_output=True, text=True, timeout=30
        )
        threads = json.loads(done.stdout) if done.returncode == 0 else []
    except (OSError, subprocess.TimeoutExpired, json.JSONDecodeError):
        return {}
    return {int(t["os_thread_id"]): str(t.get("thread_name") or "?") for t in threads if t.get("os_thread_id")}


def group_of(name: str) -> str:
    """`job_12` -> `job`, `socket-ack_3` -> `socket-ack`, `Thread-2 (_run)` -> `Thread (_run)`."""
    name = re.sub(r"_\d+$", "", name)
    return re.sub(r"-\d+", "", name)


def window(
    before: dict[int, ThreadTimes], after: dict[int, ThreadTimes], names: dict[int, str], seconds: float
) -> dict[str, Any]:
    """CPU ms, runnable-wait ms and context switches per thread group between two snapshots."""
    groups: dict[str, dict[str, float]] = {}
    zero = ThreadTimes(0, 0, 0)
    for tid, end in after.items():
        start = before.get(tid, zero)
        cpu = (end.cpu_ns - start.cpu_ns) / 1e6
        wait = (end.wait_ns - start.wait_ns) / 1e6
        switches = end.switches - start.switches
        if cpu <= 0 and switches <= 0:
            continue
        g = groups.setdefault(
            group_of(names.get(tid, "tid")), {"threads": 0, "cpu_ms": 0.0, "wait_ms": 0, "switches": 0}
        )
        g["threads"] += 1
        g["cpu_ms"] += cpu
        g["wait_ms"] += wait
        g["switches"] += switches
    return {"seconds": seconds, "groups": dict(sorted(groups.items(), key=lambda kv: -kv[1]["cpu_ms"]))}


def render(profile: dict[str, Any], limit: int = 6) -> str:
    """`bot-http 28.5 ms (1 thr, 12 cs); job 26.8 ms (32 thr, 1011 cs); ...`"""
    parts = []
    for name, g in list(profile["groups"].items())[:limit]:
        parts.append(f"{name} {g['cpu_ms']:.1f} ms ({g['threads']:.0f} thr, {g['switches']:.0f} cs)")
    return "; ".join(parts)
