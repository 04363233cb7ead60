"""The tables, as SQLAlchemy Core: the ledger, the audit events and their deliveries, the once-claims.

Nothing here can hold a token: no column is meant for one and nothing a token could be recovered from
(no hash, no prefix) is stored. `tests/store/test_no_token.py` scans every column of every row.

Migrations (`bot/store/migrations/versions/`) create these tables; `tests/store/test_migrations.py`
compares the migrated database with this metadata, so the two cannot drift.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

from bot.domain.patterns import DEFAULT_REGISTRY, REGISTRY_NAME_MAX

REASON_COLUMN = 500  # characters of a ledger row's reason (clean_text keeps 300)

# A table name of our own, so a database shared with another Alembic project keeps both histories apart.
VERSION_TABLE = "rok_token_bot_alembic_version"
# The newest migration's revision: lets the CLI see "the schema is current" with one query, without importing
# Alembic. tests/store/test_store_migrations.py checks it against the migration scripts' head.
HEAD_REVISION = "0009_s3_report"

# INTEGER PRIMARY KEY is SQLite's rowid (autoincrement); BIGINT (BIGSERIAL) elsewhere.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


class Json(sa.TypeDecorator[Any]):
    """JSON; JSONB on PostgreSQL, whose dialect package is imported only there (see `partial_index`)."""

    impl = sa.JSON
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import JSONB

            return dialect.type_descriptor(JSONB())
        return dialect.type_descriptor(sa.JSON())


class UTCDateTime(sa.TypeDecorator[datetime]):
    """Timezone-aware UTC in Python; `timestamptz` on PostgreSQL, naive UTC text on SQLite (sorts as time)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("the store takes timezone-aware datetimes only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = sa.MetaData()

_PREDICATES: dict[str, str] = {}  # each partial index's WHERE, by index name
_PREDICATES_LOCK = threading.Lock()


def partial_index(name: str, *columns: str, where: str) -> sa.Index:
    """An index of the rows matching `where` (SQL), on SQLite and on PostgreSQL.

    The predicate is SQLite's keyword argument from the start and PostgreSQL's once `postgresql_predicates()`
    has run (`make_engine` calls it for a PostgreSQL URL, whose dialect is then loaded anyway): SQLAlchemy
    checks a dialect's keyword arguments by importing that dialect's whole package (~2 MiB, ~30 ms), which a
    bot on SQLite never needs otherwise.
    """
    _PREDICATES[name] = where
    return sa.Index(name, *columns, sqlite_where=sa.text(where))


def postgresql_predicates() -> None:
    """Give every partial index its predicate for PostgreSQL too (idempotent, thread-safe)."""
    with _PREDICATES_LOCK:
        for table in metadata.tables.values():
            for index in table.indexes:
                where = _PREDICATES.get(str(index.name))
                if where is not None and index.dialect_options["postgresql"]["where"] is None:
                    index.dialect_kwargs["postgresql_where"] = sa.text(where)


def registry_column() -> sa.Column[str]:
    """Which registry a row belongs to (revision 0007): a registry's name, `default` for the one registry of
    the ROK_REGISTRY_* settings and for every row written before several registries existed."""
    return sa.Column("registry", sa.String(REGISTRY_NAME_MAX), nullable=False, server_default=DEFAULT_REGISTRY)


ledger = sa.Table(
    "ledger",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("request_id", sa.String(64), nullable=False),
    sa.Column("slack_team", sa.String(32)),
    sa.Column("slack_enterprise", sa.String(32)),  # Enterprise Grid: the request's organisation (0008)
    # The requester: a Slack user ID, or `cli:<user>` for the admin CLI. The quota counts by it.
    sa.Column("user_id", sa.String(64), nullable=False),
    sa.Column("rok_user", sa.String(255)),
    sa.Column("account_uuid", sa.String(64)),
    sa.Column("token_uuid", sa.String(64)),
    sa.Column("duration_seconds", sa.Integer, nullable=False),
    sa.Column("origin", sa.String(16), nullable=False),
    sa.Column("status", sa.String(24), nullable=False),
    sa.Column("reserved_at", UTCDateTime, nullable=False),
    sa.Column("issued_at", UTCDateTime),
    sa.Column("expires_at", UTCDateTime),
    sa.Column("settled_at", UTCDateTime),
    # The token's life in Slack (revision 0002): the row this token renewed (a row is renewed once: unique),
    # when its expiry reminder was claimed, and where that message lives (to edit it after a renewal).
    sa.Column("renewed_from", BigId),
    sa.Column("reminded_at", UTCDateTime),
    sa.Column("reminder_channel", sa.String(32)),
    sa.Column("reminder_ts", sa.String(32)),
    registry_column(),
    # Who approved the token (an approver's Slack user ID) and the requester's reason, cleaned (revision 0009): the
    # access report's "who approved it, and why" without a join to approvals or audit events, which are pruned
    # on their own schedule while a long-lived token's row is kept.
    sa.Column("approved_by", sa.String(64)),
    sa.Column("reason", sa.String(REASON_COLUMN)),
    # The quota's query: one user's rows of the last hour in one registry (revision 0007 added `registry`). The
    # user's own listings (App Home, /rok-token list) use its `user_id` prefix, or `user_id, registry`.
    sa.Index("ix_ledger_user_registry_reserved", "user_id", "registry", "reserved_at"),
    # Retention and the admin listing by time.
    sa.Index("ix_ledger_reserved", "reserved_at"),
    # The sweep of crashed mints: few rows are ever `reserved` or `minted`, so a partial index stays tiny
    # (revision 0004 widened it to `minted`).
    partial_index("ix_ledger_stale", "reserved_at", where="status IN ('reserved', 'minted')"),
    sa.Index("ux_ledger_renewed_from", "renewed_from", unique=True),
    # The access report (tokens live at T): rows expiring after T, few of them for a recent T (revision 0009).
    sa.Index("ix_ledger_expires", "expires_at"),
    # The reminder sweep: rows not reminded yet, by expiry (reminded rows leave the index).
    partial_index("ix_ledger_remind", "expires_at", where="reminded_at IS NULL"),
)

audit_events = sa.Table(
    "audit_events",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("occurred_at", UTCDateTime, nullable=False),
    sa.Column("recorded_at", UTCDateTime, nullable=False),
    sa.Column("outcome", sa.String(32), nullable=False),
    sa.Column("request_id", sa.String(64), nullable=False),
    # AuditEvent.as_record(): what the sinks post, and what `rok-token-bot audit` prints.
    sa.Column("record", Json, nullable=False),
    # The record's `registry`, as a column (revision 0007) for an admin's query; no index: nothing in the bot
    # selects events by it.
    registry_column(),
    sa.Index("ix_audit_events_recorded", "recorded_at"),
)

# One row per (event, sink): each sink's delivery is claimed, retried and marked on its own.
audit_outbox = sa.Table(
    "audit_outbox",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("event_id", BigId, sa.ForeignKey("audit_events.id", ondelete="CASCADE"), nullable=False),
    sa.Column("sink", sa.String(32), nullable=False),
    sa.Column("priority", sa.SmallInteger, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("due_at", UTCDateTime, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("claimed_by", sa.String(128)),
    sa.Column("lease_until", UTCDateTime),
    sa.Column("last_error", sa.String(500)),
    sa.Column("delivered_at", UTCDateTime),
    sa.UniqueConstraint("event_id", "sink", name="uq_audit_outbox_event_sink"),
    # The claim's query: a sink's undelivered rows, most urgent first. Delivered rows leave the index.
    partial_index("ix_audit_outbox_pending", "sink", "priority", "id", where="delivered_at IS NULL"),
    sa.Index("ix_audit_outbox_delivered", "delivered_at"),
)

# The sinks the serving bot delivers to (revision 0004), recorded by it at start: every event appended by
# anyone (the admin CLI too, whose shell names no sink) gets a delivery row for each. Never a secret: a name
# and a description such as "slack:C0AUDIT" or "webhook" (not its URL, which may hold a key).
audit_sinks = sa.Table(
    "audit_sinks",
    metadata,
    sa.Column("name", sa.String(32), primary_key=True),
    sa.Column("description", sa.String(255), nullable=False),
    sa.Column("recorded_at", UTCDateTime, nullable=False),
    sa.Column("recorded_by", sa.String(128), nullable=False),
)

once_claims = sa.Table(
    "once_claims",
    metadata,
    sa.Column("key", sa.String(255), primary_key=True),
    sa.Column("holder", sa.String(128), nullable=False),
    sa.Column("claimed_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
    sa.Index("ix_once_claims_expires", "expires_at"),
)

# Requests above a user's limit, waiting for an approver (bot/domain/approvals.py). A decision is one
# conditional UPDATE (`WHERE status = 'pending' AND expires_at > now`): whoever changes the row decided.
approval_requests = sa.Table(
    "approval_requests",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("request_id", sa.String(64), nullable=False),
    sa.Column("slack_team", sa.String(32)),
    sa.Column("slack_enterprise", sa.String(32)),  # Enterprise Grid: the requester's organisation (0008)
    sa.Column("user_id", sa.String(64), nullable=False),
    sa.Column("rok_user", sa.String(255), nullable=False),
    sa.Column("seconds", sa.Integer, nullable=False),
    sa.Column("usual_max", sa.Integer, nullable=False),
    sa.Column("usual_source", sa.String(80), nullable=False),
    sa.Column("reason", sa.String(500), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("requested_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
    sa.Column("decided_by", sa.String(64)),
    sa.Column("decided_at", UTCDateTime),
    sa.Column("approved_seconds", sa.Integer),
    sa.Column("note", sa.String(500)),
    sa.Column("channel", sa.String(32)),
    sa.Column("message_ts", sa.String(32)),
    sa.Column("renews_entry", BigId),  # the ledger row a renewal renews (its Renew click)
    # An approval waits for its requester's Show my token until claim_by; claimed_at once clicked.
    sa.Column("claim_by", UTCDateTime),
    sa.Column("claimed_at", UTCDateTime),
    sa.Column("dm_channel", sa.String(32)),  # where the requester's DM with the Show button is
    sa.Column("dm_ts", sa.String(32)),
    registry_column(),
    # A user's live requests (one at a time per registry, revision 0007; App Home lists them all by the
    # `user_id` prefix).
    sa.Index("ix_approval_requests_user_registry", "user_id", "registry", "status"),
    # The lapse sweep: few rows are ever pending, so a partial index stays tiny.
    partial_index("ix_approval_requests_pending", "expires_at", where="status = 'pending'"),
    # Retention of decided requests.
    sa.Index("ix_approval_requests_requested", "requested_at"),
    # The lapse sweep of approvals nobody opened: few rows are ever approved and unclaimed.
    partial_index("ix_approval_requests_unclaimed", "claim_by", where="status = 'approved'"),
)
