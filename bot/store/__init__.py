"""The durable store: the ledger, the audit outbox and the once-claims on SQLAlchemy (SQLite or PostgreSQL).

    store = open_store(url=..., data_dir=..., retention_seconds=...)   # nothing connected yet
    store.ensure_schema()                             # at start: migrate under a lock (idempotent), probe a write
    store.ledger.reserve(...); store.outbox.claim(...); store.once.claim(...); store.approvals.decide(...)
    store.live.live_at(at)                            # the tokens live at an instant (bot/domain/report.py)
    store.sweep(now=...); store.prune(now=...)        # at start and periodically
    store.check()                                     # doctor: "schema at revision X (head)" or a StoreError
    store.close()

`ROK_BOT_DATABASE_URL` unset: an SQLite file in `ROK_BOT_DATA_DIR`, for one replica. Set to a
PostgreSQL URL: any number of replicas share quotas, once-claims and the audit outbox.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

from bot.domain.audit import REFUSAL_RETENTION_SECONDS
from bot.runtime import metrics
from bot.store.approvals import SqlPendingRequests
from bot.store.db import current_fast, database_url, display, make_engine, probe_write, reading
from bot.store.errors import StoreMissing
from bot.store.failures import translated
from bot.store.files import exposure, sqlite_path
from bot.store.ledger import STALE_AFTER, Pruned, SqlLedger
from bot.store.once import SqlOnceClaims
from bot.store.outbox import DEFAULT_SINKS, SqlAuditOutbox
from bot.store.report import SqlLiveTokens
from bot.store.schema import HEAD_REVISION, approval_requests, audit_events, audit_outbox, ledger, once_claims

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from bot.domain.ports import AuditOutbox, Ledger, OnceClaims, PendingRequests
    from bot.domain.report import LiveTokens

    def _implements_the_ports(engine: Engine) -> tuple[Ledger, AuditOutbox, OnceClaims, PendingRequests, LiveTokens]:
        """Never called: mypy checks here that the adapters satisfy the domain's ports."""
        return (
            SqlLedger(engine),
            SqlAuditOutbox(engine),
            SqlOnceClaims(engine),
            SqlPendingRequests(engine),
            SqlLiveTokens(engine),
        )


