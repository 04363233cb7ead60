"""The benchmark: `python -m bench.run [--json] [--latency 0.3] [--burst 200] [--modes http,socket] [--quick]`.

`--registries` adds the several-registries row (bench/registries.py): a burst split over two registries.

For each mode it starts the fakes in this process and the real bot as a subprocess (`python -m bot serve`),
sends a burst of signed slash commands from distinct users all at once, then single commands one at a
time, and reads the fakes' records and /proc. Then the manual procedure as the baseline, and the CLI.
See bench/README.md for what each number means.
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import drive, promtext, threads
from bench import registries as several
from bench.baseline import run_baseline
from bench.cli_path import measure_issue
from bench.procs import BotProcess, FloorServer, LoadMeter, SocketFloor, compile_bytecode, machine
from bench.stats import across_runs, ms, summarize
from bench.timeline import analyse, execs_from, peak_concurrency, slot_use
from sandbox.rok import FakeAccount, generate_accounts
from sandbox.world import Person, Sandbox

TARGETS = {
    "ack_p99_ms": 50.0,
    "overhead_p50_ms": 30.0,
    "overhead_p99_ms": 100.0,
    # Issue 26: the start-up targets on the median of 3 (a 2-core machine).
    "idle_rss_mb": 85.0,
    "cold_start_s": 0.8,
    "cli_own_s": 0.6,
}


@dataclass
class Config:
    latency: float = 0.3
    burst: int = 200
    singles: int = 20
    modes: tuple[str, ...] = ("http", "socket")
    cli_runs: int = 3
    baseline: bool = True
    settle: float = 1.0
    repeat: int = 3
    settings: dict[str, str] = field(default_factory=dict)
    registries: bool = False


@dataclass
class Population:
    """Distinct Slack users mapped to distinct Rok accounts: a burst group and a one-at-a-time group."""

    accounts: list[FakeAccount]
    burst: list[Person]
    solo: list[Person]

    @property
    def uuid_of(self) -> dict[str, str]:
        by_name = {a.username: a.uuid for a in self.accounts}
        return {p.user_id: by_name[str(p.mapped_to)] for p in [*self.burst, *self.solo]}


def population(burst: int, solo: int) -> Population:
    burst_accounts = generate_accounts(burst, prefix="bench")
    solo_accounts = generate_accounts(solo, prefix="solo")

    def person(prefix: str, index: int, account: FakeAccount) -> Person:
        return Person(f"U0{prefix}{index:05d}", account.username, account.email, mapped_to=account.username)

    return Population(
        accounts=burst_accounts + solo_accounts,
        burst=[person("B", i, a) for i, a in enumerate(burst_accounts)],
        solo=[person("S", i, a) for i, a in enumerate(solo_accounts)],
    )


def _overheads(timings: list[Any]) -> dict[str, Any]:
    done = [t for t in timings if t.overhead is not None]
    return {
        "acked": sum(1 for t in timings if not math.isnan(t.ack_seconds)),
        "delivered": len(done),
        "ack": summarize(t.ack_seconds for t in timings if not math.isnan(t.ack_seconds)),
        "to_message": summarize(t.total for t in done),
        "queued": sum(t.queued for t in done),
        "not_queued": sum(not t.queued for t in done),
        "queue_wait": summarize(t.queue for t in done if t.queued),
        "overhead_not_queued": summarize(t.overhead for t in done if not t.queued),
        "overhead_queued": summarize(t.overhead for t in done if t.queued),
        "overhead_all": summarize(t.overhead for t in done),
    }


def start_world(mode: str, pop: Population, *, latency: float, settings: dict[str, str] | None = None) -> Sandbox:
    """The fakes of one mode's run, started, with the population's users and accounts, and no bot: the benchmark
    starts its own (`bench.ab` and `bench.instructions` start theirs in the same world)."""
    box = Sandbox(
        socket_mode=mode == "socket",
        exec_latency=latency,
        people=(*pop.burst, *pop.solo),
        settings=settings,
        start_bot=False,
    )
    box.rok.accounts.extend(pop.accounts)
    return box.start()


def run_mode(mode: str, cfg: Config, pop: Population) -> dict[str, Any]:
    """Burst then singles against a subprocess bot in one mode; every number of that mode."""
    box = start_world(mode, pop, latency=cfg.latency, settings=cfg.settings)
    bot = BotProcess(box.env)
    out: dict[str, Any] = {"mode": mode}
    meter = LoadMeter()
    bot_cpu = 0.0
    try:
        starting = LoadMeter()
        out["cold_start_seconds"] = bot.start()
        # What the start cost the bot, and what it competed with: this process (the fakes answering the bot's
        # calls, the /readyz poll) and the rest of the machine.
        out["start_cpu_seconds"] = bot.cpu_seconds()
        out["start_load"] = starting.done(out["start_cpu_seconds"])
        if mode == "socket":
            box.slack.wait_for_connection(timeout=10)
        # The other load right before the burst (the bot idle, this process asleep): what the acks compete with.
        cpu_idle = bot.cpu_seconds()
        settle = LoadMeter()
        time.sleep(cfg.settle)
        out["load_before_burst"] = settle.done(bot.cpu_seconds() - cpu_idle)
        settings = box.settings()
        limit = settings.max_concurrent_execs
        out["limit"] = limit
        out["workers"] = settings.workers
        out["idle"] = {**bot.memory(), "threads": bot.threads()}

        # -- the burst: every user at once, account cache cold ------------------------------------
        users = {p.user_id for p in pop.burst}
        items = [(p.user_id, drive.command_fields(box.slack, p.user_id)) for p in pop.burst]
        box.kube.reset_records()
        before = promtext.parse(bot.metrics_text())
        cpu0, lines0 = bot.cpu_seconds(), bot.log_lines()
        # The bot's threads from the moment the burst is released (connections already open) to the last ack.
        profile = threads.Window(bot.pid, early=threads.EARLY_SECONDS)
        sent = drive.send(mode, bot.url, box.slack, items, on_go=profile.start)
        profile.stop()
        expected = cfg.latency * (len(items) / limit + 2)
        delivered = drive.wait_delivered(box.slack, users, timeout=expected * 3 + 30)
        time.sleep(0.3)  # the audit posts trail the private messages
        cpu1 = bot.cpu_seconds()
        after = promtext.parse(bot.metrics_text())
        execs = execs_from(box.kube.execs)
        timings = analyse(sent, delivered, execs, pop.uuid_of, limit)
        tokens = len(delivered)
        burst: dict[str, Any] = {
            "n": len(items),
            "http_status_not_ok": sum(1 for s in sent if s.status != 200),
            "acked_issuing": sum(s.acked for s in sent),
            **_overheads(timings),
            "wall_seconds": (max(delivered.values()) - min(s.sent_at for s in sent)) if delivered else None,
            "execs": len(execs),
            "account_list_execs": sum(e.command == "account-list" for e in execs),
            "token_create_execs": sum(e.command == "token-create" for e in execs),
            "execs_per_token": len(execs) / tokens if tokens else None,
            "peak_concurrent_execs": box.kube.max_concurrent_execs,
            "peak_concurrent_execs_from_records": peak_concurrency(execs),
            "exec_seconds_total": sum(e.seconds for e in execs),
            "slots": slot_use(execs, limit),
            "cpu_seconds": cpu1 - cpu0,
            "cpu_seconds_per_token": (cpu1 - cpu0) / tokens if tokens else None,
            "log_lines_per_token": (bot.log_lines() - lines0) / tokens if tokens else None,
            "bot_ack_histogram": promtext.histogram_delta(before, after, "rok_bot_ack_seconds", "0.05", mode="http")
            if mode == "http"
            else None,
            "bot_exec_wait_histogram": promtext.histogram_delta(
                before, after, "rok_bot_exec_wait_seconds", "0.01", registry="default"
            ),
            "bot_issue_histogram": promtext.histogram_delta(
                before, after, "rok_bot_issue_seconds", "0.5", registry="default"
            ),
        }
        out["burst"] = burst
        out["after_burst"] = {**bot.memory(), "threads": bot.threads()}

        # -- one at a time: warm cache, nothing else in flight ------------------------------------
        box.kube.reset_records()
        sent_solo: list[drive.Sent] = []
        delivered_solo: dict[str, float] = {}
        for p in pop.solo:
            sent_solo += drive.send(mode, bot.url, box.slack, [(p.user_id, drive.command_fields(box.slack, p.user_id))])
            delivered_solo.update(drive.wait_delivered(box.slack, {p.user_id}, timeout=cfg.latency * 4 + 10))
        solo_execs = execs_from(box.kube.execs)
        solo = analyse(sent_solo, delivered_solo, solo_execs, pop.uuid_of, limit)
        out["single"] = {
            "n": len(sent_solo),
            **_overheads(solo),
            "execs": len(solo_execs),
            "account_list_execs": sum(e.command == "account-list" for e in solo_execs),
        }
        # Requests that did not queue, from both phases: what the overhead target is about.
        clean = [t.overhead for t in [*timings, *solo] if t.overhead is not None and not t.queued]
        out["overhead_not_queued"] = summarize(clean)
        time.sleep(cfg.settle)
        out["end"] = {**bot.memory(), "threads": bot.threads()}
        out.update(profile.result(threads.thread_names(bot.pid)))
        out["timings"] = {"burst": [t.as_dict() for t in timings], "single": [t.as_dict() for t in solo]}
        bot_cpu = bot.cpu_seconds()
    finally:
        out["exit_code"] = bot.stop()
        box.stop()
    out["machine_load"] = meter.done(bot_cpu)
    return out


def run_floor(cfg: Config, pop: Population, mode: str) -> dict[str, Any]:
    """The same driver and burst against a no-op app: the ack floor of this machine right now.

    HTTP: an aiohttp server that answers at once. Socket Mode: the bot's own Socket Mode client acking every
    envelope at once, without Bolt, connected to a fresh fake Slack.
    """
    box = Sandbox(socket_mode=mode == "socket", people=(), start_bot=False)
    server: FloorServer | SocketFloor
    if mode == "socket":
        box.start()
        server = SocketFloor(box.env)
    else:
        server = FloorServer()
    try:
        if mode == "socket":
            box.slack.wait_for_connection(timeout=20)
        url = server.url if isinstance(server, FloorServer) else ""
        singles = []
        for p in pop.solo:
            singles += drive.send(mode, url, box.slack, [(p.user_id, drive.command_fields(box.slack, p.user_id))])
        items = [(p.user_id, drive.command_fields(box.slack, p.user_id)) for p in pop.burst]
        burst = drive.send(mode, url, box.slack, items)
    finally:
        server.stop()
        if mode == "socket":
            box.stop()
    return {
        "ack_single": summarize(s.ack_seconds for s in singles),
        "ack_burst": summarize(s.ack_seconds for s in burst),
        "not_ok": sum(1 for s in [*singles, *burst] if s.status != 200),
    }


def run_side(cfg: Config, pop: Population) -> dict[str, Any]:
    """The baseline (manual procedure) and the CLI, against a sandbox without a bot."""
    box = Sandbox(exec_latency=cfg.latency, people=tuple(pop.burst[:1]), settings=cfg.settings, start_bot=False)
    box.rok.accounts.extend(pop.accounts)
    box.start()
    out: dict[str, Any] = {}
    try:
        if cfg.baseline:
            out["baseline"] = run_baseline(box, [p.name for p in pop.burst])
        out["cli"] = measure_issue(box, pop.burst[0].name, runs=cfg.cli_runs)
    finally:
        box.stop()
    return out


# -- the table ------------------------------------------------------------------------------------


def _verdict(ok: bool | None) -> str:
    return "-" if ok is None else ("ok" if ok else "MISS")


def _fmt(value: Any, spec: str = ".1f") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return format(value, spec)


# Width of the label column of both tables.
_LABEL_WIDTH = 44


def render(result: dict[str, Any]) -> str:
    cfg = result["config"]
    modes: dict[str, dict[str, Any]] = result["modes"]
    acks = _acks(result)
    lines = _header_lines(result)
    _ack_rows(lines, result, acks)
    _delivery_rows(lines, cfg, modes)
    _process_rows(lines, modes, result.get("start"))
    lines += _notes(cfg, modes, acks)
    lines += _baseline_lines(result)
    lines += _cli_lines(result.get("cli"))
    if result.get("registries"):
        lines += several.render(result["registries"])
    lines.append("")
    lines.append(f"total benchmark time: {result['elapsed_seconds']:.1f} s")
    return "\n".join(lines)


def _acks(result: dict[str, Any]) -> dict[str, Any]:
    """The ack figures per mode: the medians over the repeated runs, or the one run's when there are none."""
    modes: dict[str, dict[str, Any]] = result["modes"]
    acks: dict[str, Any] = result.get("ack") or {
        n: {"single": modes[n]["single"]["ack"], "burst": modes[n]["burst"]["ack"], "runs": []} for n in modes
    }
    return acks


