"""Engines: PostgreSQL through psycopg 3 for several replicas, or an embedded SQLite file for one.

SQLite runs in WAL mode (readers never wait for the writer) with a busy timeout, and every write
transaction starts with `BEGIN IMMEDIATE`: it takes the database's one write lock up front, so a
read-then-write (the quota check) cannot be overtaken by another writer between its read and its write,
and a waiting writer queues on the busy timeout instead of failing with "database is locked" on upgrade.
pysqlite's own implicit BEGIN is switched off for that (SQLAlchemy's documented recipe).

PostgreSQL transactions are READ COMMITTED; the ledger and the outbox take the row or advisory locks
they need (see there). The pool pings a connection before use, so a database failover costs one retry,
not a failed request.
"""

from __future__ import annotations

import sqlite3
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any
from urllib.parse import quote

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from bot.domain.urls import safe_url
from bot.store.files import create_private, sqlite_path

SQLITE_FILE = "rok-token-bot.sqlite3"
SQLITE_BUSY_SECONDS = 15.0
_WRITE = "rok_write"


def database_url(*, url: str | None, data_dir: Path | None = None) -> sa.URL:
    """The SQLAlchemy URL to use: `url` (psycopg 3 for PostgreSQL), else the SQLite file in `data_dir`."""
    if not url:
        if data_dir is None:
            raise ValueError("no database URL and no data directory")
        return sa.URL.create("sqlite+pysqlite", database=str(data_dir / SQLITE_FILE))
    parsed = sa.make_url(url)
    if parsed.drivername in ("postgres", "postgresql", "postgresql+psycopg"):
        return parsed.set(drivername="postgresql+psycopg")
    if parsed.drivername in ("sqlite", "sqlite+pysqlite"):
        return parsed.set(drivername="sqlite+pysqlite")
    raise ValueError(f"unsupported database {parsed.drivername!r}: use postgresql+psycopg://... or sqlite:///PATH")


def display(url: sa.URL) -> str:
    """The URL as the bot prints it: never with its password, in the userinfo or the query (`?password=`)."""
    return safe_url(url.render_as_string(hide_password=False))


def make_engine(url: sa.URL, *, read_only: bool = False) -> Engine:
    """An engine for `url`, tuned for the bot (SQLite: WAL, busy timeout, BEGIN IMMEDIATE on writes).

    `read_only` for the commands that only look (`db current`, `tokens`, `audit`, `doctor`): SQLite opens the
    file with `mode=ro` (it never creates one), PostgreSQL begins every transaction READ ONLY (per
    transaction, not a startup `options`, which PgBouncer refuses).
    """
    if url.get_backend_name() == "sqlite":
        return _sqlite_engine(url, read_only=read_only)
    if url.get_backend_name() == "postgresql":
        from bot.store.schema import postgresql_predicates

        postgresql_predicates()
        return sa.create_engine(
            url,
            pool_pre_ping=True,
            pool_size=5,
            max_overflow=15,
            pool_timeout=15,
            connect_args={"connect_timeout": 10, "application_name": "rok-token-bot"},
            execution_options={"postgresql_readonly": True} if read_only else {},
        )
    raise ValueError(f"unsupported database backend {url.get_backend_name()!r}")


