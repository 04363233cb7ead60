"""Schema migrations, run programmatically from the package's own scripts (no alembic.ini at run time).

`upgrade` is what the server calls at start and what `rok-token-bot db upgrade` runs. Several replicas
starting together must not race, so the whole upgrade is one transaction that first takes a lock every
migrator waits on: `pg_advisory_xact_lock` on PostgreSQL (released by the commit), and on SQLite the
database's write lock itself (`BEGIN IMMEDIATE`, waited on through the busy timeout). The second migrator
then reads the version the first one committed and has nothing to do. On PostgreSQL the DDL is
transactional: a failed upgrade leaves the previous revision, never half of one.

`check` is for `doctor`: it connects and says which revision the schema is at, or raises a StoreError
that names what is wrong. `downgrade` is the way back for a rollback (README, "Upgrading and rolling
back"): the newer release undoes its own revisions, then the older one starts. Every driver error leaves
as the one-line StoreError that names its fix (`bot/store/failures.py`).
"""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine

from bot.domain.errors import UsageError
from bot.store.db import display, migration_lock, writing
from bot.store.errors import SchemaBehind, SchemaNotMigrated, SchemaUnknown, StoreError
from bot.store.failures import translated
from bot.store.schema import VERSION_TABLE

SCRIPT_LOCATION = "bot.store:migrations"


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


def known(revision: str) -> bool:
    """Whether `revision` is in this release's history (one it does not know is a newer release's)."""
    try:
        return ScriptDirectory.from_config(_config()).get_revision(revision) is not None
    except Exception:  # alembic raises several classes for an unknown revision; any means "not ours"
        return False


def _newer(engine: Engine, revision: str) -> SchemaUnknown:
    return SchemaUnknown.newer(revision, head(), detail=f"{display(engine.url)}: revision {revision}")


def upgrade(engine: Engine) -> str:
    """Migrate the schema to head under the migration lock (idempotent); return the revision.

    A revision this code does not know is a newer release's (a `helm rollback` that did not downgrade first):
    refused with the way back, never "migrated" by Alembic's traceback.
    """
    with translated(engine.url), writing(engine) as conn:
        migration_lock(conn)
        at = _current(conn)
        if at is not None and not known(at):
            raise _newer(engine, at)
        config = _config()
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
        revision = _current(conn)
    assert revision is not None
    return revision


def downgrade(engine: Engine, target: str) -> tuple[str, str]:
    """Migrate the schema back to `target` (a revision of this release) under the lock; (from, to).

    For a rollback: the newer release runs it, since only it has the scripts that undo its own revisions.
    What those revisions added (columns, tables) is dropped with its data.
    """
    if not known(target):
        raise UsageError(f"{target} is not a revision of this release; `rok-token-bot db current` shows the database's")
    scripts = ScriptDirectory.from_config(_config())
    with translated(engine.url), writing(engine) as conn:
        migration_lock(conn)
        at = _current(conn)
        if at is None:
            raise SchemaNotMigrated(detail=f"{display(engine.url)}: no {VERSION_TABLE} table, nothing to downgrade")
        if not known(at):
            raise _newer(engine, at)
        if at != target and target not in {r.revision for r in scripts.iterate_revisions(at, "base")}:
            raise UsageError(f"{target} is newer than the database's {at}: that is `rok-token-bot db upgrade`.")
        config = _config()
        config.attributes["connection"] = conn
        command.downgrade(config, target)
        now = _current(conn)
    assert now == target
    return at, target


def current(engine: Engine) -> str | None:
    """The revision the database is at; None when it has no schema yet."""
    with translated(engine.url), engine.connect() as conn:
        return _current(conn)


def check(engine: Engine) -> str:
    """Connect and return "schema at revision X (head)", or raise the StoreError that says what is wrong."""
    revision = current(engine)
    want = head()
    where = display(engine.url)
    if revision is None:
        raise SchemaNotMigrated(detail=f"{where}: no {VERSION_TABLE} table (head is {want})")
    if revision == want:
        return f"schema at revision {revision} (head)"
    if not known(revision):
        raise _newer(engine, revision)
    raise SchemaBehind(detail=f"{where}: revision {revision}, head is {want}")


__all__ = ["StoreError", "check", "current", "downgrade", "head", "known", "upgrade"]
