"""The SQLite file is the bot's alone: its directory created 0700 and the file (with its -wal and -shm) 0600
whatever the umask; a command that only looks never creates it; data open to other users is named."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.cli import main
from bot.domain.audit import AuditEvent, Outcome
from bot.store import data_exposure, open_store
from bot.store.errors import StoreMissing, StoreReadOnly

ERROR = "rok-token-bot: error: "


@pytest.fixture
def umask_022() -> Iterator[None]:
    """The usual umask, under which SQLite alone would create the file 0644."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def modes(directory: Path) -> dict[str, int]:
    return {p.name: stat.S_IMODE(p.stat().st_mode) for p in [directory, *directory.iterdir()]}


def test_db_upgrade_creates_a_private_directory_and_file(clean_env: dict[str, str], umask_022: None) -> None:
    data = Path(clean_env["ROK_BOT_DATA_DIR"])
    assert not data.exists()
    assert main(["db", "upgrade"]) == 0
    assert modes(data) == {data.name: 0o700, "rok-token-bot.sqlite3": 0o600}


def test_the_wal_and_shm_files_are_private_too(tmp_path: Path, umask_022: None) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)  # an existing directory is used as it is...
    store = open_store(url=None, data_dir=shared, retention_seconds=86400)
    try:
        store.ensure_schema()
        store.outbox.append(AuditEvent(outcome=Outcome.STARTED, request_id="r", occurred_at=datetime.now(UTC)))
        files = modes(shared)  # while the store is open: the -wal and -shm files exist
    finally:
        store.close()
    assert files.pop("shared") == 0o755
    assert set(files) == {"rok-token-bot.sqlite3", "rok-token-bot.sqlite3-wal", "rok-token-bot.sqlite3-shm"}
    assert set(files.values()) == {0o600}
    # ...and reported, with the commands that close it.
    warning = data_exposure(url=None, data_dir=shared)
    assert warning is not None
    assert f"{shared} (0755)" in warning
    assert f"chmod 700 {shared} && chmod 600 {shared}/rok-token-bot.sqlite3*" in warning
    shared.chmod(0o700)
    assert data_exposure(url=None, data_dir=shared) is None


@pytest.mark.parametrize("argv", [["db", "current"], ["tokens"], ["audit"]])
def test_a_command_that_only_looks_creates_no_database(
    clean_env: dict[str, str], capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    data = Path(clean_env["ROK_BOT_DATA_DIR"])
    assert main(argv) == 1
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(ERROR)
    assert "SQLite database does not exist; check ROK_BOT_DATA_DIR" in lines[0]
    assert f"no file {data / 'rok-token-bot.sqlite3'}" in lines[0]
    assert not data.exists()


def test_a_read_only_store_never_writes(db_url: str, tmp_path: Path) -> None:
    if db_url.startswith("sqlite"):
        with pytest.raises(StoreMissing):
            open_store(url=db_url, data_dir=tmp_path, retention_seconds=86400, read_only=True)
    writer = open_store(url=db_url, data_dir=tmp_path, retention_seconds=86400)
    writer.ensure_schema()
    writer.close()
    reader = open_store(url=db_url, data_dir=tmp_path, retention_seconds=86400, read_only=True)
    try:
        assert reader.check().endswith("(head)")
        with pytest.raises(StoreReadOnly), reader.translating():
            reader.outbox.append(AuditEvent(outcome=Outcome.STARTED, request_id="r", occurred_at=datetime.now(UTC)))
    finally:
        reader.close()