def _sqlite_engine(url: sa.URL, *, read_only: bool = False) -> Engine:
    engine = sa.create_engine(
        url,
        connect_args={"timeout": SQLITE_BUSY_SECONDS, "check_same_thread": False},
        pool_size=5,
        max_overflow=15,
        pool_timeout=SQLITE_BUSY_SECONDS,
    )

    creating = threading.Lock()

    @event.listens_for(engine, "do_connect")
    def _make_data_dir(_dialect: Any, _record: Any, cargs: list[Any], cparams: dict[str, Any]) -> None:
        # On first connect, not at open: the CLI's usage errors must not depend on the disk. The data
        # directory and the file are private to the bot (bot/store/files.py).
        if (path := sqlite_path(url)) is not None:
            if read_only:  # the same file as a `mode=ro` URI: SQLite opens it only if it exists, never writes
                cargs[0] = f"file:{quote(str(path.resolve()))}?mode=ro"
                cparams["uri"] = True
                return
            # Only while the file does not exist, under a lock: closing ANY descriptor of the database file
            # drops every POSIX lock this process holds on it, the other connections' too (SQLite's "how to
            # corrupt" 2.2), and another replica could then write beside them.
            with creating:
                if path.exists():
                    return
                try:
                    create_private(path)
                except OSError as exc:  # as a driver error, so it is reported like any unreachable database
                    raise sqlite3.OperationalError(f"cannot create {exc.filename or path}: {exc.strerror}") from None

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Off with pysqlite's implicit BEGIN: `_on_begin` below decides how each transaction starts.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {int(SQLITE_BUSY_SECONDS * 1000)}")
            if not read_only:  # a read-only connection cannot switch the journal (the writer did)
                cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA foreign_keys = ON")
            # FULL, not WAL's usual NORMAL: an audit event is on disk when append() returns.
            cursor.execute("PRAGMA synchronous = FULL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(_WRITE) else "BEGIN")

    return engine


# SQLite's busy handler polls with sleeps that grow to 100 ms, so threads queued on the write lock are served
# in no order and the unlucky ones wait long (p99 0.8 s with 8 threads, bench/store.py). Threads of one process
# queue on this lock first, in order; other processes still meet at the busy timeout.
_SQLITE_WRITERS: weakref.WeakKeyDictionary[Engine, threading.Lock] = weakref.WeakKeyDictionary()
_SQLITE_WRITERS_GUARD = threading.Lock()


def _writer_lock(engine: Engine) -> threading.Lock | None:
    if engine.dialect.name != "sqlite":
        return None
    with _SQLITE_WRITERS_GUARD:
        return _SQLITE_WRITERS.setdefault(engine, threading.Lock())


@contextmanager
def writing(engine: Engine) -> Iterator[Connection]:
    """One write transaction (on SQLite, holding the write lock from its first statement)."""
    lock = _writer_lock(engine)
    with lock or nullcontext(), engine.connect() as conn:
        conn.execution_options(**{_WRITE: True})
        with conn.begin():
            yield conn


@contextmanager
def reading(engine: Engine) -> Iterator[Connection]:
    """One read-only transaction: a consistent snapshot that never waits for writers."""
    with engine.connect() as conn, conn.begin():
        yield conn


# An arbitrary constant (b"rokmigr" as an integer), the key of the migration lock on PostgreSQL. The
# ledger's per-user locks use the two-integer key space, which never overlaps this one-bigint space.
MIGRATION_LOCK_KEY = 0x726F6B6D696772


def migration_lock(conn: Connection) -> None:
    """Inside a write transaction: wait for any other migrator (PostgreSQL's advisory lock, released by the
    commit; on SQLite the transaction's write lock is the migration lock)."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})


def upsert(conn: Connection) -> Any:
    """The dialect's `insert`, which has ON CONFLICT (PostgreSQL's package is imported only on PostgreSQL)."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert
    from sqlalchemy.dialects import sqlite

    return sqlite.insert


def current_fast(engine: Engine) -> str | None:
    """The schema's revision by one plain query (no Alembic); None when there is no schema yet."""
    from bot.store.schema import VERSION_TABLE

    try:
        with engine.connect() as conn:
            return conn.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()  # noqa: S608  # nosec B608
    except sa.exc.DatabaseError:
        return None


def probe_write(engine: Engine) -> None:
    """One write that changes nothing (the version row onto itself): a read-only database, a standby or a role
    without UPDATE fails here, at start, with the driver's error, rather than on the first user's request."""
    from bot.store.schema import VERSION_TABLE

    with writing(engine) as conn:
        conn.execute(sa.text(f"UPDATE {VERSION_TABLE} SET version_num = version_num"))  # noqa: S608  # nosec B608
