"""Approvals: an approver decides on a request above the requester's own limit, or it lapses.

The request itself is put before the approvers by the issue use case; here it is decided once (the store's
conditional update picks the first decision across clicks, approvers and replicas). An approval sends the
requester a persistent DM with Show my token; their click comes back to `issue_token`, through the same
checks as any request, and claims the approval once (`show_approved_token`).
"""

from __future__ import annotations

from datetime import datetime

import msgspec

from bot.domain.approvals import CLAIM_WINDOW, PendingRequest, RequestStatus, approved_seconds, check_decider
from bot.domain.audit import AuditEvent, Origin, Outcome
from bot.domain.durations import format_duration
from bot.domain.errors import AccessDenied, RequestNotPending
from bot.domain.models import RequestContext
from bot.domain.text import clean_text
from bot.runtime import metrics, tracing
from bot.usecases.context import Facts, Ports, first_time, report_failure
from bot.usecases.home import show_home
from bot.usecases.issue import Issued, IssueRequest, issue_token
from bot.usecases.renewal import reminder_renewed


class Decision(msgspec.Struct, frozen=True):
    """An approver's Approve or Deny click on a pending request; `seconds` and `note` as the click gave them."""

    ctx: RequestContext  # the decider's click
    request_id: str  # the pending request's ID, from the button (untrusted)
    approve: bool
    seconds: str | None = None  # a shorter duration picked in the message (untrusted: checked against the row)
    note: str | None = None  # the approver's reason, told to the requester


@tracing.traced
def decide_request(p: Ports, d: Decision) -> PendingRequest | None:
    """Approve (the requester gets Show my token in their DM) or deny a pending request, once: the first
    listed approver to decide wins; the requester, their other accounts and anyone not listed are refused.
    None when refused."""
    ctx = d.ctx
    facts = Facts(ctx, "approve", registry=p.registry)
    if not first_time(p, ctx):
        return None
    try:
        request = p.pending.get(d.request_id) if p.pending is not None else None
        # The request names its registry: that registry's approvers decide, under its rules.
        home = p.at(request.registry) if request is not None else p
        rules = home.policy.approvals if home is not None else None
        if home is None or rules is None or home.pending is None or home.board is None:
            raise RequestNotPending("Approvals are not enabled here.", detail="no approvals in the policy")
        if request is None:
            raise RequestNotPending("There is no such request; it may have been removed.", detail="unknown request")
        p = home
        assert p.pending is not None and p.board is not None  # home's, checked above
        facts = facts.but(username=request.rok_user, seconds=request.seconds, registry=request.registry)
        # Group membership only when the user is not listed by ID: one Slack call fewer, and a group Slack no
        # longer knows cannot stop the approvers listed by ID.
        listed = ctx.user_id in rules.users or not rules.usergroups
        groups = frozenset() if listed else p.directory.groups_of(ctx.user_id, rules.usergroups, team_id=ctx.team_id)
        # Every Rok user the decider's own account stands for (user map, profile email): one person's second
        # Slack account cannot approve a token for their own Rok user.
        own = p.identity.rok_users_of(ctx.user_id, p.directory.profile(ctx.user_id))
        check_decider(rules, decider=ctx.user_id, request=request, decider_groups=groups, decider_rok_users=own)
        seconds = approved_seconds(request, d.seconds) if d.approve else None
        now = p.clock.now()
        decided = p.pending.decide(
            request.id,
            status=RequestStatus.APPROVED if d.approve else RequestStatus.DENIED,
            decided_by=ctx.user_id,
            now=now,
            approved_seconds=seconds,
            note=clean_text(d.note) or None,
            claim_by=now + CLAIM_WINDOW if d.approve else None,
        )
        if decided is None:
            raise _too_late(p, request.id, now)
        outcome = Outcome.APPROVED if d.approve else Outcome.DENIED
        p.audit.record(_decision_event(decided, outcome, at=now, reason=_decision_reason(decided)))
        metrics.REQUESTS.labels("approve", outcome, p.registry).inc()
        # An approval mints nothing yet: the requester gets a persistent DM with Show my token (see
        # `show_approved_token`), which Slack keeps for them however late the approval comes.
        where = p.board.decided(decided)
        if where is not None:
            p.pending.attach_dm(decided.id, channel=where.channel, message_ts=where.ts)
        # The requester's Home tab no longer lists the request as waiting.
        show_home(p, _requester(decided, Origin.APPROVAL))
        return decided
    except Exception as exc:
        report_failure(p, facts, exc)
        return None


class ShowToken(msgspec.Struct, frozen=True):
    """A requester's click on Show my token in the DM that says their request was approved."""

    ctx: RequestContext  # the click: its user must be the requester; the token answers its response_url
    request_id: str  # the approval request's ID, from the button (untrusted: it grants nothing by itself)


