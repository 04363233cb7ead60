"""Audit events: one JSON log line at once, and one message in the audit channel, never the token.

Posts go through one background thread in order, so a burst of tokens never waits on the channel's
rate limit (about one message per second); a failed post is logged and counted, and marks the audit
channel unhealthy for /readyz, but never stops a token from being delivered.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.models.blocks import ContextBlock, MarkdownTextObject, SectionBlock

from bot import metrics
from bot.domain.durations import format_duration
from bot.slack.blocks import escape, slack_date

log = logging.getLogger("rok_token_bot.audit")

ICONS = {
    "issued": ":key:",
    "verified": ":mag:",
    "refused": ":no_entry:",
    "failed": ":x:",
    "undelivered": ":rotating_light:",
    "possibly_minted": ":rotating_light:",
    "started": ":arrow_forward:",
    "stopped": ":stop_button:",
}


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """What happened, to whom, for how long; fields are facts an admin can act on, never a secret."""

    outcome: str
    request_id: str
    slack_user: str | None = None
    username: str | None = None
    duration_seconds: int | None = None
    expires_at: datetime | None = None
    token_uuid: str | None = None
    reason: str | None = None
    detail: str | None = None
    command: str | None = None

    def as_log(self) -> dict[str, Any]:
        data = {k: v for k, v in asdict(self).items() if v is not None}
        if self.expires_at is not None:
            data["expires_at"] = self.expires_at.isoformat()
        return {f"audit_{k}" if k in {"request_id"} else k: v for k, v in data.items()}

    def render(self) -> tuple[str, list[Any]]:
        """The audit channel message: one line of facts, and a context line with the IDs."""
        parts = [f"{ICONS.get(self.outcome, '')} *{self.outcome}*".strip()]
        if self.slack_user:
            parts.append(f"<@{self.slack_user}>")
        if self.username:
            parts.append(f"Rok user `{escape(self.username)}`")
        if self.duration_seconds:
            parts.append(format_duration(self.duration_seconds))
        if self.expires_at is not None:
            parts.append(f"expires {slack_date(self.expires_at)}")
        if self.reason:
            parts.append(escape(self.reason))
        ids = [f"request `{self.request_id}`"]
        if self.token_uuid:
            ids.append(f"token `{self.token_uuid}`")
        if self.command:
            ids.append(escape(self.command))
        text = " · ".join(parts)
        blocks = [
            SectionBlock(text=MarkdownTextObject(text=text)),
            ContextBlock(elements=[MarkdownTextObject(text=" · ".join(ids))]),
        ]
        fallback = f"rok-token-bot {self.outcome}: {self.username or self.slack_user or ''} ({self.request_id})"
        return fallback, blocks


class AuditSink:
    """Logs every event and posts it to the audit channel from a background thread."""

    def __init__(self, *, client: WebClient | None, channel: str | None, max_queue: int = 10_000) -> None:
        self._client = client
        self._channel = channel
        self._queue: queue.Queue[AuditEvent | None] = queue.Queue(maxsize=max_queue)
        self._thread: threading.Thread | None = None
        self.last_error: str | None = None if channel else "ROK_BOT_AUDIT_CHANNEL is not set"

    @property
    def healthy(self) -> bool:
        return self.last_error is None

    def start(self) -> None:
        if self._client is not None and self._channel and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="audit-poster", daemon=True)
            self._thread.start()

    def emit(self, event: AuditEvent) -> None:
        """Record an event: the JSON log line now, the channel post soon."""
        log.info("audit %s", event.outcome, extra={"event": "audit", **event.as_log()})
        if self._thread is None:
            return
        try:
            self._queue.put_nowait(event)
        except queue.Full:
            self._fail("audit queue full")

    def _run(self) -> None:
        while True:
            event = self._queue.get()
            try:
                if event is None:
                    return
                self._post(event)
            finally:
                self._queue.task_done()

    def _post(self, event: AuditEvent) -> None:
        assert self._client is not None and self._channel is not None
        text, blocks = event.render()
        try:
            self._client.chat_postMessage(channel=self._channel, text=text, blocks=blocks, unfurl_links=False)
        except SlackApiError as exc:
            error = str(exc.response.get("error", "unknown")) if exc.response is not None else "unknown"
            metrics.SLACK_API_ERRORS.labels("chat.postMessage", error).inc()
            self._fail(error)
        except SlackClientError as exc:
            self._fail(type(exc).__name__)
        except OSError as exc:
            self._fail(type(exc).__name__)
        else:
            self.last_error = None

    def _fail(self, error: str) -> None:
        self.last_error = error
        metrics.AUDIT_FAILURES.inc()
        log.warning("audit post failed", extra={"error": error, "channel": self._channel})

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until queued posts are sent (bounded); True when the queue emptied in time."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.01)
        return not self._queue.unfinished_tasks

    def stop(self, timeout: float = 10.0) -> None:
        if self._thread is not None:
            self.flush(timeout)
            self._queue.put(None)
            self._thread.join(timeout)
            self._thread = None
