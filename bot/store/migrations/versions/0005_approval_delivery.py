"""Approvals: the token a renewal request renews, and an approval's Show my token (its deadline, its claim,
the requester's DM message).

Revision ID: 0005_approval_delivery
Revises: 0004_minted_state
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_approval_delivery"
down_revision = "0004_minted_state"
branch_labels = None
depends_on = None

# Written out rather than imported from bot.store.schema (see 0001).
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TIME = sa.DateTime(timezone=True)
_COLUMNS = ("renews_entry", "claim_by", "claimed_at", "dm_channel", "dm_ts")


def upgrade() -> None:
    # Nullable: existing rows (and requests that renew nothing, or are not approved) have none. Rows approved
    # before this migration have no claim_by: they were minted at once, as the code then did.
    with op.batch_alter_table("approval_requests") as batch:
        batch.add_column(sa.Column("renews_entry", _ID))
        batch.add_column(sa.Column("claim_by", _TIME))
        batch.add_column(sa.Column("claimed_at", _TIME))
        batch.add_column(sa.Column("dm_channel", sa.String(32)))
        batch.add_column(sa.Column("dm_ts", sa.String(32)))
    op.create_index(
        "ix_approval_requests_unclaimed",
        "approval_requests",
        ["claim_by"],
        sqlite_where=sa.text("status = 'approved'"),
        postgresql_where=sa.text("status = 'approved'"),
    )


def downgrade() -> None:
    op.drop_index("ix_approval_requests_unclaimed", table_name="approval_requests")
    with op.batch_alter_table("approval_requests") as batch:
        for column in reversed(_COLUMNS):
            batch.drop_column(column)
