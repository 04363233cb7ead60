"""Cold starts of two versions of the bot, alternated, in `bench.run`'s conditions: the one way to compare them
on a shared machine whose speed moves by a quarter between spells (a start is CPU-bound: its wall time follows
the bot's CPU, and the same code takes 0.70 to 0.94 s within one run of the benchmark).

    git archive REV bot | tar -x -C /tmp/base && .venv/bin/python -m compileall -q /tmp/base/bot
    .venv/bin/python -m bench.ab --base /tmp/base [--runs 10] [--mode http|socket]    # ~1 min per 10 runs

Each run starts a fresh sandbox with the benchmark's 220 users and a fresh database, then the bot of `--base` (its
`bot/` first on PYTHONPATH) and this checkout's bot, in turn. Printed: each version's median wall time from spawn
to the first /readyz 200 and the bot's CPU seconds at that moment, and every run's wall time. `--slack-latency`
makes the fake Slack answer each Web API call that much later, as Slack does from a cluster (the sandbox's
answers at once, so waits on Slack cost the start nothing here that they cost in production).
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from bench.procs import BotProcess, compile_bytecode
from bench.run import population, start_world


def _start(mode: str, extra: dict[str, str], slack_latency: float) -> tuple[float, float]:
    box = start_world(mode, population(200, 20), latency=0.3)
    box.slack.latency = slack_latency
    bot = BotProcess({**box.env, **extra})
    try:
        return bot.start(), bot.cpu_seconds()
    finally:
        bot.stop()
        box.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ab", description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=Path, required=True, help="a directory holding the other version's bot/")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--mode", choices=("http", "socket"), default="http")
    parser.add_argument(
        "--slack-latency", type=float, default=0.0, help="seconds the fake Slack takes for every Web API call"
    )
    args = parser.parse_args(argv)
    if not (args.base / "bot" / "__init__.py").exists():
        parser.error(f"{args.base} holds no bot/ package")
    print(compile_bytecode())
    versions = {f"base ({args.base})": {"PYTHONPATH": str(args.base.resolve())}, "this checkout": {}}
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in versions}
    for _ in range(args.runs):
        for name, extra in versions.items():
            results[name].append(_start(args.mode, extra, args.slack_latency))
    latency = f", Slack answering in {args.slack_latency} s" if args.slack_latency else ""
    print(f"cold start, {args.mode} mode{latency}, {args.runs} runs each, alternated: median wall / CPU to ready, s")
    for name, rows in results.items():
        wall = statistics.median(r[0] for r in rows)
        cpu = statistics.median(r[1] for r in rows)
        print(f"  {name:40s} {wall:.3f} / {cpu:.3f}   each: {' '.join(f'{r[0]:.2f}' for r in rows)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
