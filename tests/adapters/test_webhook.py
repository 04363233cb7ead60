"""The SIEM webhook sink against a real HTTP receiver on loopback, with the real outbox (SQLite) and sender.

A receiver answers what each test plans (429 with a Retry-After, 200); the sender waits on a ManualClock, so
"delivered within five minutes" is checked by advancing the clock, never by waiting for it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from bot.adapters.audit import OutboxSender
from bot.adapters.webhook import AuditWebhook
from bot.domain.audit import AuditEvent, Outcome
from bot.runtime.clock import ManualClock
from bot.store import Store, open_url

SECRET = "siem-webhook-secret-0123456789"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class Receiver(ThreadingHTTPServer):
    """A SIEM endpoint: answers the planned (status, Retry-After) per POST, then 200; keeps what it accepted."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.plan: list[tuple[int, str | None]] = []
        self.posts: list[tuple[dict[str, str], dict[str, Any]]] = []
        self.accepted: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/events"


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        stamp = self.headers["X-Rok-Bot-Timestamp"]
        expected = "v1=" + hmac.new(SECRET.encode(), f"v1:{stamp}:".encode() + body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(self.headers["X-Rok-Bot-Signature"], expected)
        with self.server.lock:
            status, retry_after = self.server.plan.pop(0) if self.server.plan else (200, None)
            payload = json.loads(body)
            self.server.posts.append((dict(self.headers), payload))
            if status == 200:
                self.server.accepted.extend(payload["events"])
        self.send_response(status)
        if retry_after is not None:
            self.send_header("Retry-After", retry_after)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = open_url(f"sqlite:///{tmp_path / 'rok-token-bot.sqlite3'}", sinks=("webhook",))
    opened.upgrade()
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def sender(store: Store, receiver: Receiver, clock: ManualClock) -> Iterator[OutboxSender]:
    hook = AuditWebhook(receiver.url, SECRET, clock=clock)
    running = OutboxSender(outbox=store.outbox, sink="webhook", deliver=hook.deliver, worker="w", clock=clock)
    running.start()
    try:
        yield running
    finally:
        running.stop(timeout=2)
        hook.close()


def issued(clock: ManualClock, request_id: str = "req-1") -> AuditEvent:
    return AuditEvent(
        outcome=Outcome.ISSUED, request_id=request_id, username="jdoe", token_uuid="0b1c", occurred_at=clock.now()
    )


@pytest.mark.parametrize("retry_after", ["86400", "inf", "nan", "-5", "1e12", "1" + "0" * 30, "tomorrow"])
def test_a_429_parks_an_issued_event_five_minutes_at_most_whatever_its_retry_after(
    store: Store, receiver: Receiver, sender: OutboxSender, clock: ManualClock, retry_after: str
) -> None:
    receiver.plan.append((429, retry_after))
    store.outbox.append(issued(clock))
    sender.wake()
    assert sender.flush(5)
    # The round gave the event back with the sink's answer; it did not crash (`inf` overflowed a timedelta).
    assert (len(receiver.posts), receiver.accepted, sender.last_error) == (1, [], "HTTP 429")
    clock.advance(300)
    sender.wake()
    assert sender.flush(5)
    assert [e["request_id"] for e in receiver.accepted] == ["req-1"]
    assert store.outbox.backlog(sink="webhook", now=clock.now()) == (0, 0.0)
