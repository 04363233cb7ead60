"""`rok-token-bot report`: tokens made through the real paths (Slack's slash command, break-glass, an approval's
Show my token, against the sandbox's fakes and its manual clock), then reported from a terminal with only the
database settings, on SQLite and PostgreSQL: live before, between and after their lives, with who approved and
why; CSV and JSON lines read back; the counts of a window; never a token in any output; bad input exits 2."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from bot.cli import main
from bot.domain.export import utc_iso
from bot.domain.report import LIVE_FIELDS
from sandbox.world import REASONS_POLICY, Sandbox

HYPERLINK = '=HYPERLINK("http://x","y")'
H = timedelta(hours=1)


@dataclass
class Story:
    """Three tokens: jdoe's 1h at t0; from t1 = t0 + 30m alice's 2h break-glass and jdoe's approved 14d."""

    t0: datetime
    t1: datetime
    tokens: dict[str, str]  # which -> the token itself (to prove it never comes out)
    uuids: dict[str, str]  # which -> its UUID


def _token(box: Sandbox, user: str, count: int) -> str:
    token = box.wait_private(user, count=count)[-1].token
    assert token is not None
    return token


@pytest.fixture
def story(cli_env: str) -> Iterator[Story]:
    with Sandbox(policy=REASONS_POLICY, settings={"ROK_BOT_DATABASE_URL": cli_env}) as box:
        box.slack.usergroups["S0ONCALL"] = ["U0ALICE"]
        t0 = box.clock.now()
        box.slash("U0JDOE", "1h")
        command = _token(box, "U0JDOE", 1)
        box.advance(30 * 60)
        box.slash("U0ALICE", f"2h --break-glass {HYPERLINK}")
        glass = _token(box, "U0ALICE", 1)
        box.slash("U0JDOE", "14d training run X")  # above the 7d limit: to the approvers
        box.decide("U0BOB", box.wait_approval_request())
        box.show_my_token("U0JDOE")
        approved = _token(box, "U0JDOE", 2)
        for outcome in ("issued", "break_glass", "approved"):
            box.wait_audit(outcome)
        tokens = {"command": command, "glass": glass, "approved": approved}
        uuids = {}
        for which, token in tokens.items():
            record = box.rok.lookup(token)
            assert record is not None and record.token_uuid
            uuids[which] = record.token_uuid
        yield Story(t0, t0 + timedelta(minutes=30), tokens, uuids)


def _report(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["report", *args])
    out, err = capsys.readouterr()
    return code, out, err


def _jsonl(capsys: pytest.CaptureFixture[str], at: datetime) -> list[dict[str, object]]:
    code, out, err = _report(capsys, "--at", utc_iso(at), "--format", "jsonl")
    assert code == 0, err
    return [json.loads(line) for line in out.splitlines()]


def test_live_before_between_and_after_the_tokens_lives_with_who_approved_and_why(
    story: Story, capsys: pytest.CaptureFixture[str]
) -> None:
    u = story.uuids

    def live(at: datetime) -> list[object]:
        return [r["token_uuid"] for r in _jsonl(capsys, at)]

    assert live(story.t0 - timedelta(seconds=1)) == []
    assert live(story.t0 + timedelta(minutes=10)) == [u["command"]]
    assert live(story.t1 + timedelta(minutes=10)) == [u["command"], u["glass"], u["approved"]]
    assert live(story.t0 + H) == [u["glass"], u["approved"]]  # jdoe's 1h expired at t0 + 1h
    assert live(story.t1 + 2 * H) == [u["approved"]]
    assert live(story.t1 + timedelta(days=14)) == []

    rows = {r["token_uuid"]: r for r in _jsonl(capsys, story.t1 + timedelta(minutes=10))}
    glass, approved, command = rows[u["glass"]], rows[u["approved"]], rows[u["command"]]
    assert (glass["slack_user"], glass["rok_user"], glass["origin"]) == ("U0ALICE", "alice", "break_glass")
    assert glass["reason"] == HYPERLINK and glass["approver"] is None
    assert (approved["origin"], approved["approver"], approved["reason"]) == ("approval", "U0BOB", "training run X")
    assert (command["origin"], command["approver"], command["status"]) == ("command", None, "issued")
    assert command["issued_at"] == utc_iso(story.t0) and command["expires_at"] == utc_iso(story.t0 + H)
    assert str(approved["expires_at"]).endswith("Z")

    assert main(["tokens", "--json", "--user", "U0JDOE"]) == 0  # the ledger's own listing has them too
    listed = {r["token_uuid"]: r for r in map(json.loads, capsys.readouterr().out.splitlines())}
    assert (listed[u["approved"]]["approved_by"], listed[u["approved"]]["reason"]) == ("U0BOB", "training run X")

    code, out, err = _report(capsys, "--at", utc_iso(story.t1 + timedelta(minutes=10)))
    assert code == 0 and "3 tokens live at" in err
    assert "approval by U0BOB" in out and "break_glass: =HYPERLINK" in out and "REGISTRY" not in out


