"""Use cases: what the bot does for a requester, whichever front end asked.

Each use case is one function that reads top to bottom: who is asking, what they may have, what happens,
what the audit trail records and what the requester is told. It talks to the outside world only through
the ports in `bot.domain.ports` (a user directory, private replies, the audit log, the quota, the sealer)
and the token engine, so the slash command, a modal, a Renew button or an admin's CLI all translate their
input into the same call, and the unit tests run it on in-memory fakes. No Slack, Kubernetes, HTTP or
database import here.

Failures take one path, `report_failure`: an expected `RokBotError` becomes its outcome's audit event and
its one-sentence `user_message`; anything else is logged with its traceback and answered with a reference.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Literal

from bot import metrics
from bot.domain.approvals import (
    PendingRequest,
    RequestStatus,
    approved_seconds,
    check_decider,
    clean_text,
    new_request_id,
)
from bot.domain.audit import AuditEvent, Origin, Outcome
from bot.domain.durations import format_duration
from bot.domain.errors import (
    AccessDenied,
    ApprovalUnavailable,
    DeliveryError,
    InternalError,
    LimitExceeded,
    RenewRefused,
    RequestNotPending,
    RokBotError,
    UsageError,
)
from bot.domain.identity import Identity, IdentityResolver
from bot.domain.ledger import LedgerEntry, Minted, QuotaRule, TokenStatus
from bot.domain.lifecycle import (
    EXPIRED_SHOWN_FOR,
    HOME_EXPIRED_CAP,
    HOME_LIVE_CAP,
    LIST_CAP,
    HomeView,
    Posted,
    Reminder,
    TokenForm,
    TokenLine,
    TokenList,
    already_renewed,
    presets_for,
    reminder_due_at,
)
from bot.domain.models import Account, HelpInfo, IssuedToken, Limits, RequestContext, Verdict, VerifyResult
from bot.domain.policy import Policy, UserLimits
from bot.domain.ports import (
    ApprovalBoard,
    AuditLog,
    Ledger,
    Minter,
    OnceClaims,
    PendingRequests,
    Quota,
    QuotaPlace,
    Replies,
    Sealer,
    Surfaces,
    TokenQuery,
    UserDirectory,
)
from bot.limits import RecentChecks

log = logging.getLogger(__name__)

POSSIBLY_MINTED = (
    "A token may have been created that you never saw: an admin can find and revoke it by this request's ID."
)
VERIFY_COOLDOWN = 10.0  # seconds a Verify answer is reused for the same user and token
# Admins are not rate-limited (their own cluster credentials could mint anything); the ledger still counts them.
ADMIN_RULE = QuotaRule(per_hour=1_000_000, cooldown=0)
ONCE_WINDOW = 600.0  # a request's key acts once for this long: twice Slack's 5-minute signature window

Kind = Literal["issue", "help", "verify", "home", "form", "list", "renew", "remind", "dismiss", "approve"]


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Ports:
    """Everything the use cases need, built once by the composition root (`bot.bootstrap`)."""

    engine: Minter
    directory: UserDirectory
    identity: IdentityResolver
    policy: Policy
    quota: Quota
    replies: Replies
    audit: AuditLog
    sealer: Sealer
    checks: RecentChecks[tuple[str, str], VerifyResult]
    contact: str
    once: OnceClaims | None = None  # None: one replica, and the Slack guard's in-memory check is enough
    holder: str = "local"
    # The token's life in Slack (Home tab, form, list, reminders, Renew): the store's ledger and Slack's
    # surfaces; None where there are none (the CLI). `remind_before`: ROK_BOT_REMIND_BEFORE, 0 for off.
    ledger: Ledger | None = None
    surfaces: Surfaces | None = None
    remind_before: int = 0
    # Approvals (when the policy has them): the pending requests and the approvals channel.
    pending: PendingRequests | None = None
    board: ApprovalBoard | None = None
    clock: Callable[[], datetime] = _utcnow


def new_checks() -> RecentChecks[tuple[str, str], VerifyResult]:
    """The Verify cooldown: answers reused for VERIFY_COOLDOWN seconds, "unreachable" never."""
    return RecentChecks(cooldown=VERIFY_COOLDOWN, keep=lambda r: r.verdict is not Verdict.UNREACHABLE)


@dataclass(frozen=True, slots=True)
class Facts:
    """What is known about one request so far: what its audit event will say, whatever the outcome."""

    ctx: RequestContext
    kind: Kind
    username: str | None = None
    seconds: int | None = None
    token_uuid: str | None = None
    expires_at: datetime | None = None
    note: str | None = None  # the reason an issued event gives: the form's reason, the token a renewal renews
    actor: str | None = None  # who decided, when not the requester (an approver)

    def but(self, **changes: object) -> Facts:
        return replace(self, **changes)  # type: ignore[arg-type]

    def event(self, outcome: Outcome, *, reason: str | None = None, expires_at: datetime | None = None) -> AuditEvent:
        return AuditEvent(
            outcome=outcome,
            request_id=self.ctx.request_id,
            slack_user=self.ctx.user_id,
            username=self.username,
            duration_seconds=self.seconds,
            expires_at=expires_at or self.expires_at,
            token_uuid=self.token_uuid,
            reason=reason if reason is not None else self.note,
            command=self.kind,
            origin=str(self.ctx.origin),
            actor=self.actor,
        )


@dataclass(frozen=True, slots=True)
class IssueRequest:
    """Issue a token for the requester; `seconds` parsed by the front end, None for their default.

    Above the requester's own limit the request goes to the approvers (when the policy has approvals); an
    approver's Approve comes back here with `approved_by` set, for the duration they granted.
    """

    ctx: RequestContext
    seconds: int | None = None
    renewed_from: int | None = None  # the ledger row of the token this one renews (a Renew button)
    note: str | None = None  # why, for the audit trail (the form's reason, "renews token ...")
    reason: str = ""  # the requester's words after the duration (for the approvers and the audit trail)
    approved_by: str | None = None  # the approver's Slack user ID, when an approval is being minted
    break_glass: bool = False  # an incident responder's `--break-glass`: at once, with a reason, loudly


@dataclass(frozen=True, slots=True)
class Issued:
    """The facts of a token delivered to its requester (never the token)."""

    username: str
    seconds: int
    expires_at: datetime
    token_uuid: str | None


# -- issue -------------------------------------------------------------------------------------------------


def issue_token(p: Ports, req: IssueRequest) -> Issued | PendingRequest | None:
    """Identity, policy, quota, mint, deliver privately, audit: None when refused or failed (already told), a
    PendingRequest when it went to the approvers instead."""
    ctx = req.ctx
    facts = Facts(ctx, "issue", seconds=req.seconds, note=req.note, actor=req.approved_by)
    if not first_time(p, ctx):
        return None
    try:
        identity = identify(p, ctx.user_id)
        facts = facts.but(username=identity.username)
        limits = limits_of(p, ctx.user_id)
        seconds = limits.default if req.seconds is None else req.seconds
        facts = facts.but(seconds=seconds)
        needs_approval = _needs_approval(p, req, limits, seconds)
        account = p.engine.account(identity.username)
        p.identity.check_account(identity, account)
        if needs_approval:
            return _ask_approval(p, facts, req, limits, seconds=seconds, username=account.username)
        place = p.quota.reserve(ctx, seconds=seconds, renewed_from=req.renewed_from)
        issued = _mint(p, place, facts, account, seconds=seconds)
        if issued is None:
            return None  # possibly minted: settled, audited and told
        facts = facts.but(token_uuid=issued.token_uuid, expires_at=issued.expires_at)
        minted = Minted(
            rok_user=issued.username,
            account_uuid=issued.account_uuid,
            token_uuid=issued.token_uuid,
            issued_at=p.clock(),
            expires_at=issued.expires_at,
        )
        if not _deliver(p, ctx, issued):
            _undelivered(p, place, facts, minted)
            return None
        outcome = Outcome.BREAK_GLASS if req.break_glass else Outcome.ISSUED
        event = facts.event(outcome, reason=req.reason or None)
        place.settle(status=TokenStatus.ISSUED, minted=minted, event=event)
        metrics.REQUESTS.labels("issue", outcome).inc()
        if req.break_glass and p.board is not None:
            p.board.announce(event)  # loud: the approvals channel sees it too, not only the audit channel
        return Issued(issued.username, seconds, issued.expires_at, issued.token_uuid)
    except Exception as exc:
        report_failure(p, facts, exc)
        return None


def _needs_approval(p: Ports, req: IssueRequest, limits: UserLimits, seconds: int) -> bool:
    """True when the duration is above the user's own limit and may be approved; raises when nothing allows it.
    An approval being minted is checked again: the policy may have changed since it was asked for."""
    if req.break_glass:
        _check_break_glass(p, req, limits, seconds)
        return False
    if req.approved_by is not None:
        p.policy.check_approved(limits, seconds)
        return False
    return p.policy.needs_approval(limits, seconds)


def _check_break_glass(p: Ports, req: IssueRequest, limits: UserLimits, seconds: int) -> None:
    """Break-glass: a member of one of its user groups, a reason, at most its own maximum."""
    rules = p.policy.break_glass
    if rules is None:
        raise AccessDenied("Break-glass is not enabled here.", detail="break_glass: not configured")
    if not p.directory.groups_of(req.ctx.user_id, rules.usergroups):
        raise AccessDenied(
            "You may not use break-glass: it is for the on-call groups the policy names. "
            f"Ask for an approval instead, or ask {p.contact}.",
            detail="break_glass: not a member",
        )
    if not req.reason:
        raise UsageError('Break-glass needs a reason: /rok-token 2h --break-glass "incident 4711".')
    p.policy.check_break_glass(limits, seconds)


def _ask_approval(
    p: Ports, facts: Facts, req: IssueRequest, limits: UserLimits, *, seconds: int, username: str
) -> PendingRequest:
    """Put the request before the approvers: recorded, posted to the approvals channel, requester told."""
    ctx = req.ctx
    rules = p.policy.approvals
    if rules is None or p.pending is None or p.board is None:
        raise ApprovalUnavailable(detail="approvals in the policy but no pending store or approvals channel")
    now = p.clock()
    request = PendingRequest(
        id=new_request_id(),
        request_id=ctx.request_id,
        team_id=ctx.team_id,
        user_id=ctx.user_id,
        rok_user=username,
        seconds=seconds,
        usual_max=limits.max,
        usual_source=limits.source,
        reason=clean_text(req.reason),
        requested_at=now,
        expires_at=now + timedelta(seconds=rules.expire_after),
    )
    waiting = p.pending.open(request, now=now)
    if waiting is not None:
        # One request at a time per user: the approvals channel cannot be flooded by one person.
        minutes = max(-(-int((waiting.expires_at - now).total_seconds()) // 60), 1)
        raise LimitExceeded(
            f"You already have a request for {format_duration(waiting.seconds)} waiting for approval "
            f"(request {waiting.request_id}); wait for a decision, or for it to lapse in "
            f"{format_duration(minutes * 60)}.",
            detail="an approval request is already pending",
        )
    try:
        where = p.board.post(request)
    except BaseException:
        p.pending.withdraw(request.id)
        raise
    if where is None:
        p.pending.withdraw(request.id)
        raise ApprovalUnavailable(detail=f"could not post to the approvals channel {rules.channel}")
    channel, ts = where
    p.pending.attach(request.id, channel=channel, message_ts=ts)
    request = replace(request, channel=channel, message_ts=ts)
    p.audit.record(facts.event(Outcome.APPROVAL_REQUESTED, reason=request.reason or None))
    metrics.REQUESTS.labels("issue", Outcome.APPROVAL_REQUESTED).inc()
    p.board.submitted(ctx, request)
    return request


# -- approvals ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Decision:
    """An approver's Approve or Deny click on a pending request; `seconds` and `note` as the click gave them."""

    ctx: RequestContext  # the decider's click
    request_id: str  # the pending request's ID, from the button (untrusted)
    approve: bool
    seconds: str | None = None  # a shorter duration picked in the message (untrusted: checked against the row)
    note: str | None = None  # the approver's reason, told to the requester