def _header_lines(result: dict[str, Any]) -> list[str]:
    """The title, the machine, the command and the configuration, then the mode table's head."""
    cfg = result["config"]
    m = result["machine"]
    modes: dict[str, dict[str, Any]] = result["modes"]
    lines = [
        "rok-token-bot benchmark",
        f"machine: {m['nproc']} CPU(s), {m['cpu_model']}, {m['mem_total_mb']} MiB, Linux {m['kernel']}, "
        f"{m['python_impl']} {m['python']} ({m['python_home']})",
        f"command: {result['command']}",
        f"fake rok-fort-manage latency {cfg['latency']:.3f} s per exec; burst of {cfg['burst']} distinct users; "
        f"{cfg['singles']} single commands one at a time; exec limit "
        f"{next(iter(modes.values()))['limit'] if modes else '?'}, "
        f"{next(iter(modes.values()))['workers'] if modes else '?'} workers",
        "",
    ]
    head = f"{'':{_LABEL_WIDTH}}" + "".join(f"{n:>22}" for n in modes) + f"  {'target':<26}"
    return [*lines, head, "-" * len(head)]


def _row(
    lines: list[str], label: str, values: list[str], target: str = "", oks: list[bool | None] | None = None
) -> None:
    """One row of the mode table: a cell per mode, then the target and a verdict per mode against it."""
    verdict = " ".join(_verdict(o) for o in oks) if oks else ""
    lines.append(f"{label:<{_LABEL_WIDTH}}" + "".join(f"{v:>22}" for v in values) + f"  {target:<26}{verdict}")


