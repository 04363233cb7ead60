"""The audit sinks as a property of the database: the serving bot records where it delivers.

Revision ID: 0006_audit_sinks
Revises: 0005_approval_delivery
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_audit_sinks"
down_revision = "0005_approval_delivery"
branch_labels = None
depends_on = None

# Written out rather than imported from bot.store.schema (see 0001).
_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "audit_sinks",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("description", sa.String(255), nullable=False),
        sa.Column("recorded_at", _TIME, nullable=False),
        sa.Column("recorded_by", sa.String(128), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("audit_sinks")