def decide_request(p: Ports, d: Decision) -> PendingRequest | None:
    """Approve (mint for the requester, through `issue_token`) or deny a pending request, once: the first
    listed approver to decide wins; the requester and anyone not listed are refused. None when refused."""
    ctx = d.ctx
    facts = Facts(ctx, "approve")
    if not first_time(p, ctx):
        return None
    try:
        rules = p.policy.approvals
        if rules is None or p.pending is None or p.board is None:
            raise RequestNotPending("Approvals are not enabled here.", detail="no approvals in the policy")
        # Group membership only when the user is not listed by ID: one Slack call fewer, and a group Slack no
        # longer knows cannot stop the approvers listed by ID.
        listed = ctx.user_id in rules.users or not rules.usergroups
        groups = frozenset() if listed else p.directory.groups_of(ctx.user_id, rules.usergroups)
        request = p.pending.get(d.request_id)
        if request is None:
            raise RequestNotPending("There is no such request; it may have been removed.", detail="unknown request")
        facts = facts.but(username=request.rok_user, seconds=request.seconds)
        check_decider(rules, decider=ctx.user_id, requester=request.user_id, decider_groups=groups)
        seconds = approved_seconds(request, d.seconds) if d.approve else None
        now = p.clock()
        decided = p.pending.decide(
            request.id,
            status=RequestStatus.APPROVED if d.approve else RequestStatus.DENIED,
            decided_by=ctx.user_id,
            now=now,
            approved_seconds=seconds,
            note=clean_text(d.note) or None,
        )
        if decided is None:
            raise _too_late(p, request.id, now)
        outcome = Outcome.APPROVED if d.approve else Outcome.DENIED
        p.audit.record(_decision_event(decided, outcome, reason=_decision_reason(decided)))
        metrics.REQUESTS.labels("approve", outcome).inc()
        if not d.approve:
            p.board.decided(decided, issued=None)
            return decided
        # The requester's own request, minted by the one issue use case: their identity, limits, account and
        # quota, checked now. Their response_url is long gone: the token and any notice go to their DM.
        requester = RequestContext(
            decided.request_id, decided.user_id, Origin.APPROVAL, team_id=decided.team_id, notify_dm=True
        )
        result = issue_token(p, IssueRequest(requester, seconds, reason=decided.reason, approved_by=ctx.user_id))
        p.board.decided(decided, issued=isinstance(result, Issued))
        return decided
    except Exception as exc:
        report_failure(p, facts, exc)
        return None