def _each(modes: dict[str, dict[str, Any]], fn: Any) -> list[Any]:
    """`fn` of each mode's result, in the table's column order."""
    return [fn(r) for r in modes.values()]


def _p99_under(summary: dict[str, Any], limit_ms: float) -> bool | None:
    """Whether the p99 meets a target in ms; None (no verdict) when nothing was measured."""
    return None if not summary.get("n") else summary["p99"] * 1000 < limit_ms


def _ack_rows(lines: list[str], result: dict[str, Any], acks: dict[str, Any]) -> None:
    """The ack rows: each figure is its median over the repeated runs (`--repeat`), the spread beside it."""
    cfg = result["config"]
    names = list(result["modes"])
    repeat = cfg.get("repeat", 1)
    of = f", median of {repeat}" if repeat > 1 else ""
    _row(lines, f"ack @1{of}, p50/p99/max ms", [ms(acks[n]["single"]) for n in names])
    _row(
        lines,
        f"ack @{cfg['burst']}{of}, p50/p99/max ms",
        [ms(acks[n]["burst"]) for n in names],
        "p99 < 50 ms",
        [_p99_under(acks[n]["burst"], TARGETS["ack_p99_ms"]) for n in names],
    )
    if repeat > 1:
        _row(
            lines,
            f"  ack @{cfg['burst']} p99 spread, min-max ms",
            [_spread(acks[n]["burst"], "p99") for n in names],
        )
        for i in range(repeat):
            _row(
                lines,
                f"  run {i + 1}: p99 ms; other load before/during",
                [_run_cell(acks[n]["runs"], i) for n in names],
            )
    floor = result.get("floor")
    if floor:
        for label, key in (
            ("  floor, no-op app @1", "ack_single"),
            (f"  floor, no-op app @{cfg['burst']}", "ack_burst"),
        ):
            _row(lines, label + ", p50/p99/max ms", [ms(floor[n][key]) if n in floor else "-" for n in names])
        if repeat > 1:
            _row(
                lines,
                f"  floor @{cfg['burst']} p99 spread, min-max ms",
                [_spread(floor[n]["ack_burst"], "p99") if n in floor else "-" for n in names],
            )


