"""A manual clock that replicas in processes of their own share: its time lives in a small file.

`ManualClock` moves one process's bot; a test of two `serve` replicas needs both (and the fake registry in
the test's own process) on one clock it can move. `SharedClock` keeps the time in a file (written whole and
renamed into place, so a reader never sees half of it); `python -m sandbox.replica` runs `serve` on it, and
`Sandbox(clock=SharedClock.create(dir))` starts its replicas that way. A reminder due in 12 seconds then
comes when the test advances the clock, in every replica at once.
"""

from __future__ import annotations

import json
import os
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

# How often a waiting replica reads the file again (real seconds).
_POLL = 0.01


class SharedClock:
    """A clock any process can read and the test advances; it stands still in between."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    @classmethod
    def create(cls, directory: Path, start: datetime | None = None) -> SharedClock:
        """A new shared clock in `directory`, at `start` (whole seconds; now by default)."""
        clock = cls(directory / "sandbox-clock.json")
        begin = (start or datetime.now(UTC)).replace(microsecond=0)  # wall clock: where the clock starts
        clock._write(begin.timestamp(), 1_000.0)
        return clock

    def _read(self) -> tuple[float, float]:
        while True:
            try:
                data = json.loads(self.path.read_text(encoding="utf-8"))
                return float(data["wall"]), float(data["mono"])
            except (OSError, ValueError, KeyError):  # a writer's rename in progress on a slow disk: read again
                time.sleep(_POLL)

    def _write(self, wall: float, mono: float) -> None:
        partial = self.path.with_name(f".{self.path.name}.{os.getpid()}.{threading.get_ident()}")
        partial.write_text(json.dumps({"wall": wall, "mono": mono}), encoding="utf-8")
        partial.replace(self.path)

    def now(self) -> datetime:
        return datetime.fromtimestamp(self._read()[0], UTC)

    def monotonic(self) -> float:
        return self._read()[1]

    def advance(self, seconds: float) -> datetime:
        """Move the clock forward for every process that reads it; the new time."""
        if seconds < 0:
            raise ValueError("a clock does not go back")
        with self._lock:
            wall, mono = self._read()
            self._write(wall + seconds, mono + seconds)
        return datetime.fromtimestamp(wall, UTC) + timedelta(seconds=seconds)

    def wait(self, seconds: float, stop: threading.Event) -> bool:
        deadline = self.monotonic() + max(seconds, 0.0)
        while self.monotonic() < deadline:
            if stop.wait(_POLL):
                return True
        return stop.is_set()