def _too_late(p: Ports, request_id: str, now: datetime) -> RequestNotPending:
    """Why a decision changed nothing: someone decided first, or the request lapsed (claimed here if so)."""
    current = p.pending.get(request_id) if p.pending is not None else None
    if current is not None and current.status is RequestStatus.PENDING:
        lapse_due(p, now=now)  # past its expiry, not swept yet: lapse it now
        return RequestNotPending("This request lapsed: nobody decided in time.", detail="lapsed")
    status = current.status.value if current is not None else "removed"
    return RequestNotPending(f"This request was already {status}; nothing more to do.", detail=f"already {status}")


def _decision_event(request: PendingRequest, outcome: Outcome, *, reason: str | None) -> AuditEvent:
    """The audit event of a decision (or a lapse), under the request's own ID, naming who decided."""
    return AuditEvent(
        outcome=outcome,
        request_id=request.request_id,
        slack_user=request.user_id,
        username=request.rok_user,
        duration_seconds=request.approved_seconds or request.seconds,
        reason=reason,
        command="approve",
        actor=request.decided_by,
    )


def _decision_reason(request: PendingRequest) -> str | None:
    """What the audit line of a decision says besides the facts: what was asked and why, or the denial's note."""
    if request.status is RequestStatus.DENIED:
        return request.note
    asked = f"asked for {format_duration(request.seconds)}"
    return f"{asked}: {request.reason}" if request.reason else asked


