"""The `LiveTokens` port over the ledger's own listing: rows issued and not expired, soonest to expire first.

The ledger row knows whose token it is, the Rok user, the registry, the expiry and the origin; it does not
know an approval's approver nor a break-glass reason (those live in the approvals table and the audit trail),
so this adapter leaves them out.
"""

from __future__ import annotations

from datetime import datetime

from bot.domain.holders import Holding
from bot.domain.ledger import LedgerEntry
from bot.domain.ports import Ledger, TokenQuery

# Rows read to count the live tokens: far above any installation's live tokens (one per user and hour at most
# under the default quota), and bounded so that a runaway ledger cannot exhaust the replica's memory.
SCAN_LIMIT = 50_000


class LedgerHolders:
    """Every live token, from `Ledger.tokens(active_at=...)`."""

    def __init__(self, ledger: Ledger, *, scan: int = SCAN_LIMIT) -> None:
        self._ledger = ledger
        self._scan = scan

    def live_at(self, at: datetime, *, limit: int) -> tuple[list[Holding], int]:
        rows = [e for e in self._ledger.tokens(TokenQuery(active_at=at, limit=self._scan)) if e.live(at)]
        rows.sort(key=lambda e: (e.expires_at or at, e.id))
        return [holding_of(e) for e in rows[:limit]], len(rows)


def holding_of(entry: LedgerEntry) -> Holding:
    """A live ledger row as the admins' view shows it."""
    assert entry.expires_at is not None  # live rows have one
    slack = entry.slack_user if entry.slack_user and not entry.slack_user.startswith("cli:") else None
    return Holding(
        token_uuid=entry.token_uuid,
        slack_user=slack,
        rok_user=entry.rok_user,
        registry=entry.registry,
        expires_at=entry.expires_at,
        origin=str(entry.origin),
        requester=None if slack else entry.slack_user,
    )