def _delivery_rows(lines: list[str], cfg: dict[str, Any], modes: dict[str, dict[str, Any]]) -> None:
    """From the bot-side ack to the message: delivery, overhead, queueing, exec slots and exec counts."""
    _row(
        lines,
        "  bot-side ack (HTTP): mean ms, share<=50ms",
        _each(
            modes,
            lambda r: (
                "-"
                if not r["burst"]["bot_ack_histogram"]
                else f"{_fmt((r['burst']['bot_ack_histogram']['mean'] or 0) * 1000)}, "
                f"{_fmt((r['burst']['bot_ack_histogram']['share_le_0.05'] or 0) * 100, '.0f')}%"
            ),
        ),
    )
    _row(
        lines,
        "acked / delivered (burst)",
        _each(modes, lambda r: f"{r['burst']['acked_issuing']}/{r['burst']['delivered']}"),
    )
    _row(lines, "to message @1, p50/p99/max ms", _each(modes, lambda r: ms(r["single"]["to_message"])))
    _row(lines, f"to message @{cfg['burst']}, p50/p99/max ms", _each(modes, lambda r: ms(r["burst"]["to_message"])))
    _overhead_rows(lines, modes)
    _row(
        lines,
        "execs per token (burst)",
        _each(modes, lambda r: _fmt(r["burst"]["execs_per_token"], ".3f")),
        f"(1 + {cfg['burst']}) / {cfg['burst']}",
    )
    _row(
        lines,
        "account-list / token-create execs (burst)",
        _each(modes, lambda r: f"{r['burst']['account_list_execs']} / {r['burst']['token_create_execs']}"),
        f"1 / {cfg['burst']}",
        _each(
            modes,
            lambda r: r["burst"]["account_list_execs"] == 1 and r["burst"]["token_create_execs"] == cfg["burst"],
        ),
    )
    _row(
        lines,
        "max concurrent execs / limit",
        _each(modes, lambda r: f"{r['burst']['peak_concurrent_execs']} / {r['limit']}"),
        "<= limit",
        _each(modes, lambda r: r["burst"]["peak_concurrent_execs"] <= r["limit"]),
    )


