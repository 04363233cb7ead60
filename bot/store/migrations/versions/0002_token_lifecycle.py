"""The token's life in Slack: renewals and expiry reminders on the ledger.

Revision ID: 0002_token_lifecycle
Revises: 0001
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_token_lifecycle"
down_revision = "0001"
branch_labels = None
depends_on = None

# Written out rather than imported from bot.store.schema (see 0001).
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    # batch_alter_table: SQLite cannot add several columns and indexes in one ALTER; on PostgreSQL it is a
    # plain ALTER TABLE. Every new column is nullable: existing rows need no value.
    with op.batch_alter_table("ledger") as batch:
        batch.add_column(sa.Column("renewed_from", _ID))
        batch.add_column(sa.Column("reminded_at", _TIME))
        batch.add_column(sa.Column("reminder_channel", sa.String(32)))
        batch.add_column(sa.Column("reminder_ts", sa.String(32)))
    op.create_index("ux_ledger_renewed_from", "ledger", ["renewed_from"], unique=True)
    op.create_index(
        "ix_ledger_remind",
        "ledger",
        ["expires_at"],
        sqlite_where=sa.text("reminded_at IS NULL"),
        postgresql_where=sa.text("reminded_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_ledger_remind", table_name="ledger")
    op.drop_index("ux_ledger_renewed_from", table_name="ledger")
    with op.batch_alter_table("ledger") as batch:
        batch.drop_column("reminder_ts")
        batch.drop_column("reminder_channel")
        batch.drop_column("reminded_at")
        batch.drop_column("renewed_from")
