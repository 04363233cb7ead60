"""An asyncio event loop on a thread of its own: what the bot's HTTP listener (bot/runtime/http.py) and the
sandbox's aiohttp fakes share. Other threads start it, run coroutines on it with `call`, and stop it."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from concurrent.futures import Future
from types import TracebackType
from typing import Any, Self, TypeVar

T = TypeVar("T")


class LoopThread:
    """A loop and its daemon thread. `start()` runs the loop, then a subclass's `_open()` on it (binding its
    server); a subclass's `stop()` closes what it opened, then calls `_end_loop()`."""

    def __init__(self, name: str) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=name, daemon=True)

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def call(self, coro: Coroutine[Any, Any, T], timeout: float | None = 30) -> T:
        """Run a coroutine on the loop from any other thread and wait for its result."""
        fut: Future[T] = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return fut.result(timeout)

    def start(self) -> Self:
        self._thread.start()
        self.call(self._open())
        return self

    async def _open(self) -> None:
        """On the loop, once it runs: what the subclass serves."""

    def stop(self) -> None:
        self._end_loop()

    def _end_loop(self) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
        if not self._loop.is_running():
            self._loop.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