def _overhead_rows(lines: list[str], modes: dict[str, dict[str, Any]]) -> None:
    """The bot's own overhead, queued or not, the wait for an exec slot and how busy the slots were."""
    _row(
        lines,
        "overhead, did not queue, p50/p99/max ms",
        _each(modes, lambda r: ms(r["overhead_not_queued"])),
        "p50 < 30 ms, p99 < 100 ms",
        _each(
            modes,
            lambda r: (
                None
                if not r["overhead_not_queued"]["n"]
                else (
                    r["overhead_not_queued"]["p50"] * 1000 < TARGETS["overhead_p50_ms"]
                    and r["overhead_not_queued"]["p99"] * 1000 < TARGETS["overhead_p99_ms"]
                )
            ),
        ),
    )
    _row(
        lines,
        "  of which @1 (n), p50/p99/max ms",
        _each(modes, lambda r: f"({r['single']['delivered']}) {ms(r['single']['overhead_not_queued'])}"),
    )
    _row(
        lines,
        "  of which burst (n), p50/p99/max ms",
        _each(modes, lambda r: f"({r['burst']['not_queued']}) {ms(r['burst']['overhead_not_queued'])}"),
    )
    _row(
        lines,
        "overhead, queued (n), p50/p99/max ms",
        _each(modes, lambda r: f"({r['burst']['queued']}) {ms(r['burst']['overhead_queued'])}"),
    )
    _row(lines, "queue wait for a slot, p50/p99/max s", _each(modes, lambda r: _sec3(r["burst"]["queue_wait"])))
    _row(
        lines,
        "  bot-side exec-slot wait: mean s",
        _each(modes, lambda r: _fmt(r["burst"]["bot_exec_wait_histogram"]["mean"], ".3f")),
    )
    _row(lines, "burst wall time, s", _each(modes, lambda r: _fmt(r["burst"]["wall_seconds"], ".2f")))
    _row(
        lines,
        "exec slots busy / idle ms per exec",
        _each(
            modes,
            lambda r: (
                "-"
                if not r["burst"]["slots"]
                else f"{r['burst']['slots']['utilisation'] * 100:.1f}% / {r['burst']['slots']['idle_ms_per_exec']:.1f}"
            ),
        ),
    )


def _process_rows(
    lines: list[str], modes: dict[str, dict[str, Any]], start: dict[str, dict[str, Any]] | None = None
) -> None:
    """The bot process: memory, threads, CPU and log lines per token, the machine's other load, cold start.
    With `start` (several runs), idle RSS and cold start are the median of the runs, each run's figure beside."""
    starts = {mode: (start or {}).get(mode) or _one_run_start(r) for mode, r in modes.items()}
    _row(
        lines,
        f"idle RSS, median of {_runs(starts)}, MiB",
        [_fmt(s["idle_rss_median_mb"]) for s in starts.values()],
        "< 85 MiB",
        [s["idle_rss_median_mb"] < TARGETS["idle_rss_mb"] for s in starts.values()],
    )
    _row(lines, "  each run, MiB", [" ".join(_fmt(x) for x in s["idle_rss_mb"]) for s in starts.values()])
    _row(
        lines,
        "RSS after burst / peak (VmHWM), MiB",
        _each(modes, lambda r: f"{_fmt(r['end']['VmRSS'])} / {_fmt(r['end']['VmHWM'])}"),
    )
    _row(
        lines,
        "threads idle / after burst",
        _each(modes, lambda r: f"{r['idle']['threads']} / {r['after_burst']['threads']}"),
    )
    _row(
        lines,
        "CPU seconds per token (bot process)",
        _each(modes, lambda r: _fmt(r["burst"]["cpu_seconds_per_token"], ".4f")),
    )
    _row(lines, "log lines per token", _each(modes, lambda r: _fmt(r["burst"]["log_lines_per_token"], ".1f")))
    _row(
        lines,
        "machine: other load, cores busy (loadavg)",
        _each(
            modes,
            lambda r: (
                f"{_fmt(r['machine_load']['foreign_cores'], '.2f')} ({r['machine_load']['loadavg_before'][0]:.2f})"
            ),
        ),
    )
    _row(
        lines,
        "  other load in the 1 s before the burst",
        _each(modes, lambda r: _fmt(r.get("load_before_burst", {}).get("foreign_cores"), ".2f")),
    )
    _row(
        lines,
        f"cold start (spawn to /readyz 200), median of {_runs(starts)}, s",
        [_fmt(s["cold_start_median_seconds"], ".2f") for s in starts.values()],
        "< 0.8 s",
        [s["cold_start_median_seconds"] < TARGETS["cold_start_s"] for s in starts.values()],
    )
    _row(
        lines,
        "  each run (a fresh database), s",
        [" ".join(_fmt(x, ".2f") for x in s["cold_start_seconds"]) for s in starts.values()],
    )
    _row(
        lines,
        "  each run: the bot's CPU to ready, s",
        [" ".join(_fmt(x, ".2f") for x in s.get("start_cpu_seconds", [])) for s in starts.values()],
    )
    _row(
        lines,
        "  each run: other load meanwhile, cores",
        [" ".join(_fmt(x, ".2f") for x in s.get("start_other_cores", [])) for s in starts.values()],
    )


def _one_run_start(run: dict[str, Any]) -> dict[str, Any]:
    return {
        "cold_start_seconds": [run["cold_start_seconds"]],
        "start_cpu_seconds": [run.get("start_cpu_seconds")],
        "start_other_cores": [run.get("start_load", {}).get("foreign_cores")],
        "idle_rss_mb": [run["idle"]["VmRSS"]],
        "cold_start_median_seconds": run["cold_start_seconds"],
        "idle_rss_median_mb": run["idle"]["VmRSS"],
    }


