"""Logging: JSON lines (or text) on stderr, a request ID on every line, and secrets masked everywhere.

The redaction filter sits on the handler, so it sees every record from every library (slack_sdk,
slack_bolt, kubernetes, urllib3, httpx, websocket) after propagation, whatever level they log at. It masks
configured secrets, every minted token by its exact value for the token's lifetime (`protect`), and, as a
safety net, anything token-shaped and the userinfo of any URL (`bot.domain.urls.safe_url` hides it, and the
query's secret-named values, where the bot itself prints or logs a URL). The token parser accepts any 16 to 4096
printable characters, so the exact values are what keeps a token of an unexpected shape out of the logs. The
credentials written in the SIEM webhook and database URLs are exact values too (`Settings.secrets()`): a
collector's GUID-shaped key would otherwise pass as one of the UUIDs the safety net keeps visible.

Exact values are found through an index of their 8-character pieces: the line is cut into 8-character
chunks that are looked up in a dict, so the per-line cost does not grow with the number of live tokens.
Measured on a 2-core machine with 500 live tokens: about 4 µs for a 60-character line and 42 µs for a
1.7 kB slack_sdk line (the same with none), against 170 µs and 3.7 ms for one regex alternation of the 500
values; adding or forgetting a value touches 8 dict entries.

Loggers that write whole request or response bodies at DEBUG stay at INFO or above whatever the level
(`BODY_LOGGERS`); the redactor would mask the token in them, but bodies are not worth the risk. httpx and
httpcore stay at WARNING (`URL_LOGGERS`): httpx logs every request's full URL at INFO, the webhook's key with it.
"""

from __future__ import annotations

import contextvars
import heapq
import json
import logging
import math
import re
import sys
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import quote

from bot.domain.text import mask_token_shaped

REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
MASK: Final = "[REDACTED]"

