"""`doctor` on the SIEM webhook: a Splunk HEC that takes the token or refuses it (a real HTTP server on loopback
answering as HEC does), and a webhook the replicas could not deliver to (parked in the outbox): one line each,
never the token, and nothing indexed by doctor itself."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from bot.cli import main
from bot.domain.audit import AuditEvent, Outcome
from bot.runtime.clock import SystemClock
from bot.store import open_url
from sandbox.hec import FakeHec

HEC_TOKEN = "6d2f5a1c-8b3e-4f0a-9c7d-2e1b0a9f8c7d"


@pytest.fixture
def hec() -> Iterator[FakeHec]:
    with FakeHec(HEC_TOKEN) as server:
        yield server


@pytest.fixture
def doctor(
    core_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], hec: FakeHec
) -> Callable[..., tuple[int, list[str]]]:
    """`rok-token-bot doctor` in-process with the webhook set to the fake HEC; its exit code and audit lines."""
    monkeypatch.setenv("ROK_BOT_AUDIT_WEBHOOK_URL", hec.url)
    monkeypatch.setenv("ROK_BOT_AUDIT_WEBHOOK_FORMAT", "splunk_hec")
    assert main(["db", "upgrade"]) == 0  # what `serve` does at start

    def call(token: str = HEC_TOKEN) -> tuple[int, list[str]]:
        monkeypatch.setenv("ROK_BOT_AUDIT_WEBHOOK_SECRET", token)
        capsys.readouterr()
        code = main(["doctor"])
        out, err = capsys.readouterr()
        assert token not in out + err
        return code, [line for line in out.splitlines() if line.split()[1] == "audit"]

    return call


def test_doctor_says_hec_takes_the_token_and_nothing_waits(
    doctor: Callable[..., tuple[int, list[str]]], hec: FakeHec
) -> None:
    code, lines = doctor()
    where = f"webhook (splunk_hec) {hec.url}"
    assert lines == [
        f"ok    audit     {where}: HEC takes the token (an empty POST: no data, nothing indexed)",
        f"ok    audit     {where}: every event delivered",
    ]
    assert code == 0
    [(headers, body)] = hec.posts
    assert (headers["Authorization"], body, hec.accepted) == (f"Splunk {HEC_TOKEN}", b"", [])


def test_doctor_fails_on_a_token_hec_refuses(doctor: Callable[..., tuple[int, list[str]]], hec: FakeHec) -> None:
    code, lines = doctor(token="f0f0f0f0-dead-4bad-8bad-000000000403")
    assert code == 1
    assert lines[0] == (
        f"FAIL  audit     webhook (splunk_hec) {hec.url}: "
        "HEC refused an empty POST: HTTP 403, HEC code 4 (invalid token)"
    )


def test_doctor_fails_on_events_parked_in_the_outbox(
    doctor: Callable[..., tuple[int, list[str]]], core_env: dict[str, str], hec: FakeHec
) -> None:
    """What the replicas met (a rotated token they still use: 403) stays in the outbox; doctor shows it, with how
    many events wait and since when."""
    store = open_url(f"sqlite:///{Path(core_env['ROK_BOT_DATA_DIR']) / 'rok-token-bot.sqlite3'}", sinks=("webhook",))
    try:
        an_hour_ago = SystemClock().now() - timedelta(minutes=65)  # doctor reads the machine's clock
        for n in range(2):
            store.outbox.append(AuditEvent(outcome=Outcome.ISSUED, request_id=f"r{n}", occurred_at=an_hour_ago))
        claimed = store.outbox.claim(sink="webhook", worker="replica-1", limit=10, lease_seconds=60, now=an_hour_ago)
        error = "HTTP 403, HEC code 4 (invalid token)"
        store.outbox.retry([c.id for c in claimed], at=an_hour_ago + timedelta(seconds=300), error=error)
    finally:
        store.close()
    code, lines = doctor()
    assert code == 1
    assert lines[1].startswith(f"FAIL  audit     webhook (splunk_hec) {hec.url}: 2 events waiting, the oldest 1h 5m")
    assert lines[1].endswith(f"; last answer: {error} (see /readyz: audit_webhook)")
