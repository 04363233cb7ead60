"""The small interfaces the engine needs from the outside world, and the values that cross them."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol

import msgspec

from bot.domain.approvals import PendingRequest, RequestStatus
from bot.domain.audit import AuditEvent, Origin
from bot.domain.holders import Holdings, WhoRefusal
from bot.domain.ledger import LedgerEntry, Minted, QuotaRule, TokenStatus
from bot.domain.lifecycle import Deferred, HomeView, Posted, Reminder, TokenForm, TokenList
from bot.domain.models import Account, HelpInfo, IssuedToken, RequestContext, Sealed, VerifyResult
from bot.domain.patterns import DEFAULT_REGISTRY
from bot.domain.routing import RegistryOffer
from bot.domain.secret import Token


class PodTarget(msgspec.Struct, frozen=True):
    """The pod and container an exec goes to."""

    pod: str
    container: str


class ExecResult(msgspec.Struct, frozen=True):
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
    """The token engine as the use cases see it (`bot.usecases.engine.TokenEngine`)."""

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

    def groups_of(self, user_id: str, groups: frozenset[str], *, team_id: str | None = None) -> frozenset[str]:
        """Which of `groups` the user belongs to. `team_id`: the request's workspace, which an org-wide
        install's token must name to read a user group (a group written `T…:S…` names its own)."""
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

    def chooser(self, ctx: RequestContext, offer: RegistryOffer) -> None:
        """One button per registry the user may use; the click asks again, naming the registry."""
        ...


class Surfaces(Protocol):
    """Slack beyond a private reply: the Home tab, the get-token form, the token list, the DM reminder.

    Like `Replies`, Slack errors are logged and counted, never raised: the use case decides what they mean.
    """

    def publish_home(self, home: HomeView) -> bool:
        """Show the user's Home tab (views.publish); False when Slack refused."""
        ...

    def open_form(self, *, trigger: str, form: TokenForm) -> bool:
        """Open the get-token form (views.open) on a trigger Slack gave moments ago; False when refused."""
        ...

    def token_list(self, ctx: RequestContext, tokens: TokenList) -> None:
        """The user's live tokens, privately."""
        ...

    def who(self, ctx: RequestContext, answer: Holdings | WhoRefusal) -> None:
        """`/rok-token who`, privately: everyone's live tokens (an admin), or the refusal naming the admins."""
        ...

    def remind(self, reminder: Reminder) -> Posted | Deferred | None:
        """A persistent message in the user's DM with the bot: the token expires soon, Renew or Dismiss.
        `Deferred` when Slack could not take it now (nothing posted: try again), None when it refused it."""
        ...

    def renewed(self, posted: Posted, *, old: Reminder, new_uuid: str | None, new_expires_at: datetime) -> None:
        """Edit a reminder: the token was renewed (no buttons left)."""
        ...

    def dismissed(self, posted: Posted, *, reminder: Reminder) -> None:
        """Edit a reminder: dismissed by its owner (no buttons left)."""
        ...


class AuditLog(Protocol):
    """Where audit events go: a JSON log line at once, then the audit channel (and any other sink)."""

    def record(self, event: AuditEvent) -> None: ...


class QuotaPlace(Protocol):
    """A place taken in a user's quota, until it is settled (a token was minted) or released (none was)."""

    def release(self) -> None:
        """Nothing was minted: give the place back."""
        ...

    def minted(self, minted: Minted) -> None:
        """A token exists: record its UUID and expiry now, before delivery (a crash or a blink keeps them)."""
        ...

    def settle(self, *, status: TokenStatus, minted: Minted | None, event: AuditEvent) -> None:
        """Keep the place, record what became of the token and its audit event (one transaction)."""
        ...


