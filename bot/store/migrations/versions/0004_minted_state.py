"""The `minted` ledger state: the crash sweep's index covers rows left `minted` as well as `reserved`.

A token's UUID and expiry are written as soon as it is minted (status `minted`), before delivery; the sweep
settles a row left `reserved` or `minted` by a crash. The status column is a free string, so the new states
(`minted`, `unconfirmed`) need no column change: only the sweep's partial index widens.

Revision ID: 0004_minted_state
Revises: 0003_approvals
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_minted_state"
down_revision = "0003_approvals"
branch_labels = None
depends_on = None

_STALE = "status IN ('reserved', 'minted')"
_RESERVED = "status = 'reserved'"


def _stale_index(where: str) -> None:
    op.create_index(
        "ix_ledger_stale",
        "ledger",
        ["reserved_at"],
        sqlite_where=sa.text(where),
        postgresql_where=sa.text(where),
    )


def upgrade() -> None:
    op.drop_index("ix_ledger_stale", table_name="ledger")
    _stale_index(_STALE)


def downgrade() -> None:
    # An older bot knows neither `minted` nor `unconfirmed`: such rows and events become `possibly_minted`
    # (their UUID kept), which it reads, sends and an admin acts on the same way.
    op.execute("UPDATE ledger SET status = 'possibly_minted' WHERE status IN ('minted', 'unconfirmed')")
    events = sa.table("audit_events", sa.column("id"), sa.column("outcome"), sa.column("record", sa.JSON))
    conn = op.get_bind()
    for row in conn.execute(sa.select(events.c.id, events.c.record).where(events.c.outcome == "unconfirmed")):
        record = {**row.record, "outcome": "possibly_minted"}
        conn.execute(sa.update(events).where(events.c.id == row.id).values(outcome="possibly_minted", record=record))
    op.drop_index("ix_ledger_stale", table_name="ledger")
    _stale_index(_RESERVED)