def lapse_due(p: Ports, *, now: datetime | None = None) -> list[PendingRequest]:
    """Requests nobody decided in time: claimed once across replicas, audited, message updated, requester told."""
    if p.pending is None or p.board is None:
        return []
    lapsed = p.pending.lapse(now=now or p.clock())
    for request in lapsed:
        waited = format_duration(max(int((request.expires_at - request.requested_at).total_seconds()), 1))
        p.audit.record(_decision_event(request, Outcome.LAPSED, reason=f"nobody decided within {waited}"))
        metrics.REQUESTS.labels("approve", Outcome.LAPSED).inc()
        p.board.decided(request, issued=None)
    return lapsed


def pending_for(p: Ports, user_id: str) -> list[PendingRequest]:
    """The user's requests still waiting for an approver, oldest first (App Home shows them)."""
    if p.pending is None:
        return []
    return p.pending.pending_for(user_id, now=p.clock())


def _mint(p: Ports, place: QuotaPlace, facts: Facts, account: Account, *, seconds: int) -> IssuedToken | None:
    """token-create, with the quota place kept only when a token exists (or may)."""
    try:
        return p.engine.mint(account, seconds=seconds)
    except RokBotError as exc:
        if not exc.may_have_minted:
            place.release()
            raise
        # A token may exist that nobody holds: it keeps its place in the quota and the ledger says so.
        message = f"{exc.user_message} {POSSIBLY_MINTED}"
        place.settle(
            status=TokenStatus.POSSIBLY_MINTED,
            minted=None,
            event=facts.event(Outcome.POSSIBLY_MINTED, reason=f"{exc.kind}: {message}"),
        )
        log.warning("possibly minted: %s", exc.kind, extra={"error": exc.kind, "detail": exc.detail})
        metrics.REQUESTS.labels("issue", Outcome.POSSIBLY_MINTED).inc()
        p.replies.notice(facts.ctx, message)
        return None
    except BaseException:
        place.release()
        raise


