"""The first schema: the ledger, the audit events and their outbox, the once-claims.

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Written out rather than imported from bot.store.schema: a migration must keep meaning what it meant
# when it was written, whatever the code becomes.
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TIME = sa.DateTime(timezone=True)
_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "ledger",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("request_id", sa.String(64), nullable=False),
        sa.Column("slack_team", sa.String(32)),
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("rok_user", sa.String(255)),
        sa.Column("account_uuid", sa.String(64)),
        sa.Column("token_uuid", sa.String(64)),
        sa.Column("duration_seconds", sa.Integer, nullable=False),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("reserved_at", _TIME, nullable=False),
        sa.Column("issued_at", _TIME),
        sa.Column("expires_at", _TIME),
        sa.Column("settled_at", _TIME),
    )
    op.create_index("ix_ledger_user_reserved", "ledger", ["user_id", "reserved_at"])
    op.create_index("ix_ledger_reserved", "ledger", ["reserved_at"])
    op.create_index(
        "ix_ledger_stale",
        "ledger",
        ["reserved_at"],
        sqlite_where=sa.text("status = 'reserved'"),
        postgresql_where=sa.text("status = 'reserved'"),
    )

    op.create_table(
        "audit_events",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("occurred_at", _TIME, nullable=False),
        sa.Column("recorded_at", _TIME, nullable=False),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("request_id", sa.String(64), nullable=False),
        sa.Column("record", _JSON, nullable=False),
    )
    op.create_index("ix_audit_events_recorded", "audit_events", ["recorded_at"])

    op.create_table(
        "audit_outbox",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("event_id", _ID, sa.ForeignKey("audit_events.id", ondelete="CASCADE"), nullable=False),
        sa.Column("sink", sa.String(32), nullable=False),
        sa.Column("priority", sa.SmallInteger, nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("due_at", _TIME, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("claimed_by", sa.String(128)),
        sa.Column("lease_until", _TIME),
        sa.Column("last_error", sa.String(500)),
        sa.Column("delivered_at", _TIME),
        sa.UniqueConstraint("event_id", "sink", name="uq_audit_outbox_event_sink"),
    )
    op.create_index(
        "ix_audit_outbox_pending",
        "audit_outbox",
        ["sink", "priority", "id"],
        sqlite_where=sa.text("delivered_at IS NULL"),
        postgresql_where=sa.text("delivered_at IS NULL"),
    )
    op.create_index("ix_audit_outbox_delivered", "audit_outbox", ["delivered_at"])

    op.create_table(
        "once_claims",
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("holder", sa.String(128), nullable=False),
        sa.Column("claimed_at", _TIME, nullable=False),
        sa.Column("expires_at", _TIME, nullable=False),
    )
    op.create_index("ix_once_claims_expires", "once_claims", ["expires_at"])


def downgrade() -> None:
    op.drop_table("once_claims")
    op.drop_table("audit_outbox")
    op.drop_table("audit_events")
    op.drop_table("ledger")
