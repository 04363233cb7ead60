"""Audit events: one JSON log line at once, and a message in the audit channel soon, never the token.

Posts go out from one background thread, so a burst never waits on the channel's rate limit (about one
message per second). Under a flood the channel stays readable and the events that matter go first:

- **Priority.** Issued, undelivered, possibly minted and failed events go before verifications, and those
  before refusals, whatever order they arrived in.
- **Merging.** Refusals linger a few seconds; repeated ones of one user for one reason become one line
  ("refused 57 times in 60 s: not mapped").
- **Batching.** Everything pending is posted as one message of up to `BATCH_LINES` lines.
- **Bounded, and loud when full.** At `max_queue` pending events new ones are dropped, counted
  (`rok_bot_audit_dropped_total`), and `/readyz` fails until the backlog drains; the JSON log line of every
  event is written regardless.

A failed post is logged and counted and marks the audit channel unhealthy for /readyz, but never stops a
token from being delivered.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.models.blocks import Block, ContextBlock, MarkdownTextObject, SectionBlock

from bot import metrics
from bot.domain.audit import AuditEvent, Priority, priority_of
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
BATCH_LINES = 20  # events per channel message: 2 blocks each, inside Slack's 50-block limit
REFUSAL_LINGER = 5.0  # seconds a refusal waits for others like it before it is posted


def facts_line(event: AuditEvent, *, repeated: int = 1, span_seconds: float = 0.0) -> str:
    """An event's facts as one mrkdwn line; `repeated` events merged into it are counted."""
    parts = [f"{ICONS.get(event.outcome, '')} *{event.outcome}*".strip()]
    if repeated > 1:
        parts[0] += f" {repeated} times in {format_duration(max(int(span_seconds), 1))}"
    if event.slack_user:
        parts.append(f"<@{event.slack_user}>")
    if event.username:
        parts.append(f"Rok user `{escape(event.username)}`")
    if event.duration_seconds:
        parts.append(format_duration(event.duration_seconds))
    if event.expires_at is not None:
        parts.append(f"expires {slack_date(event.expires_at)}")
    if event.reason:
        parts.append(escape(event.reason))
    return " · ".join(parts)


def ids_line(event: AuditEvent, *, repeated: int = 1) -> str:
    """The IDs that match the event to logs and the registry: request, token UUID, command."""
    ids = [f"request `{event.request_id}`" + (" (the first)" if repeated > 1 else "")]
    if event.token_uuid:
        ids.append(f"token `{event.token_uuid}`")
    if event.command:
        ids.append(escape(event.command))
    return " · ".join(ids)


@dataclass(frozen=True, slots=True)
class Line:
    """One line of an audit message: an event, and how many like it were merged into it."""

    event: AuditEvent
    repeated: int = 1
    span_seconds: float = 0.0


def merge(events: Sequence[AuditEvent]) -> list[Line]:
    """Lines in priority order; refusals of one user for one reason become one counted line."""
    ordered = sorted(enumerate(events), key=lambda pair: (priority_of(pair[1].outcome), pair[0]))
    lines: list[Line] = []
    groups: dict[tuple[str | None, str | None], int] = {}
    for _, event in ordered:
        if event.outcome != "refused":
            lines.append(Line(event))
            continue
        key = (event.slack_user, event.reason)
        if key not in groups:
            groups[key] = len(lines)
            lines.append(Line(event))
            continue
        first = lines[groups[key]]
        span = (event.occurred_at - first.event.occurred_at).total_seconds()
        lines[groups[key]] = Line(first.event, first.repeated + 1, max(first.span_seconds, span))
    return lines


def render_batch(lines: Sequence[Line]) -> tuple[str, list[Block]]:
    """One channel message for up to BATCH_LINES lines: a section of facts and a context of IDs each."""
    blocks: list[Block] = []
    for line in lines:
        facts = facts_line(line.event, repeated=line.repeated, span_seconds=line.span_seconds)
        blocks.append(SectionBlock(text=MarkdownTextObject(text=facts)))
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=ids_line(line.event, repeated=line.repeated))]))
    first = lines[0].event
    fallback = f"rok-token-bot {first.outcome}: {first.username or first.slack_user or ''} ({first.request_id})"
    if len(lines) > 1:
        fallback += f" and {len(lines) - 1} more"
    return fallback, blocks


@dataclass(order=True)
class _Pending:
    priority: int
    seq: int
    due: float = field(compare=False)
    event: AuditEvent = field(compare=False)


