"""The benchmark's own arithmetic: medians over repeated runs, the median run, the thread profile."""

from __future__ import annotations

from bench import ready_exit, run, threads
from bench.stats import across_runs, summarize


def _run(p99: float) -> dict[str, object]:
    return {"burst": {"ack": summarize([p99 / 2, p99])}}


def test_repeat_defaults_to_three_runs_and_quick_to_one() -> None:
    assert run.parse_args([])[0].repeat == 3
    assert run.parse_args(["--quick"])[0].repeat == 1
    assert run.parse_args(["--quick", "--repeat", "5"])[0].repeat == 5


def test_each_ack_figure_is_its_median_over_the_runs_with_the_spread_beside_it() -> None:
    runs = [summarize([0.010, 0.040]), summarize([0.020, 0.090]), summarize([0.015, 0.050])]
    agg = across_runs(runs)
    assert agg["runs"] == 3
    assert agg["p99"] == runs[2]["p99"]
    assert (agg["p99_min"], agg["p99_max"]) == (runs[0]["p99"], runs[1]["p99"])
    assert agg["max"] == 0.050


def test_a_run_without_acks_does_not_count() -> None:
    assert across_runs([summarize([]), summarize([0.01])])["runs"] == 1
    assert across_runs([summarize([])])["p99"] is None


def test_the_other_rows_come_from_the_run_with_the_median_p99() -> None:
    runs = [_run(0.09), _run(0.03), _run(0.05)]
    assert run._median_run(runs) is runs[2]
    assert run._median_run(runs[:2]) is runs[1]  # even count: the lower middle


def test_the_profile_groups_threads_by_name_and_counts_only_the_window() -> None:
    before = {1: threads.ThreadTimes(1_000_000, 0, 5), 2: threads.ThreadTimes(0, 0, 0)}
    after = {
        1: threads.ThreadTimes(3_000_000, 500_000, 7),
        2: threads.ThreadTimes(1_000_000, 0, 10),
        3: threads.ThreadTimes(2_000_000, 0, 4),  # started during the window
        4: threads.ThreadTimes(0, 0, 0),  # idle throughout: left out
    }
    names = {1: "bot-http", 2: "job_0", 3: "job_17", 4: "job_3"}
    prof = threads.window(before, after, names, 0.05)
    assert list(prof["groups"]) == ["job", "bot-http"]
    assert prof["groups"]["job"] == {"threads": 2, "cpu_ms": 3.0, "wait_ms": 0.0, "switches": 14}
    assert prof["groups"]["bot-http"]["cpu_ms"] == 2.0
    assert threads.group_of("socket-ack_12") == "socket-ack"
    assert threads.group_of("Thread-3 (_run)") == "Thread (_run)"


def test_every_mode_has_its_own_floor_as_a_median_over_the_runs() -> None:
    def mode_run(p99: float, start: float = 0.7, rss: float = 80.0) -> dict[str, object]:
        ack = summarize([p99])
        return {
            "cold_start_seconds": start,
            "idle": {"VmRSS": rss},
            "burst": {"ack": ack},
            "single": {"ack": ack, "overhead_not_queued": ack},
            "load_before_burst": {"foreign_cores": 0.0},
            "machine_load": {"foreign_cores": 0.1, "loadavg_before": [0.2, 0.2, 0.2]},
        }

    def floor(p99: float) -> dict[str, object]:
        return {"ack_single": summarize([0.001]), "ack_burst": summarize([p99]), "not_ok": 0}

    runs = {
        "http": [mode_run(0.05, 0.9, 84.0), mode_run(0.07, 0.7, 86.0), mode_run(0.06, 0.75, 85.0)],
        "socket": [mode_run(0.09), mode_run(0.08)],
    }
    floors = {"http": [floor(0.02), floor(0.03)], "socket": [floor(0.01), floor(0.04)]}
    agg = run.aggregate(runs, floors)
    assert agg["floor"]["socket"]["ack_burst"]["p99"] == 0.025
    assert agg["floor"]["http"]["ack_burst"]["p99_max"] == 0.03
    assert agg["ack"]["socket"]["burst"]["p99_runs"] == [0.09, 0.08]
    assert [r["other_load_mode"] for r in agg["ack"]["http"]["runs"]] == [0.1, 0.1, 0.1]
    # the start-up rows: the median of the runs (issue 26), not the run with the median ack
    assert agg["start"]["http"]["cold_start_median_seconds"] == 0.75
    assert agg["start"]["http"]["idle_rss_median_mb"] == 85.0
    assert agg["start"]["http"]["cold_start_seconds"] == [0.9, 0.7, 0.75]


def test_the_dispatch_benchmark_times_both_apps_and_only_real_acks() -> None:
    """`python -m bench.dispatch` runs end to end (its asserts check every answer is the real ack)."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "bench.dispatch", "--batches", "1", "--batch", "5"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "minimal Bolt" in done.stdout and "the bot" in done.stdout


def test_the_registries_row_allows_noise_but_not_a_queue_behind_the_slow_registry() -> None:
    from bench.registries import verdict

    assert verdict(0.200, 0.240) is True  # within a quarter
    assert verdict(0.200, 0.260) is False  # beyond it
    assert verdict(0.020, 0.065) is True  # a fast p50 has 50 ms of noise at least
    assert verdict(0.200, 0.200 + 1.5) is False  # queued behind one slow exec
    assert verdict(None, 0.2) is None


def test_the_registries_row_runs_end_to_end_or_says_why_it_is_skipped() -> None:
    """`python -m bench.registries --quick` exits 0 with the row: measured once the bot routes by registry,
    else `skipped` with the reason (the same command works before and after the wiring)."""
    import json
    import subprocess
    import sys

    from bench.registries import render

    done = subprocess.run(
        [sys.executable, "-m", "bench.registries", "--quick", "--json"],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    assert "skipped" in result or result["ok"] is not None, result
    row = "\n".join(render(result))
    assert "alone vs split" in row and ("skipped: " in row or "target: split p50" in row)
    assert "alone vs split" in done.stderr


def test_the_imports_alone_leave_out_the_bots_modules_and_each_library_named() -> None:
    started = ["site", "encodings.utf_8", "bot", "bot.cli", "json", "sqlalchemy", "sqlalchemy.engine", "yaml"]
    started.append("botocore")  # not the bot's
    assert ready_exit.to_import(started, set()) == ["json", "sqlalchemy", "sqlalchemy.engine", "yaml", "botocore"]
    assert ready_exit.to_import(started, {"sqlalchemy"}) == ["json", "yaml", "botocore"]
