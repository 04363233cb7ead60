"""A new pooled connection never drops the SQLite locks the process's other connections hold.

Closing any descriptor of a database file releases every POSIX lock the process holds on that file, those of
SQLite's other connections included (sqlite.org, "How To Corrupt An SQLite Database File", 2.2). The engine
used to open and close the file (to create it private, 0600) on every new connection: a replica whose second
connection opened while its first held the write lock lost that lock, and another replica could then write
beside it (seen as "disk I/O error" and "database disk image is malformed" in the HEC restart test).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from bot.store import Store, open_url
from bot.store.db import writing
from bot.store.schema import VERSION_TABLE

# Another process opens the database, reads, and closes: the last connection to close (as far as the locks it
# can take say) checkpoints the WAL and deletes it with the -shm file, under the feet of any still open.
_OTHER = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], timeout=0)
conn.execute("SELECT count(*) FROM sqlite_master").fetchall()
conn.close()
"""


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[tuple[Path, Store]]:
    """A store on a new SQLite file (in a data directory it creates), its schema at head; its file's path."""
    path = tmp_path / "data" / "rok-token-bot.sqlite3"
    store = open_url(f"sqlite:///{path}")
    try:
        store.ensure_schema()
        yield path, store
    finally:
        store.close()


def test_a_new_connection_keeps_the_locks_the_open_ones_hold(sqlite_store: tuple[Path, Store]) -> None:
    path, store = sqlite_store
    with store.engine.connect() as held:
        held.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).all()
        with store.engine.connect() as second:  # new to the pool: the engine's first-connect work again
            second.execute(sa.text("SELECT 1")).all()
        subprocess.run([sys.executable, "-c", _OTHER, str(path)], timeout=30, check=True)
        # Ours are open: the other process was not the last, the WAL and its index are still there.
        assert Path(f"{path}-wal").exists() and Path(f"{path}-shm").exists()
        with writing(store.engine) as conn:
            conn.execute(sa.text(f"UPDATE {VERSION_TABLE} SET version_num = version_num"))


def test_the_database_file_is_still_created_private(sqlite_store: tuple[Path, Store]) -> None:
    path, _ = sqlite_store
    assert (path.stat().st_mode & 0o777, path.parent.stat().st_mode & 0o777) == (0o600, 0o700)
