"""The access report: a ledger row keeps who approved its token and the requester's reason.

Two nullable columns, `approved_by` (an approver's Slack user ID) and `reason` (cleaned, as the audit event
has it), and an index on `expires_at` for "which tokens were live at T". Before this revision the approver
lived only in `approval_requests.decided_by` and the audit event's `actor`, the break-glass reason only in the
audit event: both are pruned on their own schedule (approval requests by request time, delivered events by
age) while a token still live keeps its ledger row, so a join could lose them.

Existing rows of origin `approval` and `break_glass` are filled from what is still there: their audit event
(`issued` or `break_glass`, same request and token UUID: its `actor` and `reason`), else, for an approval,
the claimed approval request of the same request, user and registry. Rows whose sources were pruned stay
NULL (the report shows "-"). The downgrade drops the columns and the index.

Revision ID: 0009_s3_report
Revises: 0008_enterprise
Create Date: 2026-12-07
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0009_s3_report"
down_revision = "0008_enterprise"
branch_labels = None
depends_on = None

_CHUNK = 500

# Written out rather than imported from bot.store.schema (see 0001): only the columns read or written here.
_ledger = sa.table(
    "ledger",
    sa.column("id", sa.BigInteger),
    sa.column("request_id", sa.String),
    sa.column("user_id", sa.String),
    sa.column("registry", sa.String),
    sa.column("origin", sa.String),
    sa.column("token_uuid", sa.String),
    sa.column("approved_by", sa.String),
    sa.column("reason", sa.String),
)
_events = sa.table(
    "audit_events",
    sa.column("request_id", sa.String),
    sa.column("outcome", sa.String),
    sa.column("record", sa.JSON().with_variant(postgresql.JSONB(), "postgresql")),
)
_approvals = sa.table(
    "approval_requests",
    sa.column("request_id", sa.String),
    sa.column("user_id", sa.String),
    sa.column("registry", sa.String),
    sa.column("status", sa.String),
    sa.column("decided_by", sa.String),
    sa.column("reason", sa.String),
    sa.column("claimed_at", sa.DateTime),
)


def upgrade() -> None:
    # Plain ALTER TABLE, never a batch (see 0007): nullable columns are added in place on SQLite and PostgreSQL.
    op.add_column("ledger", sa.Column("approved_by", sa.String(64)))
    op.add_column("ledger", sa.Column("reason", sa.String(500)))
    op.create_index("ix_ledger_expires", "ledger", ["expires_at"])
    _backfill(op.get_bind())


def downgrade() -> None:
    op.drop_index("ix_ledger_expires", table_name="ledger")
    # SQLite (3.35 and later) drops an unindexed column in place; see 0007 for why no batch.
    op.drop_column("ledger", "reason")
    op.drop_column("ledger", "approved_by")


def _backfill(conn: sa.Connection) -> None:
    """Fill approvals' approvers and approvals' and break-glass tokens' reasons from the rows still there."""
    c = _ledger.c
    rows = conn.execute(
        sa.select(c.id, c.request_id, c.user_id, c.registry, c.origin, c.token_uuid).where(
            c.origin.in_(("approval", "break_glass"))
        )
    ).all()
    for chunk in _chunks(rows):
        found = _from_events(conn, chunk)
        for row in chunk:
            approver, reason = found.get((row.request_id, row.token_uuid), (None, None))
            if row.origin == "approval" and approver is None:
                approver, reason = _from_approval(conn, row, reason)
            if row.origin != "approval":
                approver = None
            if approver is not None or reason is not None:
                conn.execute(
                    sa.update(_ledger)
                    .where(c.id == row.id)
                    .values(approved_by=approver[:64] if approver else None, reason=reason[:500] if reason else None)
                )


def _chunks(rows: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(rows), _CHUNK):
        yield rows[start : start + _CHUNK]


_Found = dict[tuple[str, str | None], tuple[str | None, str | None]]


def _from_events(conn: sa.Connection, rows: Sequence[Any]) -> _Found:
    """(request ID, token UUID) -> (actor, reason) of the settled events of these rows' requests."""
    e = _events.c
    found: _Found = {}
    events = conn.execute(
        sa.select(e.request_id, e.record).where(
            e.outcome.in_(("issued", "break_glass")), e.request_id.in_({r.request_id for r in rows})
        )
    )
    for request_id, stored in events:
        record = json.loads(stored) if isinstance(stored, str) else stored  # a driver may hand JSON back as text
        if isinstance(record, dict):
            actor, reason = record.get("actor"), record.get("reason")
            found[(request_id, record.get("token_uuid"))] = (
                actor if isinstance(actor, str) else None,
                reason if isinstance(reason, str) else None,
            )
    return found


def _from_approval(conn: sa.Connection, row: Any, reason: str | None) -> tuple[str | None, str | None]:
    """The approver (and, when the event had none, the reason) of the claimed approval request of this row."""
    a = _approvals.c
    decided = conn.execute(
        sa.select(a.decided_by, a.reason)
        .where(
            a.request_id == row.request_id,
            a.user_id == row.user_id,
            a.registry == row.registry,
            a.status == "claimed",
        )
        .order_by(a.claimed_at.desc())
        .limit(1)
    ).first()
    if decided is None:
        return None, reason
    return decided.decided_by, reason or decided.reason or None
