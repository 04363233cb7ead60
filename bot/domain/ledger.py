"""The token ledger: one row per mint attempt, from the quota place it took to what became of the token.

A row is written when a request takes a place in the user's quota (status `reserved`), before
token-create runs; as soon as a token is parsed its UUID and expiry are written (status `minted`), before
delivery; it is settled in the same transaction as its audit event (`issued`, `undelivered`,
`possibly_minted`), or deleted when nothing was minted (the place is given back). A row still `reserved`
long after its request means the bot died mid-mint: treated as possibly minted; one still `minted` means it
died (or the database stayed away) after the mint: `unconfirmed`, with the UUID to revoke. It never holds a
token, nor anything a token can be recovered from.
"""

from __future__ import annotations

import enum
from datetime import datetime, timedelta

import msgspec

from bot.domain.audit import Origin
from bot.domain.durations import format_duration
from bot.domain.errors import LimitExceeded
from bot.domain.patterns import DEFAULT_REGISTRY

HOUR = timedelta(hours=1)


class TokenStatus(enum.StrEnum):
    RESERVED = "reserved"  # a quota place is taken; token-create has not finished
    MINTED = "minted"  # token-create returned a token (UUID and expiry kept); delivery not yet settled
    ISSUED = "issued"
    UNDELIVERED = "undelivered"
    POSSIBLY_MINTED = "possibly_minted"
    UNCONFIRMED = "unconfirmed"  # minted (UUID known), but the bot stopped before delivery was settled


class LedgerEntry(msgspec.Struct, frozen=True):
    """One row of the ledger, as the admin CLI and App Home read it."""

    id: int
    request_id: str
    slack_team: str | None
    slack_user: str | None
    rok_user: str | None
    account_uuid: str | None
    token_uuid: str | None
    duration_seconds: int
    reserved_at: datetime
    issued_at: datetime | None
    expires_at: datetime | None
    origin: Origin
    status: TokenStatus
    # The token's life in Slack: the row this one renewed, and the expiry reminder (when, and where it is).
    renewed_from: int | None = None
    reminded_at: datetime | None = None
    reminder_channel: str | None = None
    reminder_ts: str | None = None
    # The registry the token lives in (revision 0007; older rows: `default`). A renewal's row copies it.
    registry: str = DEFAULT_REGISTRY
    # Enterprise Grid: the organisation of the request (revision 0008; older rows and workspace installs: None).
    slack_enterprise: str | None = None
    # Who approved it (an approver's Slack user ID, origin `approval`) and the requester's reason (cleaned), kept
    # with the token so an access report needs no other table (revision 0009; older rows: backfilled, or None).
    approved_by: str | None = None
    reason: str | None = None

    def live(self, now: datetime) -> bool:
        """Issued and not yet expired."""
        return self.status is TokenStatus.ISSUED and self.expires_at is not None and self.expires_at > now


class Minted(msgspec.Struct, frozen=True):
    """The facts of a minted token the ledger keeps: never the token itself."""

    rok_user: str
    account_uuid: str
    token_uuid: str | None
    issued_at: datetime
    expires_at: datetime
    approved_by: str | None = None  # the approver's Slack user ID, when an approval was minted
    reason: str | None = None  # the requester's reason (cleaned): an approval's, a break-glass's, the command's


class QuotaRule(msgspec.Struct, frozen=True):
    """At most `per_hour` tokens per user in any rolling hour, and `cooldown` seconds between two, each counted
    in one registry: the ledger hands `check` the user's places in the registry asked for only."""

    per_hour: int
    cooldown: int

    def check(self, taken: list[datetime], now: datetime) -> None:
        """Refuse a new place when the user's places in the last hour (`taken`, any order) forbid it."""
        recent = sorted(t for t in taken if now - t < HOUR)
        if recent and self.cooldown and (now - recent[-1]).total_seconds() < self.cooldown:
            left = self.cooldown - (now - recent[-1]).total_seconds()
            raise LimitExceeded(
                f"You got a token moments ago; wait {_wait(left)} before asking again.",
                detail=f"cooldown {format_duration(self.cooldown)}",
            )
        if len(recent) >= self.per_hour:
            left = (HOUR - (now - recent[-self.per_hour])).total_seconds()
            raise LimitExceeded(
                f"You have had {self.per_hour} tokens in the last hour, the limit; "
                f"the next one is possible in {_wait(left)}.",
                detail=f"quota {self.per_hour}/h",
            )

    def remaining(self, taken: list[datetime], now: datetime) -> int:
        """Places left in the rolling hour."""
        return max(self.per_hour - sum(1 for t in taken if now - t < HOUR), 0)


def _wait(seconds: float) -> str:
    whole = max(int(seconds + 0.999), 1)
    return format_duration(whole - whole % 60 if whole >= 120 else whole)
