"""The audit channel as a sink of the audit outbox (`bot.adapters.audit`): merged, batched Block Kit posts.

A claim hands this sink the most urgent events first; it merges refusals of one user for one reason into one
counted line ("refused 57 times in 56s", the events' own times), batches up to `BATCH_LINES` lines into
one message (the channel takes about one message a second), and posts them. What Slack refuses is given
back to the outbox with Slack's Retry-After, or slowly for errors an admin must fix (the bot not in the
channel). Every line keeps naming the token by its UUID, so a reader can match events to the ledger.
With several registries configured (`show_registry`), each line names its event's registry; with one, the name
(`default`) would only be noise, and the line is what it always was.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import msgspec
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.models.blocks import Block, ContextBlock, SectionBlock

from bot.adapters.audit import Delivery
from bot.domain.audit import AuditEvent, priority_of
from bot.domain.durations import format_duration
from bot.domain.ports import ClaimedEvent
from bot.domain.retry_after import retry_after_wait
from bot.runtime import metrics
from bot.slack.blocks import escape, mrkdwn, slack_date

log = logging.getLogger("rok_token_bot.audit")

ICONS = {
    "issued": ":key:",
    "verified": ":mag:",
    "refused": ":no_entry:",
    "failed": ":x:",
    "undelivered": ":rotating_light:",
    "possibly_minted": ":rotating_light:",
    "unconfirmed": ":rotating_light:",
    "started": ":arrow_forward:",
    "stopped": ":stop_button:",
    "access_granted": ":office:",
    "access_revoked": ":no_entry:",
    "reminded": ":hourglass_flowing_sand:",
    "approval_requested": ":raised_hand:",
    "approved": ":white_check_mark:",
    "denied": ":no_entry_sign:",
    "lapsed": ":hourglass:",
    "break_glass": ":rotating_light:",
}
# Origins an ID line names after the command ("issue via modal"); the slash command is the default.
_SHOWN_ORIGINS = frozenset({"modal", "renew", "cli"})
BATCH_LINES = 20  # lines per channel message: 2 blocks each, inside Slack's 50-block limit


def facts_line(event: AuditEvent, *, repeated: int = 1, span_seconds: float = 0.0, show_registry: bool = False) -> str:
    """An event's facts as one mrkdwn line; `repeated` events merged into it are counted; the registry is named
    right after the outcome when `show_registry` (several registries are configured)."""
    parts = [f"{ICONS.get(event.outcome, '')} *{event.outcome}*".strip()]
    if repeated > 1:
        parts[0] += f" {repeated} times in {format_duration(max(int(span_seconds), 1))}"
    if show_registry and event.registry:  # none: a refusal before any registry was chosen
        parts.append(f"registry `{escape(event.registry)}`")
    if event.slack_user:
        parts.append(f"<@{event.slack_user}>")
    if event.username:
        parts.append(f"Rok user `{escape(event.username)}`")
    if event.duration_seconds:
        parts.append(format_duration(event.duration_seconds))
    if event.expires_at is not None:
        parts.append(f"expires {slack_date(event.expires_at)}")
    if event.actor:
        parts.append(f"by <@{event.actor}>")
    if event.reason:
        parts.append(escape(event.reason))
    return " · ".join(parts)


def ids_line(event: AuditEvent, *, repeated: int = 1) -> str:
    """The IDs that match the event to logs and the registry: request, token UUID, command; on Enterprise Grid
    the workspace and organisation the request came from (one audit channel serves them all)."""
    ids = [f"request `{event.request_id}`" + (" (the first)" if repeated > 1 else "")]
    if event.token_uuid:
        ids.append(f"token `{event.token_uuid}`")
    if event.command:
        via = f" via {event.origin}" if event.origin in _SHOWN_ORIGINS else ""
        ids.append(escape(event.command + via))
    if event.enterprise_id:
        where = f"workspace `{escape(event.team_id)}` of " if event.team_id else ""
        ids.append(f"{where}org `{escape(event.enterprise_id)}`")
    return " · ".join(ids)


class Line(msgspec.Struct, frozen=True):
    """One line of an audit message: an event, how many like it were merged into it, and their outbox IDs."""

    event: AuditEvent
    repeated: int = 1
    span_seconds: float = 0.0
    ids: tuple[int, ...] = ()


def merge(events: Sequence[AuditEvent], ids: Sequence[int] | None = None) -> list[Line]:
    """Lines in priority order; refusals of one user for one reason in one registry become one counted line."""
    keyed = list(zip(ids if ids is not None else range(len(events)), events, strict=True))
    ordered = sorted(enumerate(keyed), key=lambda pair: (priority_of(pair[1][1].outcome), pair[0]))
    lines: list[Line] = []
    groups: dict[tuple[str | None, str | None, str], int] = {}
    for _, (event_id, event) in ordered:
        if event.outcome != "refused":
            lines.append(Line(event, ids=(event_id,)))
            continue
        key = (event.slack_user, event.reason, event.registry)
        if key not in groups:
            groups[key] = len(lines)
            lines.append(Line(event, ids=(event_id,)))
            continue
        first = lines[groups[key]]
        span = abs((event.occurred_at - first.event.occurred_at).total_seconds())
        merged = Line(first.event, first.repeated + 1, max(first.span_seconds, span), (*first.ids, event_id))
        lines[groups[key]] = merged
    return lines


def render_batch(lines: Sequence[Line], *, show_registry: bool = False) -> tuple[str, list[Block]]:
    """One channel message for up to BATCH_LINES lines: a section of facts and a context of IDs each."""
    blocks: list[Block] = []
    for line in lines:
        facts = facts_line(
            line.event, repeated=line.repeated, span_seconds=line.span_seconds, show_registry=show_registry
        )
        blocks.append(SectionBlock(text=mrkdwn(facts)))
        blocks.append(ContextBlock(elements=[mrkdwn(ids_line(line.event, repeated=line.repeated))]))
    first = lines[0].event
    fallback = f"rok-token-bot {first.outcome}: {first.username or first.slack_user or ''} ({first.request_id})"
    if len(lines) > 1:
        fallback += f" and {len(lines) - 1} more"
    return fallback, blocks


# Slack errors an admin must fix: retried slowly (every few minutes) rather than dropped.
SLOW_ERRORS = frozenset(
    {"not_in_channel", "channel_not_found", "is_archived", "invalid_auth", "account_inactive", "missing_scope"}
)


class AuditChannel:
    """Posts claimed audit events to the audit channel; the delivery function of its `OutboxSender`.

    `show_registry`: name each event's registry in its line (the serving bot sets it when several registries
    are configured)."""

    def __init__(self, client: WebClient, channel: str, *, show_registry: bool = False) -> None:
        self._client = client
        self._channel = channel
        self._show_registry = show_registry

    def deliver(self, claimed: Sequence[ClaimedEvent]) -> Delivery:
        lines = merge([c.event for c in claimed], [c.id for c in claimed])
        delivered: list[int] = []
        for start in range(0, len(lines), BATCH_LINES):
            batch = lines[start : start + BATCH_LINES]
            text, blocks = render_batch(batch, show_registry=self._show_registry)
            try:
                self._client.chat_postMessage(channel=self._channel, text=text, blocks=blocks, unfurl_links=False)
            except SlackApiError as exc:
                error = str(exc.response.get("error", "unknown")) if exc.response is not None else "unknown"
                metrics.SLACK_API_ERRORS.labels("chat.postMessage", error).inc()
                retry_after = _retry_after(exc)
                return Delivery(delivered, _ids(lines[start:]), error, retry_after)
            except (SlackClientError, OSError) as exc:
                return Delivery(delivered, _ids(lines[start:]), type(exc).__name__)
            delivered.extend(_ids(batch))
        return Delivery(delivered)


def _ids(lines: Sequence[Line]) -> list[int]:
    return [i for line in lines for i in line.ids]


def _retry_after(exc: SlackApiError) -> float | None:
    """Slack's Retry-After, bounded (1..300 s); None when absent or not a number of seconds."""
    headers = getattr(exc.response, "headers", None) or {}
    for key, value in headers.items():
        if key.lower() == "retry-after":
            return retry_after_wait(value)
    return None
