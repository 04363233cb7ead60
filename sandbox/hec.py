"""A fake Splunk HTTP Event Collector on loopback: the HEC protocol as Splunk documents it, for the `splunk_hec`
format of the audit webhook (bot/domain/siem.py).

    POST /services/collector/event   Authorization: Splunk <token>   {"time": ..., "event": {...}}{"time": ...}
    GET  /services/collector/health

Its answers are Splunk's: 200 `{"text":"Success","code":0}`; 401 code 2 without an Authorization header, 401
code 3 with one that is not `Splunk <token>`, 403 code 4 with a token it does not know; 400 code 5 for an empty
body, 400 code 6 (with `invalid-event-number`) for a body that is not concatenated HEC objects each with an
`event`; 200 code 17 on /health. A test may plan answers (`plan.append((503, 9))`: status and HEC code) or
change the token it accepts (`token = ...`: an admin rotating it). `accepted` holds the HEC objects of the
POSTs it answered with success, in order; `posts` every POST (headers and raw body).

    with FakeHec(token) as hec:
        ... ROK_BOT_AUDIT_WEBHOOK_FORMAT=splunk_hec, ROK_BOT_AUDIT_WEBHOOK_URL=hec.url, ..._SECRET=token ...
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler
from typing import Any

from sandbox.server import StdlibFake

TEXTS = {
    0: "Success",
    2: "Token is required",
    3: "Invalid authorization",
    4: "Invalid token",
    5: "No data",
    6: "Invalid data format",
    8: "Internal server error",
    9: "Server is busy",
    17: "HEC is healthy",
}
_STATUS = {0: 200, 2: 401, 3: 401, 4: 403, 5: 400, 6: 400, 8: 500, 9: 503, 17: 200}


def split_objects(body: str) -> list[Any]:
    """A HEC batch: JSON values one after another, with or without whitespace between them."""
    decoder = json.JSONDecoder()
    found: list[Any] = []
    at = 0
    while True:
        while at < len(body) and body[at].isspace():
            at += 1
        if at == len(body):
            return found
        value, at = decoder.raw_decode(body, at)
        found.append(value)


class FakeHec(StdlibFake):
    """The collector; `token` is the one it accepts."""

    thread_name = "fake-hec"

    def __init__(self, token: str) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.token = token
        self.plan: list[tuple[int, int]] = []
        self.posts: list[tuple[dict[str, str], bytes]] = []
        self.answers: list[int] = []  # the HEC code of every POST's answer
        self.accepted: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    @property
    def url(self) -> str:
        return self.base + "/services/collector/event"

    @property
    def events(self) -> list[dict[str, Any]]:
        """The `event` of every accepted HEC object: the bot's audit records."""
        return [hec["event"] for hec in self.accepted]

    def judge(self, authorization: str | None, body: bytes) -> tuple[int, list[Any], int | None]:
        """HEC's code for a POST, the objects it would index, and the invalid event's number (code 6)."""
        if authorization is None:
            return 2, [], None
        scheme, _, token = authorization.partition(" ")
        if scheme != "Splunk" or not token:
            return 3, [], None
        if token != self.token:
            return 4, [], None
        if not body.strip():
            return 5, [], None
        try:
            objects = split_objects(body.decode())
        except ValueError:
            return 6, [], 0
        for number, hec in enumerate(objects):
            if not isinstance(hec, dict) or not hec.get("event"):
                return 6, [], number
        return 0, objects, None


class _Handler(BaseHTTPRequestHandler):
    server: FakeHec

    def do_GET(self) -> None:
        if self.path.split("?")[0].rstrip("/") != "/services/collector/health":
            self._answer(404, None)
            return
        self._answer(200, 17)

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with self.server.lock:
            self.server.posts.append((dict(self.headers), body))
            if self.path.split("?")[0].rstrip("/") not in ("/services/collector/event", "/services/collector"):
                self._answer(404, None)
                return
            code, objects, invalid = self.server.judge(self.headers.get("Authorization"), body)
            if code == 0 and self.server.plan:
                status, code = self.server.plan.pop(0)
                objects = objects if code == 0 else []
            else:
                status = _STATUS[code]
            self.server.answers.append(code)
            self.server.accepted.extend(objects)
        self._answer(status, code, invalid)

    def _answer(self, status: int, code: int | None, invalid: int | None = None) -> None:
        payload: dict[str, Any] = {} if code is None else {"text": TEXTS.get(code, "Error"), "code": code}
        if invalid is not None:
            payload["invalid-event-number"] = invalid
        raw = json.dumps(payload).encode() if payload else b"Not Found"
        self.send_response(status)
        self.send_header("Content-Type", "application/json" if payload else "text/plain")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the test reads `posts`."""
