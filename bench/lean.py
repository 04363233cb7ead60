"""The start-up figures alone, fast: `python -m bench.lean [--runs 3] [--latency 0.3]` (issue 26).

- CLI `issue`: own time (wall minus the fake execs) of `--runs` runs, their median; the `-X importtime` profile
  by top-level package and the module count;
- `serve`: cold start (spawn to the first `/readyz` 200) on a fresh database and on a current one (the same
  database again), `--runs` of each interleaved, their medians; idle RSS one second after `/readyz`;
- the idle RSS by package: each top-level package the idle `serve` holds, imported one after the other in a
  fresh interpreter in the order `serve` imported it, and the VmRSS each import adds.

It runs only what `bench.run` runs for these rows (the same fakes, the same `python -m bot serve`), in a
minute rather than minutes, so that a before and an after can be taken within the same few minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.cli_path import measure_issue
from bench.procs import BotProcess, clean_env, compile_bytecode, loadavg
from sandbox.world import Sandbox

_LINE = re.compile(r"^import time:\s+(\d+)\s+\|\s+(\d+)\s+\|(\s*)(\S+)\s*$")
_USER = "jdoe"


def import_by_package(stderr: str) -> tuple[int, float, dict[str, float]]:
    """From `-X importtime` output: the module count, the total ms, and self time summed per top-level package."""
    by_package: dict[str, float] = {}
    modules = 0
    for line in stderr.splitlines():
        m = _LINE.match(line)
        if m:
            modules += 1
            top = m.group(4).split(".")[0]
            by_package[top] = by_package.get(top, 0.0) + int(m.group(1)) / 1000
    return modules, sum(by_package.values()), dict(sorted(by_package.items(), key=lambda kv: -kv[1]))


def cli_figures(box: Sandbox, runs: int) -> dict[str, Any]:
    issue = measure_issue(box, _USER, runs=runs)
    env = clean_env(box.env)
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "bot", "issue", _USER, "--duration", "1h"],
        env=env,
        cwd=tempfile.mkdtemp(prefix="rok-lean-"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    modules, total_ms, packages = import_by_package(done.stderr)
    return {
        "own_s": [round(r["own"], 3) for r in issue["runs"]],
        "own_median_s": statistics.median(r["own"] for r in issue["runs"]),
        "python_c_pass_s": issue["python_c_pass_seconds"],
        "modules": modules,
        "import_ms": total_ms,
        "import_ms_by_package": {k: round(v, 1) for k, v in list(packages.items())[:20]},
    }


_DUMP = (
    "import sys, threading, runpy, time, json, os\n"
    "def dump():\n"
    "    time.sleep(float(os.environ['ROK_LEAN_DUMP_AFTER']))\n"
    "    names = [m.split('.')[0] for m in list(sys.modules)]\n"
    "    seen = list(dict.fromkeys(names))\n"
    "    open(os.environ['ROK_LEAN_DUMP'], 'w').write(json.dumps(seen))\n"
    "threading.Thread(target=dump, daemon=True).start()\n"
    "sys.argv = ['bot', 'serve']\n"
    "runpy.run_module('bot', run_name='__main__', alter_sys=True)\n"
)


def serve_figures(box: Sandbox, runs: int) -> dict[str, Any]:
    fresh: list[float] = []
    current: list[float] = []
    rss: list[float] = []
    for _ in range(runs):
        data_dir = Path(tempfile.mkdtemp(prefix="rok-lean-state-"))
        for bucket in (fresh, current):
            bot = BotProcess({**box.env, "ROK_BOT_DATA_DIR": str(data_dir)})
            try:
                bucket.append(bot.start())
                time.sleep(1.0)
                if bucket is current:
                    rss.append(bot.memory()["VmRSS"])
            finally:
                bot.stop()
        shutil.rmtree(data_dir, ignore_errors=True)
    return {
        "cold_start_fresh_s": [round(x, 3) for x in fresh],
        "cold_start_current_s": [round(x, 3) for x in current],
        "cold_start_fresh_median_s": statistics.median(fresh),
        "cold_start_current_median_s": statistics.median(current),
        "idle_rss_mib": [round(x, 1) for x in rss],
        "idle_rss_median_mib": statistics.median(rss),
        "rss_by_package_mib": rss_by_package(box),
    }


def serve_packages(box: Sandbox) -> list[str]:
    """The top-level packages an idle `serve` holds, in the order it imported them."""
    out = Path(tempfile.mkdtemp(prefix="rok-lean-")) / "modules.json"
    bot = BotProcess({**box.env, "ROK_LEAN_DUMP": str(out), "ROK_LEAN_DUMP_AFTER": "3"})
    assert bot.proc is None
    env = bot.env
    proc = subprocess.Popen(
        [sys.executable, "-c", _DUMP], env=env, cwd=out.parent, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 30
        while not out.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.2)
        names: list[str] = json.loads(out.read_text())
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return [n for n in names if not n.startswith("_") and n not in sys.builtin_module_names]


_STEP = (
    "import importlib, json, sys\n"
    "def rss():\n"
    "    for line in open('/proc/self/status'):\n"
    "        if line.startswith('VmRSS:'): return int(line.split()[1]) / 1024\n"
    "out = {'python': rss()}\n"
    "for name in json.loads(sys.argv[1]):\n"
    "    before = rss()\n"
    "    try: importlib.import_module(name)\n"
    "    except Exception: continue\n"
    "    out[name] = rss() - before\n"
    "print(json.dumps(out))\n"
)


def rss_by_package(box: Sandbox) -> dict[str, float]:
    names = serve_packages(box)
    done = subprocess.run(
        [sys.executable, "-c", _STEP, json.dumps(names)],
        env=clean_env(box.env),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    steps: dict[str, float] = json.loads(done.stdout)
    return {k: round(v, 1) for k, v in sorted(steps.items(), key=lambda kv: -kv[1]) if v >= 0.3}


def drop_bytecode() -> str:
    """Remove bot/'s `__pycache__` directories (with PYTHONDONTWRITEBYTECODE set, nothing writes them back)."""
    import bot

    package = Path(bot.__file__).parent
    for cache in package.rglob("__pycache__"):
        shutil.rmtree(cache, ignore_errors=True)
    if not os.environ.get("PYTHONDONTWRITEBYTECODE"):
        return f"{package}: bytecode removed, but the first run writes it back (PYTHONDONTWRITEBYTECODE is unset)"
    return f"{package}: no bytecode, every run compiles bot/ from source"


def main(argv: list[str] | None = None) -> int:
    summary = __doc__.splitlines()[0] if __doc__ else ""
    parser = argparse.ArgumentParser(prog="python -m bench.lean", description=summary)
    parser.add_argument("--runs", type=int, default=3, help="runs of each figure; the median is reported (3)")
    parser.add_argument("--latency", type=float, default=0.3, help="seconds per fake rok-fort-manage exec (0.3)")
    parser.add_argument("--only", choices=["cli", "serve"], help="one half only")
    parser.add_argument(
        "--source", action="store_true", help="remove bot/'s bytecode first: every run compiles it (no image does)"
    )
    args = parser.parse_args(argv)
    out: dict[str, Any] = {"loadavg_before": loadavg(), "cpus": os.cpu_count()}
    out["bytecode"] = drop_bytecode() if args.source else compile_bytecode()
    with Sandbox(exec_latency=args.latency, start_bot=False) as box:
        if args.only != "serve":
            out["cli"] = cli_figures(box, args.runs)
        if args.only != "cli":
            out["serve"] = serve_figures(box, args.runs)
    out["loadavg_after"] = loadavg()
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
