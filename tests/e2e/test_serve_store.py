"""`rok-token-bot serve` on a store it cannot use: one line that names the fix and exit 1, never a traceback
(the pod's log is what an admin reads after a `helm rollback`); and one warning for data open to others."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from bot.store.migrate import head
from sandbox.world import Sandbox
from tests.store.test_store_start_errors import FUTURE, migrate, pg_db, read_only, role_without_create, set_revision

__all__ = ["pg_db", "role_without_create"]  # fixtures, used by name below

ERROR = "rok-token-bot: error: "


@pytest.fixture
def box() -> Iterator[Sandbox]:
    """The fakes (Slack, the cluster, the registry) with no bot: each test starts `serve` itself."""
    with Sandbox(start_bot=False) as sandbox:
        yield sandbox


def serve(box: Sandbox, **overrides: str) -> subprocess.CompletedProcess[str]:
    """Run `serve` until it exits (it must: every case here stops it at start)."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(Path(box.env["ROK_BOT_DATA_DIR"]).parent),
        **box.env,
        "ROK_BOT_SECRETS_DIR": "/nonexistent",
        **overrides,
    }
    return subprocess.run(
        [sys.executable, "-m", "bot", "serve"], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def the_error(done: subprocess.CompletedProcess[str]) -> str:
    """Exit 1, no traceback, and exactly one line that is not a JSON log record: the error, last."""
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    plain = [line for line in done.stderr.splitlines() if line.strip() and not line.startswith("{")]
    assert len(plain) == 1, done.stderr
    assert plain[0].startswith(ERROR)
    assert done.stderr.rstrip().endswith(plain[0])
    for line in done.stderr.splitlines():
        if line.startswith("{"):
            assert json.loads(line)["level"] != "error", line
    return plain[0]


def sqlite_url(box: Sandbox) -> str:
    return f"sqlite:///{Path(box.env['ROK_BOT_DATA_DIR']) / 'rok-token-bot.sqlite3'}"


def test_serve_on_a_newer_schema_names_the_downgrade(box: Sandbox) -> None:
    migrate(sqlite_url(box))
    set_revision(sqlite_url(box), FUTURE)
    line = the_error(serve(box))
    assert f"revision {FUTURE}, newer than this release's {head()}: run `rok-token-bot db downgrade {head()}`" in line


def test_serve_logs_to_stdout_when_asked_and_keeps_its_error_line_on_stderr(box: Sandbox) -> None:
    """ROK_BOT_LOG_STREAM=stdout moves the JSON log records; the one-line error a person reads stays on stderr."""
    migrate(sqlite_url(box))
    set_revision(sqlite_url(box), FUTURE)
    done = serve(box, ROK_BOT_LOG_STREAM="stdout")
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert records and all(r["logger"].startswith(("bot", "alembic", "slack")) for r in records), done.stdout
    assert the_error(done).startswith(ERROR)
    assert not [line for line in done.stderr.splitlines() if line.startswith("{")]


def test_serve_on_a_read_only_sqlite_file_names_the_fix(box: Sandbox) -> None:
    migrate(sqlite_url(box))
    path = Path(box.env["ROK_BOT_DATA_DIR"]) / "rok-token-bot.sqlite3"
    line = the_error(serve(box, ROK_BOT_DATABASE_URL=f"sqlite:///file:{path}?mode=ro&uri=true"))
    assert "SQLite database is read-only; make the file, its -wal and -shm files and its directory writable" in line


@pytest.mark.postgres
def test_serve_on_a_read_only_postgresql_names_the_primary(box: Sandbox, new_postgres_url: Callable[[], str]) -> None:
    url = new_postgres_url()
    migrate(url)  # at head: the start's write probe is what finds it read-only
    read_only(url)
    line = the_error(serve(box, ROK_BOT_DATABASE_URL=url))
    assert "read-only; point ROK_BOT_DATABASE_URL at the primary" in line


@pytest.mark.postgres
def test_serve_as_a_role_without_create_names_the_grant(box: Sandbox, role_without_create: str) -> None:
    role = sa.make_url(role_without_create).username
    line = the_error(serve(box, ROK_BOT_DATABASE_URL=role_without_create))
    assert f"GRANT CREATE ON SCHEMA public TO {role}" in line


def test_serve_warns_once_about_a_data_dir_open_to_others(box: Sandbox, tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o755)
    replica = box.spawn(ROK_BOT_DATA_DIR=str(shared))
    assert replica.terminate() == 0
    warnings = [json.loads(line) for line in replica.stderr.splitlines() if "open to other users" in line]
    assert len(warnings) == 1, replica.stderr
    assert warnings[0]["level"] == "warning"
    # (The log's redactor masks the long pytest directory name as token-shaped: only the tail is compared.)
    assert "/shared (0755); run `chmod 700 " in warnings[0]["message"]
    assert oct((shared / "rok-token-bot.sqlite3").stat().st_mode & 0o777) == oct(0o600)
