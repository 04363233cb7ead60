"""A SIEM webhook as a sink of the audit outbox: the events as JSON, signed with HMAC-SHA256.

    POST ROK_BOT_AUDIT_WEBHOOK_URL
    X-Rok-Bot-Timestamp: 1764412800
    X-Rok-Bot-Signature: v1=<hex HMAC-SHA256 of "v1:{timestamp}:{body}" with ROK_BOT_AUDIT_WEBHOOK_SECRET>
    {"events": [{"event_id": "5c0f...", "outcome": "issued", "request_id": ..., "token_uuid": ..., ...}, ...]}

The receiver recomputes the signature over the raw body and refuses old timestamps, as Slack's own request
signing works. Any 2xx is a delivery; 429 and 5xx (and connection errors) are retried by the outbox with a
backoff (Retry-After when given, clamped to 1..300 s: `bot.domain.retry_after`); other answers are retried
slowly, since only an admin can fix them. Delivery is at least once (a batch whose answer was lost comes
again): each event's `event_id` (a UUID, the same on every retry and in every sink's copy) lets the receiver
drop the duplicates.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Sequence

import httpx

from bot.adapters.audit import Delivery
from bot.domain.ports import ClaimedEvent
from bot.domain.retry_after import retry_after_wait
from bot.runtime.clock import Clock

SIGNATURE_VERSION = "v1"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header's value for a body sent at `timestamp`."""
    base = f"{SIGNATURE_VERSION}:{timestamp}:".encode() + body
    return f"{SIGNATURE_VERSION}=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


class AuditWebhook:
    """Delivers claimed audit events to one URL, signed."""

    def __init__(self, url: str, secret: str, *, clock: Clock, timeout: float = 10.0) -> None:
        self._url = url
        self._clock = clock
        self._secret = secret
        self._client = httpx.Client(timeout=timeout, follow_redirects=False, headers={"User-Agent": "rok-token-bot"})

    def close(self) -> None:
        self._client.close()

    def deliver(self, claimed: Sequence[ClaimedEvent]) -> Delivery:
        ids = [c.id for c in claimed]
        body = json.dumps({"events": [c.event.as_record() for c in claimed]}, separators=(",", ":")).encode()
        timestamp = int(self._clock.now().timestamp())
        headers = {
            "Content-Type": "application/json",
            "X-Rok-Bot-Timestamp": str(timestamp),
            "X-Rok-Bot-Signature": sign(self._secret, timestamp, body),
        }
        try:
            response = self._client.post(self._url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return Delivery(retry=ids, error=type(exc).__name__)
        if 200 <= response.status_code < 300:
            return Delivery(delivered=ids)
        retry_after = retry_after_wait(response.headers.get("Retry-After"))  # bounded: a gateway may say a day
        return Delivery(retry=ids, error=f"HTTP {response.status_code}", retry_after=retry_after)
