"""What the start-up paths import (issue 26): the cost of an import that creeps back is paid by every admin's
`issue` and every pod start, so the set is guarded here, in the real processes, against the sandbox's fakes.

Each process runs `python -m bot ...` through a small runner that writes, at exit, every top-level package it
imported and the thread that first imported it (an audit hook on `import`: no patching). A forbidden package is
checked over the whole run, a stricter test than "not before the mint".
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import httpx

from bot.store.schema import HEAD_REVISION
from sandbox.slack import wait_for
from sandbox.world import Replica, Sandbox

# Never needed by `rok-token-bot issue`: Slack, the HTTP server, the migrations (the database is current), the
# registry's HTTP client (issue never verifies), the Verify button's seal, tracing (off unless configured).
FORBIDDEN_IN_ISSUE = (
    "slack_sdk",
    "slack_bolt",
    "aiohttp",
    "alembic",
    "mako",
    "httpx",
    "httpcore",
    "cryptography",
    "opentelemetry",
)
# Never held by an idle `serve` on a current database: the migrations, the registry's HTTP client (made on the
# first Verify), the seal's cryptography (loaded on the first seal), tracing (off unless configured).
FORBIDDEN_IN_IDLE_SERVE = ("alembic", "mako", "httpx", "cryptography", "opentelemetry", "aiohttp")

# Writes {"package": "thread name"} for each top-level package, in import order, when the process exits.
_RUNNER = """
import atexit, gc, json, os, runpy, sys, threading
first = {}

def hook(event, args):
    if event == "import":
        first.setdefault(args[0].split(".")[0], threading.current_thread().name)

sys.addaudithook(hook)

@atexit.register
def dump():
    with open(os.environ["ROK_TEST_IMPORTS"], "w") as out:
        imported = {name: first.get(name, "?") for name in [m.split(".")[0] for m in list(sys.modules)]}
        # and the cyclic collector's state at exit (bot.runtime.startup)
        json.dump(imported | {
            "(gc)": f"enabled={gc.isenabled()} frozen={gc.get_freeze_count() > 0}",
            # on SQLite, PostgreSQL's dialect package (~2 MiB) is never needed (bot/store/schema.py)
            "(postgresql dialect)": str("sqlalchemy.dialects.postgresql" in sys.modules),
        }, out)