class AuditSink:
    """Logs every event at once and posts it to the audit channel from a background thread."""

    def __init__(
        self,
        *,
        client: WebClient | None,
        channel: str | None,
        max_queue: int = 10_000,
        linger: float = REFUSAL_LINGER,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._channel = channel
        self._max_queue = max_queue
        self._linger = linger
        self._clock = clock
        self._cond = threading.Condition()
        self._pending: list[_Pending] = []
        self._seq = 0
        self._posting = 0
        self._closing = False
        self._thread: threading.Thread | None = None
        self.dropped = 0
        self.last_error: str | None = None if channel else "ROK_BOT_AUDIT_CHANNEL is not set"

    @property
    def healthy(self) -> bool:
        return self.last_error is None

    @property
    def backlog(self) -> int:
        """Events waiting for the channel."""
        with self._cond:
            return len(self._pending) + self._posting

    @property
    def full(self) -> bool:
        """True while events are being dropped: /readyz fails until the backlog drains."""
        with self._cond:
            return len(self._pending) >= self._max_queue

    def start(self) -> None:
        if self._client is not None and self._channel and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="audit-poster", daemon=True)
            self._thread.start()

    def record(self, event: AuditEvent) -> None:
        """Record an event: the JSON log line now, the channel post soon."""
        log.info("audit %s", event.outcome, extra={"event": "audit", **event.as_log()})
        if self._thread is None:
            return
        priority = priority_of(event.outcome)
        with self._cond:
            if len(self._pending) >= self._max_queue:
                self.dropped += 1
                metrics.AUDIT_DROPPED.labels(priority.name.lower()).inc()
                log.warning("audit queue full: event not posted", extra={"outcome": event.outcome})
                return
            self._seq += 1
            due = self._clock() + (self._linger if priority is Priority.REFUSAL else 0.0)
            self._pending.append(_Pending(priority, self._seq, due, event))
            metrics.AUDIT_BACKLOG.set(len(self._pending))
            self._cond.notify()

    def _take(self) -> list[AuditEvent] | None:
        """Wait for events that are due; None when closing and nothing is left."""
        with self._cond:
            while True:
                now = self._clock()
                if self._pending and (self._closing or min(p.due for p in self._pending) <= now):
                    break
                if self._closing:
                    return None
                wait = min((p.due for p in self._pending), default=now + 60.0) - now
                self._cond.wait(max(wait, 0.01))
            # Everything due goes in one batch (merged below); the most urgent first if there is too much.
            due = sorted(p for p in self._pending if self._closing or p.due <= now)
            taken = due[: self._max_queue]
            ids = {p.seq for p in taken}
            self._pending = [p for p in self._pending if p.seq not in ids]
            self._posting = len(taken)
            metrics.AUDIT_BACKLOG.set(len(self._pending))
            return [p.event for p in taken]

    def _run(self) -> None:
        while (events := self._take()) is not None:
            try:
                lines = merge(events)
                for start in range(0, len(lines), BATCH_LINES):
                    self._post(lines[start : start + BATCH_LINES])
            except Exception:  # the poster must outlive any one bad batch
                log.exception("audit poster failed")
            finally:
                with self._cond:
                    self._posting = 0
                    self._cond.notify_all()

    def _post(self, lines: Sequence[Line]) -> None:
        assert self._client is not None and self._channel is not None
        text, blocks = render_batch(lines)
        try:
            self._client.chat_postMessage(channel=self._channel, text=text, blocks=blocks, unfurl_links=False)
        except SlackApiError as exc:
            error = str(exc.response.get("error", "unknown")) if exc.response is not None else "unknown"
            metrics.SLACK_API_ERRORS.labels("chat.postMessage", error).inc()
            self._fail(error)
        except (SlackClientError, OSError) as exc:
            self._fail(type(exc).__name__)
        else:
            self.last_error = None

    def _fail(self, error: str) -> None:
        self.last_error = error
        metrics.AUDIT_FAILURES.inc()
        log.warning("audit post failed", extra={"error": error, "channel": self._channel})

    def expedite(self) -> None:
        """Make everything pending due now, lingering refusals included (shutdown, tests, the demo)."""
        with self._cond:
            for pending in self._pending:
                pending.due = 0.0
            self._cond.notify_all()

    def flush(self, timeout: float = 10.0) -> bool:
        """Post everything pending now, lingering refusals included; True when done in time."""
        deadline = time.monotonic() + timeout
        self.expedite()
        with self._cond:
            while self._thread is not None and (self._pending or self._posting):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.05))
        return True

    def stop(self, timeout: float = 10.0) -> None:
        if self._thread is not None:
            with self._cond:
                self._closing = True
                self._cond.notify_all()
            self._thread.join(timeout)
            self._thread = None