def _runs(starts: dict[str, dict[str, Any]]) -> int:
    return max((len(s["cold_start_seconds"]) for s in starts.values()), default=1)


def _notes(cfg: dict[str, Any], modes: dict[str, dict[str, Any]], acks: dict[str, Any]) -> list[str]:
    """Under the mode table: which run the rows come from, the threads' profile, and runs on a busy machine."""
    lines: list[str] = []
    repeat = cfg.get("repeat", 1)
    if repeat > 1:
        lines.append(
            f"(ack and floor rows: median of {repeat} runs; every other row: the run with the median "
            f"ack @{cfg['burst']} p99)"
        )
    profiled = [n for n in modes if modes[n].get("ack_window_profile")]
    if profiled:
        lines += ["", "the bot's threads while the burst was being acked (median run): CPU, threads, context switches"]
        for n in profiled:
            for key, what in (("early_profile", "first"), ("ack_window_profile", "all acks,")):
                prof = modes[n].get(key)
                if prof:
                    lines.append(f"  {n:<6} {what:>9} {prof['seconds'] * 1000:5.1f} ms: {threads.render(prof)}")
    busy = [
        f"{n} run {i + 1} ({_fmt(run['other_load_before_burst'], '.2f')} before, "
        f"{_fmt(run['other_load_mode'], '.2f')} during)"
        for n in modes
        for i, run in enumerate(acks[n]["runs"])
        if max(run["other_load_before_burst"] or 0, run["other_load_mode"] or 0) > BUSY_MACHINE_CORES
    ]
    if busy:
        lines.append(
            f"note: other load above {BUSY_MACHINE_CORES} cores in {', '.join(busy)}: "
            "those figures are pessimistic; re-run when the machine is quieter"
        )
    return lines


def _baseline_lines(result: dict[str, Any]) -> list[str]:
    """The manual procedure beside the first mode's burst, with the ratio; nothing without a baseline."""
    cfg = result["config"]
    modes: dict[str, dict[str, Any]] = result["modes"]
    names = list(modes)
    base = result.get("baseline")
    lines: list[str] = []
    if not (base and names):
        return lines
    b = modes[names[0]]["burst"]
    title = f"baseline: the manual procedure, {cfg['burst']} tokens at once (bot figures: {names[0]} mode)"
    lines += ["", title, ""]
    head2 = f"{'':{_LABEL_WIDTH}}{'bot':>22}{'manual':>22}{'manual / bot':>16}"
    lines += [head2, "-" * len(head2)]

    def row2(label: str, bot: Any, manual: Any, spec: str = ".2f", ratio: bool = True) -> None:
        r = "-"
        if ratio and isinstance(bot, int | float) and isinstance(manual, int | float) and bot:
            r = f"{manual / bot:.2f}x"
        lines.append(f"{label:<{_LABEL_WIDTH}}{_fmt(bot, spec):>22}{_fmt(manual, spec):>22}{r:>16}")

    row2("execs", b["execs"], base["execs"], "d")
    row2("account-list execs", b["account_list_execs"], base["account_list_execs"], "d")
    row2("execs per token", b["execs_per_token"], base["execs"] / max(base["tokens"], 1), ".3f")
    row2("peak concurrent execs on the pod", b["peak_concurrent_execs"], base["peak_concurrent_execs"], "d")
    row2(
        "registry work: execs x latency, s",
        b["execs"] * cfg["latency"],
        base["execs"] * cfg["latency"],
    )
    row2("wall time for the burst, s", b["wall_seconds"], base["wall_seconds"])
    row2("time per token p50, s", b["to_message"]["p50"], base["per_token"]["p50"], ".3f")
    row2("time per token p99, s", b["to_message"]["p99"], base["per_token"]["p99"], ".3f")
    lines.append(f"{'tokens / errors (manual)':<{_LABEL_WIDTH}}{'':>22}{base['tokens']:>18} / {base['errors']}")
    if base.get("first_error"):
        lines.append(f"  first manual error: {base['first_error'][:150]}")
    return lines


