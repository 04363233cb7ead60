"""Run an aiohttp application in a background thread with its own event loop (the fakes and the demo page)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from concurrent.futures import Future
from types import TracebackType
from typing import Any, Self, TypeVar

from aiohttp import web

T = TypeVar("T")


class ServerThread:
    """An HTTP server on its own loop thread; `url` is valid between `start()` and `stop()`."""

    def __init__(
        self, app: web.Application, *, host: str = "127.0.0.1", port: int = 0, name: str = "http-server"
    ) -> None:
        self._app = app
        self._host = host
        self._port = port
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=name, daemon=True)
        self._runner: web.AppRunner | None = None
        self.url = ""

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def start(self) -> Self:
        self._thread.start()
        self.call(self._start())
        return self

    async def _start(self) -> None:
        self._runner = web.AppRunner(self._app, handle_signals=False, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port, backlog=1024)
        await site.start()
        server = site._server
        assert server is not None
        sockets = getattr(server, "sockets", None) or []
        port = sockets[0].getsockname()[1]
        self.url = f"http://{self._host}:{port}"

    def call(self, coro: Coroutine[Any, Any, T], timeout: float | None = 30) -> T:
        """Run a coroutine on the server's loop from any other thread and wait for its result."""
        fut: Future[T] = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return fut.result(timeout)

    def stop(self) -> None:
        if self._runner is not None:
            try:
                self.call(self._runner.cleanup(), timeout=10)
            finally:
                self._runner = None
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
