"""The bot's HTTP/1.1 listener: asyncio streams, h11 for the protocol, on a loop thread of its own.

`serve` answers four routes (`/slack/events`, `/healthz`, `/readyz`, `/metrics`) with small bodies; this is
all the server it needs. h11 (python-hyper, already installed as httpx's parser) does the HTTP/1.1 framing,
strictly: a request line or header it cannot parse, conflicting Content-Lengths, a bad chunk size, each is a
protocol error answered 400 (431 for a head too large) and the connection closed. This module adds what a
server on a network must: Content-Length beside Transfer-Encoding refused (request smuggling: RFC 9112 6.3), a
bound on the head (h11's `max_incomplete_event_size`) and the body (413 before reading a declared one that is
too large, and as soon as a chunked one passes it), a deadline for a request once it has begun and for an idle
kept-alive connection (a slow client cannot hold a connection open), 404 and 405, HEAD for each GET route,
`Expect: 100-continue`, a handler's exception as a 500 whose body says nothing of it.

Why not aiohttp's server, which the fakes use: importing `aiohttp.web` builds its client's two TLS contexts
(aio-libs/aiohttp#9029) and ~100 more modules, ~0.1 s of every start and ~10 MiB of the idle process, for a
server this bot uses four routes of (issue 26).
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from http import HTTPStatus
from types import TracebackType
from typing import Any, Self, TypeVar

import h11

log = logging.getLogger(__name__)
T = TypeVar("T")

READ_CHUNK = 64 * 1024
# After a refusal mid-request (413): how long and how much of the rest of the request is read and dropped.
LINGER_SECONDS = 1.0
LINGER_BYTES = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Request:
    """One request, read whole: header names lowercased, repeats kept in order."""

    method: str
    path: str
    query: str
    headers: tuple[tuple[str, str], ...]
    body: bytes


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)


def json_response(data: Any, status: int = 200) -> Response:
    return Response(status, json.dumps(data).encode(), {"content-type": "application/json; charset=utf-8"})


Handler = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True, slots=True)
class Limits:
    """What one client may hold of the server.

    `head`: bytes of request line and headers (aiohttp's own limit is 8190 per line; h11's default is 16 KiB).
    `body`: bytes of a request body (Slack's payloads are a few KiB; a modal's is the largest).
    `request_seconds`: from a request's first byte to its last. `idle_seconds`: a kept-alive connection with no
    request in progress (Slack's client reuses its connections; a proxy's idle timeout is usually 60 s or more).
    """

    head: int = 16 * 1024
    body: int = 256 * 1024
    request_seconds: float = 15.0
    idle_seconds: float = 75.0


class _Refused(Exception):
    """A request answered with an error before its handler, and the connection closed after."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class HttpServer:
    """An HTTP/1.1 server on its own loop thread; `url` is valid between `start()` and `stop()`.

    `routes` maps a path to its handlers by method (`{"/readyz": {"GET": readyz}}`). Handlers run on the loop:
    one that blocks, blocks every connection.
    """

    def __init__(
        self,
        routes: Mapping[str, Mapping[str, Handler]],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        name: str = "http-server",
        limits: Limits | None = None,
        shutdown_seconds: float = 0.5,
    ) -> None:
        self._routes = {path: dict(methods) for path, methods in routes.items()}
        for methods in self._routes.values():
            if "GET" in methods:
                methods.setdefault("HEAD", methods["GET"])
        self._host = host
        self._port = port
        self._limits = limits or Limits()
        self._shutdown_seconds = shutdown_seconds
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=name, daemon=True)
        self._server: asyncio.Server | None = None
        # Each open connection's task, and whether it is between requests (closed at once on stop).
        self._connections: dict[asyncio.Task[None], bool] = {}
        self.url = ""

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def start(self) -> Self:
        self._thread.start()
        self.call(self._start())
        return self

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._connection, self._host, self._port, backlog=1024)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://{self._host}:{port}"

    def call(self, coro: Coroutine[Any, Any, T], timeout: float | None = 30) -> T:
        """Run a coroutine on the server's loop from any other thread and wait for its result."""
        fut: Future[T] = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return fut.result(timeout)

    def stop(self) -> None:
        """Stop listening, close idle connections, give requests in progress `shutdown_seconds`, then close."""
        if self._server is not None:
            try:
                self.call(self._close(), timeout=10)
            finally:
                self._server = None
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
        if not self._loop.is_running():
            self._loop.close()

    async def _close(self) -> None:
        assert self._server is not None
        self._server.close()
        for task, idle in list(self._connections.items()):
            if idle:
                task.cancel()
        busy = [task for task in self._connections if not task.done()]
        if busy:
            _, pending = await asyncio.wait(busy, timeout=self._shutdown_seconds)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- one connection -------------------------------------------------------------------------

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections[task] = True
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=self._limits.head)
        try:
            while True:
                try:
                    request = await self._read(conn, reader, writer, task)
                except _Refused as refused:
                    await self._refuse(conn, writer, refused.status)
                    await _linger(reader, writer)
                    return
                if request is None:
                    return
                self._connections[task] = False
                response = await self._respond(request)
                await self._send(conn, writer, response, head=request.method == "HEAD")
                if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                    return  # either side asked to close (HTTP/1.0, `Connection: close`)
                conn.start_next_cycle()
                self._connections[task] = True
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._connections.pop(task, None)
            writer.close()

    async def _read(
        self,
        conn: h11.Connection,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        task: asyncio.Task[None],
    ) -> Request | None:
        """The next request on this connection, or None once the client closed it or stayed idle too long."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._limits.idle_seconds
        begun = False
        head: h11.Request | None = None
        body = bytearray()
        while True:
            try:
                event = conn.next_event()
            except h11.RemoteProtocolError as exc:
                raise _Refused(exc.error_status_hint) from None
            if event is h11.NEED_DATA:
                try:
                    async with asyncio.timeout_at(deadline):
                        data = await reader.read(READ_CHUNK)
                except TimeoutError:
                    return None  # idle, or too slow once begun: close without a word (as a proxy would)
                if not begun and data:
                    begun, deadline = True, loop.time() + self._limits.request_seconds
                    self._connections[task] = False
                conn.receive_data(data)  # b"": the client closed its side
            elif isinstance(event, h11.Request):
                head = event
                # h11 bounds a head still incomplete in its buffer; one that arrived whole is measured here.
                if len(event.target) + sum(len(k) + len(v) + 4 for k, v in event.headers) > self._limits.head:
                    raise _Refused(431)
                names = {name for name, _ in event.headers}
                if b"transfer-encoding" in names and b"content-length" in names:
                    raise _Refused(400)  # h11 would take the chunked framing; a smuggling attempt (RFC 9112 6.3)
                declared = _content_length(event)
                if declared is not None and declared > self._limits.body:
                    raise _Refused(413)
                if conn.they_are_waiting_for_100_continue:
                    writer.write(
                        conn.send(h11.InformationalResponse(status_code=100, headers=[], reason=b"Continue")) or b""
                    )
            elif isinstance(event, h11.Data):
                body += event.data
                if len(body) > self._limits.body:
                    raise _Refused(413)
            elif isinstance(event, h11.EndOfMessage):
                assert head is not None
                target = head.target.decode("ascii", errors="replace")
                path, _, query = target.partition("?")
                headers = tuple((k.decode("latin-1"), v.decode("latin-1")) for k, v in head.headers)
                return Request(head.method.decode("ascii"), path, query, headers, bytes(body))
            elif isinstance(event, h11.ConnectionClosed) or event is h11.PAUSED:
                return None

    async def _respond(self, request: Request) -> Response:
        methods = self._routes.get(request.path)
        if methods is None:
            return json_response({"error": "not found"}, status=404)
        handler = methods.get(request.method)
        if handler is None:
            response = json_response({"error": "method not allowed"}, status=405)
            return Response(405, response.body, {**response.headers, "allow": ", ".join(sorted(methods))})
        try:
            return await handler(request)
        except Exception:  # the handler's failure is logged here; the client learns only that it failed
            log.exception("request failed", extra={"path": request.path})
            return json_response({"error": "internal error"}, status=500)

    async def _send(
        self, conn: h11.Connection, writer: asyncio.StreamWriter, response: Response, *, head: bool
    ) -> None:
        headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.headers.items()]
        headers = [h for h in headers if h[0] != b"content-length"]  # h11 checks the length against the body
        headers.append((b"content-length", str(len(response.body)).encode()))
        out = [conn.send(h11.Response(status_code=response.status, headers=headers, reason=_reason(response.status)))]
        if response.body and not head:
            out.append(conn.send(h11.Data(data=response.body)))
        out.append(conn.send(h11.EndOfMessage()))
        writer.write(b"".join(chunk for chunk in out if chunk))
        await writer.drain()

    async def _refuse(self, conn: h11.Connection, writer: asyncio.StreamWriter, status: int) -> None:
        """Answer a request refused before its handler (400, 413), if the protocol still allows an answer."""
        if conn.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
            return
        reason = {400: "bad request", 413: "request body too large", 431: "request header too large"}
        body = json.dumps({"error": reason.get(status, "bad request")}).encode()
        headers = [(b"content-type", b"application/json; charset=utf-8"), (b"connection", b"close")]
        headers.append((b"content-length", str(len(body)).encode()))
        try:
            out = conn.send(h11.Response(status_code=status, headers=headers, reason=_reason(status))) or b""
            out += conn.send(h11.Data(data=body)) or b""
            out += conn.send(h11.EndOfMessage()) or b""
        except h11.LocalProtocolError:
            return
        writer.write(out)
        await writer.drain()


async def _linger(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """After an answer that closes the connection mid-request: stop sending, then read and drop what the client
    still sends for a moment, so that closing does not reset the connection before it has read the answer."""
    try:
        if writer.can_write_eof():
            writer.write_eof()
        async with asyncio.timeout(LINGER_SECONDS):
            left = LINGER_BYTES
            while left > 0 and (data := await reader.read(READ_CHUNK)):
                left -= len(data)
    except (TimeoutError, ConnectionError):
        pass


def _reason(status: int) -> bytes:
    try:
        return HTTPStatus(status).phrase.encode()
    except ValueError:
        return b""


def _content_length(request: h11.Request) -> int | None:
    for name, value in request.headers:
        if name == b"content-length":
            return int(value)  # h11 has checked it is one decimal number
    return None
