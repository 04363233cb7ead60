"""The CLI: `rok-token-bot issue USERNAME` wall time against the exec time inside it, and its import time."""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.procs import clean_env
from bench.stats import summarize
from bench.timeline import execs_from
from sandbox.world import Sandbox

# Packages worth knowing about on the `issue` path (top-level import names).
HEAVY = (
    "kubernetes",
    "slack_bolt",
    "slack_sdk",
    "aiohttp",
    "prometheus_client",
    "pydantic",
    "pydantic_settings",
    "httpx",
    "cryptography",
    "yaml",
    "websocket",
    "urllib3",
    "requests",
    "certifi",
    "dateutil",
)
_LINE = re.compile(r"^import time:\s+(\d+)\s+\|\s+(\d+)\s+\|(\s*)(\S+)\s*$")


def _cli() -> list[str]:
    script = Path(sys.executable).parent / "rok-token-bot"
    return [str(script)] if script.exists() else [sys.executable, "-m", "bot"]


def measure_issue(box: Sandbox, username: str, *, runs: int) -> dict[str, Any]:
    """Run `issue` `runs` times; own time = wall time minus the fake exec time recorded during the run."""
    env = clean_env(box.env)
    cwd = tempfile.mkdtemp(prefix="rok-bench-cli-")
    samples = []
    for _ in range(runs):
        box.kube.reset_records()
        started = time.perf_counter()
        done = subprocess.run(
            [*_cli(), "issue", username, "--duration", "1h"],
            check=False,
            env=env,
            cwd=cwd,
            capture_output=True,
            timeout=60,
        )
        wall = time.perf_counter() - started
        if done.returncode != 0:
            raise RuntimeError(f"`issue` exited {done.returncode}: {done.stderr.decode(errors='replace')[-500:]}")
        execs = execs_from(box.kube.execs)
        exec_seconds = sum(e.seconds for e in execs)
        samples.append({"wall": wall, "exec": exec_seconds, "own": wall - exec_seconds, "execs": len(execs)})
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], env=env, cwd=cwd, check=True, timeout=30)
    interpreter = time.perf_counter() - started
    return {
        "command": " ".join([Path(_cli()[0]).name, "issue", username, "--duration", "1h"]),
        "runs": samples,
        "wall": summarize(s["wall"] for s in samples),
        "exec": summarize(s["exec"] for s in samples),
        "own": summarize(s["own"] for s in samples),
        "execs_per_run": samples[0]["execs"] if samples else 0,
        "python_c_pass_seconds": interpreter,
        "imports": import_profile(box, username, env=env, cwd=cwd),
    }


def import_profile(box: Sandbox, username: str, *, env: dict[str, str], cwd: str) -> dict[str, Any]:
    """`python -X importtime -m bot issue ...`: the slowest modules and which heavy packages load, and why."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "bot", "issue", username, "--duration", "1h"],
        check=False,
        env=env,
        cwd=cwd,
        capture_output=True,
        timeout=60,
    )
    rows = []  # (self_us, cumulative_us, depth, module) in the order Python printed them
    for line in done.stderr.decode(errors="replace").splitlines():
        m = _LINE.match(line)
        if m:
            rows.append((int(m.group(1)), int(m.group(2)), (len(m.group(3)) - 1) // 2, m.group(4)))
    total_us = sum(r[0] for r in rows)
    top = sorted(rows, key=lambda r: r[1], reverse=True)[:15]
    heavy: dict[str, dict[str, object] | None] = {}  # None: the CLI never imported it
    for name in HEAVY:
        index = next((i for i, r in enumerate(rows) if r[3] == name), None)
        if index is None:
            heavy[name] = None
            continue
        heavy[name] = {"cumulative_ms": rows[index][1] / 1000, "chain": _importers(rows, index)}
    return {
        "total_ms": total_us / 1000,
        "modules": len(rows),
        "top_cumulative": [
            {"module": r[3], "depth": r[2], "cumulative_ms": r[1] / 1000, "self_ms": r[0] / 1000} for r in top
        ],
        "heavy": heavy,
        # Every depth-0 kubernetes import: the package and the models CoreV1Api loads lazily.
        "kubernetes_total_ms": sum(r[1] for r in rows if r[2] == 0 and r[3].split(".")[0] == "kubernetes") / 1000,
    }


def _importers(rows: list[tuple[int, int, int, str]], index: int) -> list[str]:
    """The chain of modules whose import pulled rows[index] in (children print before their parent)."""
    chain = [rows[index][3]]
    depth = rows[index][2]
    for r in rows[index + 1 :]:
        if r[2] < depth:
            chain.append(r[3])
            depth = r[2]
            if depth == 0:
                break
    return chain