class Quota(Protocol):
    """Per-user quota and cooldown in one registry (each registry has its own `Quota`, with its own rule: a
    user's tokens in one registry never use another's places); the store's implementation holds across
    replicas."""

    @property
    def rule(self) -> QuotaRule: ...

    def reserve(self, ctx: RequestContext, *, seconds: int, renewed_from: int | None = None) -> QuotaPlace:
        """Take a place now (LimitExceeded says how long to wait), so concurrent requests cannot both pass;
        `renewed_from`: the ledger row this token renews (RenewRefused when it was renewed already)."""
        ...

    def remaining(self, user_id: str) -> int:
        """Places left in the user's rolling hour."""
        ...


class Sealer(Protocol):
    """Seals a token into a button value only its owner can open, until it expires."""

    def seal(
        self,
        *,
        token: Token,
        user_id: str,
        expires_at: int,
        token_uuid: str | None,
        username: str | None = None,
        registry: str = DEFAULT_REGISTRY,
    ) -> str: ...

    def open(self, value: str, *, user_id: str, now: float) -> Sealed:
        """The sealed facts, or a SealError (forged, someone else's, expired, retired key)."""
        ...


# -- state ----------------------------------------------------------------------------------------------
# What must hold across replicas and restarts lives behind these ports; `bot/store` implements them on
# SQLAlchemy (SQLite by default, PostgreSQL for several replicas). Times are timezone-aware UTC.


class Reservation(msgspec.Struct, frozen=True):
    """A place taken in a user's quota: a ledger row in status `reserved`."""

    id: int
    user_id: str
    reserved_at: datetime
    registry: str = DEFAULT_REGISTRY


class TokenQuery(msgspec.Struct, frozen=True):
    """Filters of `rok-token-bot tokens` and of App Home's list; None means any."""

    slack_user: str | None = None
    rok_user: str | None = None
    since: datetime | None = None
    active_at: datetime | None = None  # only tokens issued and not expired at this time
    registry: str | None = None  # only tokens of this registry
    limit: int = 1000


class Ledger(Protocol):
    """The token ledger, and the per-user, per-registry quota it enforces atomically across replicas."""

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
        renewed_from: int | None = None,
        registry: str = DEFAULT_REGISTRY,
        enterprise_id: str | None = None,
    ) -> Reservation:
        """Take a place in `registry` under a per-user lock (never a global one); LimitExceeded (from `rule`,
        counting the user's places in that registry only) when none; RenewRefused when `renewed_from` (a row this
        one renews) was renewed already. `team_id`/`enterprise_id`: where the request came from, recorded only
        (the quota counts by user, whatever workspace they ask from). A renewal stays in its row's registry:
        ValueError when `registry` names another (a wiring mistake, never a user's)."""
        ...

    def release(self, reservation: Reservation) -> None:
        """Nothing was minted: give the place back (delete the row)."""
        ...

    def mark_minted(self, reservation: Reservation, *, minted: Minted) -> None:
        """A `reserved` row becomes `minted` with the token's UUID and expiry (no-op otherwise: a retry is safe)."""
        ...

    def settle(
        self, reservation: Reservation, *, status: TokenStatus, minted: Minted | None, event: AuditEvent
    ) -> None:
        """Record what became of the attempt and append its audit event, in one transaction; a row already in
        `status` is left alone, so a retry after an unsure commit appends no second event."""
        ...

    def remaining(self, user_id: str, *, rule: QuotaRule, now: datetime, registry: str = DEFAULT_REGISTRY) -> int:
        """Places left in the user's rolling hour in `registry`."""
        ...

    def tokens(self, query: TokenQuery) -> list[LedgerEntry]:
        """Ledger rows, newest first."""
        ...

    # -- the token's life in Slack: renewals and expiry reminders

    def entry(self, entry_id: int) -> LedgerEntry | None:
        """One row by its ID; None when there is none (never was, or pruned)."""
        ...

    def renewal_of(self, entry_id: int) -> LedgerEntry | None:
        """The row that renewed this one, if any (each row is renewed at most once)."""
        ...

    def due_reminders(self, *, now: datetime, lead: int, limit: int) -> list[LedgerEntry]:
        """Issued, live rows of Slack users expiring within `lead` seconds, not reminded and not renewed,
        soonest first: the candidates of a reminder sweep (each still to be claimed)."""
        ...

    def claim_reminder(self, entry_id: int, *, now: datetime) -> bool:
        """Mark a row reminded: True for exactly one caller, whichever replica asks, and only while the token
        is live and not renewed."""
        ...

    def reminder_posted(self, entry_id: int, *, channel: str, ts: str) -> None:
        """Where the row's reminder message lives, so a renewal or a dismissal can edit it."""
        ...

    def release_reminder(self, entry_id: int) -> None:
        """Undo this caller's claim of a reminder Slack did not post (rate limited, down): a later round,
        on any replica, claims it again. A row whose reminder was posted is left alone."""
        ...


