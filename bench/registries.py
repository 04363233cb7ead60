"""A burst split over two registries, one of them slow: is the fast one's time to token as good as alone?

    .venv/bin/python -m bench.registries                   # burst 40 (20 + 20), fast 0.1 s, slow 1.5 s per exec, 3 runs
    .venv/bin/python -m bench.registries --quick           # burst 10, 1 run (~10 s): a smoke run
    .venv/bin/python -m bench.registries --burst 80 --slow-latency 3 --repeat 5 --json
    .venv/bin/python -m bench.run --registries             # the same row at the end of the main benchmark's table

One world, two fake clusters (`Sandbox(registries=...)`): `fast` (each exec takes `--fast-latency`) and `slow`
(`--slow-latency`), each with its own exec limit (`max_concurrent_execs`, `--limit`). The bot runs in its own
process (`python -m bot serve`, HTTP mode) with the sandbox's registries file. Each run, on a fresh world and
bot, after one probe command (it warms `fast`'s account cache and proves the bot routes by registry):

1. **alone**: `--burst / 2` users send `/rok-token fast 1h` at once; `slow` is idle;
2. **split**: `--burst / 2` other users send `/rok-token fast 1h` and as many send `/rok-token slow 1h`, all at once.

The figure is each `fast` request's time to token, from sending the command to the fake Slack receiving its
private message. The row: its p50 and p99 alone and split, each the median over `--repeat` runs. The verdict
holds when the split p50 is within the noise of the alone p50 (`NOISE_SHARE` of it, at least `NOISE_FLOOR_S`).
A bot that shares one exec limit (or one worker pool too small for the burst) between registries queues the
fast requests behind the slow ones: the split p50 then grows by about the slow latency, far above the noise.

A bot that does not serve several registries (no ROK_BOT_REGISTRIES wiring, or the command does not route by
registry) makes the row say `skipped` with the reason, and exit 0: the benchmark runs before and after the wiring.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass
from typing import Any

from bench import drive
from bench.procs import BotProcess
from bench.stats import across_runs, summarize
from sandbox.clusters import RegistrySpec
from sandbox.rok import generate_accounts
from sandbox.world import Person, Sandbox

FAST, SLOW = "fast", "slow"
# The split p50 may exceed the alone p50 by this share of it, or by this many seconds, whichever is larger.
NOISE_SHARE = 0.25
NOISE_FLOOR_S = 0.05
LABEL = "fast registry's time to token: alone vs split with a slow one"


@dataclass
class Config:
    burst: int = 40
    fast_latency: float = 0.1
    slow_latency: float = 1.5
    limit: int = 4
    repeat: int = 3
    command: str = "{name} 1h"  # the slash text; {name} is the registry


class Unsupported(Exception):
    """The bot under test does not serve several registries: the row is skipped, with this reason."""


@dataclass
class Groups:
    """Distinct users per phase: a probe, the fast users alone, and the fast and slow users of the split burst."""

    probe: Person
    alone: list[Person]
    split_fast: list[Person]
    split_slow: list[Person]

    @property
    def everyone(self) -> list[Person]:
        return [self.probe, *self.alone, *self.split_fast, *self.split_slow]


def groups(half: int) -> tuple[Groups, list[Any]]:
    accounts = generate_accounts(3 * half + 1, prefix="reg")
    people = [Person(f"U0R{i:05d}", a.username, a.email, mapped_to=a.username) for i, a in enumerate(accounts)]
    return Groups(people[0], people[1 : half + 1], people[half + 1 : 2 * half + 1], people[2 * half + 1 :]), accounts


def verdict(alone_p50: float | None, split_p50: float | None) -> bool | None:
    """Whether the fast registry's split p50 is no worse than alone, within the noise; None: nothing measured."""
    if alone_p50 is None or split_p50 is None:
        return None
    return split_p50 <= alone_p50 + max(alone_p50 * NOISE_SHARE, NOISE_FLOOR_S)


