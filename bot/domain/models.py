"""Value objects shared by the engine and its front ends."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime

import msgspec

from bot.domain.audit import Origin
from bot.domain.patterns import DEFAULT_REGISTRY
from bot.domain.secret import Token


class Account(msgspec.Struct, frozen=True):
    """One row of `rok-fort-manage account-list`.

    `email` is None when the list has no email column, and "" when the column is there but the row's
    cell is empty or contradicts itself: then no Slack email can match it.
    """

    uuid: str
    username: str
    email: str | None = None


class MintedToken(msgspec.Struct, frozen=True):
    """What `rok-fort-manage token-create` printed: the token, and its UUID and expiry when shown."""

    token: Token
    token_uuid: str | None = None
    expires_at: datetime | None = None


class IssuedToken(msgspec.Struct, frozen=True):
    """A token minted for a username, with the facts an audit event needs."""

    token: Token
    username: str
    account_uuid: str
    duration_seconds: int
    expires_at: datetime
    token_uuid: str | None = None
    registry: str = ""  # the registry's title, shown in the token message when several are configured


class Verdict(enum.StrEnum):
    VALID = "valid"
    REJECTED = "rejected"
    UNREACHABLE = "unreachable"


@dataclass(frozen=True, slots=True)
class VerifyResult:
    """The registry's answer to `GET /auth/v1/token`."""

    verdict: Verdict
    message: str
    token_uuid: str | None = None
    created_at: datetime | None = None
    expires_at: datetime | None = None
    user: object = field(default=None, compare=False)

    @property
    def ok(self) -> bool:
        return self.verdict is Verdict.VALID


class RequestContext(msgspec.Struct, frozen=True):
    """Who asked, how, and where a private answer can go: fixed for the life of one request."""

    request_id: str
    user_id: str
    origin: Origin
    reply_to: str | None = None  # an opaque handle the Replies adapter understands (a Slack response_url)
    team_id: str | None = None
    once_key: str | None = None  # the front end's ID of this request (Slack's trigger_id): it acts once
    # No live reply_to (an approval decided long after the request): notices go to the user's DM instead.
    notify_dm: bool = False
    enterprise_id: str | None = None  # Enterprise Grid: the organisation the request came from


class Limits(msgspec.Struct, frozen=True):
    """A user's durations (default, range) and where they come from; `per_hour`/`left` when known."""

    default: int
    min: int
    max: int
    source: str
    per_hour: int | None = None
    left: int | None = None


class HelpInfo(msgspec.Struct, frozen=True):
    """What `/rok-token help` shows a user: who they are to Rok, their limits, or why they cannot ask."""

    username: str | None
    refusal: str | None
    limits: Limits
    registries: str = ""  # with several registries: which ones this user may use, and how one is chosen
    admin: bool = False  # one of the policy's admins: help lists `/rok-token who`


class Sealed(msgspec.Struct, frozen=True):
    """What a sealed button value carries once opened."""

    token: Token
    user_id: str
    expires_at: int
    token_uuid: str | None
    username: str | None
    registry: str = DEFAULT_REGISTRY  # the registry that minted it (a value sealed before 22: the default)
