"""The bot's HTTP/1.1 listener: an asyncio protocol, h11 to read requests, on a loop thread of its own.

`serve` answers four routes (`/slack/events`, `/healthz`, `/readyz`, `/metrics`) with small bodies; this is
all the server it needs. h11 (python-hyper, already installed as httpx's parser) reads each request, strictly:
a request line or header it cannot parse, conflicting Content-Lengths, a bad chunk size, a missing Host, each
is a protocol error answered 400 (431 for a head too large) and the connection closed. This module adds what a
server on a network must: Content-Length beside Transfer-Encoding refused (request smuggling: RFC 9112 6.3), a
bound on the head (h11's `max_incomplete_event_size`, and a head that arrived whole measured) and the body (413
before reading a declared one that is too large, and as soon as a chunked one passes it), a deadline for a
request once it has begun and for an idle kept-alive connection (a slow client cannot hold a connection open),
404 and 405, HEAD for each GET route, `Expect: 100-continue`, a handler's exception as a 500 whose body says
nothing of it. Answers are encoded here (status line, headers checked for what would split the response, the
length): h11's writer costs ~25 us a request for what is four lines.

Why not aiohttp's server, which the fakes use: importing `aiohttp.web` builds its client's two TLS contexts
(aio-libs/aiohttp#9029) and ~100 more modules, ~0.1 s of every start and ~10 MiB of the idle process, for a
server this bot uses four routes of (issue 26). Each connection is an `asyncio.Protocol` that parses in
`data_received` and runs its handler as a task once a request is whole: no stream reader and no task waking
on every read, one timer per connection. `python -m bench.floor_server` runs it as a no-op app for the
benchmark's floor (`--server aiohttp` for aiohttp's, to compare).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from http import HTTPStatus
from typing import Any

import h11
import msgspec

from bot.runtime.loop import LoopThread

log = logging.getLogger(__name__)

# After a refusal mid-request (413): how long and how much of the rest of the request is read and dropped.
LINGER_SECONDS = 1.0
LINGER_BYTES = 1024 * 1024
# What a header may be made of (RFC 9110 5.1, 5.5): a name is a token; a value holds no CR, LF or NUL.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_FORBIDDEN_IN_VALUE = re.compile(r"[\r\n\x00]")


class Request(msgspec.Struct, frozen=True):
    """One request, read whole: header names lowercased, repeats kept in order."""

    method: str
    path: str
    query: str
    headers: tuple[tuple[str, str], ...]
    body: bytes


class Response(msgspec.Struct, frozen=True):
    status: int
    body: bytes = b""
    headers: Mapping[str, str] = msgspec.field(default_factory=dict)


def json_response(data: Any, status: int = 200) -> Response:
    return Response(status, json.dumps(data).encode(), {"content-type": "application/json; charset=utf-8"})


Handler = Callable[[Request], Awaitable[Response]]


class Limits(msgspec.Struct, frozen=True):
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


class HttpServer(LoopThread):
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
        self.limits = limits or Limits()
        self._shutdown_seconds = shutdown_seconds
        super().__init__(name)
        self._server: asyncio.Server | None = None
        self.connections: set[_Connection] = set()
        self.closing = False  # stopping: a connection closes after its answer instead of keeping alive
        self.url = ""

    async def _open(self) -> None:
        self._server = await self._loop.create_server(lambda: _Connection(self), self._host, self._port, backlog=1024)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://{self._host}:{port}"

    def stop(self) -> None:
        """Stop listening, close idle connections, give requests in progress `shutdown_seconds`, then close."""
        if self._server is not None:
            try:
                self.call(self._close(), timeout=10)
            finally:
                self._server = None
        self._end_loop()

    async def _close(self) -> None:
        assert self._server is not None
        self.closing = True
        self._server.close()
        for connection in list(self.connections):
            if connection.task is None:
                connection.close()
        busy = [c.task for c in self.connections if c.task is not None]
        if busy:
            _, pending = await asyncio.wait(busy, timeout=self._shutdown_seconds)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        for connection in list(self.connections):
            connection.close()

    async def respond(self, request: Request) -> Response:
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


class _Connection(asyncio.Protocol):
    """One client connection: h11 parses what arrives; a whole request runs its handler as a task (what arrives
    meanwhile waits in h11's buffer, reading paused past a request's size); the answer is written, then the next
    request (kept alive) or the close.

    One timer at a time: idle (no request begun), request (its first byte came), linger (after a refusal).
    """

    def __init__(self, server: HttpServer) -> None:
        self._server = server
        self._limits = server.limits
        self._loop = server.loop
        self._h11 = h11.Connection(h11.SERVER, max_incomplete_event_size=self._limits.head)
        self._transport: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._head: h11.Request | None = None
        self._body = bytearray()
        self._begun = False  # a byte of the current request has come
        self._linger = -1  # bytes still dropped after a refusal; -1 while not refusing
        self._buffered = 0  # bytes received while a handler runs (pausing and resuming each request costs more)
        self.task: asyncio.Task[None] | None = None  # the handler's, while a request is answered

    # -- asyncio's callbacks ----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._server.connections.add(self)
        self._arm(self._limits.idle_seconds)

    def connection_lost(self, exc: Exception | None) -> None:
        self._server.connections.discard(self)
        self._disarm()

    def data_received(self, data: bytes) -> None:
        if self._linger >= 0:
            self._linger -= len(data)
            if self._linger < 0:
                self.close()
            return
        if not self._begun:
            self._begun = True
            self._arm(self._limits.request_seconds)
        self._h11.receive_data(data)
        if self.task is None:
            self._process()
        else:  # a pipelined request, buffered while the handler runs: bounded, reading paused past a request's size
            self._buffered += len(data)
            if self._buffered > self._limits.head + self._limits.body and self._transport is not None:
                self._transport.pause_reading()

    def eof_received(self) -> bool:
        self._h11.receive_data(b"")
        if self.task is None and self._linger < 0:
            self._process()
        return True  # the transport stays open to write an answer; this side closes it

    # -- the protocol ---------------------------------------------------------------------------

    def _process(self) -> None:
        """Take the events h11 has ready: refuse, wait for more bytes, or run a whole request."""
        while True:
            try:
                event = self._h11.next_event()
            except h11.RemoteProtocolError as exc:
                self._refuse(exc.error_status_hint)
                return
            if event is h11.NEED_DATA:
                return
            if isinstance(event, h11.Request):
                status = self._check(event)
                if status:
                    self._refuse(status)
                    return
                self._head = event
                if self._h11.they_are_waiting_for_100_continue:
                    self._write(b"HTTP/1.1 100 Continue\r\n\r\n")
            elif isinstance(event, h11.Data):
                self._body += event.data
                if len(self._body) > self._limits.body:
                    self._refuse(413)
                    return
            elif isinstance(event, h11.EndOfMessage):
                self._run(self._request())
                return
            else:  # ConnectionClosed (PAUSED cannot come: no request is answered while this runs)
                self.close()
                return

    def _check(self, head: h11.Request) -> int:
        """The status that refuses this head before its body is read, 0 to go on."""
        # h11 bounds a head still incomplete in its buffer; one that arrived whole is measured here.
        if len(head.target) + sum(len(k) + len(v) + 4 for k, v in head.headers) > self._limits.head:
            return 431
        names = {name for name, _ in head.headers}
        if b"transfer-encoding" in names and b"content-length" in names:
            return 400  # h11 would take the chunked framing: a smuggling attempt (RFC 9112 6.3)
        declared = _content_length(head)
        if declared is not None and declared > self._limits.body:
            return 413
        return 0

    def _request(self) -> Request:
        head = self._head
        assert head is not None
        path, _, query = head.target.decode("ascii", errors="replace").partition("?")
        headers = tuple((k.decode("latin-1"), v.decode("latin-1")) for k, v in head.headers)
        return Request(head.method.decode("ascii"), path, query, headers, bytes(self._body))

    def _run(self, request: Request) -> None:
        assert self._transport is not None
        self._disarm()
        self._buffered = 0
        self.task = self._loop.create_task(self._answer(request))

    async def _answer(self, request: Request) -> None:
        try:
            response = await self._server.respond(request)
        finally:
            self.task = None
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        head = self._head
        assert head is not None
        # h11's own keep-alive rule: HTTP/1.0, or a `Connection: close` token, closes after the answer.
        close = self._server.closing or head.http_version < b"1.1" or _closes(head)
        try:
            data = _encode(response, omit_body=request.method == "HEAD", close=close)
        except ValueError:  # a header that would split the response (a bug): the client learns only that it failed
            log.exception("response refused", extra={"path": request.path})
            data = _encode(json_response({"error": "internal error"}, status=500), close=close)
        self._write(data)
        if close:
            self.close()
            return
        # The parser (h11, used to read only: the answer is encoded here, ~25 us a request cheaper) starts afresh
        # on what it had not read yet: a pipelined request, or the client's close.
        rest, closed = self._h11.trailing_data
        self._h11 = h11.Connection(h11.SERVER, max_incomplete_event_size=self._limits.head)
        if rest:
            self._h11.receive_data(rest)
        if closed:  # b"" tells h11 the client closed its side
            self._h11.receive_data(b"")
        self._head, self._body, self._begun = None, bytearray(), bool(rest)
        self._arm(self._limits.request_seconds if rest else self._limits.idle_seconds)
        if self._buffered > self._limits.head + self._limits.body:
            transport.resume_reading()
        self._process()

    def _refuse(self, status: int) -> None:
        """Answer a request refused before its handler (400, 413, 431), then stop sending and drop what the client
        still sends for a moment, so that closing does not reset the connection before it has read the answer."""
        reason = {400: "bad request", 413: "request body too large", 431: "request header too large"}
        self._write(_encode(json_response({"error": reason.get(status, "bad request")}, status), close=True))
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        if not transport.can_write_eof():
            self.close()
            return
        transport.write_eof()
        self._linger = LINGER_BYTES
        self._arm(LINGER_SECONDS)

    def _write(self, data: bytes) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(data)

    # -- timers and the end ---------------------------------------------------------------------

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._timer = self._loop.call_later(seconds, self.close)  # idle, too slow, or done lingering

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def close(self) -> None:
        self._disarm()
        if self._transport is not None and not self._transport.is_closing():
            self._transport.close()


def _encode(response: Response, *, omit_body: bool = False, close: bool = False) -> bytes:
    """The answer's bytes: status line, the handler's headers (a CR or LF in one would split the response: refused,
    as h11 would), its length, and its body unless the request was HEAD."""
    lines = [b"HTTP/1.1 %d %s\r\n" % (response.status, _reason(response.status))]
    for name, value in response.headers.items():
        if name.lower() in ("content-length", "connection"):
            continue
        if not _TOKEN.fullmatch(name) or _FORBIDDEN_IN_VALUE.search(value):
            raise ValueError(f"header {name!r} cannot be sent")
        lines.append(f"{name}: {value}\r\n".encode("latin-1"))
    lines.append(b"content-length: %d\r\n" % len(response.body))
    if close:
        lines.append(b"connection: close\r\n")
    lines.append(b"\r\n")
    if not omit_body:
        lines.append(response.body)
    return b"".join(lines)


def _closes(head: h11.Request) -> bool:
    return any(name == b"connection" and b"close" in value.lower() for name, value in head.headers)


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