def _deliver(p: Ports, ctx: RequestContext, issued: IssuedToken) -> bool:
    """Seal the Verify value and send the token privately; any failure after the mint is 'not delivered'."""
    try:
        value = p.sealer.seal(
            token=issued.token,
            user_id=ctx.user_id,
            expires_at=int(issued.expires_at.timestamp()),
            token_uuid=issued.token_uuid,
            username=issued.username,
        )
        return p.replies.token(ctx, issued, verify_value=value)
    except Exception as exc:
        # Building or sealing the message, an unexpected answer from Slack: the user never saw the token.
        log.warning("delivery failed after the mint", extra={"error": type(exc).__name__})
        return False


def _undelivered(p: Ports, place: QuotaPlace, facts: Facts, minted: Minted) -> None:
    """Tell the user, without the token, that a token exists they never saw; settle and audit it."""
    metrics.DELIVERY_FAILURES.inc()
    metrics.REQUESTS.labels("issue", Outcome.UNDELIVERED).inc()
    failure = DeliveryError(detail="the token was minted but not delivered")
    place.settle(
        status=TokenStatus.UNDELIVERED,
        minted=minted,
        event=facts.event(Outcome.UNDELIVERED, reason=f"{failure.kind}: {failure.user_message}"),
    )
    p.replies.undelivered(
        facts.ctx,
        "A token was created for you but could not be shown to you. It cannot be shown again: "
        f"ask {p.contact} to revoke token {facts.token_uuid or '(unknown)'} "
        f"(request {facts.ctx.request_id}), then ask for a new one.",
    )


def issue_for_admin(
    engine: Minter,
    *,
    username: str,
    seconds: int | None,
    limits: UserLimits,
    quota: Quota | None = None,
    ctx: RequestContext | None = None,
) -> IssuedToken:
    """An admin's `rok-token-bot issue USERNAME`: the settings' range, no Slack user; recorded in the ledger
    (origin `cli`, requester `cli:<operator>`) when a quota is given, with its audit event."""
    seconds = limits.default if seconds is None else seconds
    limits.check(seconds)
    account = engine.account(username)
    if quota is None or ctx is None:
        return engine.mint(account, seconds=seconds)
    facts = Facts(ctx, "issue", username=account.username, seconds=seconds)
    place = quota.reserve(ctx, seconds=seconds)
    try:
        issued = engine.mint(account, seconds=seconds)
    except RokBotError as exc:
        if not exc.may_have_minted:
            place.release()
            raise
        place.settle(
            status=TokenStatus.POSSIBLY_MINTED,
            minted=None,
            event=facts.event(Outcome.POSSIBLY_MINTED, reason=f"{exc.kind}: {exc.user_message}"),
        )
        raise
    except BaseException:
        place.release()
        raise
    facts = facts.but(token_uuid=issued.token_uuid, expires_at=issued.expires_at)
    minted = Minted(issued.username, issued.account_uuid, issued.token_uuid, _utcnow(), issued.expires_at)
    # Printed on the admin's terminal: delivered as far as the ledger is concerned.
    place.settle(status=TokenStatus.ISSUED, minted=minted, event=facts.event(Outcome.ISSUED, reason="admin CLI"))
    return issued


# -- help --------------------------------------------------------------------------------------------------


def help_for(p: Ports, ctx: RequestContext) -> HelpInfo:
    """Usage with the caller's own username, limits and quota left (or why they cannot ask)."""
    facts = Facts(ctx, "help")
    try:
        try:
            username = identify(p, ctx.user_id).username
            limits = limits_of(p, ctx.user_id)
            info = HelpInfo(
                username,
                None,
                _limits_view(limits, per_hour=p.quota.rule.per_hour, left=p.quota.remaining(ctx.user_id)),
            )
        except AccessDenied as exc:
            info = HelpInfo(None, exc.user_message, _limits_view(p.policy.everyone))
        p.replies.help(ctx, info)
        metrics.REQUESTS.labels("help", "answered").inc()
        return info
    except Exception as exc:
        report_failure(p, facts, exc)
        raise


def _limits_view(limits: UserLimits, *, per_hour: int | None = None, left: int | None = None) -> Limits:
    return Limits(limits.default, limits.min, limits.max, limits.source, per_hour, left)


