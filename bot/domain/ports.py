"""The small interfaces the engine needs from the outside world, and the values that cross them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from bot.domain.approvals import PendingRequest, RequestStatus
from bot.domain.audit import AuditEvent, Origin
from bot.domain.ledger import LedgerEntry, Minted, QuotaRule, TokenStatus
from bot.domain.models import Account, HelpInfo, IssuedToken, RequestContext, Sealed, VerifyResult
from bot.domain.secret import Token


@dataclass(frozen=True, slots=True)
class PodTarget:
    """The pod and container an exec goes to."""

    pod: str
    container: str


@dataclass(frozen=True, slots=True)
class ExecResult:
    """What a finished command left: its exit code and its two output streams, kept apart."""

    exit_code: int
    stdout: str
    stderr: str
    target: PodTarget
    seconds: float


class CommandRunner(Protocol):
    """Runs an argv list (never a shell) in the Rok Registry pod."""

    def resolve(self, *, fresh: bool = False) -> PodTarget: ...

    def forget(self, target: PodTarget) -> None: ...

    def run(self, argv: list[str], *, target: PodTarget | None = None) -> ExecResult: ...


class Verifier(Protocol):
    """Asks the registry about a token."""

    def verify(self, token: Token) -> VerifyResult: ...


class Minter(Protocol):
    """The token engine as the use cases see it (`bot.engine.TokenEngine`)."""

    def account(self, username: str) -> Account:
        """The Rok account with exactly this username (NoAccountError otherwise)."""
        ...

    def mint(self, account: Account, *, seconds: int) -> IssuedToken:
        """A new token for the account; errors marked `may_have_minted` when one may exist anyway."""
        ...

    def verify(self, token: Token) -> VerifyResult: ...


# -- the use cases' outside world ------------------------------------------------------------------


class UserDirectory(Protocol):
    """Slack's word about a user: the profile (users.info) and membership of the policy's user groups."""

    def profile(self, user_id: str) -> Mapping[str, Any] | None:
        """The users.info object, or None when Slack does not know the user."""
        ...

    def groups_of(self, user_id: str, groups: frozenset[str]) -> frozenset[str]:
        """Which of `groups` the user belongs to."""
        ...


class Replies(Protocol):
    """Private answers to the requesting user: the token message (with its fallback) and short notices."""

    def token(self, ctx: RequestContext, issued: IssuedToken, *, verify_value: str) -> bool:
        """Deliver the token privately; False when every way failed (nothing raised for Slack errors)."""
        ...

    def notice(self, ctx: RequestContext, text: str) -> None:
        """One short private sentence (a refusal, an error, a progress note)."""
        ...

    def undelivered(self, ctx: RequestContext, text: str) -> None:
        """A persistent private message, without the token, saying a token exists that they never saw."""
        ...

    def help(self, ctx: RequestContext, info: HelpInfo) -> None:
        """Usage and the user's own limits."""
        ...

    def verified(self, ctx: RequestContext, result: VerifyResult, *, checked_ago: int | None) -> None:
        """The registry's verdict on a token, or the last one when `checked_ago` seconds old."""
        ...


class AuditLog(Protocol):
    """Where audit events go: a JSON log line at once, then the audit channel (and any other sink)."""

    def record(self, event: AuditEvent) -> None: ...


class QuotaPlace(Protocol):
    """A place taken in a user's quota, until it is settled (a token was minted) or released (none was)."""

    def release(self) -> None:
        """Nothing was minted: give the place back."""
        ...

    def settle(self, *, status: TokenStatus, minted: Minted | None, event: AuditEvent) -> None:
        """Keep the place, record what became of the token and its audit event (one transaction)."""
        ...


class Quota(Protocol):
    """Per-user quota and cooldown; the store's implementation holds across replicas."""

    @property
    def rule(self) -> QuotaRule: ...

    def reserve(self, ctx: RequestContext, *, seconds: int) -> QuotaPlace:
        """Take a place now (LimitExceeded says how long to wait), so concurrent requests cannot both pass."""
        ...

    def remaining(self, user_id: str) -> int:
        """Places left in the user's rolling hour."""
        ...


class Sealer(Protocol):
    """Seals a token into a button value only its owner can open, until it expires."""

    def seal(
        self, *, token: Token, user_id: str, expires_at: int, token_uuid: str | None, username: str | None = None
    ) -> str: ...

    def open(self, value: str, *, user_id: str, now: float | None = None) -> Sealed:
        """The sealed facts, or a SealError (forged, someone else's, expired, retired key)."""
        ...


# -- state ----------------------------------------------------------------------------------------------
# What must hold across replicas and restarts lives behind these ports; `bot/store` implements them on
# SQLAlchemy (SQLite by default, PostgreSQL for several replicas). Times are timezone-aware UTC.


@dataclass(frozen=True, slots=True)
class Reservation:
    """A place taken in a user's quota: a ledger row in status `reserved`."""

    id: int
    user_id: str
    reserved_at: datetime


