"""Run an aiohttp application in a background thread with its own event loop (the fakes and the demo page)."""

from __future__ import annotations

from aiohttp import web

from bot.runtime.loop import LoopThread


class ServerThread(LoopThread):
    """An aiohttp app on its own loop thread; `url` is valid between `start()` and `stop()`."""

    def __init__(
        self, app: web.Application, *, host: str = "127.0.0.1", port: int = 0, name: str = "http-server"
    ) -> None:
        super().__init__(name)
        self._app = app
        self._host = host
        self._port = port
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def _open(self) -> None:
        self._runner = web.AppRunner(self._app, handle_signals=False, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port, backlog=1024)
        await site.start()
        server = site._server
        assert server is not None
        sockets = getattr(server, "sockets", None) or []
        port = sockets[0].getsockname()[1]
        self.url = f"http://{self._host}:{port}"

    def stop(self) -> None:
        if self._runner is not None:
            try:
                self.call(self._runner.cleanup(), timeout=10)
            finally:
                self._runner = None
        self._end_loop()
