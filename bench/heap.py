"""What the idle `serve` holds, by package: `python -m bench.heap [--fresh] [--after 3]` (issue 26).

Starts the sandbox's fakes and `python -m bot serve` under tracemalloc (25 frames per trace), waits for
`/readyz` and `--after` seconds more, then groups the live Python allocations by the top-level package of
the innermost frame that is not the import machinery (so a module's code objects count for the module that
imported it, its body's objects for itself). Prints MiB per package, the biggest first, and VmRSS.

tracemalloc sees Python's allocations only: C libraries' own memory (OpenSSL's certificate stores, SQLite's
page cache) shows as the difference between VmRSS and the traced total.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.procs import BotProcess, compile_bytecode, proc_memory_mb
from sandbox.world import Sandbox

_CHILD = r"""
import json, os, runpy, sys, sysconfig, threading, time, tracemalloc
tracemalloc.start(25)
STDLIB = sysconfig.get_paths()["stdlib"]
SITE = sysconfig.get_paths()["purelib"]

def package(filename):
    if filename.startswith(SITE):
        rest = filename[len(SITE):].lstrip("/")
        return rest.split("/")[0].removesuffix(".py").split("-")[0]
    if filename.startswith(STDLIB):
        rest = filename[len(STDLIB):].lstrip("/")
        return "stdlib:" + rest.split("/")[0].removesuffix(".py")
    if "/bot/" in filename:
        return "bot"
    return filename

def dump():
    while not os.path.exists(os.environ["ROK_HEAP_GO"]):
        time.sleep(0.05)
    snapshot = tracemalloc.take_snapshot()
    sizes = {}
    for stat in snapshot.statistics("traceback"):
        owner = "?"
        for frame in reversed(stat.traceback):  # innermost first
            if frame.filename.startswith("<frozen") or frame.filename == __file__:
                continue
            owner = package(frame.filename)
            break
        sizes[owner] = sizes.get(owner, 0) + stat.size
    with open(os.environ["ROK_HEAP_OUT"], "w") as out:
        json.dump(sizes, out)

threading.Thread(target=dump, daemon=True).start()
sys.argv = ["bot", "serve"]
runpy.run_module("bot", run_name="__main__", alter_sys=True)
"""


def main(argv: list[str] | None = None) -> int:
    summary = __doc__.splitlines()[0] if __doc__ else ""
    parser = argparse.ArgumentParser(prog="python -m bench.heap", description=summary)
    parser.add_argument("--fresh", action="store_true", help="a fresh database (it migrates); default: a current one")
    parser.add_argument("--after", type=float, default=3.0, help="seconds idle after /readyz before the snapshot")
    parser.add_argument("--top", type=int, default=25, help="packages to print")
    args = parser.parse_args(argv)
    print(f"[heap] {compile_bytecode()}", file=sys.stderr)
    work = Path(tempfile.mkdtemp(prefix="rok-heap-"))
    with Sandbox(start_bot=False) as box:
        env = {**box.env, "ROK_BOT_DATA_DIR": str(work / "state")}
        if not args.fresh:
            subprocess.run([sys.executable, "-m", "bot", "db", "upgrade"], env=env, capture_output=True, check=True)
        bot = BotProcess({**env, "ROK_HEAP_GO": str(work / "go"), "ROK_HEAP_OUT": str(work / "heap.json")})
        script = work / "heap_child.py"
        script.write_text(_CHILD)
        bot.proc = subprocess.Popen(
            [sys.executable, str(script)], env=bot.env, cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    if httpx.get(bot.url + "/readyz").status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.05)
            time.sleep(args.after)
            rss = proc_memory_mb(bot.pid)["VmRSS"]
            (work / "go").touch()
            while not (work / "heap.json").exists():
                time.sleep(0.05)
            time.sleep(0.2)
            sizes: dict[str, int] = json.loads((work / "heap.json").read_text())
        finally:
            bot.stop()
    total = sum(sizes.values())
    print(f"VmRSS at idle (under tracemalloc): {rss:.1f} MiB; traced Python allocations: {total / 2**20:.1f} MiB")
    for name, size in sorted(sizes.items(), key=lambda kv: -kv[1])[: args.top]:
        print(f"  {size / 2**20:6.2f} MiB  {name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
