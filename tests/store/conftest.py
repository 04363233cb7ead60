"""Store fixtures: each test gets a fresh database, SQLite and (marked `postgres`) a real PostgreSQL.

PostgreSQL comes from ROK_BOT_TEST_POSTGRES_URL (a superuser URL; CI's .ci/run starts a server and sets
it), else from a throwaway server this session starts when the binaries are installed
(tests/store/pgserver.py). With neither, the `postgres` tests are skipped with the reason, unless
ROK_BOT_REQUIRE_POSTGRES=1 (CI), where they fail instead.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bot.store import Store, open_url

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


@pytest.fixture
def cli_env(clean_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, db_url: str, backend: str) -> str:
    """No Slack, no registry, no cluster: only the database (the default SQLite file, or PostgreSQL)."""
    if backend == "sqlite":
        monkeypatch.setenv("ROK_BOT_DATA_DIR", str(Path(db_url.removeprefix("sqlite:///")).parent))
    else:
        monkeypatch.setenv("ROK_BOT_DATABASE_URL", db_url)
    return db_url


@pytest.fixture(params=[pytest.param("memory", id="memory"), *BACKENDS])
def contract_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store | None]:
    """For the contract tests, which hold the in-memory fakes and the store to one behaviour: None for the
    fakes' run, else a migrated store (no sinks) on a fresh SQLite or PostgreSQL database."""
    if request.param == "memory":
        yield None
        return
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'store' / 'contract.sqlite3'}"
    else:
        make: Callable[[], str] = request.getfixturevalue("new_postgres_url")
        url = make()
    opened = open_url(url)
    opened.upgrade()
    try:
        yield opened
    finally:
        opened.close()