# -- verify ------------------------------------------------------------------------------------------------


def verify_button(p: Ports, ctx: RequestContext, value: str) -> VerifyResult | None:
    """Open a sealed Verify value for its owner and ask the registry, at most once per cooldown per token."""
    facts = Facts(ctx, "verify")
    if not first_time(p, ctx):
        return None
    try:
        sealed = p.sealer.open(value, user_id=ctx.user_id)
        facts = facts.but(token_uuid=sealed.token_uuid, username=sealed.username)
        token = sealed.token
        # Keyed by a digest held in memory only: clicking one token's button again and again gets the last
        # answer, not another registry call and another audit post.
        key = (ctx.user_id, hashlib.sha256(token.reveal().encode()).hexdigest())
        result, age = p.checks.get(key, lambda: p.engine.verify(token))
        if age is not None:
            ago = max(int(age), 1)
            metrics.REQUESTS.labels("verify", "cached").inc()
            log.info("verify answered from the last check", extra={"checked_seconds_ago": ago})
            p.replies.verified(ctx, result, checked_ago=ago)
            return result
        p.replies.verified(ctx, result, checked_ago=None)
        metrics.REQUESTS.labels("verify", result.verdict.value).inc()
        p.audit.record(facts.event(Outcome.VERIFIED, reason=result.verdict.value, expires_at=result.expires_at))
        return result
    except Exception as exc:
        report_failure(p, facts, exc)
        return None


# -- the token's life in Slack: the Home tab, the form, the list, reminders, Renew -------------------------


@dataclass(frozen=True, slots=True)
class RenewRequest:
    """Renew the token of one ledger row for its owner; `entry_id` None when the button held no row ID."""

    ctx: RequestContext
    entry_id: int | None


def tokens_of(p: Ports, user_id: str, *, now: datetime, cap: int, expired_cap: int = 0) -> TokenList:
    """A user's live tokens, newest first, and (with `expired_cap`) those that expired in the last day."""
    if p.ledger is None:
        return TokenList([])
    # One query for both lists: rows issued and not expired a day ago are the live ones and the recently
    # expired ones (the same filter as `TokenQuery(active_at=now)`, a day earlier).
    rows = p.ledger.tokens(TokenQuery(slack_user=user_id, active_at=now - EXPIRED_SHOWN_FOR))
    renewals = {e.renewed_from: e for e in rows if e.renewed_from is not None}
    live = [e for e in rows if e.live(now)]
    expired = [e for e in rows if not e.live(now)]

    def lines(entries: list[LedgerEntry], limit: int) -> list[TokenLine]:
        return [TokenLine.of(e, renewed_by=renewals.get(e.id)) for e in entries[:limit]]

    return TokenList(
        live=lines(live, cap),
        live_more=max(len(live) - cap, 0),
        expired=lines(expired, expired_cap),
        expired_more=max(len(expired) - expired_cap, 0) if expired_cap else 0,
    )


def show_home(p: Ports, ctx: RequestContext, *, now: datetime | None = None) -> HomeView | None:
    """Publish the user's Home tab: their live tokens, what they may ask for (or why not), whom to ask.

    Opening the Home tab is a read: it is not audited (like help). A failure still shows on the tab.
    """
    if p.surfaces is None:
        return None
    now = now or p.clock()
    try:
        home = _home(p, ctx.user_id, now)
        outcome = "published"
    except Exception:
        log.error("the Home tab could not be built", exc_info=True)
        refusal = f"The bot could not load your tokens just now; try again in a minute (reference {ctx.request_id})."
        home = HomeView(ctx.user_id, TokenList([]), _limits_view(p.policy.everyone), None, refusal, p.contact, now)
        outcome = "failed"
    metrics.REQUESTS.labels("home", outcome if p.surfaces.publish_home(home) else "unpublished").inc()
    return home


def _home(p: Ports, user_id: str, now: datetime) -> HomeView:
    tokens = tokens_of(p, user_id, now=now, cap=HOME_LIVE_CAP, expired_cap=HOME_EXPIRED_CAP)
    try:
        username = identify(p, user_id).username
        limits = limits_of(p, user_id)
    except AccessDenied as exc:
        return HomeView(user_id, tokens, _limits_view(p.policy.everyone), None, exc.user_message, p.contact, now)
    view = _limits_view(limits, per_hour=p.quota.rule.per_hour, left=p.quota.remaining(user_id))
    pending = tuple(pending_for(p, user_id))
    return HomeView(
        user_id, tokens, view, username, None, p.contact, now, remind_before=p.remind_before, pending=pending
    )