def test_the_csv_reads_back_and_a_typed_formula_stays_text(story: Story, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _report(capsys, "--at", utc_iso(story.t1 + timedelta(minutes=10)), "--format", "csv")
    assert code == 0
    reader = csv.DictReader(io.StringIO(out, newline=""))
    assert tuple(reader.fieldnames or ()) == LIVE_FIELDS
    rows = {r["token_uuid"]: r for r in reader}
    assert rows[story.uuids["glass"]]["reason"] == "'" + HYPERLINK  # shown as text, never run
    assert rows[story.uuids["approved"]]["approver"] == "U0BOB"
    assert not any(cell.startswith(("=", "+", "@")) for row in rows.values() for cell in row.values())

    code, out, _ = _report(capsys, "--at", utc_iso(story.t0 - H), "--format", "csv")
    assert code == 0 and out == ",".join(LIVE_FIELDS) + "\r\n"  # a header row, even with no token


def test_the_counts_of_a_window_per_outcome_and_per_user(story: Story, capsys: pytest.CaptureFixture[str]) -> None:
    window = ("--from", utc_iso(story.t0 - H), "--to", utc_iso(story.t1 + H))
    code, out, _ = _report(capsys, *window, "--format", "jsonl")
    assert code == 0
    records = [json.loads(line) for line in out.splitlines()]
    totals = {r["outcome"]: r["count"] for r in records if r["scope"] == "all"}
    assert totals["issued"] == 2 and totals["break_glass"] == 1
    assert totals["approval_requested"] == 1 and totals["approved"] == 1
    jdoe = {r["outcome"]: r["count"] for r in records if r["scope"] == "user" and r["slack_user"] == "U0JDOE"}
    assert jdoe["issued"] == 2 and jdoe["approval_requested"] == 1

    code, out, _ = _report(capsys, *window, "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out, newline="")))
    assert code == 0 and {"scope": "all", "slack_user": "", "outcome": "issued", "reason": "", "count": "2"} in rows
    code, out, _ = _report(capsys, "--from", utc_iso(story.t0 - 2 * H), "--to", utc_iso(story.t0 - H))
    assert code == 0 and out.strip().endswith(": none")


def _needles(token: str) -> list[str]:
    return [token, hashlib.sha256(token.encode()).hexdigest(), *(token[i : i + 16] for i in range(len(token) - 15))]


def test_no_report_output_holds_a_token(story: Story, capsys: pytest.CaptureFixture[str]) -> None:
    at = utc_iso(story.t1 + timedelta(minutes=10))
    window = ["--from", utc_iso(story.t0 - H), "--to", utc_iso(story.t1 + H)]
    said = ""
    for fmt in ("table", "csv", "jsonl"):
        for args in (["--at", at], window):
            code, out, err = _report(capsys, *args, "--format", fmt)
            assert code == 0
            said += out + err
    assert all(uuid in said for uuid in story.uuids.values()), "the outputs must list the tokens"
    for token in story.tokens.values():
        for needle in _needles(token):
            assert needle not in said, "a token (or a piece or hash of one) is in a report"


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--at", "yesterday"], "--at: 'yesterday' is not a time"),
        (["--at", "2026-13-01"], "--at: '2026-13-01' is not a time"),
        (["--from", "now", "--to", "-1h"], "is after --to"),
        (["--from", "2026-12-02", "--to", "2026-12-01T00:00:00Z"], "is after --to"),
        (["--at", "now", "--format", "xml"], "--format: 'xml' is not one of table, csv, jsonl"),
        (["--at", "now", "--from", "-1h"], "not both"),
        ([], "Give --at TIME"),
        (["--to", "now"], "Give --at TIME"),
        (["--from", "-2x"], "--from: '-2x' is not a time"),
    ],
)
def test_bad_input_is_one_line_and_exit_2_before_any_database_is_opened(
    clean_env: dict[str, str], capsys: pytest.CaptureFixture[str], args: list[str], says: str
) -> None:
    code, out, err = _report(capsys, *args)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and says in err, err
    assert not Path(clean_env["ROK_BOT_DATA_DIR"]).exists()  # never created, never opened


def test_a_relative_time_may_follow_its_option_with_a_space_or_an_equals_sign(
    cli_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["db", "upgrade"])
    capsys.readouterr()
    for args in (["--at", "-2h"], ["--at=-30m"], ["--from", "-1d", "--to", "-1h"], ["--from=-1d12h"]):
        code, _, err = _report(capsys, *args)
        assert code == 0, err
