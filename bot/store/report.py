"""The access report's queries: the tokens live at an instant (`SqlLiveTokens`, the `LiveTokens` port), and the
audit records of a window (`audit_records`, counted by bot/domain/activity.py).

Read-only: the admin CLI's `rok-token-bot report` and the admins' view in Slack use the same query. What
"live" means (and why an undelivered token counts) is bot/domain/report.py's; this is that rule in SQL, held
to the in-memory one by tests/store/test_report_contract.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from bot.domain.report import LIVE_STATUSES, LiveToken
from bot.store.db import reading
from bot.store.ledger import _entry
from bot.store.schema import audit_events, ledger


class SqlLiveTokens:
    """`LiveTokens` on SQLAlchemy (SQLite or PostgreSQL)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def live_at(
        self, at: datetime, *, registry: str | None = None, limit: int | None = None
    ) -> tuple[list[LiveToken], int]:
        """Tokens live at `at` (of one registry, when named), oldest issue first: at most `limit` of them, and
        the total count, read in one transaction (the count matches the rows)."""
        c = ledger.c
        live = sa.and_(
            c.status.in_(sorted(str(s) for s in LIVE_STATUSES)),
            c.issued_at <= at,
            c.expires_at > at,  # ix_ledger_expires
            *([c.registry == registry] if registry is not None else []),
        )
        rows = sa.select(ledger).where(live).order_by(c.issued_at, c.id)
        if limit is not None:
            rows = rows.limit(max(limit, 0))
        with reading(self._engine) as conn:
            total = int(conn.execute(sa.select(sa.func.count()).select_from(ledger).where(live)).scalar_one())
            entries = [_entry(row) for row in conn.execute(rows)]
        return [LiveToken.of(e) for e in entries], total


def audit_records(
    engine: Engine, *, start: datetime, end: datetime, registry: str | None = None, batch: int = 1000
) -> Iterator[dict[str, Any]]:
    """The records of the audit events that occurred in [start, end) (of one registry, when named), oldest
    first, read in batches (a window of months holds many refusals) within one transaction."""
    e = audit_events.c
    stmt = (
        sa.select(e.record)
        .where(e.occurred_at >= start, e.occurred_at < end, *([e.registry == registry] if registry else []))
        .order_by(e.occurred_at, e.id)
        .execution_options(yield_per=batch)
    )
    with reading(engine) as conn:
        for record in conn.execute(stmt).scalars():
            yield dict(record)
