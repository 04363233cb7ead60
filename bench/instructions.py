"""A start counted in instructions, not seconds: the same on a busy machine as on an idle one (issue 26).

    python -m bench.instructions [--base DIR] [--runs 2] [--mode http|socket]     # ~2.5 min, valgrind needed

Wall time on this shared 2-core machine moves by a quarter between spells, and a change worth 20 ms of a 0.8 s
start hides in that (`bench.ab` needs 10 alternated runs to see 50 ms). callgrind counts the instructions the
interpreter executes: with the hash seed fixed, runs of the same start agree within 1 % (the order in which threads
run moves up to ~15 million), whatever else the machine is doing. Printed, in millions of
instructions (the lowest of `--runs`):

- `serve` from spawn to ready (its `ready` log line; /readyz answers 200 from there), in bench.run's
  conditions (the sandbox with its 220 users, a fresh database); with `--base`, that version's too, its `bot/`
  first on PYTHONPATH (`git archive REV bot | tar -x -C DIR`);
- the CLI's `issue` (bench.run's CLI row), spawn to exit, for each version likewise;
- how much of the start the imports alone are: a fresh interpreter importing every module that start imported before
  ready but the bot's own, then the same leaving out each big library in turn, and the interpreter's own start.
  The rest is the bot: its modules and everything it does to get ready.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.procs import clean_env, compile_bytecode, free_port
from bench.run import population, start_world
from sandbox.world import Sandbox

ROOT = Path(__file__).resolve().parent.parent
# The libraries a start imports that weigh most, by their top-level packages.
LIBRARIES = {
    "SQLAlchemy": ("sqlalchemy",),
    "pydantic + pydantic-settings": (
        "pydantic",
        "pydantic_core",
        "pydantic_settings",
        "annotated_types",
        "typing_inspection",
    ),
    "Slack (Bolt + SDK)": ("slack_bolt", "slack_sdk"),
}


def _callgrind(args: list[str], env: dict[str, str], out: Path) -> int:
    """Instructions executed by `python ARGS` under callgrind (its summary line)."""
    cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable, *args]
    done = subprocess.run(
        cmd, check=False, env=env, cwd=out.parent, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    if done.returncode != 0:
        said = [line for line in done.stderr.splitlines() if not line.startswith("==")]
        raise RuntimeError(f"python {' '.join(args)} failed ({done.returncode}): {' / '.join(said[-3:])}")
    for line in out.read_text(errors="replace").splitlines():
        if line.startswith(("summary:", "totals:")):
            return int(line.split()[1])
    raise RuntimeError(f"{out}: callgrind wrote no summary")


def _env(pythonpath: str) -> dict[str, str]:
    return clean_env({"PYTHONHASHSEED": "0", "PYTHONPATH": pythonpath})


def _sandbox(mode: str) -> tuple[Sandbox, str]:
    """bench.run's sandbox (its 220 users, a fresh database), started; and the user its CLI row issues for."""
    pop = population(200, 20)
    return start_world(mode, pop, latency=0.3), pop.burst[0].name


def _path(base: Path | None) -> str:
    return f"{base.resolve()}:{ROOT}" if base is not None else str(ROOT)


def serve_to_ready(work: Path, *, base: Path | None, mode: str, tag: str) -> tuple[int, Path]:
    """One `serve` start under callgrind against a fresh sandbox: its instructions, and its module list."""
    box, _ = _sandbox(mode)
    try:
        env = {**_env(_path(base)), **box.env, "ROK_BOT_PORT": str(free_port())}
        modules = work / f"modules-{tag}.txt"
        count = _callgrind(["-m", "bench.ready_exit", "serve", str(modules)], env, work / f"serve-{tag}.out")
        return count, modules
    finally:
        box.stop()


def cli_issue(work: Path, *, base: Path | None, tag: str) -> int:
    """One `rok-token-bot issue USER --duration 1h` under callgrind, bench.run's CLI row: spawn to exit."""
    box, user = _sandbox("http")
    try:
        args = ["-m", "bot", "issue", user, "--duration", "1h"]
        return _callgrind(args, {**_env(_path(base)), **box.env}, work / f"issue-{tag}.out")
    finally:
        box.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.instructions", description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=Path, help="a directory holding another version's bot/, counted beside")
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--mode", choices=("http", "socket"), default="http")
    args = parser.parse_args(argv)
    if shutil.which("valgrind") is None:
        parser.error("valgrind is not installed (Debian: apt-get install valgrind)")
    if args.base is not None and not (args.base / "bot" / "__init__.py").exists():
        parser.error(f"{args.base} holds no bot/ package")
    print(compile_bytecode(), f"interpreter: {sys.base_prefix}", sep="\n")
    versions: dict[str, Path | None] = {"this checkout": None}
    if args.base is not None:
        versions[f"base ({args.base})"] = args.base
    with tempfile.TemporaryDirectory(prefix="bench-instructions-") as tmp, ThreadPoolExecutor(2) as pool:
        work = Path(tmp)
        starts = {
            name: [
                pool.submit(serve_to_ready, work, base=base, mode=args.mode, tag=f"{n}-{i}") for i in range(args.runs)
            ]
            for n, (name, base) in enumerate(versions.items())
        }
        issues = {
            name: [pool.submit(cli_issue, work, base=base, tag=f"{n}-{i}") for i in range(args.runs)]
            for n, (name, base) in enumerate(versions.items())
        }
        counts = {name: sorted(f.result()[0] for f in futures) for name, futures in starts.items()}
        cli = {name: sorted(f.result() for f in futures) for name, futures in issues.items()}
        modules = starts["this checkout"][0].result()[1]
        alone = ["-m", "bench.ready_exit", "imports", str(modules)]
        env = _env(str(ROOT))
        jobs = {"imports": pool.submit(_callgrind, alone, env, work / "imports.out")}
        jobs["interpreter"] = pool.submit(_callgrind, ["-c", "pass"], env, work / "pass.out")
        for label, packages in LIBRARIES.items():
            jobs[label] = pool.submit(_callgrind, [*alone, *packages], env, work / f"without-{packages[0]}.out")
        got = {label: job.result() for label, job in jobs.items()}
    for title, table in (
        (f"serve, {args.mode} mode, spawn to ready", counts),
        ("CLI `issue USER --duration 1h`, spawn to exit", cli),
    ):
        print(f"{title}: millions of instructions (lowest of {args.runs}; each)")
        for name, values in table.items():
            print(f"  {name:40s} {values[0] / 1e6:8.0f}   {' '.join(f'{v / 1e6:.0f}' for v in values)}")
    total = counts["this checkout"][0]

    def row(label: str, value: int) -> None:
        print(f"  {label:48s} {value / 1e6:6.0f} M  {100 * value / total:4.0f} %")

    print("of this checkout's start:")
    row("the interpreter's own start (python -c pass)", got["interpreter"])
    row("the libraries' imports (standard and third-party)", got["imports"] - got["interpreter"])
    for label in LIBRARIES:
        row(f"  of which {label}", got["imports"] - got[label])
    row("the bot: its modules and its work to ready", total - got["imports"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
