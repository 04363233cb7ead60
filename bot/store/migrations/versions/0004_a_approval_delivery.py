"""Approvals: the token a renewal request renews.

Revision ID: 0004_a_approval_delivery
Revises: 0003_approvals
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_a_approval_delivery"
down_revision = "0004_b_minted_state"
branch_labels = None
depends_on = None

# Written out rather than imported from bot.store.schema (see 0001).
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    # Nullable: a request that renews nothing (and every existing row) has none.
    with op.batch_alter_table("approval_requests") as batch:
        batch.add_column(sa.Column("renews_entry", _ID))


def downgrade() -> None:
    with op.batch_alter_table("approval_requests") as batch:
        batch.drop_column("renews_entry")