def _burst(
    box: Sandbox, bot: BotProcess, cfg: Config, fast: list[Person], slow: list[Person], *, timeout: float
) -> dict[str, Any]:
    """Send every command at once; the fast users' times to token (the slow ones are not waited for)."""
    minted_before = len(box.rok_of(FAST).minted)
    items = [(p.user_id, drive.command_fields(box.slack, p.user_id, cfg.command.format(name=FAST))) for p in fast]
    items += [(p.user_id, drive.command_fields(box.slack, p.user_id, cfg.command.format(name=SLOW))) for p in slow]
    sent = {s.user_id: s for s in drive.send("http", bot.url, box.slack, items)}
    users = {p.user_id for p in fast}
    delivered = drive.wait_delivered(box.slack, users, timeout=timeout)
    times = [delivered[u] - sent[u].sent_at for u in users if u in delivered]
    fast_minted = len(box.rok_of(FAST).minted) - minted_before
    return {
        "n": len(fast),
        "delivered": len(times),
        "minted_in_fast": fast_minted,
        "not_acked": sum(1 for s in sent.values() if s.status != 200),
        "to_token": summarize(times),
    }


def _probe(box: Sandbox, bot: BotProcess, cfg: Config, probe: Person) -> None:
    """One `/rok-token fast 1h`: a token minted in `fast`, or Unsupported saying what the bot did instead."""
    before = {name: len(box.rok_of(name).minted) for name in (FAST, SLOW)}
    text = cfg.command.format(name=FAST)
    fields = drive.command_fields(box.slack, probe.user_id, text)
    sent = drive.send("http", bot.url, box.slack, [(probe.user_id, fields)])

    def answered() -> bool:
        return bool(box.private_messages(probe.user_id) or box.replies_to(fields["response_url"]))

    # Until a token is minted in fast, or the bot answered otherwise (and had a moment to mint anyway).
    deadline, grace = time.monotonic() + 15 + 4 * cfg.fast_latency, None
    while len(box.rok_of(FAST).minted) == before[FAST] and time.monotonic() < deadline:
        if grace is None and answered():
            grace = time.monotonic() + 1 + 2 * cfg.fast_latency
        if grace is not None and time.monotonic() > grace:
            break
        time.sleep(0.02)
    if len(box.rok_of(FAST).minted) == before[FAST]:
        elsewhere = len(box.rok_of(SLOW).minted) > before[SLOW]
        said = [r.text for r in box.replies_to(fields["response_url"])]
        said += [str(c.params.get("text", "")) for c in box.private_messages(probe.user_id)]
        shown = (sent[0].body + " " + " ".join(said)).strip().replace("\n", " ")[:160]
        raise Unsupported(
            f"`/rok-token {text}` minted nothing in registry {FAST}"
            + (f" but one in {SLOW}" if elsewhere else "")
            + f": the bot does not route commands by registry yet (it answered: {shown!r})"
        )


