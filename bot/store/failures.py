"""The driver's errors at the store's edge, as the one-line StoreErrors of `bot/store/errors.py`.

A database the bot reaches but cannot use (read-only, a role without a privilege) must stop `serve` at
start and every CLI command with one sentence that names the fix, not with 60 lines of SQLAlchemy
traceback: the pod's log is where the admin looks first. The sentence depends on the backend, because
the fix does (file permissions for SQLite; the primary, a setting or a GRANT for PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from bot.domain.urls import without_credentials
from bot.runtime.logs import without_userinfo
from bot.store.db import display
from bot.store.errors import StoreError, StoreForbidden, StoreReadOnly, StoreUnreachable

# PostgreSQL's SQLSTATEs (psycopg 3 gives them as `sqlstate`).
READ_ONLY_SQL_TRANSACTION = "25006"  # default_transaction_read_only = on, or a hot standby
INSUFFICIENT_PRIVILEGE = "42501"  # e.g. no CREATE on schema public (the PostgreSQL 15 default)


def translate(url: sa.URL, exc: Exception) -> StoreError:
    """The StoreError for a driver failure on the database at `url`, naming it by its safe URL."""
    orig = getattr(exc, "orig", None) or exc
    lines = str(orig).strip().splitlines() or [""]
    reason = without_credentials(without_userinfo(lines[0]), url.render_as_string(hide_password=False))[:200]
    detail = f"{display(url)}: {type(orig).__name__}: {reason}"
    sqlstate = getattr(orig, "sqlstate", None)
    if sqlstate == READ_ONLY_SQL_TRANSACTION or str(getattr(orig, "sqlite_errorname", "")).startswith(
        "SQLITE_READONLY"
    ):
        return StoreReadOnly(_read_only_fix(url), detail=detail)
    if sqlstate == INSUFFICIENT_PRIVILEGE:
        return StoreForbidden(_privilege_fix(url, lines[0]), detail=detail)
    if isinstance(exc, (sa_exc.OperationalError, sa_exc.InterfaceError)):
        return StoreUnreachable(detail=detail)
    return StoreError("The bot's database refused a statement; an admin must check it.", detail=detail)


@contextmanager
def translated(url: sa.URL) -> Iterator[None]:
    """Inside: any driver error leaves as the StoreError that names its fix (no traceback, no chained cause)."""
    try:
        yield
    except sa_exc.DBAPIError as exc:
        raise translate(url, exc) from None


def _read_only_fix(url: sa.URL) -> str:
    if url.get_backend_name() == "sqlite":
        return (
            "The bot's SQLite database is read-only; make the file, its -wal and -shm files and its directory "
            "writable by the bot's user (and drop mode=ro from ROK_BOT_DATABASE_URL)."
        )
    database = url.database or "DATABASE"
    return (
        "The bot's PostgreSQL database is read-only; point ROK_BOT_DATABASE_URL at the primary (not a standby), "
        f"or run `ALTER DATABASE {database} SET default_transaction_read_only = off` (and the same for the role)."
    )


def _privilege_fix(url: sa.URL, message: str) -> str:
    role = url.username or "the bot's role"
    database = url.database or "DATABASE"
    if "schema" in message:
        return (
            f"The database role {role} may not create tables in schema public (PostgreSQL 15 no longer lets every "
            f"role); as the database's owner run `GRANT CREATE ON SCHEMA public TO {role}`, or "
            f"`ALTER DATABASE {database} OWNER TO {role}`."
        )
    return (
        f"The database role {role} lacks a privilege on the bot's tables; run the bot as the role that created "
        f"them, or as their owner run `GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}`."
    )