def _cli_lines(cli: dict[str, Any] | None) -> list[str]:
    """The CLI's wall and own time, and where its import time goes; nothing when the CLI was not measured."""
    if not cli:
        return []
    imp = cli["imports"]
    lines = [
        "",
        f"CLI: {cli['command']} ({len(cli['runs'])} runs, cold: {cli['execs_per_run']} execs per run)",
        f"  wall p50/max s: {_sec3(cli['wall'], ('p50', 'max'))}   "
        f"exec inside p50: {_fmt(cli['exec']['p50'], '.3f')}   "
        f"own time p50/max s: {_sec3(cli['own'], ('p50', 'max'))}   target p50 < 0.6 s: "
        f"{_verdict(cli['own']['p50'] < TARGETS['cli_own_s'])}",
        f"  interpreter alone (python -c pass): {cli['python_c_pass_seconds']:.3f} s;"
        f" imports (-X importtime, sum of self): {imp['total_ms']:.0f} ms over {imp['modules']} modules",
        "  slowest imports by cumulative time (ms):",
    ]
    for t in imp["top_cumulative"][:10]:
        lines.append(f"    {t['cumulative_ms']:8.1f}  {'  ' * t['depth']}{t['module']}")
    lines.append(f"  kubernetes, all of its top-level imports on the path: {imp['kubernetes_total_ms']:.0f} ms")
    lines.append("  heavy packages on the issue path (cumulative ms, pulled in by):")
    for name, info in imp["heavy"].items():
        if info is None:
            lines.append(f"    {name:<18} not imported")
        else:
            via = " <- ".join(info["chain"][1:]) or "a function-level import, at call time"
            lines.append(f"    {name:<18} {info['cumulative_ms']:8.1f}  <- {via}")
    return lines


def _spread(summary: dict[str, Any], key: str) -> str:
    if not summary or not summary.get("n"):
        return "-"
    return f"{summary[key + '_min'] * 1000:.1f}-{summary[key + '_max'] * 1000:.1f}"


def _run_cell(runs: list[dict[str, Any]], index: int) -> str:
    """`47.3; 0.02/0.41`: one run's burst ack p99 (ms) and the other load before the burst / during the mode."""
    if index >= len(runs):
        return "-"
    run = runs[index]
    p99 = run["ack_burst"]["p99"] * 1000 if run["ack_burst"]["n"] else math.nan
    return f"{_fmt(p99)}; {_fmt(run['other_load_before_burst'], '.2f')}/{_fmt(run['other_load_mode'], '.2f')}"


def _sec3(summary: dict[str, Any], keys: tuple[str, ...] = ("p50", "p99", "max")) -> str:
    if not summary or not summary.get("n"):
        return "-"
    return "/".join(f"{summary[k]:.3f}" for k in keys)


# -- entry point ----------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> tuple[Config, bool]:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--json", action="store_true", help="JSON document on stdout (the table goes to stderr)")
    parser.add_argument("--latency", type=float, default=None, help="seconds per fake rok-fort-manage exec (0.3)")
    parser.add_argument("--burst", type=int, default=None, help="concurrent commands from distinct users (200)")
    parser.add_argument("--singles", type=int, default=None, help="commands sent one at a time (20)")
    parser.add_argument("--modes", default="http,socket", help="comma-separated: http, socket")
    parser.add_argument("--cli-runs", type=int, default=None, help="runs of `rok-token-bot issue` (3)")
    parser.add_argument("--no-baseline", action="store_true", help="skip the manual-procedure baseline")
    parser.add_argument(
        "--set", action="append", default=[], metavar="VAR=VALUE", help="extra bot setting, e.g. ROK_BOT_WORKERS=64"
    )
    parser.add_argument(
        "--repeat", type=int, default=None, help="runs of each mode; the ack rows show their median (3; --quick: 1)"
    )
    parser.add_argument("--quick", action="store_true", help="a smoke run: burst 20, latency 0.05 s, 5 singles")
    parser.add_argument(
        "--registries", action="store_true", help="add the row of a burst split over two registries, one slow"
    )
    args = parser.parse_args(argv)
    cfg = Config()
    if args.quick:
        cfg.latency, cfg.burst, cfg.singles, cfg.cli_runs, cfg.settle, cfg.repeat = 0.05, 20, 5, 1, 0.3, 1
    cfg.latency = args.latency if args.latency is not None else cfg.latency
    cfg.burst = args.burst if args.burst is not None else cfg.burst
    cfg.singles = args.singles if args.singles is not None else cfg.singles
    cfg.cli_runs = args.cli_runs if args.cli_runs is not None else cfg.cli_runs
    cfg.repeat = args.repeat if args.repeat is not None else cfg.repeat
    cfg.baseline = not args.no_baseline
    cfg.registries = args.registries
    modes = tuple(m.strip() for m in args.modes.split(",") if m.strip())
    if not modes or any(m not in ("http", "socket") for m in modes):
        parser.error("--modes takes http, socket or both")
    cfg.modes = modes
    for item in args.set:
        name, sep, value = item.partition("=")
        if not sep:
            parser.error(f"--set {item!r}: expected VAR=VALUE")
        cfg.settings[name] = value
    if cfg.burst < 1 or cfg.singles < 1 or cfg.repeat < 1:
        parser.error("--burst, --singles and --repeat must be at least 1")
    return cfg, args.json


# Other load (in cores) above which a run's ack figures are flagged as pessimistic.
BUSY_MACHINE_CORES = 0.25


