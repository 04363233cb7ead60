"""Several registries: every ledger row, approval request and audit event names its registry.

Existing rows become `default`, the name of the one registry of the ROK_REGISTRY_* settings, which is what
they were minted in. The quota counts a user's rows in one registry, and a user waits for at most one live
approval request per registry: their indexes lead with (user, registry).

The downgrade drops the columns: a database that served several registries forgets which registry each row
belonged to (the older bot counts a user's rows of every registry in one quota, and its audit records keep the
`registry` field in their JSON, which it ignores).

Revision ID: 0007_registry
Revises: 0006_audit_sinks
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_registry"
down_revision = "0006_audit_sinks"
branch_labels = None
depends_on = None

_TABLES = ("ledger", "approval_requests", "audit_events")


def _registry() -> sa.Column[str]:
    # Written out rather than imported from bot.store.schema (see 0001). The server default fills the existing
    # rows: SQLite and PostgreSQL both add a NOT NULL column with a constant default in place.
    return sa.Column("registry", sa.String(20), nullable=False, server_default="default")


def upgrade() -> None:
    # Plain ALTER TABLE, never a batch: a batch rebuilds a table on SQLite, and rebuilding audit_events (DROP
    # TABLE under PRAGMA foreign_keys = ON) would cascade-delete every undelivered audit_outbox row.
    for table in _TABLES:
        op.add_column(table, _registry())
    op.drop_index("ix_ledger_user_reserved", table_name="ledger")
    op.create_index("ix_ledger_user_registry_reserved", "ledger", ["user_id", "registry", "reserved_at"])
    op.drop_index("ix_approval_requests_user", table_name="approval_requests")
    op.create_index("ix_approval_requests_user_registry", "approval_requests", ["user_id", "registry", "status"])


def downgrade() -> None:
    op.drop_index("ix_approval_requests_user_registry", table_name="approval_requests")
    op.create_index("ix_approval_requests_user", "approval_requests", ["user_id", "status"])
    op.drop_index("ix_ledger_user_registry_reserved", table_name="ledger")
    op.create_index("ix_ledger_user_reserved", "ledger", ["user_id", "reserved_at"])
    # SQLite (3.35 and later) drops an unindexed column in place; see upgrade() for why no batch.
    for table in _TABLES:
        op.drop_column(table, "registry")