class Store:
    """One database, the three ports on it, and its upkeep (migrations, the crash sweep, retention)."""

    def __init__(
        self,
        engine: Engine,
        *,
        sinks: Sequence[str] = DEFAULT_SINKS,
        retention_seconds: int,
        refusal_retention_seconds: int = REFUSAL_RETENTION_SECONDS,
    ) -> None:
        self.engine = engine
        self.retention = timedelta(seconds=retention_seconds)
        # Never longer than the retention: a shorter ROK_BOT_RETENTION shortens both.
        self.refusal_retention = min(timedelta(seconds=refusal_retention_seconds), self.retention)
        self.ledger = SqlLedger(engine, sinks=sinks)
        self.outbox = SqlAuditOutbox(engine, sinks=sinks)
        self.once = SqlOnceClaims(engine)
        self.approvals = SqlPendingRequests(engine)
        self.live = SqlLiveTokens(engine)  # the tokens live at an instant: the access report, the admins' view

    @property
    def url(self) -> str:
        """The database, as printed: never with its password."""
        return display(self.engine.url)

    @property
    def backend(self) -> str:
        """`sqlite` or `postgresql`."""
        return self.engine.dialect.name

    def upgrade(self) -> str:
        """Migrate to head under the migration lock; the revision."""
        from bot.store.migrate import upgrade

        return upgrade(self.engine)

    def ensure_schema(self) -> str:
        """The schema at head and the database writable, before the first request: one query and one empty write
        when it already is; an empty database is created at head (bot/store/fresh.py); Alembic (~0.2 s to
        import, ~9 MiB kept) only for a schema behind head. A database the bot cannot use raises the StoreError
        that names the fix."""
        revision = current_fast(self.engine)
        if revision is None:
            from bot.store.fresh import create_at_head

            revision = create_at_head(self.engine)
        if revision != HEAD_REVISION:
            revision = self.upgrade()
        with translated(self.engine.url):
            probe_write(self.engine)
        return revision

    def downgrade(self, revision: str) -> tuple[str, str]:
        """Migrate back to `revision` (of this release) under the migration lock; (from, to)."""
        from bot.store.migrate import downgrade

        return downgrade(self.engine, revision)

    def translating(self) -> AbstractContextManager[None]:
        """Inside: a driver error leaves as the one-line StoreError that names its fix (the CLI's listings)."""
        return translated(self.engine.url)

    def exposure(self) -> str | None:
        """A sentence when the SQLite data is open to other users (see bot/store/files.py); None otherwise."""
        path = sqlite_path(self.engine.url)
        return exposure(path) if path is not None else None

    def current(self) -> str | None:
        """The schema's revision; None before the first upgrade."""
        from bot.store.migrate import current

        return current(self.engine)

    def head(self) -> str:
        """The newest revision this code knows."""
        from bot.store.migrate import head

        return head()

    def check(self) -> str:
        """ "schema at revision X (head)", or a StoreError naming what is wrong (for doctor)."""
        from bot.store.migrate import check

        return check(self.engine)

    def sweep(self, *, now: datetime, older_than: timedelta = STALE_AFTER) -> int:
        """Rows left `reserved` by a crashed mint become `possibly_minted`, rows left `minted` `unconfirmed` (with
        the UUID), each audited once; how many."""
        return self.ledger.sweep(now=now, older_than=older_than)

    def prune(self, *, now: datetime) -> Pruned:
        """Apply the retention to the ledger, the delivered audit events (refusals: their shorter one) and decided
        approval requests; drop expired once-claims. Then export the row counts (`rok_bot_store_rows`)."""
        pruned = self.ledger.prune(now=now, retention=self.retention, refusal_retention=self.refusal_retention)
        self.approvals.prune(now=now, retention=self.retention)
        for table, rows in self.row_counts().items():
            metrics.STORE_ROWS.labels(table).set(rows)
        return pruned

    def row_counts(self) -> dict[str, int]:
        """Rows per table: what fills the disk (an SQLite file on an emptyDir has a size limit)."""
        with reading(self.engine) as conn:
            return {
                table.name: int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())
                for table in (ledger, audit_events, audit_outbox, approval_requests, once_claims)
            }

    def close(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


def open_store(
    *,
    url: str | None,
    data_dir: Path,
    retention_seconds: int,
    sinks: Sequence[str] = DEFAULT_SINKS,
    read_only: bool = False,
    refusal_retention_seconds: int = REFUSAL_RETENTION_SECONDS,
) -> Store:
    """The store at `url` (PostgreSQL), or the SQLite file in `data_dir` when there is none; it connects lazily.

    `read_only` for the commands that only look: a SQLite file that does not exist is StoreMissing (never
    created), and nothing they run can write.
    """
    parsed = database_url(url=url, data_dir=data_dir)
    path = sqlite_path(parsed)
    if read_only and path is not None and not path.exists():
        raise StoreMissing(detail=f"no file {path}")
    return Store(
        make_engine(parsed, read_only=read_only),
        sinks=sinks,
        retention_seconds=retention_seconds,
        refusal_retention_seconds=refusal_retention_seconds,
    )


def data_exposure(*, url: str | None, data_dir: Path) -> str | None:
    """`Store.exposure` without opening the store (doctor, when the file does not exist yet)."""
    path = sqlite_path(database_url(url=url, data_dir=data_dir))
    return exposure(path) if path is not None else None


def open_url(
    url: str,
    *,
    sinks: Sequence[str] = DEFAULT_SINKS,
    retention_seconds: int = 90 * 86400,
    refusal_retention_seconds: int = REFUSAL_RETENTION_SECONDS,
) -> Store:
    """A store on a SQLAlchemy URL (tests, the benchmark)."""
    engine = make_engine(database_url(url=url))
    return Store(
        engine, sinks=sinks, retention_seconds=retention_seconds, refusal_retention_seconds=refusal_retention_seconds
    )


__all__ = ["Pruned", "Store", "data_exposure", "open_store", "open_url"]
