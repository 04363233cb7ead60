"""`rok-token-bot db | tokens | audit`: the store from a terminal, with only the database settings."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.cli import main
from bot.domain.audit import AuditEvent, Origin, Outcome
from bot.domain.ledger import Minted, QuotaRule, TokenStatus
from bot.store import open_url
from bot.store.migrate import head

RULE = QuotaRule(per_hour=10, cooldown=0)


def _fill(url: str) -> datetime:
    """Three tokens (one live, one expired, one undelivered), a request in flight, and their events."""
    store = open_url(url, sinks=("slack",))
    now = datetime.now(UTC)
    rows = [
        ("U0JDOE", "jdoe", now - timedelta(hours=2), timedelta(hours=24), TokenStatus.ISSUED),
        ("U0JDOE", "jdoe", now - timedelta(days=3), timedelta(hours=1), TokenStatus.ISSUED),
        ("U0ANA", "jdoe2", now - timedelta(hours=1), timedelta(hours=8), TokenStatus.UNDELIVERED),
    ]
    for n, (user, rok, at, life, status) in enumerate(rows):
        r = store.ledger.reserve(
            user_id=user, team_id="T1", request_id=f"req-{n}", origin=Origin.COMMAND,
            duration_seconds=int(life.total_seconds()), rule=RULE, now=at,
        )  # fmt: skip
        uuid = f"00000000-0000-4000-8000-00000000000{n}"
        event = AuditEvent(
            outcome=str(status), request_id=f"req-{n}", slack_user=user, username=rok,
            duration_seconds=int(life.total_seconds()), token_uuid=uuid, occurred_at=at,
        )  # fmt: skip
        store.ledger.settle(r, status=status, minted=Minted(rok, "acc", uuid, at, at + life), event=event, now=at)
    store.ledger.reserve(
        user_id="U0BOB", team_id="T1", request_id="req-inflight", origin=Origin.CLI,
        duration_seconds=600, rule=RULE, now=now,
    )  # fmt: skip
    store.outbox.append(
        AuditEvent(
            outcome=Outcome.REFUSED, request_id="req-refused", slack_user="U0EVE", reason="quota", occurred_at=now
        )
    )
    (first,) = store.outbox.claim(sink="slack", worker="w", limit=1, lease_seconds=30, now=now)
    store.outbox.delivered([first.id], now=now)
    store.close()
    return now


def test_db_upgrade_and_current_need_only_the_database(
    cli_env: str, backend: str, capsys: pytest.CaptureFixture[str]
) -> None:
    if backend == "postgresql":  # a SQLite file that does not exist is not created by a look (test_store_files)
        assert main(["db", "current"]) == 0
        assert capsys.readouterr().out == f"none (head is {head()})\n"
        assert main(["tokens"]) == 1
        assert "no schema yet; run `rok-token-bot db upgrade`" in capsys.readouterr().err
    assert main(["db", "upgrade"]) == 0
    out = capsys.readouterr()
    assert out.out == f"{head()}\n"
    assert f"schema at revision {head()} (head)" in out.err
    assert main(["db", "upgrade"]) == 0
    assert main(["db", "current"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == f"{head()} (head)"


def test_tokens_lists_the_ledger_as_json_lines_and_filters_exactly(
    cli_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["db", "upgrade"]) == 0
    _fill(cli_env)
    capsys.readouterr()

    def run(*argv: str) -> list[dict[str, object]]:
        assert main(["tokens", "--json", *argv]) == 0
        return [json.loads(line) for line in capsys.readouterr().out.splitlines()]

    everything = run()
    assert [r["request_id"] for r in everything] == ["req-inflight", "req-2", "req-0", "req-1"]
    assert {"token_uuid", "slack_user", "rok_user", "issued_at", "expires_at", "status"} <= set(everything[1])
    assert everything[0]["status"] == "reserved" and everything[0]["token_uuid"] is None
    assert [r["request_id"] for r in run("--active")] == ["req-0"]
    assert [r["request_id"] for r in run("--user", "U0JDOE")] == ["req-0", "req-1"]
    assert [r["request_id"] for r in run("--rok-user", "jdoe")] == ["req-0", "req-1"]
    assert [r["request_id"] for r in run("--rok-user", "jdoe2")] == ["req-2"]
    assert [r["request_id"] for r in run("--since", "1d")] == ["req-inflight", "req-2", "req-0"]
    assert run("--rok-user", "JDOE") == []


def test_tokens_prints_an_aligned_table(cli_env: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "upgrade"]) == 0
    _fill(cli_env)
    capsys.readouterr()
    assert main(["tokens"]) == 0
    header, *rows = capsys.readouterr().out.splitlines()
    assert header.split() == ["ISSUED", "EXPIRES", "STATUS", "SLACK", "USER", "ROK", "USER", "TOKEN", "UUID",
                              "DURATION", "REQUEST"]  # fmt: skip
    assert len(rows) == 4
    status_at = header.index("STATUS")
    assert [row[status_at:].split()[0] for row in rows] == ["reserved", "undelivered", "live", "issued"]
    assert all(row[header.index("TOKEN UUID") :].split()[0] for row in rows)


def test_audit_lists_events_newest_last_with_their_delivery(cli_env: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "upgrade"]) == 0
    _fill(cli_env)
    capsys.readouterr()
    assert main(["audit", "--json", "--since", "7d"]) == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [e["request_id"] for e in events] == ["req-0", "req-1", "req-2", "req-refused"]
    assert events[0]["delivery"]["slack"]["delivered_at"] is not None
    assert events[-1]["delivery"]["slack"] == {"delivered_at": None, "attempts": 0, "last_error": None}
    assert main(["audit"]) == 0  # the last 24 hours
    header, *rows = capsys.readouterr().out.splitlines()
    assert header.startswith("TIME") and "DELIVERY" in header
    assert [row.split()[2] for row in rows] == ["issued", "undelivered", "refused"]


def test_a_bad_window_is_a_usage_error(cli_env: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tokens", "--since", "soon"]) == 2
    assert '"soon" is not a duration' in capsys.readouterr().err


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_the_database_password_never_reaches_the_terminal(
    clean_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    import sqlalchemy as sa

    with sa.create_engine(db_url, isolation_level="AUTOCOMMIT").connect() as conn:
        conn.exec_driver_sql("CREATE ROLE rokbot LOGIN PASSWORD 'Pa55-w0rd-xyz'")
        database = sa.make_url(db_url).database
        conn.exec_driver_sql(f'GRANT ALL ON DATABASE "{database}" TO rokbot')
        conn.exec_driver_sql(f'ALTER DATABASE "{database}" OWNER TO rokbot')
    url = sa.make_url(db_url).set(username="rokbot", password="Pa55-w0rd-xyz")
    try:
        monkeypatch.setenv("ROK_BOT_DATABASE_URL", url.render_as_string(hide_password=False))
        assert main(["db", "upgrade"]) == 0
        assert main(["db", "current"]) == 0
        # The test server trusts every password: a role that does not exist is refused instead.
        stranger = url.set(username="stranger", password="wrong-Pa55")
        monkeypatch.setenv("ROK_BOT_DATABASE_URL", stranger.render_as_string(hide_password=False))
        assert main(["tokens"]) == 1
        out = capsys.readouterr()
        assert "could not be reached" in out.err
        assert "Pa55-w0rd-xyz" not in out.out + out.err
        assert "wrong-Pa55" not in out.out + out.err
    finally:
        with sa.create_engine(db_url, isolation_level="AUTOCOMMIT").connect() as conn:
            conn.exec_driver_sql(f'ALTER DATABASE "{sa.make_url(db_url).database}" OWNER TO postgres')
            conn.exec_driver_sql("DROP OWNED BY rokbot")
            conn.exec_driver_sql("DROP ROLE rokbot")


def test_the_installed_command_runs_without_slack_registry_or_cluster(tmp_path: Path) -> None:
    """The console script, in an environment with nothing but a HOME: the default SQLite file under it."""
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "ROK_BOT_SECRETS_DIR": str(tmp_path / "none")}
    run = subprocess.run(
        [sys.executable, "-m", "bot", "db", "upgrade"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert (tmp_path / ".local/state/rok-token-bot/rok-token-bot.sqlite3").is_file()
    listed = subprocess.run(
        [sys.executable, "-m", "bot", "tokens", "--json"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert (listed.returncode, listed.stdout) == (0, "")