# Besides token-shaped runs (`bot.domain.patterns.TOKEN_SHAPED`, UUIDs kept): Bearer values and Slack tokens
# by prefix.
_SLACK_TOKEN = re.compile(r"\bx(?:ox[abposre]|app)-[A-Za-z0-9-]+")
_BEARER = re.compile(r"(?i)(bearer\s+)[^\s'\",]+")
# `scheme://user:password@`: the userinfo of a URL (a registry URL with Basic credentials, say); it ends at the
# last '@' before the host's end, so an unencoded '@' in a password is covered too.
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)[^\s/?#'\"<>]+@")
_STANDARD_ATTRS: Final = frozenset(
    vars(logging.LogRecord("x", logging.INFO, "x", 0, "x", None, None)).keys() | {"message", "asctime"}
)

# Loggers that log whole request or response bodies at DEBUG, read in their source (slack_sdk 3.48,
# kubernetes 37, websocket-client 1.9):
# - slack_sdk: the Web API client logs each request's json_body and each response body ("Sending a request -
#   ... json_body", "Received the following response - ... body"), the webhook client (response_url) each
#   body, the Socket Mode client each frame. chat.postEphemeral's body carries the token.
# - kubernetes.client.rest: "response body: ..." of REST calls (pod specs with their env values).
# - websocket: every frame sent and received when tracing is on (the exec's stdout carries the token).
# slack_bolt logs incoming payloads and ack bodies (no token: the token only leaves through slack_sdk's
# clients); urllib3, httpx and httpcore log URLs, statuses and response headers, never bodies.
BODY_LOGGERS: Final = ("slack_sdk", "kubernetes.client.rest", "websocket")
# httpx logs "HTTP Request: POST <full URL>" at INFO for every request, and httpcore each connection step at
# DEBUG: the SIEM webhook's URL may carry its key (`?token=`), so both keep to warnings whatever the level.
URL_LOGGERS: Final = ("httpx", "httpcore")

_MIN_SECRET = 6  # shorter configured values would mask ordinary words
_PIECE = 8  # values of 2 * _PIECE - 1 characters or more are found through the piece index


def without_userinfo(text: str) -> str:
    """Any text with the userinfo of every URL in it masked."""
    return _USERINFO.sub(lambda m: m.group(1) + MASK + "@", text)


def spellings(value: str) -> set[str]:
    """The value as it can appear in a line: as is, escaped in a repr or JSON string, percent-encoded."""
    escaped = value.replace("\\", "\\\\")
    return {
        value,
        escaped,
        escaped.replace("'", "\\'"),
        escaped.replace('"', '\\"'),
        json.dumps(value)[1:-1],
        quote(value, safe=""),
    }


class Redactor:
    """Masks configured secrets, protected tokens, and anything token-shaped in a string."""

    # The machine's clock (wall clock: the redactor is installed before bootstrap makes the one clock): a manual
    # clock never starts behind it, so a token stays masked at least until it expires, never less.
    def __init__(self, secrets: Iterable[str] = (), *, clock: Callable[[], float] = time.time) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._expiry: dict[str, float] = {}  # exact value -> when to forget it (epoch seconds; inf: never)
        self._expiries: list[tuple[float, str]] = []  # a heap; entries superseded by a later expiry are skipped
        self._next_expiry = math.inf
        # Read by every log line without the lock; changed under it one entry at a time, never iterated.
        self._pieces: dict[str, frozenset[str]] = {}  # 8-character piece -> the values holding it
        self._short: tuple[str, ...] = ()  # values too short for the piece index, checked one by one
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        """Mask these exact values too, for the process's life (configured Slack tokens, the seal key, ...)."""
        self._register(secrets, math.inf)

    def protect(self, value: str, *, until: float) -> None:
        """Mask this exact value, in every spelling, until `until` (epoch seconds); then forget it."""
        self._register(spellings(value), until)

    def adopt(self, other: Redactor) -> None:
        """Take over another redactor's values (a logging set-up replaced after tokens were protected)."""
        with other._lock:
            values = dict(other._expiry)
        for value, until in values.items():
            self._register((value,), until)

    def __len__(self) -> int:
        return len(self._expiry)

    def _register(self, values: Iterable[str], until: float) -> None:
        with self._lock:
            for value in values:
                if not value or len(value) < _MIN_SECRET or self._expiry.get(value, -math.inf) >= until:
                    continue
                if value not in self._expiry:
                    self._index(value, add=True)
                self._expiry[value] = until
                if until < math.inf:
                    heapq.heappush(self._expiries, (until, value))
            self._forget_expired(self._clock())

    def _forget_expired(self, now: float) -> None:
        """Drop the values whose time has come; call with the lock held."""
        heap = self._expiries
        while heap and heap[0][0] <= now:
            until, value = heapq.heappop(heap)
            if self._expiry.get(value) == until:
                del self._expiry[value]
                self._index(value, add=False)
        self._next_expiry = heap[0][0] if heap else math.inf

    def _index(self, value: str, *, add: bool) -> None:
        if len(value) < 2 * _PIECE - 1:
            self._short = (*self._short, value) if add else tuple(v for v in self._short if v != value)
            return
        # Any occurrence of the value covers a chunk of the line that starts at a multiple of _PIECE, and
        # that chunk is the value's piece at one of these offsets.
        for offset in range(_PIECE):
            piece = value[offset : offset + _PIECE]
            holders = self._pieces.get(piece, frozenset())
            holders = holders | {value} if add else holders - {value}
            if holders:
                self._pieces[piece] = holders
            else:
                del self._pieces[piece]

    def _mask_exact(self, text: str) -> str:
        pieces = self._pieces
        found: set[str] = set()
        if pieces:
            chunks = [text[p : p + _PIECE] for p in range(0, len(text) - _PIECE + 1, _PIECE)]
            if not pieces.keys().isdisjoint(chunks):
                for chunk in chunks:
                    found.update(pieces.get(chunk, ()))
        found.update(value for value in self._short if value in text)
        for value in sorted(found, key=len, reverse=True):
            text = text.replace(value, MASK)
        return text

    def __call__(self, text: str) -> str:
        if self._next_expiry <= self._clock():
            with self._lock:
                self._forget_expired(self._clock())
        text = self._mask_exact(text)
        text = _SLACK_TOKEN.sub(MASK, text)
        text = _BEARER.sub(lambda m: m.group(1) + MASK, text)
        text = without_userinfo(text)
        return mask_token_shaped(text, MASK)


class RedactingFilter(logging.Filter):
    """Rewrites each record so that its message, arguments, extras and traceback carry no secret."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        redact = self.redactor
        try:
            message = record.getMessage()
        except Exception:  # a library's bad format string must not lose the line
            message = str(record.msg)
        record.msg = redact(message)
        record.args = None
        if record.exc_info and record.exc_info[0] is not None:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        for key, value in list(vars(record).items()):
            if key not in _STANDARD_ATTRS and isinstance(value, str):
                setattr(record, key, redact(value))
        if not hasattr(record, "request_id"):
            record.request_id = REQUEST_ID.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id, and any extras."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", REQUEST_ID.get()),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and key not in data:
                data[key] = value if isinstance(value, str | int | float | bool | type(None)) else str(value)
        if record.exc_text:
            data["exception"] = record.exc_text
        return json.dumps(data, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """Human-readable lines for terminals."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s [%(request_id)s] %(message)s")


class _Installed:
    """The redactor of the process's logging set-up, for `protect`."""

    redactor: Redactor | None = None


def protect(value: str, *, until: float) -> None:
    """Mask `value` in every log line until `until` (epoch seconds); a no-op before `setup_logging`."""
    redactor = _Installed.redactor
    if redactor is not None:
        redactor.protect(value, until=until)


def setup_logging(
    *, level: str = "INFO", fmt: str = "json", secrets: Iterable[str] = (), stream: str = "stderr"
) -> Redactor:
    """Install the redacting handler on the root logger before anything else logs; returns the redactor.

    `stream` is "stderr" (the default) or "stdout" (ROK_BOT_LOG_STREAM, for platforms that read only stdout); the
    redaction is the same on either."""
    redactor = Redactor(secrets)
    if _Installed.redactor is not None:
        redactor.adopt(_Installed.redactor)  # tokens protected under the previous set-up are still live
    handler = logging.StreamHandler(sys.stdout if stream == "stdout" else sys.stderr)
    handler.addFilter(RedactingFilter(redactor))
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # Never below INFO, and never more verbose than the root: a level of their own would override it.
    cap = max(root.level, logging.INFO)
    for name in BODY_LOGGERS:
        logging.getLogger(name).setLevel(cap)
    for name in URL_LOGGERS:
        logging.getLogger(name).setLevel(max(root.level, logging.WARNING))
    _Installed.redactor = redactor
    return redactor
