"""A command's process (bot.runtime.startup): the collector paused for start-up is resumed only where it was
paused, and frozen then; `leave` ends the process without teardown yet loses nothing written or registered."""

from __future__ import annotations

import gc
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.runtime import startup


@pytest.fixture(autouse=True)
def _collector_restored() -> Iterator[None]:
    yield
    gc.unfreeze()
    gc.enable()
    startup._paused.clear()


def test_resume_without_pause_changes_nothing() -> None:
    """A program that imports bot (the tests, the sandbox) keeps its collector as it was."""
    startup.resume()
    assert gc.isenabled()
    assert gc.get_freeze_count() == 0


def test_pause_then_resume_freezes_what_start_up_made_and_collects_again() -> None:
    startup.pause()
    assert not gc.isenabled()
    made_during_start = [object() for _ in range(10)]
    startup.resume()
    assert gc.isenabled()
    assert gc.get_freeze_count() >= len(made_during_start)
    startup.resume()  # once only
    assert gc.isenabled()


def test_pause_leaves_a_collector_someone_else_disabled_to_them() -> None:
    gc.disable()
    startup.pause()
    startup.resume()
    assert not gc.isenabled()


def _python(code: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=False, cwd=tmp_path
    )


def test_leave_flushes_what_was_written_runs_the_exit_handlers_and_keeps_the_code(tmp_path: Path) -> None:
    code = (
        "import atexit, sys; from bot.runtime.startup import leave\n"
        "atexit.register(lambda: sys.stderr.write('handler ran'))\n"
        "sys.stdout.write('t' * 100_000)\n"  # block-buffered into a pipe: only a flush sends it
        "leave(3)\n"
    )
    done = _python(code, tmp_path)
    assert (done.returncode, len(done.stdout), done.stderr) == (3, 100_000, "handler ran")


def test_leave_exits_the_ordinary_way_while_a_non_daemon_thread_runs(tmp_path: Path) -> None:
    code = (
        "import threading, time; from bot.runtime.startup import leave\n"
        "threading.Thread(target=lambda: (time.sleep(0.2), print('joined', flush=True))).start()\n"
        "leave(4)\n"
    )
    done = _python(code, tmp_path)
    assert (done.returncode, done.stdout) == (4, "joined\n")
