"""Enterprise Grid: every ledger row and approval request records the organisation of the request, next to its
workspace.

A nullable column: rows written before it, and every row of a workspace install, have none. The quota never
reads it (one person is one identity in every workspace of the organisation).

Revision ID: 0008_enterprise
Revises: 0007_registry
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_enterprise"
down_revision = "0007_registry"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ALTER TABLE, never a batch (see 0007): a nullable column is added in place on SQLite and PostgreSQL.
    op.add_column("ledger", sa.Column("slack_enterprise", sa.String(32)))
    op.add_column("approval_requests", sa.Column("slack_enterprise", sa.String(32)))


def downgrade() -> None:
    op.drop_column("approval_requests", "slack_enterprise")
    op.drop_column("ledger", "slack_enterprise")
