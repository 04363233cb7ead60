"""An empty database is created at head without Alembic (bot/store/fresh.py): the same schema as the nine
migrations build, read by Alembic as any other, and safe when two replicas start together."""

from __future__ import annotations

import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from bot.store import Store, open_url
from bot.store.fresh import create_at_head
from bot.store.migrate import head
from bot.store.schema import HEAD_REVISION, VERSION_TABLE, metadata


def _plain(value: Any) -> str:
    """A reflected value as text: a partial index's WHERE (a TextClause on SQLite) by its SQL."""
    if isinstance(value, dict):
        return repr({k: _plain(v) for k, v in sorted(value.items())})
    return str(value.text) if isinstance(value, sa.TextClause) else repr(value)


def _schema(engine: sa.engine.Engine) -> dict[str, Any]:
    """Everything the inspector reports of every table, including the version table and partial indexes."""
    inspector = sa.inspect(engine)
    out: dict[str, Any] = {}
    for table in sorted(inspector.get_table_names()):

        def named(items: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
            return sorted(({k: _plain(v) for k, v in item.items()} for item in items), key=repr)

        out[table] = {
            "columns": named(
                [
                    {
                        "name": c["name"],
                        "type": str(c["type"]),
                        "nullable": c["nullable"],
                        "default": c.get("default"),
                        "autoincrement": c.get("autoincrement"),
                    }
                    for c in inspector.get_columns(table)
                ]
            ),
            "pk": inspector.get_pk_constraint(table),
            "fks": named(inspector.get_foreign_keys(table)),
            "indexes": named(inspector.get_indexes(table)),
            "uniques": named(inspector.get_unique_constraints(table)),
            "checks": named(inspector.get_check_constraints(table)),
        }
    return out


def _second_url(db_url: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if db_url.startswith("sqlite"):
        return f"sqlite:///{tmp_path / 'migrated' / 'rok-token-bot.sqlite3'}"
    make: Any = request.getfixturevalue("new_postgres_url")
    return str(make())


def test_an_empty_database_is_created_at_head_without_alembic(db_url: str) -> None:
    """In a fresh interpreter: the start's ensure_schema on an empty database never imports Alembic."""
    code = (
        "import sys; from bot.store import open_url; s = open_url(sys.argv[1]); print(s.ensure_schema()); "
        "s.close(); print('alembic' in sys.modules)"
    )
    import subprocess

    done = subprocess.run([sys.executable, "-c", code, db_url], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [HEAD_REVISION, "False"]
    store = open_url(db_url)
    try:
        assert store.current() == head() == HEAD_REVISION
        assert store.check() == f"schema at revision {head()} (head)"
    finally:
        store.close()


def test_created_and_migrated_databases_have_the_same_schema(
    db_url: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    created, migrated = open_url(db_url), open_url(_second_url(db_url, request, tmp_path))
    try:
        assert created.ensure_schema() == HEAD_REVISION
        assert migrated.upgrade() == HEAD_REVISION
        assert _schema(created.engine) == _schema(migrated.engine)
        with created.engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
            assert context.get_current_revision() == HEAD_REVISION
            assert compare_metadata(context, metadata) == []
    finally:
        created.close()
        migrated.close()


def test_alembic_takes_a_created_database_back_and_forward(db_url: str) -> None:
    """What the next release's migrations and a rollback will do to a database created here."""
    store = open_url(db_url)
    try:
        store.ensure_schema()
        previous = store.downgrade("0008_enterprise")
        assert previous == (HEAD_REVISION, "0008_enterprise")
        assert store.upgrade() == HEAD_REVISION
    finally:
        store.close()


def test_a_database_holding_an_older_schema_goes_through_alembic(db_url: str) -> None:
    store = open_url(db_url)
    try:
        store.upgrade()
        store.downgrade("0008_enterprise")
        assert create_at_head(store.engine) is None  # not ours to decide: Alembic's
        assert store.ensure_schema() == HEAD_REVISION
        assert store.current() == HEAD_REVISION
    finally:
        store.close()


def test_two_replicas_starting_on_an_empty_database_create_it_once(db_url: str) -> None:
    stores: list[Store] = [open_url(db_url) for _ in range(4)]
    results: list[str] = []
    errors: list[BaseException] = []
    gate = threading.Barrier(len(stores))

    def start(store: Store) -> None:
        gate.wait()
        try:
            results.append(store.ensure_schema())
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(store,)) for store in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    try:
        assert errors == []
        assert results == [HEAD_REVISION] * len(stores)
        with stores[0].engine.connect() as conn:
            assert conn.execute(sa.text(f"SELECT count(*) FROM {VERSION_TABLE}")).scalar() == 1
    finally:
        for store in stores:
            store.close()
