"""Approvals: a request above the requester's own limit waits for a second person (pure rules, no I/O).

A request is `pending` from the moment it is posted to the approvals channel until exactly one of these
happens, whichever comes first, decided once across replicas by the store's conditional update:

    pending ──Approve by a listed approver──▶ approved ──requester's Show my token──▶ claimed
       │                                         └──CLAIM_WINDOW passes, no click──▶ lapsed
       │──────Deny by a listed approver─────▶ denied
       └──────expire_after passes───────────▶ lapsed   (claimed by a periodic sweep, or by a late click)

An approval mints nothing by itself: an approval may come hours later, when the requester is away, and
Slack silently drops an ephemeral message to a user who is not there. The requester gets a persistent DM
with a **Show my token** button instead; their click (theirs only: the clicker's Slack user ID must be the
requester's) claims the approval once in the store and mints through the one issue use case, the token
shown ephemerally in answer to the click. A mint that made no token gives the claim back (the button works
again); a granted approval nobody opens within CLAIM_WINDOW lapses, audited.

Nothing here is secret: a pending request holds who asked, for which Rok user, how long and why. Its ID
is random and carried in the message's buttons, but it grants nothing: the clicker's Slack user ID decides
whether the click counts (`check_decider`: never the requester, nor another Slack account of the same Rok
user), and the store's row, never the click, says what is approved, and for which Rok user.
"""

from __future__ import annotations

import enum
import secrets
from datetime import datetime, timedelta

import msgspec

from bot.domain.durations import format_duration
from bot.domain.errors import NotAnApprover, UsageError
from bot.domain.identity import ascii_lower
from bot.domain.patterns import DEFAULT_REGISTRY
from bot.domain.policy import ApprovalRules

# Durations an approver may pick instead of the one asked for (the select offers those below it).
LADDER = (3600, 4 * 3600, 12 * 3600, 86400, 2 * 86400, 3 * 86400, 7 * 86400, 14 * 86400, 30 * 86400, 60 * 86400)
_CHOICES_MAX = 100  # Slack's limit on a select's options
# How long a granted approval waits for its requester's Show my token: a working day and a night, so an
# approval given in the evening is still there in the morning; then it lapses.
CLAIM_WINDOW = timedelta(hours=24)


class RequestStatus(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"
    LAPSED = "lapsed"
    CLAIMED = "claimed"  # approved, and its token minted (or being minted) on the requester's click


class PendingRequest(msgspec.Struct, frozen=True):
    """A request above the requester's limit, and what became of it; never a token."""

    id: str  # random, carried in the Approve/Deny buttons
    request_id: str  # the slash command's request ID: the audit events of the whole story share it
    team_id: str | None
    user_id: str  # the requester
    rok_user: str
    seconds: int  # asked for
    usual_max: int  # the requester's own limit, and where it comes from
    usual_source: str
    reason: str
    requested_at: datetime
    expires_at: datetime
    status: RequestStatus = RequestStatus.PENDING
    decided_by: str | None = None
    decided_at: datetime | None = None
    approved_seconds: int | None = None
    note: str | None = None  # the approver's reason for a denial
    channel: str | None = None  # where its message is, once posted
    message_ts: str | None = None
    renews_entry: int | None = None  # the ledger row of the token this request renews (a Renew click)
    claim_by: datetime | None = None  # approved: Show my token works until then
    claimed_at: datetime | None = None
    dm_channel: str | None = None  # where the requester's Show-my-token message is, once posted
    dm_ts: str | None = None
    # The registry the token would be minted in (revision 0007); a user may wait for one request per registry.
    registry: str = DEFAULT_REGISTRY
    enterprise_id: str | None = None  # the requester's organisation on Enterprise Grid (revision 0008)

    def live(self, now: datetime) -> bool:
        """Still waiting for a decision at `now`."""
        return self.status is RequestStatus.PENDING and self.expires_at > now

    def claimable(self, now: datetime) -> bool:
        """Approved, and its Show my token not clicked yet nor past its deadline at `now`."""
        return self.status is RequestStatus.APPROVED and self.claim_by is not None and self.claim_by > now


def new_request_id() -> str:
    """A fresh pending-request ID (random: one cannot be guessed from another)."""
    return secrets.token_hex(10)


def check_decider(
    rules: ApprovalRules,
    *,
    decider: str,
    request: PendingRequest,
    decider_groups: frozenset[str],
    decider_rok_users: frozenset[str],
) -> None:
    """Refuse a decision by the requester, by anyone who stands for the request's Rok user, or by anyone the
    policy does not list.

    One person may have several Slack accounts (the user map may give one username to several IDs, and a
    profile email names a username too): `decider_rok_users` is every Rok username the decider's account
    stands for, so a second account cannot approve a token for its owner's own Rok user. Compared without
    ASCII case: `JDoe@` is the same person as Rok user `jdoe`, even where Rok would see two accounts.
    """
    if decider == request.user_id:
        raise NotAnApprover(
            "You cannot approve or deny your own request: another approver must.", detail="self-approval refused"
        )
    if ascii_lower(request.rok_user) in {ascii_lower(name) for name in decider_rok_users}:
        raise NotAnApprover(
            f"You cannot approve or deny this request: the Rok user {request.rok_user} is yours (through another "
            "Slack account or your email). Another approver must.",
            detail="self-approval through another account refused",
        )
    if not rules.may_decide(decider, decider_groups):
        raise NotAnApprover(detail="not a listed approver")


def approved_seconds(request: PendingRequest, chosen: str | None) -> int:
    """The duration an Approve grants: the one asked for, or a shorter one the approver picked.

    `chosen` comes from the click (the message's select), so it is untrusted: only a whole number of seconds,
    at most what the stored request asked for, is accepted.
    """
    if chosen is None or chosen == "":
        return request.seconds
    if not (chosen.isascii() and chosen.isdigit() and len(chosen) <= 9) or int(chosen) <= 0:
        raise UsageError("That duration is not one the request offers; pick one from the list.", detail="bad choice")
    seconds = int(chosen)
    if seconds > request.seconds:
        raise UsageError(
            f"You can approve at most the {format_duration(request.seconds)} asked for, "
            f"not {format_duration(seconds)}.",
            detail="approved more than requested",
        )
    return seconds


def duration_choices(request: PendingRequest, *, minimum: int) -> list[int]:
    """What an approver may grant, longest first: the duration asked for, the requester's own limit, and the
    usual steps in between (at least `minimum`)."""
    options = {request.seconds, request.usual_max, *LADDER}
    return sorted((s for s in options if minimum <= s <= request.seconds), reverse=True)[:_CHOICES_MAX]
