"""The token's life in Slack, as pure values: what the Home tab, the get-token form, the private token list
and an expiry reminder show, and when a reminder is due.

No I/O here: the use cases (`bot.usecases`) fill these values from the ledger and the policy, and the Slack
adapter (`bot.slack.views`) draws them. None of them ever holds a token: a token is named by the first
characters of its UUID, which the audit channel and the admin CLI show in full.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import msgspec

from bot.domain.approvals import PendingRequest
from bot.domain.holders import Holdings
from bot.domain.ledger import LedgerEntry
from bot.domain.models import Limits

SHORT_UUID = 8
# The Home tab lists at most this many live tokens and this many expired ones: with the fixed blocks around
# them that stays far inside Slack's 100 blocks per view, and the rest is counted ("and 12 more").
HOME_LIVE_CAP = 40
HOME_EXPIRED_CAP = 20
# `/rok-token list` answers with a message (50 blocks at most): one block per token and a few around them.
LIST_CAP = 40
EXPIRED_SHOWN_FOR = timedelta(hours=24)
# Durations the form offers when they fit the user's range (plus the user's default, always).
PRESETS = (3600, 8 * 3600, 86400, 7 * 86400)
# A reminder comes `lead` before expiry; a token living less than this many leads is reminded when this
# fraction of its life is left instead (a 1-minute token with a 1-hour lead: 15 s before it expires).
LEAD_LIFETIMES = 4


def short_uuid(token_uuid: str | None) -> str | None:
    """The first characters of a token UUID: enough to tell a user's tokens apart."""
    return token_uuid[:SHORT_UUID] if token_uuid else None


def already_renewed(*, token_uuid: str | None, issued: bool, request_id: str) -> str:
    """What a second Renew click is told: the token that renewed this one, or the request still under way."""
    if issued:
        return f"This token was renewed already: the new one is `{short_uuid(token_uuid) or request_id}`."
    return f"This token was renewed already (request {request_id}); use /rok-token for another one."


def reminder_lead(duration_seconds: int, lead: int) -> int:
    """Seconds before expiry a token of this lifetime is reminded: `lead`, or a quarter of a short life."""
    if lead <= 0:
        return 0
    if duration_seconds >= LEAD_LIFETIMES * lead:
        return lead
    return max(duration_seconds // LEAD_LIFETIMES, 1)


def reminder_due_at(entry: LedgerEntry, lead: int) -> datetime | None:
    """When the owner of this ledger row should be reminded; None when never (reminders off, no expiry)."""
    if lead <= 0 or entry.expires_at is None:
        return None
    return entry.expires_at - timedelta(seconds=reminder_lead(entry.duration_seconds, lead))


def sweep_interval(lead: int, shortest: int) -> float:
    """Seconds between two reminder sweeps: a fifth of the shortest lead any token can get, 1 s to 30 s."""
    if lead <= 0:
        return 0.0
    return min(max(reminder_lead(shortest, lead) / 5, 1.0), 30.0)


def presets_for(limits: Limits) -> list[int]:
    """The durations the form offers: the presets inside the user's range, and the default, sorted."""
    fitting = {s for s in PRESETS if limits.min <= s <= limits.max}
    fitting.add(limits.default)
    return sorted(fitting)


class TokenLine(msgspec.Struct, frozen=True):
    """One token of a user, as the Home tab and the list show it (never the token)."""

    entry_id: int
    short_uuid: str | None
    request_id: str
    duration_seconds: int
    expires_at: datetime
    renewed_by: str | None = None  # the short UUID of the token that renewed this one, when one did
    registry: str = ""  # the registry's title, shown (and grouped by) only when several are configured

    @classmethod
    def of(cls, entry: LedgerEntry, *, renewed_by: LedgerEntry | None = None) -> TokenLine:
        assert entry.expires_at is not None
        return cls(
            entry.id,
            short_uuid(entry.token_uuid),
            entry.request_id,
            entry.duration_seconds,
            entry.expires_at,
            renewed_by=(short_uuid(renewed_by.token_uuid) or renewed_by.request_id) if renewed_by else None,
        )


class TokenList(msgspec.Struct, frozen=True):
    """A user's live tokens (newest first, capped) and, for the Home tab, those expired in the last day."""

    live: list[TokenLine]
    live_more: int = 0
    expired: list[TokenLine] = msgspec.field(default_factory=list)
    expired_more: int = 0


class HomeView(msgspec.Struct, frozen=True):
    """What a user's Home tab shows: their tokens, what they may ask for (or why not), whom to ask."""

    user_id: str
    tokens: TokenList
    limits: Limits
    username: str | None
    refusal: str | None
    contact: str
    now: datetime
    remind_before: int = 0  # ROK_BOT_REMIND_BEFORE: the tab says reminders come, when they do
    pending: tuple[PendingRequest, ...] = ()  # their requests waiting for an approver (issue 14)
    holders: Holdings | None = None  # an admin's: everyone's live tokens (None: not an admin, or no admins)


class TokenForm(msgspec.Struct, frozen=True):
    """The get-token form: the durations offered inside the user's range, or why the user cannot ask."""

    limits: Limits
    presets: list[int]
    refusal: str | None = None
    registries: tuple[tuple[str, str], ...] = ()  # (name, title) to choose from: only when more than one


class Posted(msgspec.Struct, frozen=True):
    """Where a message the bot posted lives, so it can be edited later (a reminder, after a renew)."""

    channel: str
    ts: str


class Deferred(msgspec.Struct, frozen=True):
    """Slack did not take a reminder now and nothing was posted (429, a 5xx, unreachable): release its claim
    and try again on a later round, not before `retry_after` seconds when Slack said how long to wait."""

    retry_after: float | None = None


@dataclass
class ReminderPace:
    """When the next reminder round may call Slack: after a 429, not before its Retry-After (one per replica)."""

    not_before: datetime | None = None

    def ready(self, now: datetime) -> bool:
        return self.not_before is None or now >= self.not_before

    def wait(self, now: datetime, seconds: float | None) -> None:
        self.not_before = now + timedelta(seconds=seconds) if seconds else None


class Reminder(msgspec.Struct, frozen=True):
    """A token about to expire, as its owner's reminder tells it."""

    entry_id: int
    user_id: str
    short_uuid: str | None
    request_id: str
    username: str | None
    duration_seconds: int
    expires_at: datetime
    now: datetime

    @classmethod
    def of(cls, entry: LedgerEntry, *, now: datetime) -> Reminder:
        assert entry.slack_user is not None and entry.expires_at is not None
        return cls(
            entry.id,
            entry.slack_user,
            short_uuid(entry.token_uuid),
            entry.request_id,
            entry.rok_user,
            entry.duration_seconds,
            entry.expires_at,
            now,
        )
