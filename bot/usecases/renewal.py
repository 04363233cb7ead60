"""The token's life after it is issued: an expiry reminder in the owner's DM, Renew, and Dismiss.

A Renew is a new request through `issue_token` for the same duration (policy and quota checked again);
its ledger row names the row it renews, so each token is renewed once, whichever replica gets the click.
"""

from __future__ import annotations

from datetime import datetime

import msgspec

from bot.domain.approvals import PendingRequest
from bot.domain.audit import AuditEvent, Origin, Outcome
from bot.domain.errors import RenewRefused
from bot.domain.ledger import LedgerEntry, TokenStatus
from bot.domain.lifecycle import Deferred, Posted, Reminder, ReminderPace, already_renewed, reminder_due_at
from bot.domain.models import RequestContext
from bot.runtime import metrics, tracing
from bot.usecases.context import Facts, Ports, first_time, log, report_failure
from bot.usecases.issue import Issued, IssueRequest, issue_token


class RenewRequest(msgspec.Struct, frozen=True):
    """Renew the token of one ledger row for its owner; `entry_id` None when the button held no row ID."""

    ctx: RequestContext
    entry_id: int | None


@tracing.traced
def renew_token(p: Ports, req: RenewRequest) -> Issued | PendingRequest | None:
    """A Renew click: only the token's owner, once per token, the same duration through `issue_token` (policy
    and quota checked again); the new token's ledger row names the old one, and its reminder is edited."""
    ctx = req.ctx
    facts = Facts(ctx, "renew", registry=p.registry)
    if not first_time(p, ctx):
        return None
    try:
        entry = p.ledger.entry(req.entry_id) if p.ledger is not None and req.entry_id is not None else None
        if entry is None or entry.slack_user != ctx.user_id:
            # The same answer for a row that is someone else's and one that does not exist: nothing to probe.
            raise RenewRefused(detail=f"row {req.entry_id} is not {ctx.user_id}'s")
        facts = facts.but(username=entry.rok_user, seconds=entry.duration_seconds, token_uuid=entry.token_uuid)
        facts = facts.but(registry=entry.registry)
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
        # Renewed where it lives: that registry's engine, policy and quota (the store refuses any other).
        home = p.at(entry.registry)
        if home is None:
            raise RenewRefused(
                "This token's registry is not served by this bot any more; use /rok-token for a new one.",
                detail=f"row {entry.id} is in registry {entry.registry!r}, not configured",
            )
    except Exception as exc:
        report_failure(p, facts, exc)
        return None
    note = f"renews token {entry.token_uuid or entry.request_id}"
    # The click's key was claimed above: the issue it turns into must not claim it again.
    renewal_ctx = msgspec.structs.replace(ctx, once_key=None)
    issued = issue_token(home, IssueRequest(renewal_ctx, entry.duration_seconds, renewed_from=entry.id, note=note))
    # A renewal above the user's own limit (an approved token) goes to the approvers like any other request;
    # its Show my token edits the reminder when it mints (`reminder_renewed`).
    if isinstance(issued, Issued):
        reminder_renewed(p, entry.id, issued)
    return issued


def reminder_renewed(p: Ports, entry_id: int, issued: Issued) -> None:
    """Edit the reminder of a token just renewed (when it had one): it names the new token, Renew is gone."""
    entry = p.ledger.entry(entry_id) if p.ledger is not None else None
    if entry is None or p.surfaces is None or not (entry.reminder_channel and entry.reminder_ts):
        return
    p.surfaces.renewed(
        Posted(entry.reminder_channel, entry.reminder_ts),
        old=Reminder.of(entry, now=p.clock.now()),
        new_uuid=issued.token_uuid,
        new_expires_at=issued.expires_at,
    )


@tracing.traced
def dismiss_reminder(p: Ports, ctx: RequestContext, entry_id: int | None) -> bool:
    """A reminder's Dismiss: its owner's only; the message is edited to say so, the token is untouched."""
    facts = Facts(ctx, "dismiss", registry=p.registry)
    try:
        entry = p.ledger.entry(entry_id) if p.ledger is not None and entry_id is not None else None
        if entry is None or entry.slack_user != ctx.user_id:
            raise RenewRefused("This reminder is not for you.", detail=f"row {entry_id} is not {ctx.user_id}'s")
        if p.surfaces is not None and entry.reminder_channel and entry.reminder_ts:
            posted = Posted(entry.reminder_channel, entry.reminder_ts)
            p.surfaces.dismissed(posted, reminder=Reminder.of(entry, now=p.clock.now()))
        metrics.REQUESTS.labels("dismiss", "dismissed", p.registry).inc()
        return True
    except Exception as exc:
        report_failure(p, facts, exc)
        return False


def send_reminders(p: Ports, *, limit: int = 500, pace: ReminderPace | None = None) -> int:
    """One sweep: remind each owner of a token about to expire, once, whichever replica sweeps; audited.

    A row is claimed in the ledger before its message is posted, and only while the token is live and not
    renewed. When Slack does not take a reminder now (a 429, a 5xx, unreachable) nothing was posted: the
    claim is released for a later round and this round stops, and with a `pace` no round calls Slack again
    before the Retry-After Slack asked for. A reminder Slack refuses outright is audited and not retried.
    """
    lead = p.remind_before
    if lead <= 0 or p.ledger is None or p.surfaces is None:
        return 0
    now = p.clock.now()
    if pace is not None and not pace.ready(now):
        return 0
    sent = 0
    for entry in p.ledger.due_reminders(now=now, lead=lead, limit=limit):
        due = reminder_due_at(entry, lead)
        if due is None or due > now or entry.slack_user is None:
            continue  # a short-lived token: a quarter of its life is not left yet
        if not p.ledger.claim_reminder(entry.id, now=now):
            continue  # another replica took it, or it was renewed meanwhile
        posted = p.surfaces.remind(Reminder.of(entry, now=now))
        if isinstance(posted, Deferred):
            p.ledger.release_reminder(entry.id)
            log.info("reminder deferred", extra={"entry": entry.id, "retry_after": posted.retry_after})
            metrics.REQUESTS.labels("remind", "deferred", entry.registry).inc()
            if pace is not None:
                pace.wait(now, posted.retry_after)
            break  # Slack says wait (or is down): the rest of the round waits too
        if posted is not None:
            p.ledger.reminder_posted(entry.id, channel=posted.channel, ts=posted.ts)
            sent += 1
        _reminded(p, entry, posted=posted is not None, now=now)
    return sent


def _reminded(p: Ports, entry: LedgerEntry, *, posted: bool, now: datetime) -> None:
    """Log, count and audit one reminder that was posted, or that Slack refused for good."""
    extra = {"token_uuid": entry.token_uuid, "entry": entry.id, "posted": posted}
    log.info("reminder sent" if posted else "reminder not delivered", extra=extra)
    metrics.REQUESTS.labels("remind", "sent" if posted else "failed", entry.registry).inc()
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
            registry=entry.registry,
            team_id=entry.slack_team,
            enterprise_id=entry.slack_enterprise,
            occurred_at=now,
        )
    )
