"""Who holds tokens: every live token as the policy's admins see it (`/rok-token who`, their Home tab).

An auditor's first question is "who holds access right now, and how did they get it?". The answer comes from
the ledger (one row per token: never a token, nor anything it can be recovered from) through the `LiveTokens`
port of `bot.domain.report`, the query `rok-token-bot report --at` runs too: a capped page and the total. The
Slack adapter draws it as a table in a private message, or as lines on the Home tab (Slack takes no table
block in a view); `rok-token-bot report` answers past the cap.

Pure values: no I/O here.
"""

from __future__ import annotations

from datetime import datetime

import msgspec

from bot.domain.audit import Origin
from bot.domain.report import LiveToken

# Slack's table block holds 100 rows at most, its header one of them (docs.slack.dev, "Table block").
WHO_ROWS = 99
# The Home tab's section: the tab's 100 blocks are mostly the admin's own tokens (bot.domain.lifecycle's caps).
HOME_WHO_ROWS = 20
# A break-glass reason is cut to this many characters in a cell (the report has it whole).
REASON_SHOWN = 80

_HOW = {
    Origin.COMMAND: "command",
    Origin.MODAL: "form",
    Origin.RENEW: "renew",
    Origin.APPROVAL: "approval",
    Origin.BREAK_GLASS: "break-glass",
    Origin.CLI: "CLI",
}


class Holding(msgspec.Struct, frozen=True):
    """One live token: whose, which Rok user, where, until when, and how it was obtained. Never the token."""

    token_uuid: str | None
    slack_user: str | None  # the requester's Slack ID; None for a token the admin CLI minted
    rok_user: str | None
    registry: str
    expires_at: datetime
    origin: str  # an `Origin` value: command, modal, renew, approval, break_glass, cli
    approver: str | None = None  # an approval's approver (a Slack user ID)
    reason: str | None = None  # a break-glass token's reason (cleaned when it was typed)
    requester: str | None = None  # who asked when it was no Slack user (the CLI's `cli:<user>`)
    held: bool = True  # False: minted and never delivered (nobody holds it, yet it works until it expires)

    @classmethod
    def of(cls, token: LiveToken) -> Holding:
        """A live token of the ledger, as the admins' view shows it."""
        slack = None if token.slack_user.startswith("cli:") or not token.slack_user else token.slack_user
        return cls(
            token_uuid=token.token_uuid,
            slack_user=slack,
            rok_user=token.rok_user,
            registry=token.registry,
            expires_at=token.expires_at,
            origin=str(token.origin),
            approver=token.approver,
            # A reason is shown for break-glass, where it is the point; others' reasons stay in the report.
            reason=token.reason if token.origin is Origin.BREAK_GLASS else None,
            requester=None if slack else token.slack_user or None,
            held=token.held,
        )

    @property
    def how(self) -> str:
        """How the token was obtained, in the words people use: command, form, renew, approval, break-glass, CLI."""
        try:
            return _HOW.get(Origin(self.origin), self.origin)
        except ValueError:
            return self.origin

    @property
    def shown_reason(self) -> str | None:
        """The break-glass reason as a cell shows it: one line, at most REASON_SHOWN characters."""
        if not self.reason:
            return None
        line = " ".join(self.reason.split())
        return line if len(line) <= REASON_SHOWN else line[: REASON_SHOWN - 1] + "…"


class Holdings(msgspec.Struct, frozen=True):
    """The live tokens at `now`: the first `rows` of `total`; `several` when more than one registry is served
    (each row then names its registry); `problem` when they could not be read (the Home tab says so)."""

    rows: tuple[Holding, ...]
    total: int
    now: datetime
    several: bool = False
    problem: str | None = None

    @property
    def more(self) -> int:
        """Live tokens not shown (past the cap)."""
        return max(self.total - len(self.rows), 0)


class WhoRefusal(msgspec.Struct, frozen=True):
    """`/rok-token who` refused: the sentence, and the admins it names (policy IDs, none when it has no admins)."""

    text: str
    users: tuple[str, ...] = ()
    usergroups: tuple[str, ...] = ()
