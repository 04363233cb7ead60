"""Migrations: from an empty database to head, idempotent, under a lock two processes can race on; `check`."""

from __future__ import annotations

import subprocess
import sys
import time
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from bot.domain.ports import TokenQuery
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


def test_0007_gives_existing_rows_the_default_registry_and_its_downgrade_keeps_every_row(db_url: str) -> None:
    """An installation at 0006 with a token, an approval request and an undelivered audit event: after the
    upgrade each is `default`; the downgrade drops the column (which registry a row belonged to is lost) and
    nothing else (an audit_events rebuild would cascade-delete its deliveries); up again, the schema is the
    code's."""
    from alembic import command

    from bot.store.db import writing
    from bot.store.migrate import _config
    from bot.store.schema import approval_requests, audit_events, audit_outbox

    store = open_url(db_url, sinks=("slack",))
    now = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)

    def migrate(target: str, *, down: bool = False) -> None:
        with writing(store.engine) as conn:
            config = _config()
            config.attributes["connection"] = conn
            (command.downgrade if down else command.upgrade)(config, target)

    def columns(table: sa.Table) -> set[str]:
        return {c["name"] for c in sa.inspect(store.engine).get_columns(table.name)}

    def indexes(table: sa.Table) -> set[str]:
        return {str(i["name"]) for i in sa.inspect(store.engine).get_indexes(table.name)}

    def deliveries() -> int:
        with store.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(audit_outbox)).scalar_one())

    try:
        migrate("0006_audit_sinks")
        # The tables' Core objects omit `registry` from an INSERT that names none (a server default): the
        # rows are written exactly as a 0006 bot wrote them.
        with store.engine.begin() as conn:
            conn.execute(
                sa.insert(ledger).values(
                    request_id="old",
                    user_id="U1",
                    duration_seconds=60,
                    origin="command",
                    status="issued",
                    reserved_at=now,
                )
            )
            conn.execute(
                sa.insert(approval_requests).values(
                    id="a1",
                    request_id="old",
                    user_id="U1",
                    rok_user="jdoe",
                    seconds=86400,
                    usual_max=3600,
                    usual_source="everyone",
                    reason="x",
                    status="pending",
                    requested_at=now,
                    expires_at=now + timedelta(hours=1),
                )
            )
            event_id = conn.execute(
                sa.insert(audit_events)
                .values(
                    occurred_at=now,
                    recorded_at=now,
                    outcome="issued",
                    request_id="old",
                    record={"outcome": "issued", "request_id": "old", "occurred_at": now.isoformat()},
                )
                .returning(audit_events.c.id)
            ).scalar_one()
            conn.execute(
                sa.insert(audit_outbox).values(
                    event_id=event_id, sink="slack", priority=0, created_at=now, due_at=now, attempts=0
                )
            )

        assert store.upgrade() == head()
        with store.engine.connect() as conn:
            for table in (ledger, approval_requests, audit_events):
                assert conn.execute(sa.select(table.c.registry)).scalars().all() == ["default"], table.name
        assert [e.registry for e in store.ledger.tokens(TokenQuery())] == ["default"]
        request = store.approvals.get("a1")
        assert request is not None and request.registry == "default"
        (claimed,) = store.outbox.claim(sink="slack", worker="w", limit=5, lease_seconds=30, now=now)
        assert claimed.event.registry == "default"  # a record written before 0007 reads as `default`
        assert "ix_ledger_user_registry_reserved" in indexes(ledger)
        assert "ix_ledger_user_reserved" not in indexes(ledger)

        migrate("0006_audit_sinks", down=True)
        for table in (ledger, approval_requests, audit_events):
            assert "registry" not in columns(table), table.name
        assert "ix_ledger_user_reserved" in indexes(ledger)
        assert "ix_approval_requests_user" in indexes(approval_requests)
        assert deliveries() == 1  # the undelivered event's delivery row survived the downgrade

        assert store.upgrade() == head()
        with store.engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
            assert compare_metadata(context, metadata) == []
    finally:
        store.close()
