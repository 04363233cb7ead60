"""The bot in its own process (`python -m bot serve`), read through /proc; and the machine it runs on."""

from __future__ import annotations

import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

# Variables a developer's shell may hold that must not leak into the measured bot.
_FOREIGN_PREFIXES = ("ROK_", "SLACK_")
_FOREIGN_NAMES = frozenset({"KUBECONFIG"})


def machine() -> dict[str, Any]:
    """nproc, CPU model, memory, kernel and Python version."""
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_mb = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_mb = int(line.split()[1]) // 1024
                break
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "mem_total_mb": mem_mb,
        "kernel": platform.release(),
        "python": sys.version.split()[0],
        "python_impl": platform.python_implementation(),
        # Which build: the bot runs on this interpreter. A start is mostly imports, and how the interpreter was
        # compiled moves them by a quarter (bench/README.md, "Start-up, fourth part"): pyenv's default build has
        # no PGO/LTO, the image's python:3.11-slim has both.
        "python_home": sys.base_prefix,
    }


def clean_env(extra: dict[str, str]) -> dict[str, str]:
    """The parent environment without ROK_/SLACK_/KUBECONFIG, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_FOREIGN_PREFIXES) and k not in _FOREIGN_NAMES}
    env.update(extra)
    return env


def compile_bytecode() -> str:
    """Compile the bot's bytecode once, as the image does (Dockerfile: `compileall` at build), and say how.

    A source checkout installed in editable mode has no `__pycache__` under `bot/` when PYTHONDONTWRITEBYTECODE
    is set (CI and this machine set it): every `python -m bot` would then compile all of `bot/` from source
    again, about a second on 2 busy cores, which no deployed bot pays. Site-packages were compiled by pip.
    """
    import compileall

    import bot

    package = Path(bot.__file__).parent
    if not compileall.compile_dir(str(package), quiet=1):
        return f"{package}: compileall failed, the bot compiles from source"
    return f"{package}: bytecode compiled (as the image's compileall)"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def proc_memory_mb(pid: int) -> dict[str, float]:
    """VmRSS (now) and VmHWM (peak) of a process, in MiB."""
    out: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(rest.split()[0]) / 1024
    return out


def proc_cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), in seconds."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat.rsplit(")", 1)[1].split()  # fields[0] is field 3 (state)
    ticks = int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def system_busy_seconds() -> float:
    """CPU seconds all CPUs spent busy since boot (/proc/stat), to tell other load on the machine apart."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def self_cpu_seconds() -> float:
    """CPU seconds of this process (all its threads) and of its children already waited for."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def loadavg() -> list[float]:
    return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]


class LoadMeter:
    """How busy the machine was during a phase, and how much of that was neither this process nor the bot."""

    def __init__(self) -> None:
        self._t0 = time.monotonic()
        self._busy0 = system_busy_seconds()
        self._own0 = self_cpu_seconds()
        self.loadavg_before = loadavg()

    def done(self, bot_cpu_seconds: float = 0.0) -> dict[str, Any]:
        wall = time.monotonic() - self._t0
        busy = system_busy_seconds() - self._busy0
        own = self_cpu_seconds() - self._own0 + bot_cpu_seconds
        return {
            "wall_seconds": wall,
            "busy_cores": busy / wall if wall else None,
            "foreign_cores": max(0.0, busy - own) / wall if wall else None,
            "loadavg_before": self.loadavg_before,
            "loadavg_after": loadavg(),
        }


def proc_threads(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    return 0


def terminate(proc: subprocess.Popen[Any], *, timeout: float) -> int | None:
    """SIGTERM, wait up to `timeout` (a bot drains meanwhile), SIGKILL if it hangs; the exit code."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    return proc.returncode


class FloorServer:
    """`python -m bench.floor_server PORT --server SERVER`: a no-op app in its own process, on the bot's own HTTP
    listener (`bot`) or on aiohttp's server (`aiohttp`, the bot's until issue 26)."""

    def __init__(self, server: str = "bot") -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.floor_server", str(self.port), "--server", server],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.02)
        self.stop()
        raise RuntimeError("the floor server did not start")

    def stop(self) -> None:
        terminate(self.proc, timeout=10)


class SocketFloor:
    """`python -m bench.floor_socket`: a no-op Socket Mode app in its own process, connected to the fake Slack."""

    def __init__(self, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.floor_socket"],
            env=clean_env({"SLACK_APP_TOKEN": env["SLACK_APP_TOKEN"], "SLACK_API_URL": env["SLACK_API_URL"]}),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def stop(self) -> None:
        terminate(self.proc, timeout=10)


class BotProcess:
    """`python -m bot serve` with the sandbox's settings, on a port chosen here."""

    def __init__(self, env: dict[str, str]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._dir = Path(tempfile.mkdtemp(prefix="rok-bench-bot-"))
        self.env = clean_env({**env, "ROK_BOT_PORT": str(self.port)})
        self.log_path = self._dir / "bot.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self._http = httpx.Client(timeout=5)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, *, timeout: float = 30.0) -> float:
        """Spawn the bot and poll /readyz; return seconds from spawn to the first 200."""
        log = self.log_path.open("wb")
        started = time.perf_counter()
        # cwd is an empty directory so that no `.env` is picked up.
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot", "serve"], env=self.env, cwd=self._dir, stdout=log, stderr=log
        )
        log.close()
        deadline = started + timeout
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the bot exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                if self._http.get(self.url + "/readyz").status_code == 200:
                    return time.perf_counter() - started
            except httpx.HTTPError:
                pass
            time.sleep(0.005)
        raise RuntimeError(f"the bot was not ready within {timeout} s:\n{self.log_tail()}")

    def memory(self) -> dict[str, float]:
        return proc_memory_mb(self.pid)

    def cpu_seconds(self) -> float:
        return proc_cpu_seconds(self.pid)

    def threads(self) -> int:
        return proc_threads(self.pid)

    def metrics_text(self) -> str:
        return self._http.get(self.url + "/metrics").text

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def log_lines(self) -> int:
        try:
            return len(self.log_path.read_bytes().splitlines())
        except OSError:
            return 0

    def stop(self) -> int | None:
        """SIGTERM, wait for the drain, SIGKILL if it hangs; the exit code."""
        self._http.close()
        if self.proc is None:
            return None
        return terminate(self.proc, timeout=30)
