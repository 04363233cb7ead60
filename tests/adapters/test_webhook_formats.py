"""The webhook's `jsonl` and `splunk_hec` formats against real HTTP servers on loopback, with the real outbox
(SQLite) and sender: the body parsed back, the headers, HEC's answers, a bad HEC token parked (never retried in
a tight loop), and each event delivered once across a restart.

A fake SIEM (sandbox/siem.py) checks the signature of `jsonl`; a fake HEC (sandbox/hec.py) answers as Splunk
documents (403 code 4 for a token it does not know). The sender waits on a ManualClock: "retried after five
minutes" is checked by moving the clock, never by waiting.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.adapters.audit import PARKED_SECONDS, OutboxSender
from bot.adapters.webhook import AuditWebhook
from bot.domain.audit import AuditEvent, Outcome
from bot.domain.siem import HEC_SOURCE, HEC_SOURCETYPE, WebhookFormat
from bot.runtime.clock import ManualClock
from bot.store import Store
from sandbox.hec import FakeHec, split_objects
from sandbox.siem import FakeSiem
from tests.adapters.conftest import SECRET, T0, open_webhook_store

HEC_TOKEN = "6d2f5a1c-8b3e-4f0a-9c7d-2e1b0a9f8c7d"


@pytest.fixture
def hec() -> Iterator[FakeHec]:
    with FakeHec(HEC_TOKEN) as server:
        yield server


class Running:
    """A webhook and its sender on one store; `stop()` as the bot's shutdown does."""

    def __init__(self, store: Store, url: str, secret: str, fmt: WebhookFormat, clock: ManualClock) -> None:
        self.hook = AuditWebhook(url, secret, clock=clock, fmt=fmt, host="bot-pod-1")
        self.sender = OutboxSender(
            outbox=store.outbox, sink="webhook", deliver=self.hook.deliver, worker="w", clock=clock
        )
        self.sender.start()

    def round(self) -> None:
        self.sender.wake()
        assert self.sender.flush(5)

    def stop(self) -> None:
        self.sender.stop(timeout=2)
        self.hook.close()


@pytest.fixture
def running() -> Iterator[list[Running]]:
    started: list[Running] = []
    yield started
    for one in started:
        one.stop()


def _start(running: list[Running], *args: object) -> Running:
    one = Running(*args)  # type: ignore[arg-type]
    running.append(one)
    return one


def _event(clock: ManualClock, request_id: str, outcome: Outcome = Outcome.ISSUED) -> AuditEvent:
    return AuditEvent(
        outcome=outcome, request_id=request_id, username="jdoe", token_uuid="0b1c", occurred_at=clock.now()
    )


def test_jsonl_sends_one_signed_post_of_one_event_per_line(
    store: Store, clock: ManualClock, running: list[Running]
) -> None:
    with FakeSiem(SECRET) as siem:
        sender = _start(running, store, siem.url, SECRET, "jsonl", clock)
        for n in range(3):
            store.outbox.append(_event(clock, f"req-{n}"))
        sender.round()
        assert siem.bad_signatures == 0 and len(siem.raw) == 1  # one claim, one POST, signed over the raw body
        headers, _ = siem.posts[0]
        assert headers["Content-Type"] == "application/x-ndjson"
        assert headers["X-Rok-Bot-Signature"].startswith("v1=") and headers["X-Rok-Bot-Timestamp"].isdigit()
        lines = siem.raw[0].decode().split("\n")
        assert lines[-1] == ""  # every line ended, the last one too
        records = [json.loads(line) for line in lines[:-1]]
        assert [r["request_id"] for r in records] == ["req-0", "req-1", "req-2"]
        assert all(len(r["event_id"]) == 32 and r["outcome"] == "issued" for r in records)


def test_splunk_hec_posts_concatenated_hec_objects_with_the_token_in_the_authorization_header(
    store: Store, hec: FakeHec, clock: ManualClock, running: list[Running]
) -> None:
    sender = _start(running, store, hec.url, HEC_TOKEN, "splunk_hec", clock)
    store.outbox.append(_event(clock, "req-1"))
    store.outbox.append(_event(clock, "req-2", Outcome.FAILED))
    sender.round()
    [(headers, body)] = hec.posts
    assert headers["Authorization"] == f"Splunk {HEC_TOKEN}"
    assert headers["Content-Type"] == "application/json"
    assert "X-Rok-Bot-Signature" not in headers  # HEC authenticates by its token
    objects = split_objects(body.decode())
    assert [(o["time"], o["host"], o["source"], o["sourcetype"]) for o in objects] == [
        (T0.timestamp(), "bot-pod-1", HEC_SOURCE, HEC_SOURCETYPE)
    ] * 2
    assert [o["event"]["request_id"] for o in objects] == ["req-1", "req-2"]
    assert hec.answers == [0] and hec.accepted == objects
    assert sender.sender.state == "ok"
    assert store.outbox.backlog(sink="webhook", now=clock.now()) == (0, 0.0)


