"""Issue a token: the one use case every way to get a token goes through (the slash command, the form, a
Renew, an approver's Approve, break-glass), and the admin CLI's own variant.

It reads top to bottom: who is asking, what they may have, a place in their quota, the mint, the private
delivery, the ledger and the audit trail, and the requester's Home tab refreshed. Above the requester's own
limit the request goes to the approvers instead (`_ask_approval`); the approvals feature brings an approved
one back here when its requester clicks Show my token (`approval_id`: claimed once, right before the mint).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import msgspec

from bot.domain.approvals import PendingRequest, RequestStatus, new_request_id
from bot.domain.audit import Outcome
from bot.domain.durations import format_duration
from bot.domain.errors import (
    AccessDenied,
    ApprovalUnavailable,
    DeliveryError,
    LimitExceeded,
    RenewRefused,
    RequestNotPending,
    RokBotError,
    UsageError,
)
from bot.domain.ledger import Minted, TokenStatus
from bot.domain.models import Account, IssuedToken, RequestContext
from bot.domain.patterns import DEFAULT_REGISTRY
from bot.domain.policy import UserLimits
from bot.domain.ports import Minter, Quota, QuotaPlace
from bot.domain.text import clean_text
from bot.runtime import metrics, tracing
from bot.runtime.clock import Clock
from bot.usecases.context import (
    POSSIBLY_MINTED,
    Facts,
    Ports,
    first_time,
    identify,
    limits_of,
    log,
    naming_registry,
    report_failure,
)
from bot.usecases.home import show_home


class IssueRequest(msgspec.Struct, frozen=True):
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
    approved_for: str | None = None  # the Rok user the approver saw: the mint is for that user or none
    approval_id: str | None = None  # the approval being minted: claimed once in the store right before the mint
    break_glass: bool = False  # an incident responder's `--break-glass`: at once, with a reason, loudly


class Issued(msgspec.Struct, frozen=True):
    """The facts of a token delivered to its requester (never the token)."""

    username: str
    seconds: int
    expires_at: datetime
    token_uuid: str | None


@tracing.traced
def issue_token(p: Ports, req: IssueRequest) -> Issued | PendingRequest | None:
    """Identity, policy, quota, mint, deliver privately, audit, refresh the Home tab: None when refused or failed
    (already told), a PendingRequest when it went to the approvers instead."""
    ctx = req.ctx
    if not first_time(p, ctx):
        return None
    result = _issue(p, req)
    if result is not None:
        show_home(p, ctx)  # whatever asked, the requester's Home tab lists the new token (or the request)
    return result


def _issue(p: Ports, req: IssueRequest) -> Issued | PendingRequest | None:
    ctx = req.ctx
    facts = Facts(ctx, "issue", seconds=req.seconds, note=req.note, actor=req.approved_by, registry=p.registry)
    try:
        identity = identify(p, ctx.user_id)
        facts = facts.but(username=identity.username)
        _check_approved_for(req, identity.username)
        limits = limits_of(p, ctx.user_id, team_id=ctx.team_id)
        seconds = limits.default if req.seconds is None else req.seconds
        facts = facts.but(seconds=seconds)
        needs_approval = _needs_approval(p, req, limits, seconds)
        account = p.engine.account(identity.username)
        p.identity.check_account(identity, account)
        if needs_approval:
            return _ask_approval(p, facts, req, limits, seconds=seconds, username=account.username)
        place = p.quota.reserve(ctx, seconds=seconds, renewed_from=req.renewed_from)
        issued = _mint_once(p, place, facts, account, req, seconds=seconds)
        if issued is None:
            return None  # possibly minted: settled, audited and told
        facts = facts.but(token_uuid=issued.token_uuid, expires_at=issued.expires_at)
        minted = _minted(issued, p.clock, approved_by=req.approved_by, reason=clean_text(req.reason or req.note))
        place.minted(minted)  # the UUID and expiry before delivery: a crash or a blink from here keeps them
        if not _deliver(p, ctx, issued):
            _undelivered(p, place, facts, minted)
            return None
    except Exception as exc:
        report_failure(p, facts, exc)
        return None
    return _delivered(p, req, place, facts, minted, seconds=seconds)


def _delivered(p: Ports, req: IssueRequest, place: QuotaPlace, facts: Facts, minted: Minted, *, seconds: int) -> Issued:
    """The user has the token: settle and audit it. Nothing from here on is the user's failure to hear of (a
    store blink is retried by the place, anything else is logged without the token)."""
    outcome = Outcome.BREAK_GLASS if req.break_glass else Outcome.ISSUED
    event = facts.event(outcome, at=p.clock.now(), reason=req.reason or None)
    try:
        place.settle(status=TokenStatus.ISSUED, minted=minted, event=event)
        metrics.REQUESTS.labels("issue", outcome, facts.registry).inc()
        if req.break_glass and p.alarm is not None:
            p.alarm.announce(event)  # loud: an @here in a channel people watch, not only an audit line
    except Exception as exc:
        log.error(
            "after delivery: the token was not settled or announced",
            extra={"error": type(exc).__name__, "request_id": facts.ctx.request_id, "token_uuid": minted.token_uuid},
        )
    return Issued(minted.rok_user, seconds, minted.expires_at, minted.token_uuid)


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


def _check_approved_for(req: IssueRequest, username: str) -> None:
    """An approval mints for the Rok user the approver saw, never another one the requester has become since
    (the user map was edited, their email changed)."""
    if req.approved_for is None or req.approved_for == username:
        return
    raise AccessDenied(
        f"Your request was approved for Rok user {req.approved_for}, but you are now {username} (the user map or "
        "your email changed since): ask again, so an approver sees who the token is for.",
        detail=f"approved for {req.approved_for!r}, the requester now resolves to {username!r}",
    )


def _check_break_glass(p: Ports, req: IssueRequest, limits: UserLimits, seconds: int) -> None:
    """Break-glass: a member of one of its user groups, a reason, at most its own maximum."""
    rules = p.policy.break_glass
    if rules is None:
        raise AccessDenied("Break-glass is not enabled here.", detail="break_glass: not configured")
    if not p.directory.groups_of(req.ctx.user_id, rules.usergroups, team_id=req.ctx.team_id):
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
    now = p.clock.now()
    request = PendingRequest(
        id=new_request_id(),
        request_id=ctx.request_id,
        team_id=ctx.team_id,
        enterprise_id=ctx.enterprise_id,
        user_id=ctx.user_id,
        rok_user=username,
        seconds=seconds,
        usual_max=limits.max,
        usual_source=limits.source,
        reason=clean_text(req.reason),
        requested_at=now,
        expires_at=now + timedelta(seconds=rules.expire_after),
        renews_entry=req.renewed_from,
        registry=p.registry,
    )
    waiting = p.pending.open(request, now=now)
    if waiting is not None and request.renews_entry is not None and waiting.renews_entry == request.renews_entry:
        raise _renewal_waiting(waiting)
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
    request = msgspec.structs.replace(request, channel=channel, message_ts=ts)
    p.audit.record(facts.event(Outcome.APPROVAL_REQUESTED, at=now, reason=request.reason or None))
    metrics.REQUESTS.labels("issue", Outcome.APPROVAL_REQUESTED, facts.registry).inc()
    p.board.submitted(ctx, request)
    return request


def _renewal_waiting(waiting: PendingRequest) -> RenewRefused:
    """A second Renew of a token whose renewal already went to approval: say where it stands."""
    if waiting.status is RequestStatus.APPROVED:
        where = "it is in your DM with the bot: click *Show my token* there"
        return RenewRefused(
            f"The renewal of this token was approved (request {waiting.request_id}); {where}.",
            detail=f"row {waiting.renews_entry}: an approved renewal waits for Show my token",
        )
    return RenewRefused(
        f"The renewal of this token is already waiting for approval (request {waiting.request_id}); "
        "nothing more to do: the approvers have it.",
        detail=f"row {waiting.renews_entry}: a renewal is already waiting",
    )


def _mint_once(
    p: Ports, place: QuotaPlace, facts: Facts, account: Account, req: IssueRequest, *, seconds: int
) -> IssuedToken | None:
    """The mint. An approval's is first claimed in the store, once whichever click or replica comes first, and
    given back when the mint surely made no token (an error before or instead of token-create), so its Show
    my token works again; one that may have minted keeps its claim."""
    if req.approval_id is None:
        return _mint(p, place, facts, account, seconds=seconds)
    if p.pending is None or p.pending.claim(req.approval_id, user_id=req.ctx.user_id, now=p.clock.now()) is None:
        place.release()
        raise RequestNotPending(
            "This approved token was already shown, or its time ran out: it cannot be shown again.",
            detail="approval already claimed or lapsed",
        )
    try:
        return _mint(p, place, facts, account, seconds=seconds)
    except BaseException:
        p.pending.unclaim(req.approval_id)
        raise


def _mint(p: Ports, place: QuotaPlace, facts: Facts, account: Account, *, seconds: int) -> IssuedToken | None:
    """token-create, with the quota place kept only when a token exists (or may)."""
    try:
        return p.engine.mint(account, seconds=seconds)
    except RokBotError as exc:
        if not exc.may_have_minted:
            place.release()
            raise
        # A token may exist that nobody holds: it keeps its place in the quota and the ledger says so.
        message = f"{naming_registry(p, p.registry, exc, exc.user_message)} {POSSIBLY_MINTED}"
        place.settle(
            status=TokenStatus.POSSIBLY_MINTED,
            minted=None,
            event=facts.event(Outcome.POSSIBLY_MINTED, at=p.clock.now(), reason=f"{exc.kind}: {message}"),
        )
        log.warning("possibly minted: %s", exc.kind, extra={"error": exc.kind, "detail": exc.detail})
        metrics.REQUESTS.labels("issue", Outcome.POSSIBLY_MINTED, facts.registry).inc()
        p.replies.notice(facts.ctx, message)
        return None
    except BaseException:
        place.release()
        raise


def _minted(issued: IssuedToken, clock: Clock, *, approved_by: str | None = None, reason: str = "") -> Minted:
    """The facts of a minted token the ledger keeps (never the token): with who approved it and the requester's
    reason, the access report's "who approved it, and why"."""
    return Minted(
        issued.username,
        issued.account_uuid,
        issued.token_uuid,
        clock.now(),
        issued.expires_at,
        approved_by=approved_by,
        reason=reason or None,
    )


