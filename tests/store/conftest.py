"""Store fixtures: each test gets a fresh database, SQLite and (marked `postgres`) a real PostgreSQL.

PostgreSQL comes from ROK_BOT_TEST_POSTGRES_URL (a superuser URL; CI's .ci/run starts a server and sets
it), else from a throwaway server this session starts when the binaries are installed
(tests/store/pgserver.py). With neither, the `postgres` tests are skipped with the reason, unless
ROK_BOT_REQUIRE_POSTGRES=1 (CI), where they fail instead.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from bot.store import Store, open_url
from tests.store.pgserver import PostgresServer

_numbers = itertools.count()


@pytest.fixture(scope="session")
def postgres_admin_url() -> Iterator[str]:
    """A superuser URL of a running PostgreSQL server, for the whole session."""
    url = os.environ.get("ROK_BOT_TEST_POSTGRES_URL", "").strip()
    if url:
        yield url
        return
    try:
        server = PostgresServer.start()
    except RuntimeError as exc:
        server = None
        reason = str(exc)
    else:
        reason = "no PostgreSQL server binaries (initdb, pg_ctl): apt-get install postgresql"
    if server is None:
        reason = f"PostgreSQL tests need ROK_BOT_TEST_POSTGRES_URL or a local server: {reason}"
        if os.environ.get("ROK_BOT_REQUIRE_POSTGRES") == "1":
            pytest.fail(reason + " (ROK_BOT_REQUIRE_POSTGRES=1: not skipping)")
        pytest.skip(reason)
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def new_postgres_url(postgres_admin_url: str) -> Iterator[Callable[[], str]]:
    """Make fresh, empty databases on the server; all are dropped after the test."""
    admin = sa.create_engine(postgres_admin_url, isolation_level="AUTOCOMMIT")
    made: list[str] = []

    def make() -> str:
        name = f"rok_test_{os.getpid()}_{next(_numbers)}"
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        made.append(name)
        return sa.make_url(postgres_admin_url).set(database=name).render_as_string(hide_password=False)

    try:
        yield make
    finally:
        with admin.connect() as conn:
            for name in made:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def db_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A URL of an empty database of `backend`."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'store' / 'rok-token-bot.sqlite3'}"
    make: Callable[[], str] = request.getfixturevalue("new_postgres_url")
    return make()


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    """A migrated store on a fresh database, with the Slack and webhook sinks."""
    opened = open_url(db_url, sinks=("slack", "webhook"))
    opened.upgrade()
    try:
        yield opened
    finally:
        opened.close()