def one_run(cfg: Config) -> dict[str, Any]:
    """A fresh world and bot: the probe, then the fast burst alone, then the split burst."""
    half = max(1, cfg.burst // 2)
    who, accounts = groups(half)
    specs = (
        RegistrySpec(FAST, exec_latency=cfg.fast_latency, max_concurrent_execs=cfg.limit),
        RegistrySpec(SLOW, exec_latency=cfg.slow_latency, max_concurrent_execs=cfg.limit),
    )
    box = Sandbox(registries=specs, people=tuple(who.everyone), start_bot=False)
    box.add_accounts(accounts)
    box.start()
    bot = BotProcess(box.env)
    try:
        try:
            bot.start()
        except RuntimeError as exc:
            last = [line for line in str(exc).splitlines() if line.strip()][-1:]
            raise Unsupported(f"the bot did not start with a registries file: {' '.join(last)[:200]}") from None
        _probe(box, bot, cfg, who.probe)
        timeout = 30 + cfg.fast_latency * (half / cfg.limit + 2) * 3
        alone = _burst(box, bot, cfg, who.alone, [], timeout=timeout)
        split = _burst(box, bot, cfg, who.split_fast, who.split_slow, timeout=timeout)
        return {"alone": alone, "split": split}
    finally:
        bot.stop()
        box.stop()


def measure(cfg: Config) -> dict[str, Any]:
    """`--repeat` runs; the medians of the fast registry's p50 and p99, alone and split, and the verdict."""
    runs: list[dict[str, Any]] = []
    try:
        for n in range(1, cfg.repeat + 1):
            print(
                f"[bench] registries run {n}/{cfg.repeat}: {cfg.burst // 2} fast alone, then split...", file=sys.stderr
            )
            runs.append(one_run(cfg))
    except Unsupported as exc:
        return {"config": asdict(cfg), "skipped": str(exc)}
    alone = across_runs(r["alone"]["to_token"] for r in runs)
    split = across_runs(r["split"]["to_token"] for r in runs)
    complete = all(r[p]["delivered"] == r[p]["n"] == r[p]["minted_in_fast"] for r in runs for p in ("alone", "split"))
    ok = verdict(alone["p50"], split["p50"])
    return {
        "config": asdict(cfg),
        "alone": alone,
        "split": split,
        "complete": complete,
        "ok": ok if complete else False,
        "slowdown_p50": (split["p50"] / alone["p50"]) if alone["p50"] and split["p50"] else None,
        "runs": runs,
    }


def render(result: dict[str, Any]) -> list[str]:
    """The row (and its detail lines) for a table."""
    cfg = result["config"]
    half = cfg["burst"] // 2
    lines = ["", f"several registries: {LABEL}"]
    if "skipped" in result:
        return [*lines, f"  skipped: {result['skipped']}"]
    alone, split = result["alone"], result["split"]

    def cell(s: dict[str, Any]) -> str:
        return "-" if not s.get("n") else f"{s['p50'] * 1000:.0f}/{s['p99'] * 1000:.0f} ms"

    of = f", median of {alone['runs']}" if alone.get("runs", 0) > 1 else ""
    verdict_text = {True: "ok", False: "MISS", None: "-"}[result["ok"]]
    lines.append(
        f"  p50/p99{of}: alone ({half} to fast) {cell(alone)}; split ({half} fast + {half} slow) {cell(split)}"
        f"  target: split p50 <= alone p50 + max({NOISE_SHARE:.0%}, {NOISE_FLOOR_S * 1000:.0f} ms)  {verdict_text}"
    )
    runs = "; ".join(
        f"{r['alone']['to_token']['p50'] * 1000:.0f} -> {r['split']['to_token']['p50'] * 1000:.0f}"
        for r in result["runs"]
        if r["alone"]["to_token"]["n"] and r["split"]["to_token"]["n"]
    )
    lines.append(
        f"  each run's p50 alone -> split, ms: {runs}; exec latency fast {cfg['fast_latency']} s, slow "
        f"{cfg['slow_latency']} s, limit {cfg['limit']} per registry"
    )
    if not result["complete"]:
        lines.append("  not every fast request got its token from the fast registry: see the JSON (`runs`)")
    return lines


def parse_args(argv: list[str] | None) -> tuple[Config, bool]:
    parser = argparse.ArgumentParser(prog="python -m bench.registries", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--burst", type=int, default=None, help="commands in the split burst, half to each (40)")
    parser.add_argument("--fast-latency", type=float, default=None, help="seconds per exec in `fast` (0.1)")
    parser.add_argument("--slow-latency", type=float, default=None, help="seconds per exec in `slow` (1.5)")
    parser.add_argument("--limit", type=int, default=None, help="max_concurrent_execs of each registry (4)")
    parser.add_argument("--repeat", type=int, default=None, help="runs; the row shows their median (3; --quick: 1)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: burst 10, 1 run")
    parser.add_argument("--json", action="store_true", help="JSON on stdout (the row goes to stderr)")
    args = parser.parse_args(argv)
    cfg = Config()
    if args.quick:
        cfg.burst, cfg.repeat, cfg.slow_latency = 10, 1, 1.0
    for key in ("burst", "fast_latency", "slow_latency", "limit", "repeat"):
        if getattr(args, key) is not None:
            setattr(cfg, key, getattr(args, key))
    if cfg.burst < 2 or cfg.repeat < 1 or cfg.limit < 1:
        parser.error("--burst must be at least 2, --repeat and --limit at least 1")
    return cfg, args.json


def main(argv: list[str] | None = None) -> int:
    cfg, as_json = parse_args(argv)
    result = measure(cfg)
    table = "\n".join(render(result))
    if as_json:
        print(table, file=sys.stderr)
        print(json.dumps(result, indent=2, default=str))
    else:
        print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
