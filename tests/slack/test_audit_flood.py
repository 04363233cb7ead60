"""The audit channel under a flood of refusals: urgent events first, refusals merged, a full queue loud."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from slack_sdk import WebClient

from bot.domain.audit import AuditEvent
from bot.slack.audit import AuditSink, merge, render_batch
from bot.slack.server import Health
from sandbox.slack import FakeSlack
from sandbox.world import AUDIT_CHANNEL, Sandbox

POLICY = "limits: {default: 24h, min: 5m, max: 7d}\nquota: {per_hour: 10, cooldown: 0}\n"


def _text(call_params: dict[str, object]) -> str:
    blocks = call_params.get("blocks")
    return json.dumps(blocks) if not isinstance(blocks, str) else blocks


def test_an_issued_event_is_not_stuck_behind_a_flood_of_refusals() -> None:
    """60 refusals from an unmapped user, then a real token: its audit line is posted first, refusals merged."""
    with Sandbox(policy=POLICY) as box:
        box.slack.rate_limits["chat.postMessage"] = 5.0  # real Slack: ~1 per second per channel
        for _ in range(60):
            status, _, _ = box.slash("U0MALLORY", "1h")
            assert status == 200
        box.slash("U0JDOE", "1h")
        # Not box.wait_audit: it expedites the lingering refusals, which is what this test must not do.
        box.slack.wait_for(lambda: box.audit_count("issued"), 10)
        assert box.server is not None
        assert box.server.bot.audit.flush(30)
        posts = [c for c in box.audit_posts() if c.ok]
        texts = [_text(c.params) for c in posts]
        issued = next(i for i, t in enumerate(texts) if "*issued*" in t)
        refused = [i for i, t in enumerate(texts) if "*refused*" in t]
        assert refused, "the refusals are still audited"
        assert issued < refused[0], "the token's audit line went out before the refusal backlog"
        assert len(refused) <= 3
        merged = " ".join(texts[i] for i in refused)
        assert "*refused* " in merged and " times in " in merged
        # Every refusal is accounted for: the counts of the merged lines add up to 60.
        counts = [int(part.split(" times in")[0].rsplit(" ", 1)[-1]) for part in merged.split("*refused*")[1:]]
        assert sum(counts) == 60


def test_refusals_merge_per_user_and_reason_and_urgent_events_go_first() -> None:
    t0 = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
    events = [
        AuditEvent("refused", f"r{i}", slack_user="U0X", reason="not mapped", occurred_at=t0 + timedelta(seconds=i))
        for i in range(57)
    ]
    events.insert(10, AuditEvent("refused", "ry", slack_user="U0Y", reason="not mapped", occurred_at=t0))
    events.append(AuditEvent("issued", "ri", slack_user="U0Z", token_uuid="0f0e", occurred_at=t0))
    lines = merge(events)
    assert [line.event.outcome for line in lines] == ["issued", "refused", "refused"]
    assert (lines[1].event.slack_user, lines[1].repeated, lines[1].span_seconds) == ("U0X", 57, 56.0)
    assert lines[2].repeated == 1
    _, blocks = render_batch(lines)
    text = json.dumps([b.to_dict() for b in blocks])
    assert "*refused* 57 times in 56s" in text and "token `0f0e`" in text


@pytest.fixture
def slow_slack() -> Iterator[FakeSlack]:
    slack = FakeSlack(channels=(AUDIT_CHANNEL,)).start()
    slack.latency = 1.0
    try:
        yield slack
    finally:
        slack.stop()


def test_a_full_audit_queue_fails_readiness_and_counts_what_it_drops(slow_slack: FakeSlack) -> None:
    sink = AuditSink(
        client=WebClient(base_url=slow_slack.api_url, token=slow_slack.bot_token), channel=AUDIT_CHANNEL, max_queue=5
    )
    sink.start()
    try:
        for i in range(20):
            sink.record(AuditEvent("issued", f"r{i}", slack_user="U0JDOE"))
        ok, checks = Health(slack_auth="ok", audit=sink).ready()
        assert not ok and checks["audit_queue"].startswith("full")
        assert sink.dropped >= 10  # at most 5 being posted and 5 pending
        assert sink.flush(30)
        ok, checks = Health(slack_auth="ok", audit=sink).ready()
        assert ok and "audit_queue" not in checks
    finally:
        sink.stop(5)
