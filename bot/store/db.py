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

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from bot.domain.urls import safe_url

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


def make_engine(url: sa.URL) -> Engine:
    """An engine for `url`, tuned for the bot (SQLite: WAL, busy timeout, BEGIN IMMEDIATE on writes)."""
    if url.get_backend_name() == "sqlite":
        return _sqlite_engine(url)
    if url.get_backend_name() == "postgresql":
        return sa.create_engine(
            url,
            pool_pre_ping=True,
            pool_size=5,
            max_overflow=15,
            pool_timeout=15,
            connect_args={"connect_timeout": 10, "application_name": "rok-token-bot"},
        )
    raise ValueError(f"unsupported database backend {url.get_backend_name()!r}")


def _sqlite_engine(url: sa.URL) -> Engine:
    engine = sa.create_engine(
        url,
        connect_args={"timeout": SQLITE_BUSY_SECONDS, "check_same_thread": False},
        pool_size=5,
        max_overflow=15,
        pool_timeout=SQLITE_BUSY_SECONDS,
    )

    @event.listens_for(engine, "do_connect")
    def _make_data_dir(_dialect: Any, _record: Any, _args: Any, _kwargs: Any) -> None:
        # On first connect, not at open: the CLI's usage errors must not depend on the disk. The data
        # directory is private to the bot: the ledger names users and their tokens' UUIDs.
        if url.database and url.database != ":memory:" and not url.database.startswith("file:"):
            parent = Path(url.database).parent
            try:
                parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            except OSError as exc:  # as a driver error, so it is reported like any unreachable database
                raise sqlite3.OperationalError(f"cannot create the data directory {parent}: {exc.strerror}") from None

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Off with pysqlite's implicit BEGIN: `_on_begin` below decides how each transaction starts.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {int(SQLITE_BUSY_SECONDS * 1000)}")
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


def current_fast(engine: Engine) -> str | None:
    """The schema's revision by one plain query (no Alembic); None when there is no schema yet."""
    from bot.store.schema import VERSION_TABLE

    try:
        with engine.connect() as conn:
            return conn.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()  # noqa: S608  # nosec B608
    except sa.exc.DatabaseError:
        return None
