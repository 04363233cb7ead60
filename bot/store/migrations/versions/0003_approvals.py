"""Approvals: the requests above a user's limit that wait for an approver.

Revision ID: 0003_approvals
Revises: 0001
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_approvals"
down_revision = "0002_token_lifecycle"
branch_labels = None
depends_on = None

# Written out rather than imported from bot.store.schema (see 0001).
_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "approval_requests",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("request_id", sa.String(64), nullable=False),
        sa.Column("slack_team", sa.String(32)),
        sa.Column("user_id", sa.String(64), nullable=False),
        sa.Column("rok_user", sa.String(255), nullable=False),
        sa.Column("seconds", sa.Integer, nullable=False),
        sa.Column("usual_max", sa.Integer, nullable=False),
        sa.Column("usual_source", sa.String(80), nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("requested_at", _TIME, nullable=False),
        sa.Column("expires_at", _TIME, nullable=False),
        sa.Column("decided_by", sa.String(64)),
        sa.Column("decided_at", _TIME),
        sa.Column("approved_seconds", sa.Integer),
        sa.Column("note", sa.String(500)),
        sa.Column("channel", sa.String(32)),
        sa.Column("message_ts", sa.String(32)),
    )
    op.create_index("ix_approval_requests_user", "approval_requests", ["user_id", "status"])
    op.create_index(
        "ix_approval_requests_pending",
        "approval_requests",
        ["expires_at"],
        sqlite_where=sa.text("status = 'pending'"),
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index("ix_approval_requests_requested", "approval_requests", ["requested_at"])


def downgrade() -> None:
    op.drop_table("approval_requests")
