"""Audit events: what happened, to whom, for how long. Facts an admin can act on; never a secret.

The vocabulary is closed: every outcome is an `Outcome`, every way to ask for a token an `Origin`. How an
event is shown (the audit channel's Block Kit, a SIEM webhook's JSON) is the adapters' business.

The record (`AuditEvent.as_record`) is a published schema, documented field by field in docs/AUDIT.md (a test
holds the two together) and versioned by `AUDIT_SCHEMA_VERSION`.
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from typing import Any

from bot.domain.patterns import DEFAULT_REGISTRY

# The version of the record's shape, in every record. Bumped when a field is removed, renamed or changes type (or
# meaning); not when an optional field or an outcome is added: receivers must ignore what they do not know.
AUDIT_SCHEMA_VERSION = 1
# Records an older release stored (without the field) have version 1's shape, whatever the current version is.
UNVERSIONED_SCHEMA_VERSION = 1


class Outcome(enum.StrEnum):
    """What became of a request, or what the bot itself did."""

    ISSUED = "issued"  # minted and delivered privately
    REFUSED = "refused"  # identity, policy, quota or input said no; nothing minted
    FAILED = "failed"  # something broke; nothing minted
    UNDELIVERED = "undelivered"  # minted, but the user never saw it: revoke by UUID
    POSSIBLY_MINTED = "possibly_minted"  # token-create started and did not finish cleanly
    UNCONFIRMED = "unconfirmed"  # minted (its UUID is known); the bot stopped before delivery was settled
    VERIFIED = "verified"  # a Verify click was answered by the registry
    STARTED = "started"
    STOPPED = "stopped"
    REMINDED = "reminded"  # the owner of a token about to expire was reminded, once
    # Approvals (`actor` is who decided) and break-glass.
    APPROVAL_REQUESTED = "approval_requested"  # above the user's limit: waiting for an approver
    APPROVED = "approved"  # an approver said yes; the mint's own event follows (issued, or why not)
    DENIED = "denied"  # an approver said no; nothing minted
    LAPSED = "lapsed"  # nobody decided in time; nothing minted
    BREAK_GLASS = "break_glass"  # minted at once in an incident, with a reason, and delivered
    # Enterprise Grid, org-wide install: an org admin added the app to workspaces, or removed it (`reason` lists them).
    ACCESS_GRANTED = "access_granted"
    ACCESS_REVOKED = "access_revoked"


class Origin(enum.StrEnum):
    """How a token was asked for."""

    COMMAND = "command"  # /rok-token
    CLI = "cli"  # rok-token-bot issue (an admin at a terminal)
    VERIFY = "verify"  # a Verify click (no token minted)
    APPROVAL = "approval"  # an approver's Approve click, minting for the requester
    BREAK_GLASS = "break_glass"  # /rok-token DURATION --break-glass REASON
    SYSTEM = "system"  # the bot's own lifecycle
    MODAL = "modal"  # the get-token form (App Home's button)
    RENEW = "renew"  # a Renew button (a reminder, App Home, the list): the same duration again
    HOME = "home"  # the App Home tab, the token list, a reminder's Dismiss: nothing minted


class Priority(enum.IntEnum):
    """How soon an outcome must reach the audit channel; lower goes first."""

    URGENT = 0  # a token exists, or something failed
    INFO = 1  # verifications, lifecycle
    REFUSAL = 2  # anyone in the workspace can cause these, as many as they like


# Refusals wait this long before they are due, so a burst of them merges into one line per user and reason.
REFUSAL_LINGER_SECONDS = 5.0
# And are kept a week once delivered (ROK_BOT_REFUSAL_RETENTION), not the full retention: anyone in the workspace
# can cause them, as many as they like, and each is a row (~700 bytes on SQLite).
REFUSAL_RETENTION_SECONDS = 7 * 86400


def linger_of(priority: Priority) -> float:
    """Seconds an event of this priority waits before it is due for the sinks."""
    return REFUSAL_LINGER_SECONDS if priority is Priority.REFUSAL else 0.0


def priority_of(outcome: str) -> Priority:
    """How soon an outcome must reach the channel."""
    if outcome == Outcome.REFUSED:
        return Priority.REFUSAL
    if outcome in (
        Outcome.VERIFIED,
        Outcome.STARTED,
        Outcome.STOPPED,
        Outcome.REMINDED,
        # The decisions: the mint an approval leads to has its own (urgent) event.
        Outcome.APPROVAL_REQUESTED,
        Outcome.APPROVED,
        Outcome.DENIED,
        Outcome.LAPSED,
        Outcome.ACCESS_GRANTED,
    ):
        return Priority.INFO
    return Priority.URGENT


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One audit event; `as_record` is its JSON-able form (log line, outbox row, webhook body)."""

    outcome: str
    request_id: str
    slack_user: str | None = None
    username: str | None = None
    duration_seconds: int | None = None
    expires_at: datetime | None = None
    token_uuid: str | None = None
    reason: str | None = None
    detail: str | None = None
    command: str | None = None
    origin: str | None = None  # how it was asked for (an `Origin`): command, modal, renew, cli, ...
    actor: str | None = None  # who decided, when not the requester (an approver's Slack user ID)
    # The registry the event concerns; always in the record (a SIEM filters on it), shown in the audit channel's
    # line only when several registries are configured. Records written before it existed read as `default`.
    registry: str = DEFAULT_REGISTRY
    # Where the request came from: the Slack workspace and, on Enterprise Grid, the organisation.
    team_id: str | None = None
    enterprise_id: str | None = None
    # A UUID (hex) the store gives the event when it is appended: the same in every sink's copy and on every
    # retry, so a SIEM can drop the duplicates of an at-least-once delivery.
    event_id: str | None = field(default=None, compare=False)
    occurred_at: datetime = field(kw_only=True, compare=False)  # from the one clock (bot.runtime.clock)
    # Not an argument: always this release's version. The record is rendered from this dataclass, so an event
    # stored by an older release (with an older version, or none) is delivered in this release's shape, and says
    # so. A bump must teach `from_record` to read the older shapes.
    schema_version: int = field(default=AUDIT_SCHEMA_VERSION, init=False, compare=False)

    @property
    def priority(self) -> Priority:
        return priority_of(self.outcome)

    def as_record(self) -> dict[str, Any]:
        """The event's non-empty fields, `schema_version` first, datetimes as ISO 8601 strings."""
        data = {"schema_version": self.schema_version} | {k: v for k, v in asdict(self).items() if v is not None}
        for key in ("expires_at", "occurred_at"):
            if isinstance(data.get(key), datetime):
                data[key] = data[key].isoformat()
        return data

    @classmethod
    def from_record(cls, data: dict[str, Any]) -> AuditEvent:
        """The inverse of `as_record` (unknown keys ignored, so old rows stay readable; `schema_version` becomes
        this release's)."""
        known = {f.name: data[f.name] for f in fields(cls) if f.init and f.name in data}
        for key in ("expires_at", "occurred_at"):
            if isinstance(known.get(key), str):
                known[key] = datetime.fromisoformat(known[key])
        return cls(**known)

    def as_log(self) -> dict[str, Any]:
        """Extra fields for the JSON log line (`request_id` renamed: the log line has its own)."""
        return {f"audit_{k}" if k == "request_id" else k: v for k, v in self.as_record().items()}