def _median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run whose burst ack p99 is the median (the lower middle one for an even count)."""
    ranked = sorted(runs, key=lambda r: r["burst"]["ack"]["p99"] if r["burst"]["ack"]["n"] else math.inf)
    return ranked[(len(ranked) - 1) // 2]


def _per_run(run: dict[str, Any]) -> dict[str, Any]:
    return {
        "ack_burst": run["burst"]["ack"],
        "ack_single": run["single"]["ack"],
        "overhead_single": run["single"]["overhead_not_queued"],
        "other_load_before_burst": run["load_before_burst"]["foreign_cores"],
        "other_load_mode": run["machine_load"]["foreign_cores"],
        "loadavg_before": run["machine_load"]["loadavg_before"],
    }


def aggregate(runs: dict[str, list[dict[str, Any]]], floors: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Medians over the repeated runs for the ack rows, with every run's figure and its other load."""
    ack = {
        mode: {
            "single": across_runs(r["single"]["ack"] for r in mode_runs),
            "burst": across_runs(r["burst"]["ack"] for r in mode_runs),
            "overhead_single": across_runs(r["single"]["overhead_not_queued"] for r in mode_runs),
            "runs": [_per_run(r) for r in mode_runs],
        }
        for mode, mode_runs in runs.items()
    }
    floor = {
        mode: {
            "ack_single": across_runs(f["ack_single"] for f in mode_floors),
            "ack_burst": across_runs(f["ack_burst"] for f in mode_floors),
            "not_ok": sum(f["not_ok"] for f in mode_floors),
            "runs": mode_floors,
        }
        for mode, mode_floors in floors.items()
    }
    # Issue 26's start-up targets are on the median of the runs, not on the run with the median ack.
    start = {
        mode: {
            "cold_start_seconds": [r["cold_start_seconds"] for r in mode_runs],
            "start_cpu_seconds": [r.get("start_cpu_seconds") for r in mode_runs],
            "start_other_cores": [r.get("start_load", {}).get("foreign_cores") for r in mode_runs],
            "idle_rss_mb": [r["idle"]["VmRSS"] for r in mode_runs],
            "cold_start_median_seconds": statistics.median(r["cold_start_seconds"] for r in mode_runs),
            "idle_rss_median_mb": statistics.median(r["idle"]["VmRSS"] for r in mode_runs),
        }
        for mode, mode_runs in runs.items()
    }
    return {"ack": ack, "floor": floor, "start": start}


def _interpreter() -> str:
    """The interpreter that ran the benchmark, relative to the checkout when it is one of its venvs
    (`.venv/bin/python`, `.venv-image/bin/python`)."""
    exe = Path(sys.executable)
    try:
        return str(exe.relative_to(Path.cwd()))
    except ValueError:
        return str(exe)


def main(argv: list[str] | None = None) -> int:
    cfg, as_json = parse_args(argv)
    started = time.perf_counter()
    bytecode = compile_bytecode()
    print(f"[bench] {bytecode}", file=sys.stderr)
    pop = population(cfg.burst, cfg.singles)
    result: dict[str, Any] = {
        "command": shlex.join([_interpreter(), "-m", "bench.run", *(sys.argv[1:] if argv is None else argv)]),
        "machine": machine(),
        "bytecode": bytecode,
        "config": {
            "latency": cfg.latency,
            "burst": cfg.burst,
            "singles": cfg.singles,
            "modes": list(cfg.modes),
            "repeat": cfg.repeat,
            "settings": cfg.settings,
        },
        "targets": TARGETS,
        "modes": {},
    }
    runs: dict[str, list[dict[str, Any]]] = {mode: [] for mode in cfg.modes}
    floors: dict[str, list[dict[str, Any]]] = {mode: [] for mode in cfg.modes}
    # Modes and the floor interleaved run by run: a spell of load on the machine hits every column alike.
    for n in range(1, cfg.repeat + 1):
        for mode in cfg.modes:
            print(
                f"[bench] run {n}/{cfg.repeat}, {mode} mode: burst of {cfg.burst}, "
                f"then {cfg.singles} single commands...",
                file=sys.stderr,
            )
            runs[mode].append(run_mode(mode, cfg, pop))
        for mode in cfg.modes:
            print(f"[bench] run {n}/{cfg.repeat}, ack floor: the same burst, no-op {mode} app...", file=sys.stderr)
            floors[mode].append(run_floor(cfg, pop, mode))
    result["modes"] = {mode: _median_run(mode_runs) for mode, mode_runs in runs.items()}
    result.update(aggregate(runs, floors))
    print("[bench] baseline (manual procedure) and CLI...", file=sys.stderr)
    result.update(run_side(cfg, pop))
    if cfg.registries:
        result["registries"] = several.measure(
            several.Config(repeat=cfg.repeat, burst=10 if cfg.burst <= 20 else several.Config.burst)
        )
    result["elapsed_seconds"] = time.perf_counter() - started
    table = render(result)
    if as_json:
        print(table, file=sys.stderr)
        print(json.dumps(result, indent=2, default=str))
    else:
        print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