@dataclass(frozen=True, slots=True)
class TokenQuery:
    """Filters of `rok-token-bot tokens` and of App Home's list; None means any."""

    slack_user: str | None = None
    rok_user: str | None = None
    since: datetime | None = None
    active_at: datetime | None = None  # only tokens issued and not expired at this time
    limit: int = 1000


class Ledger(Protocol):
    """The token ledger, and the per-user quota it enforces atomically across replicas."""

    def reserve(
        self,
        *,
        user_id: str,
        team_id: str | None,
        request_id: str,
        origin: Origin,
        duration_seconds: int,
        rule: QuotaRule,
        now: datetime,
    ) -> Reservation:
        """Take a place under a per-user lock (never a global one); LimitExceeded (from `rule`) when none."""
        ...

    def release(self, reservation: Reservation) -> None:
        """Nothing was minted: give the place back (delete the row)."""
        ...

    def settle(
        self, reservation: Reservation, *, status: TokenStatus, minted: Minted | None, event: AuditEvent
    ) -> None:
        """Record what became of the attempt and append its audit event, in one transaction."""
        ...

    def remaining(self, user_id: str, *, rule: QuotaRule, now: datetime) -> int:
        """Places left in the user's rolling hour."""
        ...

    def tokens(self, query: TokenQuery) -> list[LedgerEntry]:
        """Ledger rows, newest first."""
        ...


@dataclass(frozen=True, slots=True)
class ClaimedEvent:
    """An audit event claimed for delivery to one sink, with its outbox row ID and attempts so far."""

    id: int
    event: AuditEvent
    attempts: int


class AuditOutbox(Protocol):
    """Audit events written durably first, then delivered to each sink exactly once by any replica."""

    def append(self, event: AuditEvent) -> None:
        """Record an event for every sink (one transaction)."""
        ...

    def claim(self, *, sink: str, worker: str, limit: int, lease_seconds: float, now: datetime) -> list[ClaimedEvent]:
        """Lease up to `limit` due events of one sink, most urgent first (Priority, then age)."""
        ...

    def delivered(self, ids: list[int], *, now: datetime) -> None:
        """Mark claimed events as posted."""
        ...

    def retry(self, ids: list[int], *, at: datetime, error: str) -> None:
        """Give claimed events back, due again at `at` (backoff), with the error that stopped them."""
        ...

    def backlog(self, *, sink: str, now: datetime) -> tuple[int, float]:
        """Events not yet delivered to `sink`, and the age in seconds of the oldest (0 when none)."""
        ...


# -- approvals -------------------------------------------------------------------------------------------


class PendingRequests(Protocol):
    """Requests waiting for an approver; each is decided (or lapses) exactly once, whichever replica asks."""

    def open(self, request: PendingRequest, *, now: datetime) -> PendingRequest | None:
        """Record a new pending request, unless the user already has a live one: then that one, unchanged."""
        ...

    def withdraw(self, request_id: str) -> None:
        """Forget a request that never reached the approvers (its message could not be posted)."""
        ...

    def attach(self, request_id: str, *, channel: str, message_ts: str) -> None:
        """Remember where the request's message is, to update it once decided."""
        ...

    def get(self, request_id: str) -> PendingRequest | None:
        """A request by its ID, whatever its status; None when there is no such request."""
        ...

    def decide(
        self,
        request_id: str,
        *,
        status: RequestStatus,
        decided_by: str,
        now: datetime,
        approved_seconds: int | None = None,
        note: str | None = None,
    ) -> PendingRequest | None:
        """Approve or deny a request still live at `now`: the decided request for exactly one caller, None for
        every other (already decided, lapsed, unknown)."""
        ...

    def lapse(self, *, now: datetime) -> list[PendingRequest]:
        """Claim every request past its expiry and still pending as lapsed; each is returned to one caller only."""
        ...

    def pending_for(self, user_id: str, *, now: datetime) -> list[PendingRequest]:
        """The user's live requests, oldest first."""
        ...


class ApprovalBoard(Protocol):
    """The approvals channel, and what the requester is told about their request there (never a token)."""

    def post(self, request: PendingRequest) -> tuple[str, str] | None:
        """The request, with Approve and Deny, in the approvals channel: (channel, ts), or None when refused."""
        ...

    def submitted(self, ctx: RequestContext, request: PendingRequest) -> None:
        """Tell the requester privately that the request went to approval, and to whom."""
        ...

    def decided(self, request: PendingRequest, *, issued: bool | None) -> None:
        """Show a decided or lapsed request's outcome in its message (buttons gone) and tell the requester."""
        ...

    def announce(self, event: AuditEvent) -> None:
        """A loud notice of a break-glass token in the approvals channel."""
        ...


class OnceClaims(Protocol):
    """Keys that may act once across replicas: a Slack trigger_id, a reminder, an approval decision."""

    def claim(self, key: str, *, holder: str, now: datetime, ttl_seconds: float) -> bool:
        """True for exactly one caller per key within `ttl_seconds`, whichever replica asks."""
        ...
