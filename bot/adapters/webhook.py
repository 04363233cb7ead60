"""A SIEM webhook as a sink of the audit outbox, in one of three formats (bot/domain/siem.py).

`rok` (the default) and `jsonl` are signed with HMAC-SHA256:

    POST ROK_BOT_AUDIT_WEBHOOK_URL
    X-Rok-Bot-Timestamp: 1764412800
    X-Rok-Bot-Signature: v1=<hex HMAC-SHA256 of "v1:{timestamp}:{body}" with ROK_BOT_AUDIT_WEBHOOK_SECRET>
    {"events": [{"event_id": "5c0f...", "outcome": "issued", "request_id": ..., "token_uuid": ..., ...}, ...]}

(`jsonl`: `Content-Type: application/x-ndjson`, one record per line, the same headers.) The receiver
recomputes the signature over the raw body and refuses old timestamps, as Slack's own request signing works.

`splunk_hec` posts to a Splunk HTTP Event Collector (`https://splunk:8088/services/collector/event`) with
`Authorization: Splunk <ROK_BOT_AUDIT_WEBHOOK_SECRET>` (the HEC token) and HEC objects one after another.

One POST per outbox claim. Any 2xx is a delivery (HEC: with its `{"code": 0}`); 408, 429 and 5xx (and
connection errors) are retried by the outbox with a backoff (Retry-After when given, clamped to 1..300 s:
`bot.domain.retry_after`); anything else is parked (retried every 5 minutes), since only an admin can fix it.
Delivery is at least once (a batch whose answer was lost comes again): each event's `event_id` (a UUID, the
same on every retry and in every sink's copy) lets the receiver drop the duplicates.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

import httpx

from bot.adapters.audit import Delivery
from bot.domain.audit import AuditEvent
from bot.domain.ports import ClaimedEvent
from bot.domain.retry_after import retry_after_wait
from bot.domain.siem import (
    HEC_NO_DATA,
    Answer,
    WebhookFormat,
    hec_answer,
    hec_body,
    hec_code,
    http_answer,
    jsonl_body,
    rok_body,
)
from bot.runtime.clock import Clock

SIGNATURE_VERSION = "v1"
_CONTENT_TYPES: dict[WebhookFormat, str] = {
    "rok": "application/json",
    "jsonl": "application/x-ndjson",
    "splunk_hec": "application/json",
}


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header's value for a body sent at `timestamp`."""
    base = f"{SIGNATURE_VERSION}:{timestamp}:".encode() + body
    return f"{SIGNATURE_VERSION}=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


class AuditWebhook:
    """Delivers claimed audit events to one URL in one format: signed (`rok`, `jsonl`) or as HEC (`splunk_hec`).

    `host`: the HEC objects' `host` field (the serving bot passes its host name, a pod's name)."""

    def __init__(
        self, url: str, secret: str, *, clock: Clock, fmt: WebhookFormat = "rok", host: str = "", timeout: float = 10.0
    ) -> None:
        if fmt not in _CONTENT_TYPES:
            raise ValueError(f"unknown webhook format: {fmt}")
        self._url = url
        self._clock = clock
        self._secret = secret
        self._format = fmt
        self._host = host
        self._client = httpx.Client(timeout=timeout, follow_redirects=False, headers={"User-Agent": "rok-token-bot"})

    def close(self) -> None:
        self._client.close()

    def deliver(self, claimed: Sequence[ClaimedEvent]) -> Delivery:
        ids = [c.id for c in claimed]
        body, headers = self._request([c.event for c in claimed])
        try:
            response = self._client.post(self._url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return Delivery(retry=ids, error=type(exc).__name__)
        answer = self._answer(response)
        if answer.delivered:
            return Delivery(delivered=ids)
        retry_after = retry_after_wait(response.headers.get("Retry-After"))  # bounded: a gateway may say a day
        return Delivery(retry=ids, error=answer.error, retry_after=retry_after, parked=answer.parked)

    def probe(self) -> Answer | None:
        """Splunk HEC only: whether the collector takes this URL and token, without indexing anything.

        An empty POST to the event endpoint: HEC checks the token first (401 or 403 when it is missing, wrong
        or disabled), then finds no data (400, code 5). /services/collector/health would not do: it answers
        "healthy" to anyone, so a revoked token would pass. The signed formats have no such request (an empty
        signed body is an event to a receiver we do not know): None."""
        if self._format != "splunk_hec":
            return None
        headers = {"Content-Type": "application/json", "Authorization": f"Splunk {self._secret}"}
        try:
            response = self._client.post(self._url, content=b"", headers=headers)
        except httpx.HTTPError as exc:
            return Answer(delivered=False, error=type(exc).__name__)
        if hec_code(response.content) == HEC_NO_DATA:
            return Answer(delivered=True)
        return hec_answer(response.status_code, response.content)

    def _request(self, events: Sequence[AuditEvent]) -> tuple[bytes, dict[str, str]]:
        """The body and headers of one POST in this webhook's format."""
        content_type = {"Content-Type": _CONTENT_TYPES[self._format]}
        if self._format == "splunk_hec":
            return hec_body(events, host=self._host), content_type | {"Authorization": f"Splunk {self._secret}"}
        body = jsonl_body(events) if self._format == "jsonl" else rok_body(events)
        timestamp = int(self._clock.now().timestamp())
        signed = {"X-Rok-Bot-Timestamp": str(timestamp), "X-Rok-Bot-Signature": sign(self._secret, timestamp, body)}
        return body, content_type | signed

    def _answer(self, response: httpx.Response) -> Answer:
        if self._format == "splunk_hec":
            return hec_answer(response.status_code, response.content)
        return http_answer(response.status_code)