def test_a_bad_hec_token_is_parked_retried_every_five_minutes_never_sooner_until_fixed(
    store: Store, hec: FakeHec, clock: ManualClock, running: list[Running]
) -> None:
    hec.token = "another-token-the-admin-has-not-rotated-in"  # the bot's token is unknown to the collector: 403
    sender = _start(running, store, hec.url, HEC_TOKEN, "splunk_hec", clock)
    store.outbox.append(_event(clock, "req-1"))
    sender.round()
    assert hec.answers == [4]
    assert sender.sender.state == (
        f"parked: HTTP 403, HEC code 4 (invalid token); retried every {PARKED_SECONDS:.0f} s until fixed"
    )
    for _ in range(29):  # almost five minutes, in ten-second steps: not one more POST
        clock.advance(10)
        sender.round()
    assert hec.answers == [4]
    clock.advance(PARKED_SECONDS - 290)
    sender.round()
    assert hec.answers == [4, 4] and sender.sender.state.startswith("parked: HTTP 403")
    hec.token = HEC_TOKEN  # the admin fixes the token at the collector
    clock.advance(PARKED_SECONDS)
    sender.round()
    assert hec.answers == [4, 4, 0] and sender.sender.state == "ok"
    assert [e["request_id"] for e in hec.events] == ["req-1"]


def test_a_busy_hec_is_retried_with_the_usual_backoff_not_parked(
    store: Store, hec: FakeHec, clock: ManualClock, running: list[Running]
) -> None:
    hec.plan.append((503, 9))
    sender = _start(running, store, hec.url, HEC_TOKEN, "splunk_hec", clock)
    store.outbox.append(_event(clock, "req-1"))
    sender.round()
    assert sender.sender.state == "failing: HTTP 503, HEC code 9 (server is busy)"
    clock.advance(4)  # the first retry comes within 2 s * 1.25 (jitter), long before five minutes
    sender.round()
    assert hec.answers == [9, 0] and [e["request_id"] for e in hec.events] == ["req-1"]


def test_a_403_from_a_signed_receiver_is_parked_too(store: Store, clock: ManualClock, running: list[Running]) -> None:
    with FakeSiem(SECRET) as siem:
        siem.plan.append((403, "1"))  # even with a Retry-After of one second: no tight loop
        sender = _start(running, store, siem.url, SECRET, "rok", clock)
        store.outbox.append(_event(clock, "req-1"))
        sender.round()
        assert sender.sender.state.startswith("parked: HTTP 403")
        clock.advance(PARKED_SECONDS - 1)
        sender.round()
        assert len(siem.posts) == 1
        clock.advance(1)
        sender.round()
        assert [e["request_id"] for e in siem.accepted] == ["req-1"]


@pytest.mark.parametrize("fmt", ["jsonl", "splunk_hec"])
def test_each_event_reaches_the_siem_once_across_a_restart(
    db: Path, hec: FakeHec, clock: ManualClock, running: list[Running], fmt: WebhookFormat
) -> None:
    """Events written while the SIEM is down wait in the SQLite outbox; the bot stops; the next start delivers
    each once, and what was delivered before the stop is not sent again."""
    with FakeSiem(SECRET) as siem:
        url, secret = (hec.url, HEC_TOKEN) if fmt == "splunk_hec" else (siem.url, SECRET)
        first_store = open_webhook_store(db)
        first = _start(running, first_store, url, secret, fmt, clock)
        first_store.outbox.append(_event(clock, "before"))
        first.round()
        hec.plan.extend([(503, 9)] * 5)
        siem.plan.extend([(503, None)] * 5)
        for n in range(3):
            first_store.outbox.append(_event(clock, f"outage-{n}"))
        first.round()
        first.stop()
        running.remove(first)
        first_store.close()

        second_store = open_webhook_store(db)
        try:
            hec.plan.clear()
            siem.plan.clear()
            second = _start(running, second_store, url, secret, fmt, clock)
            clock.advance(PARKED_SECONDS)  # past the longest backoff
            second.round()
            accepted = hec.events if fmt == "splunk_hec" else siem.accepted
            assert sorted(e["request_id"] for e in accepted) == ["before", "outage-0", "outage-1", "outage-2"]
            assert len({e["event_id"] for e in accepted}) == 4
            assert second_store.outbox.backlog(sink="webhook", now=clock.now()) == (0, 0.0)
        finally:
            second.stop()
            running.remove(second)
            second_store.close()
