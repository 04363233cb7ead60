"""What every fake shares: an aiohttp app served on its own loop thread, started and stopped alike."""

from __future__ import annotations

from types import TracebackType
from typing import Self

from bot.runtime.aio import ServerThread

__all__ = ["FakeServer", "ServerThread"]


class FakeServer:
    """Lifecycle of a fake: `start()`/`stop()`, a context manager, and its base `url` once started."""

    _server: ServerThread

    @property
    def url(self) -> str:
        """Base URL, e.g. `http://127.0.0.1:PORT`; valid once started."""
        return self._server.url

    @property
    def server(self) -> ServerThread:
        """The thread running the app, for `call()` on its loop."""
        return self._server

    def start(self) -> Self:
        """Start serving in a background thread."""
        self._server.start()
        return self

    def stop(self) -> None:
        """Stop serving; open connections are dropped."""
        self._server.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
