"""What every fake shares: an aiohttp app served on its own loop thread, started and stopped alike."""

from __future__ import annotations

import threading
from http.server import ThreadingHTTPServer
from types import TracebackType
from typing import ClassVar, Self

from sandbox.aio import ServerThread

__all__ = ["FakeServer", "ServerThread", "StdlibFake"]


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


class StdlibFake(ThreadingHTTPServer):
    """Lifecycle of a fake built on the standard library's HTTP server (the SIEM receivers): served on a
    daemon thread named `thread_name`, `start()`/`stop()` and a context manager, like `FakeServer`."""

    thread_name: ClassVar[str] = "fake-http"
    _thread: threading.Thread | None = None

    def start(self) -> Self:
        self._thread = threading.Thread(target=self.serve_forever, args=(0.05,), name=self.thread_name, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self.shutdown()
            self._thread.join(5)
            self._thread = None
        self.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
