"""Playing Slack under load: signed slash commands over HTTP, or envelopes over the Socket Mode WebSocket.

HTTP mode uses a minimal HTTP/1.1 client on raw asyncio streams with the connections opened before the
clock starts, so the client itself adds microseconds, not the milliseconds a full client library would
spend per request on a 2-core machine that also runs the bot. Socket Mode uses the fake's own
`send_envelope`, whose ack latency the fake measures on its loop (`SocketAck.latency_seconds`).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import urlsplit

from sandbox import slack_requests as sr
from sandbox.slack import FakeSlack
from sandbox.world import SIGNING_SECRET


def _nothing() -> None:
    pass


@dataclass
class Sent:
    """One slash command as Slack sent it, and its ack."""

    user_id: str
    sent_at: float  # time.time(), the clock the fakes record with
    ack_seconds: float
    status: int
    body: str

    @property
    def acked(self) -> bool:
        return self.status == 200 and "Checking" in self.body


def command_fields(slack: FakeSlack, user_id: str, text: str = "") -> dict[str, str]:
    return sr.slash_command(user_id=user_id, text=text, team_id=slack.team_id, response_url=slack.new_response_url())


def _http_request(host: str, port: int, fields: dict[str, str]) -> bytes:
    body = sr.form_body(fields).encode()
    headers = sr.sign(SIGNING_SECRET, body)
    head = [
        "POST /slack/events HTTP/1.1",
        f"Host: {host}:{port}",
        f"Content-Length: {len(body)}",
        "User-Agent: Slackbot 1.0 (+https://api.slack.com/robots)",
        "Connection: close",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


async def _roundtrip(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, data: bytes) -> tuple[int, str]:
    writer.write(data)
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    body = await reader.readexactly(length) if length else b""
    return status, body.decode("utf-8", "replace")


async def _http_burst(url: str, items: list[tuple[str, dict[str, str]]], on_go: Callable[[], None]) -> list[Sent]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    conns = await asyncio.gather(*(asyncio.open_connection(host, port) for _ in items))
    payloads = [_http_request(host, port, fields) for _, fields in items]
    go = asyncio.Event()

    async def one(index: int) -> Sent:
        reader, writer = conns[index]
        await go.wait()
        wall, started = time.time(), time.perf_counter()
        try:
            status, body = await _roundtrip(reader, writer, payloads[index])
        except (OSError, asyncio.IncompleteReadError) as exc:
            status, body = 0, f"{type(exc).__name__}: {exc}"
        elapsed = time.perf_counter() - started
        writer.close()
        return Sent(items[index][0], wall, elapsed, status, body)

    tasks = [asyncio.create_task(one(i)) for i in range(len(items))]
    await asyncio.sleep(0.05)  # every task is parked on `go`: release them in one loop iteration
    on_go()
    go.set()
    return list(await asyncio.gather(*tasks))


def http_burst(
    url: str, items: list[tuple[str, dict[str, str]]], *, on_go: Callable[[], None] = _nothing
) -> list[Sent]:
    """POST every signed command at once (one pre-opened connection each); the client-side ack times.

    `on_go` runs once every connection is open, just before the requests are written.
    """
    return asyncio.run(_http_burst(url, items, on_go))


def socket_burst(
    slack: FakeSlack,
    items: list[tuple[str, dict[str, str]]],
    *,
    timeout: float = 30,
    on_go: Callable[[], None] = _nothing,
) -> list[Sent]:
    """Deliver every envelope at once from threads released by a barrier; ack times as the fake measured them.

    `on_go` runs once every thread is at the barrier, just before it releases them.
    """
    barrier = threading.Barrier(len(items), action=on_go)

    def one(user_id: str, fields: dict[str, str]) -> Sent:
        barrier.wait()
        wall = time.time()
        try:
            ack = slack.send_envelope("slash_commands", fields, timeout=timeout)
        except (TimeoutError, ConnectionError) as exc:
            return Sent(user_id, wall, float("nan"), 0, f"{type(exc).__name__}: {exc}")
        return Sent(user_id, wall, ack.latency_seconds, 200, json.dumps(ack.payload or {}))

    with ThreadPoolExecutor(max_workers=len(items), thread_name_prefix="slack") as pool:
        futures = [pool.submit(one, user_id, fields) for user_id, fields in items]
        return [f.result() for f in futures]


def send(
    mode: str,
    url: str,
    slack: FakeSlack,
    items: list[tuple[str, dict[str, str]]],
    *,
    on_go: Callable[[], None] = _nothing,
) -> list[Sent]:
    """A burst of len(items) concurrent commands in HTTP mode or Socket Mode; `on_go` runs as it starts."""
    if mode == "http":
        return http_burst(url, items, on_go=on_go)
    return socket_burst(slack, items, on_go=on_go)


def ephemerals(slack: FakeSlack) -> dict[str, float]:
    """When each user first received a successful chat.postEphemeral."""
    first: dict[str, float] = {}
    for call in slack.calls_to("chat.postEphemeral"):
        user = call.params.get("user")
        if isinstance(user, str) and call.ok and user not in first:
            first[user] = call.at
    return first


def wait_delivered(slack: FakeSlack, users: set[str], *, timeout: float) -> dict[str, float]:
    """Wait (bounded) until every user got a private message; the delivery times seen so far."""
    deadline = time.monotonic() + timeout
    while True:
        got = {u: t for u, t in ephemerals(slack).items() if u in users}
        if len(got) == len(users) or time.monotonic() >= deadline:
            return got
        time.sleep(0.02)
