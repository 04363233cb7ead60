"""A database the bot reaches but cannot use stops every store command with one line that names the fix: a
schema a newer release migrated (a `helm rollback`), a read-only database, a PostgreSQL 15 role without CREATE
on schema public. And `db downgrade` is the way back for a rollback. (`serve` and `doctor`: tests/e2e.)"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from bot.cli import main
from bot.domain.audit import AuditEvent, Outcome
from bot.store import open_url
from bot.store.migrate import head
from bot.store.schema import VERSION_TABLE, metadata

FUTURE = "0004_future"  # what a newer release's migration leaves in the version table
ERROR = "rok-token-bot: error: "
_roles = itertools.count()


def one_error_line(err: str) -> str:
    """The CLI's error contract: exactly one line on stderr, prefixed, never a traceback."""
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(ERROR), err
    return lines[0]


def set_revision(url: str, revision: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text(f"UPDATE {VERSION_TABLE} SET version_num = :r"), {"r": revision})
    engine.dispose()


def migrate(url: str) -> None:
    store = open_url(url)
    store.upgrade()
    store.close()


def test_a_newer_schema_names_the_downgrade_for_every_command(cli_env: str, capsys: pytest.CaptureFixture[str]) -> None:
    migrate(cli_env)
    set_revision(cli_env, FUTURE)
    for argv in (["db", "upgrade"], ["tokens"], ["audit"]):
        assert main(argv) == 1, argv
        line = one_error_line(capsys.readouterr().err)
        assert f"revision {FUTURE}, newer than this release's {head()}" in line
        assert f"`rok-token-bot db downgrade {head()}` with the newer release's image" in line
    assert main(["db", "current"]) == 0
    assert capsys.readouterr().out == f"{FUTURE} (newer than this release's {head()})\n"
    assert main(["db", "downgrade", "0001"]) == 1  # this release cannot undo what it does not know
    assert "newer than this release's" in one_error_line(capsys.readouterr().err)


def _schema_drift(url: str) -> list[object]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE}), metadata)
    engine.dispose()
    return list(diff)


def test_db_downgrade_goes_back_revision_by_revision_and_up_again(
    cli_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["db", "upgrade"]) == 0
    store = open_url(cli_env)
    store.outbox.append(AuditEvent(outcome=Outcome.STARTED, request_id="kept", occurred_at=datetime.now(UTC)))
    store.close()
    for older in ("0002_token_lifecycle", "0001"):
        capsys.readouterr()
        assert main(["db", "downgrade", older]) == 0
        out = capsys.readouterr()
        assert out.out == f"{older}\n"
        assert f"schema at revision {older} (was " in out.err
        assert main(["db", "current"]) == 0
        assert capsys.readouterr().out == f"{older} (head is {head()})\n"
    engine = sa.create_engine(cli_env)
    with engine.connect() as conn:
        assert "approval_requests" not in sa.inspect(conn).get_table_names()
        assert conn.execute(sa.text("SELECT count(*) FROM audit_events")).scalar() == 1  # the audit trail stays
    engine.dispose()
    assert main(["db", "upgrade"]) == 0
    assert capsys.readouterr().out == f"{head()}\n"
    assert _schema_drift(cli_env) == []  # down and up again: exactly the schema the code uses


def test_db_downgrade_usage_errors_exit_2(cli_env: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "upgrade"]) == 0
    assert main(["db", "downgrade", "0002_token_lifecycle"]) == 0
    capsys.readouterr()
    for argv, says in (
        (["db", "downgrade"], "takes the revision"),
        (["db", "upgrade", "0001"], "take none"),
        (["db", "downgrade", "f00d"], "f00d is not a revision of this release"),
        (["db", "downgrade", head()], f"{head()} is newer than the database's 0002_token_lifecycle"),
    ):
        assert main(argv) == 2, argv
        assert says in one_error_line(capsys.readouterr().err)


def test_a_read_only_sqlite_database_names_the_fix(
    clean_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "ro.sqlite3"
    path.touch()  # an empty database: `db upgrade` must create the tables, and may not
    monkeypatch.setenv("ROK_BOT_DATABASE_URL", f"sqlite:///file:{path}?mode=ro&uri=true")
    assert main(["db", "upgrade"]) == 1
    line = one_error_line(capsys.readouterr().err)
    assert "database is read-only; make the file, its -wal and -shm files and its directory writable" in line


# -- PostgreSQL: a database the bot cannot write, a role that cannot create -----------------------------------


@pytest.fixture
def pg_db(new_postgres_url: Callable[[], str]) -> str:
    """A fresh PostgreSQL database (owned by the superuser)."""
    return new_postgres_url()


def read_only(url: str) -> None:
    """`ALTER DATABASE … SET default_transaction_read_only = on`, as an admin would (or a read-only replica)."""
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'ALTER DATABASE "{sa.make_url(url).database}" SET default_transaction_read_only = on')
    admin.dispose()


@pytest.fixture
def role_without_create(pg_db: str, postgres_admin_url: str) -> Iterator[str]:
    """The database's URL as a fresh login role that may not CREATE in schema public (PostgreSQL 15's default,
    made explicit for older servers)."""
    role = f"rok_nocreate_{os.getpid()}_{next(_roles)}"
    owner = sa.create_engine(pg_db, isolation_level="AUTOCOMMIT")
    with owner.connect() as conn:
        conn.exec_driver_sql("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
        conn.exec_driver_sql(f"CREATE ROLE {role} LOGIN")
    owner.dispose()
    yield sa.make_url(pg_db).set(username=role).render_as_string(hide_password=False)
    admin = sa.create_engine(postgres_admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{sa.make_url(pg_db).database}" WITH (FORCE)')
        conn.exec_driver_sql(f"DROP ROLE IF EXISTS {role}")
    admin.dispose()


@pytest.mark.postgres
def test_a_read_only_postgresql_database_names_the_fix(
    clean_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, pg_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    read_only(pg_db)
    monkeypatch.setenv("ROK_BOT_DATABASE_URL", pg_db)
    assert main(["db", "upgrade"]) == 1
    line = one_error_line(capsys.readouterr().err)
    assert "PostgreSQL database is read-only; point ROK_BOT_DATABASE_URL at the primary" in line
    assert "SET default_transaction_read_only = off" in line


@pytest.mark.postgres
def test_a_role_without_create_on_public_names_the_grant(
    clean_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    role_without_create: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    role = sa.make_url(role_without_create).username
    monkeypatch.setenv("ROK_BOT_DATABASE_URL", role_without_create)
    assert main(["db", "upgrade"]) == 1
    line = one_error_line(capsys.readouterr().err)
    assert "may not create tables in schema public" in line
    assert f"GRANT CREATE ON SCHEMA public TO {role}" in line
