"""Migrations: from an empty database to head, idempotent, under a lock two processes can race on; `check`."""

from __future__ import annotations

import subprocess
import sys
import time
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from bot.store import Store, open_url
from bot.store.errors import SchemaNotMigrated, SchemaUnknown, StoreUnreachable
from bot.store.migrate import head
from bot.store.schema import VERSION_TABLE, ledger, metadata

ROOT = Path(__file__).resolve().parents[2]


def test_an_empty_database_is_migrated_to_head(db_url: str) -> None:
    store = open_url(db_url)
    try:
        assert store.current() is None
        with pytest.raises(SchemaNotMigrated) as raised:
            store.check()
        assert "db upgrade" in raised.value.user_message
        assert store.upgrade() == head()
        assert store.current() == head()
        assert store.check() == f"schema at revision {head()} (head)"
        tables = set(sa.inspect(store.engine).get_table_names())
        assert {"ledger", "audit_events", "audit_outbox", "once_claims", VERSION_TABLE} <= tables
    finally:
        store.close()


def test_upgrading_again_changes_nothing_and_keeps_the_data(store: Store) -> None:
    now = datetime.now(UTC)
    with store.engine.begin() as conn:
        conn.execute(
            sa.insert(ledger).values(
                request_id="r1", user_id="U1", duration_seconds=60, origin="command", status="reserved", reserved_at=now
            )
        )
    assert store.upgrade() == head()
    assert store.upgrade() == head()
    with store.engine.connect() as conn:
        assert conn.execute(sa.select(ledger.c.reserved_at)).scalars().all() == [now]


def test_the_migrated_schema_is_exactly_the_tables_the_code_uses(store: Store) -> None:
    """The migration scripts and bot/store/schema.py cannot drift: autogenerate finds nothing to do."""
    with store.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
        diff = compare_metadata(context, metadata)
    assert diff == []


_MIGRATE = """
import sys, time
from pathlib import Path
from bot.store import open_url
go = Path(sys.argv[2])
while not go.exists():
    time.sleep(0.005)
store = open_url(sys.argv[1])
try:
    print(store.upgrade())
except Exception as exc:  # the one-line error hides the driver's: a failure here must say what the driver said
    sys.exit(f"{exc} [{getattr(exc, 'detail', '')}]")
store.close()
"""


def test_two_processes_migrating_at_once_both_succeed(db_url: str, tmp_path: Path) -> None:
    go = tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _MIGRATE, db_url, str(go)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    time.sleep(1.0)  # both have imported SQLAlchemy and wait on the file: then they start together
    go.touch()
    results = [p.communicate(timeout=60) for p in procs]
    for proc, (out, err) in zip(procs, results, strict=True):
        assert proc.returncode == 0, err
        assert out.strip() == head()
    store = open_url(db_url)
    try:
        assert store.check() == f"schema at revision {head()} (head)"
    finally:
        store.close()


def test_a_revision_this_bot_does_not_know_is_named(store: Store) -> None:
    with store.engine.begin() as conn:
        conn.execute(sa.text(f"UPDATE {VERSION_TABLE} SET version_num = 'f00d'"))
    with pytest.raises(SchemaUnknown) as raised:
        store.check()
    assert "f00d" in raised.value.detail
    assert "newer" in raised.value.user_message


@pytest.mark.postgres
def test_an_unreachable_database_is_named_without_its_password(postgres_admin_url: str) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here once the socket closes
    url = f"postgresql+psycopg://rokbot:s3cret-Passw0rd@127.0.0.1:{port}/rok"
    store = open_url(url)
    try:
        with pytest.raises(StoreUnreachable) as raised:
            store.check()
    finally:
        store.close()
    error = raised.value
    assert f"127.0.0.1:{port}/rok" in error.detail
    assert "s3cret-Passw0rd" not in error.detail + error.user_message + str(error)
    assert "ROK_BOT_DATABASE_URL" in error.user_message


def test_an_unusable_sqlite_path_is_reported_as_unreachable(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    store = open_url(f"sqlite:///{blocker / 'db.sqlite3'}")
    try:
        with pytest.raises(StoreUnreachable) as raised:
            store.check()
    finally:
        store.close()
    assert "OperationalError" in raised.value.detail


def test_the_wheel_ships_the_migrations(tmp_path: Path) -> None:
    """The image installs the wheel: without its migration scripts the server could not create its schema."""
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("rok_token_bot-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "bot/store/migrations/env.py" in names
    assert "bot/store/migrations/versions/0001_initial.py" in names
    assert "bot/store/migrations/script.py.mako" in names


def test_the_head_revision_constant_is_the_migration_scripts_head() -> None:
    """The CLI checks "schema current" with one query against HEAD_REVISION: it must name the real head."""
    from bot.store.migrate import head
    from bot.store.schema import HEAD_REVISION

    assert head() == HEAD_REVISION
