"""Schema migrations, run programmatically from the package's own scripts (no alembic.ini at run time).

`upgrade` is what the server calls at start and what `rok-token-bot db upgrade` runs. Several replicas
starting together must not race, so the whole upgrade is one transaction that first takes a lock every
migrator waits on: `pg_advisory_xact_lock` on PostgreSQL (released by the commit), and on SQLite the
database's write lock itself (`BEGIN IMMEDIATE`, waited on through the busy timeout). The second migrator
then reads the version the first one committed and has nothing to do. On PostgreSQL the DDL is
transactional: a failed upgrade leaves the previous revision, never half of one.

`check` is for `doctor`: it connects and says which revision the schema is at, or raises a StoreError
that names what is wrong.
"""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from bot.domain.urls import without_credentials
from bot.runtime.logs import without_userinfo
from bot.store.db import display, writing
from bot.store.errors import SchemaBehind, SchemaNotMigrated, SchemaUnknown, StoreError, StoreUnreachable
from bot.store.schema import VERSION_TABLE

SCRIPT_LOCATION = "bot.store:migrations"
# An arbitrary constant (b"rokmigr" as an integer), the key of the migration lock on PostgreSQL. The
# ledger's per-user locks use the two-integer key space, which never overlaps this one-bigint space.
MIGRATION_LOCK_KEY = 0x726F6B6D696772


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    return config


def head() -> str:
    """The newest revision this code knows."""
    revision = ScriptDirectory.from_config(_config()).get_current_head()
    assert revision is not None
    return revision


def _current(conn: Connection) -> str | None:
    return MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE}).get_current_revision()


def unreachable(engine: Engine, exc: Exception) -> StoreUnreachable:
    """The error for a driver failure, naming the database by its safe URL and the driver's first line."""
    orig = getattr(exc, "orig", None) or exc
    lines = str(orig).strip().splitlines() or [""]
    reason = without_credentials(without_userinfo(lines[0]), engine.url.render_as_string(hide_password=False))[:200]
    return StoreUnreachable(detail=f"{display(engine.url)}: {type(orig).__name__}: {reason}")


def upgrade(engine: Engine) -> str:
    """Migrate the schema to head under the migration lock (idempotent); return the revision."""
    try:
        with writing(engine) as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
            config = _config()
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
            revision = _current(conn)
    except sa_exc.OperationalError as exc:
        raise unreachable(engine, exc) from None
    except sa_exc.InterfaceError as exc:
        raise unreachable(engine, exc) from None
    assert revision is not None
    return revision


def current(engine: Engine) -> str | None:
    """The revision the database is at; None when it has no schema yet."""
    try:
        with engine.connect() as conn:
            return _current(conn)
    except (sa_exc.OperationalError, sa_exc.InterfaceError) as exc:
        raise unreachable(engine, exc) from None


def check(engine: Engine) -> str:
    """Connect and return "schema at revision X (head)", or raise the StoreError that says what is wrong."""
    revision = current(engine)
    want = head()
    where = display(engine.url)
    if revision is None:
        raise SchemaNotMigrated(detail=f"{where}: no {VERSION_TABLE} table (head is {want})")
    if revision == want:
        return f"schema at revision {revision} (head)"
    scripts = ScriptDirectory.from_config(_config())
    try:
        scripts.get_revision(revision)
    except Exception:  # alembic raises several classes for an unknown revision; any means "not ours"
        raise SchemaUnknown(detail=f"{where}: revision {revision} is not in this bot's history (head {want})") from None
    raise SchemaBehind(detail=f"{where}: revision {revision}, head is {want}")


__all__ = ["StoreError", "check", "current", "head", "upgrade"]
