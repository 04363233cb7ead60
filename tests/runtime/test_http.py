"""The bot's HTTP listener (bot/runtime/http.py) on a real socket: httpx for what a client does right, raw bytes
for what an attacker sends (smuggling, oversized heads and bodies, slow and idle connections)."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from collections.abc import Iterator

import httpx
import pytest

from bot.runtime.http import HttpServer, Limits, Request, Response, json_response

SECRET = "xoxe-secret-in-an-exception"


class Recorder:
    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.release = threading.Event()
        self.entered = threading.Event()

    async def echo(self, request: Request) -> Response:
        self.requests.append(request)
        return json_response({"path": request.path, "query": request.query, "bytes": len(request.body)})

    async def hello(self, request: Request) -> Response:
        self.requests.append(request)
        return Response(200, b"hello", {"content-type": "text/plain"})

    async def boom(self, request: Request) -> Response:
        raise RuntimeError(SECRET)

    async def split(self, request: Request) -> Response:
        return Response(200, b"ok", {"x-echo": "a\r\nset-cookie: stolen=1"})

    async def slow(self, request: Request) -> Response:
        self.entered.set()
        await asyncio.get_running_loop().run_in_executor(None, self.release.wait, 5)
        return json_response({"slow": True})


LIMITS = Limits(head=4096, body=1024, request_seconds=0.3, idle_seconds=0.3)


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def server(recorder: Recorder) -> Iterator[HttpServer]:
    routes = {
        "/echo": {"POST": recorder.echo, "GET": recorder.echo},
        "/hello": {"GET": recorder.hello},
        "/boom": {"GET": recorder.boom},
        "/split": {"GET": recorder.split},
        "/slow": {"GET": recorder.slow},
    }
    with HttpServer(routes, limits=LIMITS, shutdown_seconds=2.0) as running:
        yield running
    recorder.release.set()


def _raw(server: HttpServer, data: bytes, *, timeout: float = 5.0) -> bytes:
    """Send `data` on a new connection and read until the server closes it."""
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_a_request_reaches_its_handler_with_its_query_body_and_headers_lowercased_in_order(
    server: HttpServer, recorder: Recorder
) -> None:
    response = httpx.post(
        f"{server.url}/echo?a=1&b=2",
        content=b"x=1",
        headers=[("X-Slack-Signature", "v0=1"), ("X-Dup", "a"), ("X-Dup", "b")],
    )
    assert response.status_code == 200
    assert response.json() == {"path": "/echo", "query": "a=1&b=2", "bytes": 3}
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    headers = recorder.requests[0].headers
    assert ("x-slack-signature", "v0=1") in headers
    assert [v for k, v in headers if k == "x-dup"] == ["a", "b"]


def test_a_kept_alive_connection_serves_several_requests_and_pipelined_ones_in_order(server: HttpServer) -> None:
    with httpx.Client(base_url=server.url) as client:
        assert [client.get("/hello").text for _ in range(3)] == ["hello"] * 3
    one = b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"
    last = b"GET /echo?n=3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    answer = _raw(server, one + one + last)
    assert answer.count(b"HTTP/1.1 200 OK\r\n") == 3
    assert b"server:" not in answer.lower()  # nothing names the software
    assert answer.index(b"hello") < answer.rindex(b"hello") < answer.index(b'"query": "n=3"')


def test_unknown_paths_are_404_wrong_methods_405_with_allow_and_head_answers_a_get_route_without_body(
    server: HttpServer,
) -> None:
    assert httpx.get(f"{server.url}/nope").status_code == 404
    refused = httpx.delete(f"{server.url}/echo")
    assert refused.status_code == 405
    assert refused.headers["allow"] == "GET, HEAD, POST"
    head = httpx.head(f"{server.url}/hello")
    assert (head.status_code, head.content, head.headers["content-length"]) == (200, b"", "5")


def test_a_body_declared_too_large_is_refused_413_before_it_is_read_and_the_client_reads_the_answer(
    server: HttpServer, recorder: Recorder
) -> None:
    response = httpx.post(f"{server.url}/echo", content=b"a" * 200_000)
    assert response.status_code == 413
    assert response.json() == {"error": "request body too large"}
    assert recorder.requests == []


def test_a_chunked_body_is_refused_413_once_it_passes_the_limit(server: HttpServer, recorder: Recorder) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(10):
            yield b"b" * 200

    response = httpx.post(f"{server.url}/echo", content=chunks())
    assert response.status_code == 413
    assert recorder.requests == []
    ok = httpx.post(f"{server.url}/echo", content=iter([b"c" * 100, b"c" * 100]))
    assert ok.json()["bytes"] == 200


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"GARBAGE\r\n\r\n", b"400"),
        (b"GET /hello HTTP/1.1\r\n\r\n", b"400"),  # no Host
        (b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabc", b"400"),
        # Request smuggling: a front end that frames by Content-Length would see another request in the body.
        (
            b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"0\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\n\r\n",
            b"400",
        ),
        (b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", b"501"),
        (b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", b"400"),
        (b"GET /hello HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 5000 + b"\r\n\r\n", b"431"),
    ],
    ids=["garbage", "no-host", "two-lengths", "cl-and-te", "unknown-coding", "bad-chunk", "head-too-large"],
)
def test_a_request_the_protocol_forbids_is_answered_with_an_error_and_the_connection_closed(
    server: HttpServer, recorder: Recorder, raw: bytes, status: bytes
) -> None:
    answer = _raw(server, raw)
    assert answer.startswith(b"HTTP/1.1 " + status), answer[:80]
    assert b"connection: close" in answer.lower()
    assert answer.count(b"HTTP/1.1") == 1  # nothing after it was taken for another request
    assert recorder.requests == []


def test_an_idle_connection_and_a_slow_request_are_closed_at_their_deadlines(server: HttpServer) -> None:
    assert _raw(server, b"") == b""  # never sends: closed after idle_seconds
    assert _raw(server, b"GET /hello HTTP/1.1\r\nHost: x\r\n") == b""  # the head never ends
    assert _raw(server, b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc") == b""


def test_expect_100_continue_is_answered_before_the_body(server: HttpServer) -> None:
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n")
        assert sock.recv(65536).startswith(b"HTTP/1.1 100 ")
        sock.sendall(b"abc")
        assert b'"bytes": 3' in sock.recv(65536)


def test_an_http_10_client_gets_its_answer_and_the_connection_closes(server: HttpServer) -> None:
    answer = _raw(server, b"GET /hello HTTP/1.0\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b"hello")


def test_a_failing_handler_is_a_500_that_says_nothing_of_the_failure_which_is_logged(
    server: HttpServer, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="bot.runtime.http"):
        response = httpx.get(f"{server.url}/boom")
    assert response.status_code == 500
    assert response.json() == {"error": "internal error"}
    assert SECRET not in response.text
    assert any(r.exc_info and r.getMessage() == "request failed" for r in caplog.records)
    assert httpx.get(f"{server.url}/hello").status_code == 200  # the server goes on


def test_a_header_that_would_split_the_response_is_never_sent(
    server: HttpServer, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="bot.runtime.http"):
        response = httpx.get(f"{server.url}/split")
    assert response.status_code == 500
    assert "set-cookie" not in response.headers and "x-echo" not in response.headers
    assert any(r.getMessage() == "response refused" for r in caplog.records)


def test_stop_closes_idle_connections_and_lets_a_request_in_progress_finish(recorder: Recorder) -> None:
    server = HttpServer({"/slow": {"GET": recorder.slow}, "/hello": {"GET": recorder.hello}}, shutdown_seconds=5.0)
    server.start()
    host, port = server.url.removeprefix("http://").split(":")
    idle = socket.create_connection((host, int(port)), timeout=5)
    idle.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
    assert idle.recv(65536).endswith(b"hello")  # answered, kept alive: now between requests
    answers: list[int] = []
    caller = threading.Thread(target=lambda: answers.append(httpx.get(f"{server.url}/slow").status_code))
    caller.start()
    assert recorder.entered.wait(5)
    stopper = threading.Thread(target=server.stop)
    stopper.start()
    assert idle.recv(10) == b""  # closed at once, not after the shutdown's grace
    recorder.release.set()
    caller.join(5)
    stopper.join(5)
    idle.close()
    assert answers == [200]
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{server.url}/hello")
