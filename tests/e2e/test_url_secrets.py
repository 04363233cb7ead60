"""Credentials written in URLs stay out of everything the real CLI and `serve` print (issue 21, findings 4, 6).

A SIEM collector's key in the webhook URL's query (Splunk HEC: `?token=<GUID>`, shaped like the UUIDs the
redactor keeps visible), and a database password given as a query parameter (`?password=`, which libpq and so
psycopg take): neither reaches stdout, stderr (logs at DEBUG included) or /readyz.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from sandbox.slack import wait_for
from sandbox.world import Sandbox

PASSWORD = "Zq7-hunter2-Secret"
# A closed port on this machine: refused at once, no server needed.
DOWN = f"postgresql+psycopg://bot@127.0.0.1:1/rok?connect_timeout=2&password={PASSWORD}"
SHOWN_DOWN = "postgresql+psycopg://127.0.0.1:1/rok?connect_timeout=2&password=***"
HEC_KEY = "8c5b3a52-7f0e-4d1c-9a6b-2e4f1d3c5a7b"  # a Splunk HEC token is a GUID
BASIC = "siem-pass-42"


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


class _Collector(BaseHTTPRequestHandler):
    """A SIEM collector: takes every POST, remembers its path and query."""

    paths: list[str]

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.paths.append(self.path)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        """Silent: the test reads the bot's stderr, not ours."""


@pytest.fixture
def collector() -> Iterator[tuple[str, list[str]]]:
    """A local SIEM receiver; its base URL and the paths it was posted to."""
    paths: list[str] = []
    handler = type("Collector", (_Collector,), {"paths": paths})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", paths
    finally:
        server.shutdown()
        server.server_close()


def test_serve_at_debug_never_logs_the_key_in_the_webhook_url(tmp_path: Path, collector: tuple[str, list[str]]) -> None:
    """`serve` delivers its audit events to a collector whose key is in the URL; at DEBUG, the logs, /readyz
    and the exit say where the webhook is, never the key."""
    base, paths = collector
    url = base.replace("http://", f"http://collector:{BASIC}@") + f"/services/collector?token={HEC_KEY}"
    with Sandbox(start_bot=False) as box:
        replica = box.spawn(
            ROK_BOT_AUDIT_WEBHOOK_URL=url,
            ROK_BOT_AUDIT_WEBHOOK_SECRET="siem-webhook-secret-0123456789",
            ROK_BOT_LOG_LEVEL="DEBUG",
        )
        wait_for(lambda: paths, timeout=30)  # the `started` event reached the collector, key and all
        ready = wait_for(lambda: _ready(replica.url), timeout=30)
        metrics = httpx.get(replica.url + "/metrics", timeout=5).text
        assert replica.terminate() == 0
    assert paths[0] == f"/services/collector?token={HEC_KEY}"
    assert ready["audit_webhook"] == "ok" and HEC_KEY not in json.dumps(ready)
    assert 'sink="webhook"' in metrics and HEC_KEY not in metrics and "collector" not in metrics
    logs = replica.stderr
    assert '"level": "debug"' in logs  # the libraries did log at DEBUG
    assert HEC_KEY not in logs and BASIC not in logs


def _ready(url: str) -> dict[str, object]:
    """/readyz's checks once the webhook's backlog is empty; none before."""
    checks = httpx.get(url + "/readyz", timeout=5).json()["checks"]
    return checks if isinstance(checks, dict) and checks.get("audit_webhook_backlog") == 0 else {}