def open_token_form(p: Ports, ctx: RequestContext, *, trigger: str) -> TokenForm | None:
    """Open the get-token form with the durations the user may choose, or why they cannot ask.

    Slack's trigger is good for 3 seconds: the limits come from the directory's cache when warm, and
    nothing slower happens before views.open.
    """
    if p.surfaces is None:
        return None
    try:
        identify(p, ctx.user_id)
        limits = limits_of(p, ctx.user_id)
        view = _limits_view(limits, per_hour=p.quota.rule.per_hour)
        form = TokenForm(view, presets_for(view))
    except AccessDenied as exc:
        form = TokenForm(_limits_view(p.policy.everyone), [], refusal=exc.user_message)
    if p.surfaces.open_form(trigger=trigger, form=form):
        metrics.REQUESTS.labels("form", "refused" if form.refusal else "opened").inc()
    else:
        metrics.REQUESTS.labels("form", "failed").inc()
        p.replies.notice(ctx, "The form could not be opened in time; click Get a token again, or type /rok-token 8h.")
    return form


def list_tokens(p: Ports, ctx: RequestContext, *, now: datetime | None = None) -> TokenList | None:
    """`/rok-token list`: the user's live tokens, privately (never a token: their UUIDs)."""
    facts = Facts(ctx, "list")
    try:
        if p.surfaces is None or p.ledger is None:
            raise InternalError(ctx.request_id)
        tokens = tokens_of(p, ctx.user_id, now=now or p.clock(), cap=LIST_CAP)
        p.surfaces.token_list(ctx, tokens)
        metrics.REQUESTS.labels("list", "answered").inc()
        return tokens
    except Exception as exc:
        report_failure(p, facts, exc)
        return None


def renew_token(p: Ports, req: RenewRequest) -> Issued | PendingRequest | None:
    """A Renew click: only the token's owner, once per token, the same duration through `issue_token` (policy
    and quota checked again); the new token's ledger row names the old one, and its reminder is edited."""
    ctx = req.ctx
    facts = Facts(ctx, "renew")
    if not first_time(p, ctx):
        return None
    try:
        entry = p.ledger.entry(req.entry_id) if p.ledger is not None and req.entry_id is not None else None
        if entry is None or entry.slack_user != ctx.user_id:
            # The same answer for a row that is someone else's and one that does not exist: nothing to probe.
            raise RenewRefused(detail=f"row {req.entry_id} is not {ctx.user_id}'s")
        facts = facts.but(username=entry.rok_user, seconds=entry.duration_seconds, token_uuid=entry.token_uuid)
        if entry.status is not TokenStatus.ISSUED or entry.expires_at is None:
            raise RenewRefused(
                "Only a token that was delivered can be renewed; use /rok-token for a new one.",
                detail=f"row {entry.id} is {entry.status}",
            )
        assert p.ledger is not None
        renewal = p.ledger.renewal_of(entry.id)
        if renewal is not None:
            issued_one = renewal.status is TokenStatus.ISSUED
            message = already_renewed(token_uuid=renewal.token_uuid, issued=issued_one, request_id=renewal.request_id)
            raise RenewRefused(message, detail=f"row {entry.id} already renewed by row {renewal.id}")
    except Exception as exc:
        report_failure(p, facts, exc)
        return None
    note = f"renews token {entry.token_uuid or entry.request_id}"
    # The click's key was claimed above: the issue it turns into must not claim it again.
    renewal_ctx = replace(ctx, once_key=None)
    issued = issue_token(p, IssueRequest(renewal_ctx, entry.duration_seconds, renewed_from=entry.id, note=note))
    # A renewal above the user's own limit (an approved token) goes to the approvers like any other request.
    if isinstance(issued, Issued) and p.surfaces is not None and entry.reminder_channel and entry.reminder_ts:
        p.surfaces.renewed(
            Posted(entry.reminder_channel, entry.reminder_ts),
            old=Reminder.of(entry, now=p.clock()),
            new_uuid=issued.token_uuid,
            new_expires_at=issued.expires_at,
        )
    return issued


