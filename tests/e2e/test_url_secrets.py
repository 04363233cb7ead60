"""Credentials written in URLs stay out of everything the real CLI and `serve` print (issue 21, finding 6).

A database password given as a query parameter (`?password=`, which libpq and so psycopg take) reaches neither
stdout nor stderr (logs at DEBUG included), whether the database answers or not.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from sandbox.world import Sandbox

PASSWORD = "Zq7-hunter2-Secret"
# A closed port on this machine: refused at once, no server needed.
DOWN = f"postgresql+psycopg://bot@127.0.0.1:1/rok?connect_timeout=2&password={PASSWORD}"
SHOWN_DOWN = "postgresql+psycopg://127.0.0.1:1/rok?connect_timeout=2&password=***"


def cli(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=90, check=False
    )


@pytest.fixture
def sub_env(core_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """An explicit, minimal environment for subprocesses (the fake cluster and registry): nothing inherited but
    PATH."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "KUBECONFIG": core_env["KUBECONFIG"],
        "ROK_REGISTRY_URL": core_env["ROK_REGISTRY_URL"],
        "ROK_BOT_SECRETS_DIR": "/nonexistent",
    }


@pytest.mark.parametrize("args", [["db", "current"], ["db", "upgrade"], ["tokens"], ["audit"]])
def test_an_unreachable_database_is_named_without_the_password_in_its_query(
    sub_env: dict[str, str], tmp_path: Path, args: list[str]
) -> None:
    done = cli(args, {**sub_env, "ROK_BOT_DATABASE_URL": DOWN, "ROK_BOT_LOG_LEVEL": "DEBUG"}, tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert PASSWORD not in done.stdout + done.stderr
    assert SHOWN_DOWN in done.stderr.splitlines()[-1]  # still named: where, and which parameters


def test_doctor_names_an_unreachable_database_without_its_password(sub_env: dict[str, str], tmp_path: Path) -> None:
    done = cli(["doctor"], {**sub_env, "ROK_BOT_DATABASE_URL": DOWN}, tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert PASSWORD not in done.stdout + done.stderr
    [store] = [line for line in done.stdout.splitlines() if line.split()[1] == "store"]
    assert store.startswith("FAIL") and SHOWN_DOWN in store


def test_serve_fails_to_start_without_printing_the_password(tmp_path: Path) -> None:
    with Sandbox(start_bot=False) as box:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(tmp_path),
            **box.env,
            "ROK_BOT_SECRETS_DIR": "/nonexistent",
            "ROK_BOT_DATABASE_URL": DOWN,
            "ROK_BOT_LOG_LEVEL": "DEBUG",
        }
        done = cli(["serve"], env, tmp_path)
    assert done.returncode != 0
    assert PASSWORD not in done.stdout + done.stderr
    assert SHOWN_DOWN in done.stdout + done.stderr


@pytest.mark.postgres
def test_store_commands_and_doctor_on_postgresql_never_print_a_password_given_in_the_query(
    new_postgres_url: Callable[[], str], sub_env: dict[str, str], tmp_path: Path
) -> None:
    """`db`, `tokens`, `audit` and `doctor` (so `helm test`) against a real server that accepts the URL."""
    url = f"{new_postgres_url()}?password={PASSWORD}"
    env = {**sub_env, "ROK_BOT_DATABASE_URL": url, "ROK_BOT_LOG_LEVEL": "DEBUG"}
    for args in (["db", "upgrade"], ["db", "current"], ["tokens"], ["audit"], ["doctor"]):
        done = cli(args, env, tmp_path)
        assert done.returncode == 0, (args, done.stdout + done.stderr)
        assert PASSWORD not in done.stdout + done.stderr, args
    assert "?password=***" in done.stdout  # doctor's store line still says how the bot connects
