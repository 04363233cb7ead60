"""What the SIEM webhook sends, in each of its formats, and how a SIEM's answer is read: pure, no I/O.

`ROK_BOT_AUDIT_WEBHOOK_FORMAT` picks the body one outbox claim becomes (one POST per claim, in claim order):

- `rok` (the default): `{"events": [record, ...]}`, signed (bot/adapters/webhook.py);
- `jsonl`: one record per line, each line ending in `\\n` (`application/x-ndjson`), signed alike;
- `splunk_hec`: Splunk's HTTP Event Collector JSON protocol, HEC objects one after the other (HEC takes a
  batch as concatenated objects), `Authorization: Splunk <token>` instead of a signature.

Every record is `AuditEvent.as_record()` with its `event_id`: the same in every format, on every retry and
in every sink's copy, so that a receiver can drop the duplicates an at-least-once delivery may bring.

A SIEM's answer is one of three things (`Answer`): delivered; refused for now (429, 408, 5xx, a connection
error: retried with the outbox's backoff); or refused in a way only an admin can fix (a bad token, a wrong
URL, a disabled token, a redirect): *parked*, that is retried every 5 minutes, never in a tight loop, and
shown as `parked` in /readyz and doctor until someone fixes it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final, Literal, get_args
from urllib.parse import urlsplit

import msgspec

from bot.domain.audit import AuditEvent

WebhookFormat = Literal["rok", "jsonl", "splunk_hec"]
WEBHOOK_FORMATS: Final[tuple[WebhookFormat, ...]] = get_args(WebhookFormat)
HEC_SOURCE: Final = "rok-token-bot"
HEC_SOURCETYPE: Final = "rok-token-bot:audit"
HEC_NO_DATA: Final = 5  # HEC's answer to an empty POST with a token it accepts

# Splunk HEC's status codes (the `code` of its JSON answer), as Splunk documents them. Our own words, so that
# nothing a collector says in its `text` reaches the store, /readyz or a log line.
HEC_CODES: Final[dict[int, str]] = {
    0: "success",
    1: "token disabled",
    2: "token is required",
    3: "invalid authorization",
    4: "invalid token",
    5: "no data",
    6: "invalid data format",
    7: "incorrect index",
    8: "internal server error",
    9: "server is busy",
    10: "data channel is missing (indexer acknowledgement is on for this token)",
    11: "invalid data channel",
    12: "event field is required",
    13: "event field cannot be blank",
    14: "ACK is disabled",
    15: "error in handling indexed fields",
    16: "query string authorization is not enabled",
    17: "HEC is healthy",
    18: "HEC is unhealthy, queues are full",
    19: "HEC is unhealthy, ack service unavailable",
    20: "HEC is unhealthy, queues are full, ack service unavailable",
}
# HTTP statuses worth retrying soon: the collector is busy, slow or down, and will come back by itself.
_TRANSIENT_STATUS: Final = frozenset({408, 425, 429})
_SEP: Final = (",", ":")


class Answer(msgspec.Struct, frozen=True):
    """A SIEM's answer to one POST: delivered, or why not and whether only an admin can fix it (`parked`)."""

    delivered: bool
    error: str | None = None
    parked: bool = False


def records(events: Sequence[AuditEvent]) -> list[dict[str, Any]]:
    return [event.as_record() for event in events]


def rok_body(events: Sequence[AuditEvent]) -> bytes:
    """Today's body, byte for byte: `{"events": [...]}`, compact."""
    return json.dumps({"events": records(events)}, separators=_SEP).encode()


def jsonl_body(events: Sequence[AuditEvent]) -> bytes:
    """One compact JSON record per line, every line ending in a newline (NDJSON)."""
    return b"".join(json.dumps(record, separators=_SEP).encode() + b"\n" for record in records(events))


def hec_event(event: AuditEvent, *, host: str) -> dict[str, Any]:
    """One HEC object: the event's own time (epoch seconds, to the millisecond), where it comes from, the
    record itself as `event`."""
    return {
        "time": epoch_seconds(event.occurred_at),
        "host": host,
        "source": HEC_SOURCE,
        "sourcetype": HEC_SOURCETYPE,
        "event": event.as_record(),
    }


def hec_body(events: Sequence[AuditEvent], *, host: str) -> bytes:
    """HEC objects one after another, one per line (HEC's batch: concatenated objects; the newlines are only
    whitespace between them, for a human reading a capture)."""
    return b"".join(json.dumps(hec_event(e, host=host), separators=_SEP).encode() + b"\n" for e in events)


def epoch_seconds(moment: datetime) -> float:
    return round(moment.timestamp(), 3)


def not_an_event_endpoint(url: str) -> bool:
    """Whether a HEC URL names one of HEC's other endpoints, which would not take these events as sent: `/raw`
    (it would index each body as one blob of text), `/health` or `/ack`. Any other path is let through: a
    proxy or a HEC-compatible collector (Cribl, Vector, Axiom) may publish the event endpoint elsewhere."""
    try:
        path = urlsplit(url).path.rstrip("/").lower() + "/"
    except ValueError:
        return True
    return any(f"/services/collector/{name}/" in path for name in ("raw", "health", "ack"))


def http_answer(status: int) -> Answer:
    """A `rok` or `jsonl` receiver's answer: any 2xx is a delivery; 408, 425, 429 and 5xx are retried soon;
    anything else (401, 403, 404, a redirect) is parked: the same request would get the same answer."""
    if 200 <= status < 300:
        return Answer(delivered=True)
    return Answer(delivered=False, error=f"HTTP {status}", parked=not _transient(status))


def hec_answer(status: int, body: bytes) -> Answer:
    """Splunk HEC's answer: a 2xx with `{"code": 0}` is a delivery; a transient status (503 server busy, 500,
    429) is retried soon; any other (403 invalid token, 401, 400 incorrect index, 404) is parked, and so is a
    2xx without HEC's success (a proxy's page: not the event endpoint). Only the status and the code are kept,
    never the collector's own text."""
    code = hec_code(body)
    if 200 <= status < 300 and code == 0:
        return Answer(delivered=True)
    error = f"HTTP {status}" + (f", HEC code {code} ({HEC_CODES.get(code, 'unknown')})" if code is not None else "")
    if 200 <= status < 300:  # a 2xx that is not HEC's success: not HEC, or not the event endpoint
        return Answer(delivered=False, error=error, parked=True)
    return Answer(delivered=False, error=error, parked=not _transient(status))


def hec_code(body: bytes) -> int | None:
    """The `code` of a HEC answer, or None when the body is not one."""
    try:
        answer = json.loads(body[:4096])
    except (ValueError, UnicodeDecodeError):
        return None
    code = answer.get("code") if isinstance(answer, dict) else None
    return code if isinstance(code, int) and not isinstance(code, bool) else None


def _transient(status: int) -> bool:
    return status in _TRANSIENT_STATUS or 500 <= status < 600
