"""A fake SIEM: an HTTP endpoint on loopback that receives the bot's signed audit webhook, as a SIEM would.

It checks each POST's signature (`X-Rok-Bot-Signature`, see bot/adapters/webhook.py), answers what a test
planned (`plan.append((429, "86400"))`: status and Retry-After), then 200, and keeps the events it accepted.
It reads both signed formats: `rok` (`{"events": [...]}`) and `jsonl` (`application/x-ndjson`, one event per
line; `raw` keeps every body as sent, for a test to parse line by line).

    with FakeSiem(secret) as siem:
        ... ROK_BOT_AUDIT_WEBHOOK_URL=siem.url, ROK_BOT_AUDIT_WEBHOOK_SECRET=secret ...
        siem.accepted  # the events, as the webhook's JSON records
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler
from typing import Any

from sandbox.server import StdlibFake


class FakeSiem(StdlibFake):
    """The receiver; `posts` holds every POST (headers, body), `accepted` the events of those answered 200."""

    thread_name = "fake-siem"

    def __init__(self, secret: str) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.secret = secret
        self.plan: list[tuple[int, str | None]] = []
        self.posts: list[tuple[dict[str, str], dict[str, Any]]] = []
        self.raw: list[bytes] = []
        self.accepted: list[dict[str, Any]] = []
        self.bad_signatures = 0
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/events"

    def signed(self, timestamp: str, body: bytes, signature: str) -> bool:
        base = f"v1:{timestamp}:".encode() + body
        expected = "v1=" + hmac.new(self.secret.encode(), base, hashlib.sha256).hexdigest()
        return hmac.compare_digest(signature, expected)


def _payload(content_type: str, body: bytes) -> dict[str, Any]:
    """A body as `{"events": [...]}` whatever its format (JSONL: every line one event, the last one ended too)."""
    if content_type.startswith("application/x-ndjson"):
        text = body.decode()
        if not text.endswith("\n"):
            raise ValueError("a JSONL body ends with a newline")
        return {"events": [json.loads(line) for line in text.splitlines()]}
    parsed: dict[str, Any] = json.loads(body)
    return parsed


class _Handler(BaseHTTPRequestHandler):
    server: FakeSiem

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        good = self.server.signed(
            self.headers.get("X-Rok-Bot-Timestamp", ""), body, self.headers.get("X-Rok-Bot-Signature", "")
        )
        with self.server.lock:
            status, retry_after = self.server.plan.pop(0) if self.server.plan else (200, None)
            if not good:
                self.server.bad_signatures += 1
                status, retry_after = 401, None
            self.server.raw.append(body)
            payload = _payload(self.headers.get("Content-Type", ""), body) if good else {}
            self.server.posts.append((dict(self.headers), payload))
            if status == 200:
                self.server.accepted.extend(payload["events"])
        self.send_response(status)
        if retry_after is not None:
            self.send_header("Retry-After", retry_after)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the test reads `posts`."""
