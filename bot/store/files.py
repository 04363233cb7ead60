"""The SQLite file on disk: created private, never created by a read-only command, exposure reported.

The ledger names users and their tokens' UUIDs, and who asked for what: the file is the bot's alone. The
bot creates its data directory 0700 and the database file 0600 (SQLite gives the -wal, -shm and -journal
files the database file's mode), whatever the umask. A directory or file that already exists is used as it
is (it may be a volume the platform prepared), but `serve` logs one warning at start and `doctor` shows one
when other users can reach it: any world bit, or a group bit for a group other than the bot's own (a pod's
fsGroup volume is group-writable for the bot's own group, which holds no one else).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import sqlalchemy as sa

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600
_SIDE_FILES = ("-wal", "-shm", "-journal")


def sqlite_path(url: sa.URL) -> Path | None:
    """The database file a SQLite URL names; None for PostgreSQL, memory and `file:` URIs."""
    if url.get_backend_name() != "sqlite":
        return None
    database = url.database or ""
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def create_private(path: Path) -> None:
    """The data directory (0700, when missing) and an empty database file (0600, when missing).

    An empty file is a valid empty SQLite database; creating it here, with O_CREAT and mode 0600, is what
    keeps the umask out: SQLite would create it 0644 under the usual 022.
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, PRIVATE_FILE)
    os.close(fd)


def exposure(path: Path) -> str | None:
    """One sentence when the data directory, the database file or its -wal/-shm files are open to other users,
    with the commands that close them; None when all are private or missing."""
    open_ones: list[str] = []
    for candidate in (path.parent, path, *(path.with_name(path.name + s) for s in _SIDE_FILES)):
        try:
            info = candidate.stat()
        except OSError:
            continue
        others = 0o007 if info.st_gid == os.getegid() else 0o077
        if info.st_mode & others:
            open_ones.append(f"{candidate} ({stat.S_IMODE(info.st_mode):04o})")
    if not open_ones:
        return None
    return (
        f"the bot's data is open to other users: {', '.join(open_ones)}; "
        f"run `chmod 700 {path.parent} && chmod 600 {path}*`"
    )
