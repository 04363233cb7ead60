"""Approvals: an approver decides on a request above the requester's own limit, or it lapses.

The request itself is put before the approvers by the issue use case; here it is decided once (the store's
conditional update picks the first decision across clicks, approvers and replicas), and an approval comes
back to `issue_token` for the requester, through the same checks as any request.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.domain.approvals import PendingRequest, RequestStatus, approved_seconds, check_decider
from bot.domain.audit import AuditEvent, Origin, Outcome
from bot.domain.durations import format_duration
from bot.domain.errors import RequestNotPending
from bot.domain.models import RequestContext
from bot.domain.text import clean_text
from bot.runtime import metrics
from bot.usecases.context import Facts, Ports, first_time, report_failure
from bot.usecases.issue import Issued, IssueRequest, issue_token


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
        )
        if decided is None:
            raise _too_late(p, request.id, now)
        outcome = Outcome.APPROVED if d.approve else Outcome.DENIED
        p.audit.record(_decision_event(decided, outcome, at=now, reason=_decision_reason(decided)))
        metrics.REQUESTS.labels("approve", outcome).inc()
        if not d.approve:
            p.board.decided(decided, issued=None)
            return decided
        # The requester's own request, minted by the one issue use case: their identity, limits, account and
        # quota, checked now. Their response_url is long gone: the token and any notice go to their DM.
        requester = RequestContext(
            decided.request_id, decided.user_id, Origin.APPROVAL, team_id=decided.team_id, notify_dm=True
        )
        approval = IssueRequest(
            requester,
            seconds,
            reason=decided.reason,
            approved_by=ctx.user_id,
            approved_for=decided.rok_user,
            renewed_from=decided.renews_entry,  # the ledger links it: that token is renewed once
        )
        result = issue_token(p, approval)
        p.board.decided(decided, issued=isinstance(result, Issued))
        return decided
    except Exception as exc:
        report_failure(p, facts, exc)
        return None


def _too_late(p: Ports, request_id: str, now: datetime) -> RequestNotPending:
    """Why a decision changed nothing: someone decided first, or the request lapsed (claimed here if so)."""
    current = p.pending.get(request_id) if p.pending is not None else None
    if current is not None and current.status is RequestStatus.PENDING:
        lapse_due(p)  # past its expiry, not swept yet: lapse it now
        return RequestNotPending("This request lapsed: nobody decided in time.", detail="lapsed")
    status = current.status.value if current is not None else "removed"
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
        occurred_at=at,
    )


def _decision_reason(request: PendingRequest) -> str | None:
    """What the audit line of a decision says besides the facts: what was asked and why, or the denial's note."""
    if request.status is RequestStatus.DENIED:
        return request.note
    asked = f"asked for {format_duration(request.seconds)}"
    return f"{asked}: {request.reason}" if request.reason else asked


def lapse_due(p: Ports) -> list[PendingRequest]:
    """Requests nobody decided in time: claimed once across replicas, audited, message updated, requester told."""
    if p.pending is None or p.board is None:
        return []
    now = p.clock.now()
    lapsed = p.pending.lapse(now=now)
    for request in lapsed:
        waited = format_duration(max(int((request.expires_at - request.requested_at).total_seconds()), 1))
        p.audit.record(_decision_event(request, Outcome.LAPSED, at=now, reason=f"nobody decided within {waited}"))
        metrics.REQUESTS.labels("approve", Outcome.LAPSED).inc()
        p.board.decided(request, issued=None)
    return lapsed