sys.argv = ["rok-token-bot", *sys.argv[1:]]
runpy.run_module("bot", run_name="__main__", alter_sys=True)
"""


def _env(box: Sandbox, tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        **box.env,
        "ROK_BOT_SECRETS_DIR": str(tmp_path / "no-secrets"),
        "ROK_TEST_IMPORTS": str(tmp_path / "imports.json"),
        **extra,
    }


def _run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _RUNNER, *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _imported(tmp_path: Path) -> dict[str, str]:
    data: dict[str, str] = json.loads((tmp_path / "imports.json").read_text())
    return data


def test_issue_imports_no_slack_server_migrations_or_http_client(tmp_path: Path) -> None:
    """`issue` on a current database: none of the forbidden packages, at any moment of the run; SQLAlchemy (the
    mint is recorded) on the thread that opens the store, never on the main thread."""
    with Sandbox(start_bot=False) as box:
        env = _env(box, tmp_path)
        assert _run(["db", "upgrade"], env, tmp_path).returncode == 0
        done = _run(["issue", "jdoe", "--duration", "1h"], env, tmp_path)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() in {m.token for m in box.rok.minted}
        imported = _imported(tmp_path)
        assert sorted(name for name in FORBIDDEN_IN_ISSUE if name in imported) == []
        assert imported["kubernetes"] == "MainThread"
        assert imported["sqlalchemy"] == "store-open"  # overlapping the account lookup's exec
        assert imported["(gc)"] == "enabled=False frozen=False"  # a short command runs without collections
        assert imported["(postgresql dialect)"] == "False"
        listed = _run(["tokens", "--json"], env, tmp_path)
        assert [json.loads(line)["status"] for line in listed.stdout.splitlines()] == ["issued"]


def test_issue_on_a_fresh_database_creates_it_at_head_and_records_the_mint(tmp_path: Path) -> None:
    """An empty database is created at head from the schema (bot/store/fresh.py): no Alembic either."""
    with Sandbox(start_bot=False) as box:
        env = _env(box, tmp_path)
        done = _run(["issue", "jdoe", "--duration", "1h"], env, tmp_path)
        assert done.returncode == 0, done.stderr
        assert "alembic" not in _imported(tmp_path)
        assert _run(["db", "current"], env, tmp_path).stdout.split()[:1] == [HEAD_REVISION]
        listed = _run(["tokens", "--json"], env, tmp_path)
        assert [json.loads(line)["status"] for line in listed.stdout.splitlines()] == ["issued"]


def test_issue_on_a_schema_behind_head_migrates_it_with_alembic(tmp_path: Path) -> None:
    with Sandbox(start_bot=False) as box:
        env = _env(box, tmp_path)
        assert _run(["db", "upgrade"], env, tmp_path).returncode == 0
        assert _run(["db", "downgrade", "0008_enterprise"], env, tmp_path).returncode == 0
        done = _run(["issue", "jdoe", "--duration", "1h"], env, tmp_path)
        assert done.returncode == 0, done.stderr
        assert _imported(tmp_path)["alembic"] == "store-open"
        assert _run(["db", "current"], env, tmp_path).stdout.split()[:1] == [HEAD_REVISION]


def test_serve_on_a_current_database_never_imports_alembic(tmp_path: Path) -> None:
    """A schema at head costs one query at start (bot/store: `current_fast`); Alembic stays on disk, and so do
    what only a first Verify, seal or traced request needs. The collector paused for the start runs again."""
    with Sandbox(start_bot=False) as box:
        env = _env(box, tmp_path)
        assert _run(["db", "upgrade"], env, tmp_path).returncode == 0
        replica = Replica(
            subprocess.Popen(
                [sys.executable, "-c", _RUNNER, "serve"],
                env=env,
                cwd=tmp_path,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
        try:
            wait_for(lambda: httpx.get(replica.url + "/readyz").status_code == 200, 30)
        finally:
            assert replica.terminate() == 0, replica.stderr
        imported = _imported(tmp_path)
        assert "sqlalchemy" in imported
        assert [name for name in FORBIDDEN_IN_IDLE_SERVE if name in imported] == [], "imported at start"
        assert imported["(gc)"] == "enabled=True frozen=True"
        assert imported["(postgresql dialect)"] == "False"


def test_the_client_certificate_files_the_kubernetes_client_wrote_are_removed_at_exit(tmp_path: Path) -> None:
    """`issue` ends without the interpreter's teardown (bot.runtime.startup.leave) but with its exit handlers: the
    kubernetes client's removal of the CA, certificate and key it wrote from inline `-data` fields runs, also
    when the command fails."""

    def pem(label: str) -> str:
        return base64.b64encode(f"-----BEGIN {label}-----\nnot-real\n-----END {label}-----\n".encode()).decode()

    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        "clusters: [{name: k, cluster: {server: 'https://127.0.0.1:1', "
        f"certificate-authority-data: {pem('CA')}}}}}]\n"
        f"users: [{{name: u, user: {{client-certificate-data: {pem('CERTIFICATE')}, "
        f"client-key-data: {pem('PRIVATE KEY')}}}}}]\n"
        "contexts: [{name: c, context: {cluster: k, user: u, namespace: rok}}]\n",
        encoding="utf-8",
    )
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    with Sandbox(start_bot=False) as box:
        env = _env(box, tmp_path, KUBECONFIG=str(kubeconfig), TMPDIR=str(scratch))
        done = _run(["issue", "jdoe", "--duration", "1h"], env, tmp_path)
    assert done.returncode == 1
    assert "could not be reached" in done.stderr
    assert "kubernetes" in _imported(tmp_path)  # the client did load the kubeconfig (and wrote its files)
    assert sorted(scratch.iterdir()) == []