def _deliver(p: Ports, ctx: RequestContext, issued: IssuedToken) -> bool:
    """Seal the Verify value and send the token privately; any failure after the mint is 'not delivered'."""
    try:
        value = p.sealer.seal(
            token=issued.token,
            user_id=ctx.user_id,
            expires_at=int(issued.expires_at.timestamp()),
            token_uuid=issued.token_uuid,
            username=issued.username,
            registry=p.registry,
        )
        if len(p.peers) > 1:  # several registries: the message says which one the token is for
            issued = msgspec.structs.replace(issued, registry=p.registry)
        return p.replies.token(ctx, issued, verify_value=value)
    except Exception as exc:
        # Building or sealing the message, an unexpected answer from Slack: the user never saw the token.
        log.warning("delivery failed after the mint", extra={"error": type(exc).__name__})
        return False


def _undelivered(p: Ports, place: QuotaPlace, facts: Facts, minted: Minted) -> None:
    """Tell the user, without the token, that a token exists they never saw; settle and audit it."""
    metrics.DELIVERY_FAILURES.inc()
    metrics.REQUESTS.labels("issue", Outcome.UNDELIVERED, facts.registry).inc()
    failure = DeliveryError(detail="the token was minted but not delivered")
    place.settle(
        status=TokenStatus.UNDELIVERED,
        minted=minted,
        event=facts.event(Outcome.UNDELIVERED, at=p.clock.now(), reason=f"{failure.kind}: {failure.user_message}"),
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
    clock: Clock,
    quota: Quota | None = None,
    ctx: RequestContext | None = None,
    registry: str = DEFAULT_REGISTRY,
) -> IssuedToken:
    """An admin's `rok-token-bot issue USERNAME`: the settings' range, no Slack user; recorded in the ledger
    (origin `cli`, requester `cli:<operator>`) when a quota is given, with its audit event. `registry` names the
    registry `engine` mints in, for the audit event (the quota's ledger rows carry their own)."""
    seconds = limits.default if seconds is None else seconds
    limits.check(seconds)
    account = engine.account(username)
    if quota is None or ctx is None:
        return engine.mint(account, seconds=seconds)
    facts = Facts(ctx, "issue", username=account.username, seconds=seconds, registry=registry)
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
            event=replace(
                facts.event(Outcome.POSSIBLY_MINTED, at=clock.now(), reason=f"{exc.kind}: {exc.user_message}"),
                registry=registry,
            ),
        )
        raise
    except BaseException:
        place.release()
        raise
    facts = facts.but(token_uuid=issued.token_uuid, expires_at=issued.expires_at)
    minted = _minted(issued, clock)
    place.minted(minted)
    # Printed on the admin's terminal: delivered as far as the ledger is concerned.
    event = replace(facts.event(Outcome.ISSUED, at=clock.now(), reason="admin CLI"), registry=registry)
    place.settle(status=TokenStatus.ISSUED, minted=minted, event=event)
    return issued
