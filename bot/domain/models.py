"""Value objects shared by the engine and its front ends."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime

from bot.domain.secret import Token


@dataclass(frozen=True, slots=True)
class Account:
    """One row of `rok-fort-manage account-list`.

    `email` is None when the list has no email column, and "" when the column is there but the row's
    cell is empty or contradicts itself: then no Slack email can match it.
    """

    uuid: str
    username: str
    email: str | None = None


@dataclass(frozen=True, slots=True)
class MintedToken:
    """What `rok-fort-manage token-create` printed: the token, and its UUID and expiry when shown."""

    token: Token
    token_uuid: str | None = None
    expires_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A token minted for a username, with the facts an audit event needs."""

    token: Token
    username: str
    account_uuid: str
    duration_seconds: int
    expires_at: datetime
    token_uuid: str | None = None


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
