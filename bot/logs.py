"""Logging: JSON lines (or text) on stderr, a request ID on every line, and secrets masked everywhere.

The redaction filter sits on the handler, so it sees every record from every library (slack_sdk,
slack_bolt, kubernetes, urllib3, httpx, websocket) after propagation, whatever level they log at.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
import threading
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, Final

REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
MASK: Final = "[REDACTED]"

# Token-shaped: long runs of URL-safe characters (Rok tokens, Slack tokens, JWT parts), Bearer values,
# and Slack tokens by prefix. UUIDs (token and account IDs, which admins need) are kept.
_TOKEN_SHAPED = re.compile(r"(?<![A-Za-z0-9_\-])[A-Za-z0-9_\-]{24,}(?![A-Za-z0-9_\-])")
_SLACK_TOKEN = re.compile(r"\bx(?:ox[abposre]|app)-[A-Za-z0-9-]+")
_BEARER = re.compile(r"(?i)(bearer\s+)[^\s'\",]+")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_STANDARD_ATTRS: Final = frozenset(
    vars(logging.LogRecord("x", logging.INFO, "x", 0, "x", None, None)).keys() | {"message", "asctime"}
)


class Redactor:
    """Masks configured secrets and anything token-shaped in a string."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._secrets: tuple[str, ...] = ()
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        """Mask these exact values too (configured Slack tokens, the seal key, ...)."""
        with self._lock:
            merged = set(self._secrets) | {s for s in secrets if s and len(s) >= 6}
            self._secrets = tuple(sorted(merged, key=len, reverse=True))

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        text = _SLACK_TOKEN.sub(MASK, text)
        text = _BEARER.sub(lambda m: m.group(1) + MASK, text)
        return _TOKEN_SHAPED.sub(lambda m: m.group(0) if _UUID.fullmatch(m.group(0)) else MASK, text)


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


def setup_logging(*, level: str = "INFO", fmt: str = "json", secrets: Iterable[str] = ()) -> Redactor:
    """Install the redacting handler on the root logger before anything else logs; returns the redactor."""
    redactor = Redactor(secrets)
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactingFilter(redactor))
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    return redactor
