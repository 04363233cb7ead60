"""The audit channel under a flood of refusals: urgent events first, refusals merged, a full queue loud."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import httpx

from bot.domain.audit import AuditEvent
from bot.runtime.clock import SystemClock
from bot.slack.audit import merge, render_batch
from sandbox.world import Sandbox

POLICY = "limits: {default: 24h, min: 5m, max: 7d}\nquota: {per_hour: 10, cooldown: 0}\n"


def _text(call_params: dict[str, object]) -> str:
    blocks = call_params.get("blocks")
    return json.dumps(blocks) if not isinstance(blocks, str) else blocks


def test_an_issued_event_is_not_stuck_behind_a_flood_of_refusals() -> None:
    """60 refusals from an unmapped user, then a real token: its audit line is posted first, refusals merged.

    On the machine's clock: the fake Slack's rate limit and its Retry-After are real seconds, and the sender
    waits for them on its own clock."""
    with Sandbox(policy=POLICY, clock=SystemClock()) as box:
        box.slack.rate_limits["chat.postMessage"] = 5.0  # real Slack: ~1 per second per channel
        for _ in range(60):
            status, _, _ = box.slash("U0MALLORY", "1h")
            assert status == 200
        box.slash("U0JDOE", "1h")
        # Not box.wait_audit: it expedites the lingering refusals, which is what this test must not do.
        box.slack.wait_for(lambda: box.audit_count("issued"), 10)
        assert box.server is not None
        bot = box.server.bot
        box.slack.wait_for(lambda: bot.jobs.in_flight == 0, 30)  # every refusal recorded
        assert bot.flush_audit(30)
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


def test_an_audit_channel_outage_loses_nothing_shows_its_backlog_then_posts_each_event_once() -> None:
    """chat.postMessage answers 500 while tokens are issued: the events wait in the outbox, /readyz and the
    metrics show the backlog and its age, and once Slack is back each event is posted exactly once."""
    with Sandbox(policy=POLICY) as box:
        assert box.server is not None
        box.server.bot.flush_audit()
        box.slack.fail("chat.postMessage", error="internal_error", http_status=500)
        for user in ("U0JDOE", "U0ALICE", "U0BOB"):
            box.slash(user, "1h")
            box.wait_private(user)
        box.slack.wait_for(lambda: httpx.get(box.url + "/readyz").json()["checks"]["audit_channel_backlog"] >= 3)
        ready = httpx.get(box.url + "/readyz").json()
        assert ready["ready"] is True  # a failing sink does not stop tokens
        assert ready["checks"]["audit_channel"].startswith("failing")
        assert re.search(r'^rok_bot_audit_backlog\{sink="slack"\} [3-9]', httpx.get(box.url + "/metrics").text, re.M)
        box.slack.clear_faults()
        box.wait_audit("issued", count=3)
        uuids = [m.token_uuid for m in box.rok.minted]
        lines = [ln for ln in box.audit_lines("issued")]
        assert sorted(u for ln in lines for u in uuids if u in ln.ids) == sorted(uuids)  # each exactly once