class ClaimedEvent(msgspec.Struct, frozen=True):
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

    def extend(self, ids: list[int], *, worker: str, until: datetime) -> int:
        """Renew the lease of events `worker` still holds undelivered, to `until`; how many it still held."""
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
        """Record a new pending request, unless the user already has a live one for the same registry: then that
        one, unchanged (a user may wait for one request per registry)."""
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
        claim_by: datetime | None = None,
    ) -> PendingRequest | None:
        """Approve or deny a request still live at `now`: the decided request for exactly one caller, None for
        every other (already decided, lapsed, unknown). An approval is claimable until `claim_by`."""
        ...

    def attach_dm(self, request_id: str, *, channel: str, message_ts: str) -> None:
        """Remember where the requester's Show-my-token message is, to update it once shown or lapsed."""
        ...

    def claim(self, request_id: str, *, user_id: str, now: datetime) -> PendingRequest | None:
        """Claim an approval of `user_id`'s request still claimable at `now`, for its one mint: the claimed
        request for exactly one caller, None for every other (someone else's, claimed, lapsed, unknown)."""
        ...

    def unclaim(self, request_id: str) -> None:
        """Give a claim back after a mint that surely made no token: its Show my token works again."""
        ...

    def lapse(self, *, now: datetime) -> list[PendingRequest]:
        """Claim every request past its expiry and still pending, and every approval unclaimed past its
        `claim_by`, as lapsed; each is returned to one caller only."""
        ...

    def pending_for(self, user_id: str, *, now: datetime) -> list[PendingRequest]:
        """The user's live requests, and approvals still waiting for their Show my token, oldest first."""
        ...


class ApprovalBoard(Protocol):
    """The approvals channel, and what the requester is told about their request there (never a token)."""

    def post(self, request: PendingRequest) -> tuple[str, str] | None:
        """The request, with Approve and Deny, in the approvals channel: (channel, ts), or None when refused."""
        ...

    def submitted(self, ctx: RequestContext, request: PendingRequest) -> None:
        """Tell the requester privately that the request went to approval, and to whom."""
        ...

    def decided(self, request: PendingRequest) -> Posted | None:
        """Show a decided or lapsed request's outcome in its message (buttons gone) and tell the requester; an
        approval goes to their DM as a persistent message with Show my token: where it is, None if refused."""
        ...

    def shown(self, request: PendingRequest) -> None:
        """Edit the requester's Show-my-token message once its token was shown: no button, no token."""
        ...


class BreakGlassAlarm(Protocol):
    """Where a break-glass token is announced loudly (`@here`): the approvals channel, or the audit channel
    when there is none. Slack errors are logged and counted, never raised (the token is delivered already)."""

    def announce(self, event: AuditEvent) -> None:
        """A loud notice of a break-glass token: who, for whom, how long, why; never the token."""
        ...


class OnceClaims(Protocol):
    """Keys that may act once across replicas: a Slack trigger_id, a reminder, an approval decision."""

    def claim(self, key: str, *, holder: str, now: datetime, ttl_seconds: float) -> bool:
        """True for exactly one caller per key within `ttl_seconds`, whichever replica asks."""
        ...