def dismiss_reminder(p: Ports, ctx: RequestContext, entry_id: int | None) -> bool:
    """A reminder's Dismiss: its owner's only; the message is edited to say so, the token is untouched."""
    facts = Facts(ctx, "dismiss")
    try:
        entry = p.ledger.entry(entry_id) if p.ledger is not None and entry_id is not None else None
        if entry is None or entry.slack_user != ctx.user_id:
            raise RenewRefused("This reminder is not for you.", detail=f"row {entry_id} is not {ctx.user_id}'s")
        if p.surfaces is not None and entry.reminder_channel and entry.reminder_ts:
            posted = Posted(entry.reminder_channel, entry.reminder_ts)
            p.surfaces.dismissed(posted, reminder=Reminder.of(entry, now=p.clock()))
        metrics.REQUESTS.labels("dismiss", "dismissed").inc()
        return True
    except Exception as exc:
        report_failure(p, facts, exc)
        return False


def send_reminders(p: Ports, *, now: datetime, limit: int = 500) -> int:
    """One sweep: remind each owner of a token about to expire, once, whichever replica sweeps; audited.

    A row is claimed in the ledger before its message is posted (at most once: a post that fails is logged,
    counted and audited, not retried), and only while the token is live and not renewed.
    """
    lead = p.remind_before
    if lead <= 0 or p.ledger is None or p.surfaces is None:
        return 0
    sent = 0
    for entry in p.ledger.due_reminders(now=now, lead=lead, limit=limit):
        due = reminder_due_at(entry, lead)
        if due is None or due > now or entry.slack_user is None:
            continue  # a short-lived token: a quarter of its life is not left yet
        if not p.ledger.claim_reminder(entry.id, now=now):
            continue  # another replica took it, or it was renewed meanwhile
        posted = p.surfaces.remind(Reminder.of(entry, now=now))
        if posted is not None:
            p.ledger.reminder_posted(entry.id, channel=posted.channel, ts=posted.ts)
            sent += 1
        extra = {"token_uuid": entry.token_uuid, "entry": entry.id, "posted": posted is not None}
        log.info("reminder sent" if posted else "reminder not delivered", extra=extra)
        metrics.REQUESTS.labels("remind", "sent" if posted else "failed").inc()
        p.audit.record(
            AuditEvent(
                outcome=Outcome.REMINDED,
                request_id=entry.request_id,
                slack_user=entry.slack_user,
                username=entry.rok_user,
                duration_seconds=entry.duration_seconds,
                expires_at=entry.expires_at,
                token_uuid=entry.token_uuid,
                reason=None if posted else "the reminder could not be posted to the user",
                command="remind",
                origin=str(Origin.SYSTEM),
            )
        )
    return sent


# -- shared steps ------------------------------------------------------------------------------------------


def first_time(p: Ports, ctx: RequestContext) -> bool:
    """Claim the request's key across replicas: False for a replay or redelivery another replica took."""
    if p.once is None or ctx.once_key is None:
        return True
    if p.once.claim(ctx.once_key, holder=p.holder, now=p.clock(), ttl_seconds=ONCE_WINDOW):
        return True
    metrics.DUPLICATES.labels("claimed_elsewhere").inc()
    log.info("duplicate request ignored: another replica took it")
    return False


def identify(p: Ports, user_id: str) -> Identity:
    """The Rok username of a Slack user (users.info, cached by the directory), or AccessDenied."""
    return p.identity.resolve(user_id, p.directory.profile(user_id))


def limits_of(p: Ports, user_id: str) -> UserLimits:
    """The user's limits under the policy (allowlist first), from the user groups it names."""
    groups = p.directory.groups_of(user_id, p.policy.group_ids) if p.policy.group_ids else frozenset()
    p.policy.check_allowed(user_id, groups, p.contact)
    return p.policy.limits_for(groups)


def report_failure(p: Ports, facts: Facts, exc: BaseException) -> None:
    """The one place failures go: its audit event, one private sentence, a log line (with the traceback
    when it was not expected)."""
    if isinstance(exc, RokBotError):
        failure = exc
        log.warning("%s: %s", failure.outcome, failure.kind, extra={"error": failure.kind, "detail": failure.detail})
    else:
        failure = InternalError(facts.ctx.request_id)
        log.error("unexpected error", exc_info=exc)
    outcome = failure.outcome
    message = failure.user_message
    if failure.may_have_minted:
        message = f"{message} {POSSIBLY_MINTED}"
    metrics.REQUESTS.labels(facts.kind, outcome).inc()
    reason = "internal_error" if isinstance(failure, InternalError) else failure.kind
    try:
        p.replies.notice(facts.ctx, message)
    finally:
        p.audit.record(facts.event(outcome, reason=f"{reason}: {message}"))