@tracing.traced
def show_approved_token(p: Ports, s: ShowToken) -> Issued | None:
    """Mint an approved token for its requester, now that they are here to see it: only the requester's own
    click, once (the store's claim, whichever click or replica comes first), through `issue_token` (identity,
    the Rok user the approver saw, policy and quota checked again), shown ephemerally; the DM is edited."""
    ctx = s.ctx
    facts = Facts(ctx, "issue", registry=p.registry)
    if not first_time(p, ctx):
        return None
    try:
        request = p.pending.get(s.request_id) if p.pending is not None and p.board is not None else None
        # Minted in the registry the request names, with its ports (a registry no longer served: refused).
        home = p.at(request.registry) if request is not None else None
        if request is None or request.user_id != ctx.user_id or home is None:
            # The same answer for someone else's request and one that does not exist: nothing to probe.
            raise AccessDenied(
                "This button is not for you: only the person whose request was approved can show its token.",
                detail=f"approval {s.request_id[:32]!r} is not {ctx.user_id}'s",
            )
        facts = facts.but(
            username=request.rok_user,
            seconds=request.approved_seconds,
            actor=request.decided_by,
            registry=request.registry,
        )
        if not request.claimable(p.clock.now()):
            raise _not_claimable(p, request)
    except Exception as exc:
        report_failure(p, facts, exc)
        return None
    approved = IssueRequest(
        # Under the request's own ID, as every event of its story; the click's key was claimed above.
        msgspec.structs.replace(ctx, request_id=request.request_id, origin=Origin.APPROVAL, once_key=None),
        request.approved_seconds or request.seconds,
        reason=request.reason,
        approved_by=request.decided_by,
        approved_for=request.rok_user,
        renewed_from=request.renews_entry,  # the ledger links it: that token is renewed once
        approval_id=request.id,
    )
    assert home is not None  # refused above otherwise
    p = home
    result = issue_token(p, approved)
    if not isinstance(result, Issued):
        return None  # refused or failed (told); a click that lost the claim to another changes nothing
    assert p.board is not None and p.pending is not None
    shown = p.pending.get(request.id)
    p.board.shown(shown or request)  # the DM loses its button; it never holds the token
    if request.renews_entry is not None:
        reminder_renewed(p, request.renews_entry, result)
    return result


def _not_claimable(p: Ports, request: PendingRequest) -> RequestNotPending:
    """Why a Show my token click mints nothing: shown already, or lapsed (claimed here if due)."""
    if request.status is RequestStatus.CLAIMED:
        return RequestNotPending(
            "This token was already shown: a token is shown once. Ask again with /rok-token if you lost it.",
            detail="approval already claimed",
        )
    if request.status is RequestStatus.APPROVED:
        lapse_due(p)  # past its deadline, not swept yet: lapse it now
    return RequestNotPending(
        "This approval lapsed: its token was not opened in time. Ask again with /rok-token.",
        detail=f"approval {request.status.value}",
    )


def _too_late(p: Ports, request_id: str, now: datetime) -> RequestNotPending:
    """Why a decision changed nothing: someone decided first, or the request lapsed (claimed here if so)."""
    current = p.pending.get(request_id) if p.pending is not None else None
    if current is not None and current.status is RequestStatus.PENDING:
        lapse_due(p)  # past its expiry, not swept yet: lapse it now
        return RequestNotPending("This request lapsed: nobody decided in time.", detail="lapsed")
    status = current.status.value if current is not None else "removed"
    status = "approved" if status == RequestStatus.CLAIMED else status
    return RequestNotPending(f"This request was already {status}; nothing more to do.", detail=f"already {status}")


def _decision_event(request: PendingRequest, outcome: Outcome, *, at: datetime, reason: str | None) -> AuditEvent:
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
        registry=request.registry,
        team_id=request.team_id,  # the requester's workspace and organisation: the story's, whoever decides
        enterprise_id=request.enterprise_id,
        occurred_at=at,
    )


def _decision_reason(request: PendingRequest) -> str | None:
    """What the audit line of a decision says besides the facts: what was asked and why, or the denial's note."""
    if request.status is RequestStatus.DENIED:
        return request.note
    asked = f"asked for {format_duration(request.seconds)}"
    return f"{asked}: {request.reason}" if request.reason else asked


def lapse_due(p: Ports) -> list[PendingRequest]:
    """Requests nobody decided in time, and approvals nobody opened in time: claimed once across replicas,
    audited, messages updated, requester told."""
    if p.pending is None or p.board is None:
        return []
    now = p.clock.now()
    lapsed = p.pending.lapse(now=now)
    for request in lapsed:
        p.audit.record(_decision_event(request, Outcome.LAPSED, at=now, reason=_lapse_reason(request)))
        metrics.REQUESTS.labels("approve", Outcome.LAPSED, request.registry).inc()
        home = p.at(request.registry) or p
        (home.board or p.board).decided(request)
        # The requester's Home tab no longer offers it (waiting, or with its Show my token).
        show_home(p, _requester(request, Origin.SYSTEM))
    return lapsed


def _lapse_reason(request: PendingRequest) -> str:
    """Why a request lapsed: nobody decided, or its approval was never opened."""
    if request.decided_by is not None and request.decided_at is not None and request.claim_by is not None:
        window = format_duration(max(int((request.claim_by - request.decided_at).total_seconds()), 1))
        return f"approved, but the token was not opened within {window}: nothing minted"
    waited = format_duration(max(int((request.expires_at - request.requested_at).total_seconds()), 1))
    return f"nobody decided within {waited}"


def _requester(request: PendingRequest, origin: Origin) -> RequestContext:
    """The requester's context, rebuilt from their request: their workspace and organisation."""
    return RequestContext(
        request.request_id, request.user_id, origin, team_id=request.team_id, enterprise_id=request.enterprise_id
    )
