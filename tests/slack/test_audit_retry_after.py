"""The audit channel sink under a rate limit whose Retry-After is huge or nonsense: parked 5 minutes at most.

The real Slack client (with the bot's retry handlers) against the fake Slack, the real outbox (SQLite) and
sender on a ManualClock: "posted within five minutes" is reached by advancing the clock.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from slack_sdk import WebClient

from bot.adapters.audit import OutboxSender
from bot.domain.audit import AuditEvent, Outcome
from bot.runtime.clock import ManualClock
from bot.slack.audit import SLOW_ERRORS, AuditChannel
from bot.slack.retry import retry_handlers
from bot.store import open_url
from sandbox.slack import FakeSlack

CHANNEL = "C0AUDIT"


@pytest.fixture(scope="module")
def slack() -> Iterator[FakeSlack]:
    with FakeSlack(channels=(CHANNEL,)) as fake:
        yield fake


@pytest.mark.parametrize("retry_after", ["86400", "inf", "nan", "-5", "1e12", "2.5"])
def test_a_429_parks_an_issued_event_five_minutes_at_most_whatever_its_retry_after(
    slack: FakeSlack, tmp_path: Path, retry_after: str
) -> None:
    slack.reset()
    slack.fail("chat.postMessage", error="ratelimited", http_status=429, retry_after=retry_after)
    clock = ManualClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    store = open_url(f"sqlite:///{tmp_path / 'rok-token-bot.sqlite3'}", sinks=("slack",))
    store.upgrade()
    client = WebClient(token=slack.bot_token, base_url=slack.api_url, timeout=5, retry_handlers=retry_handlers())
    channel = AuditChannel(client, CHANNEL)
    sender = OutboxSender(
        outbox=store.outbox, sink="slack", deliver=channel.deliver, worker="w", clock=clock, slow_errors=SLOW_ERRORS
    )
    sender.start()
    try:
        store.outbox.append(
            AuditEvent(outcome=Outcome.ISSUED, request_id="req-1", username="jdoe", occurred_at=clock.now())
        )
        sender.wake()
        assert sender.flush(5)
        # Given back with Slack's answer: no round crashed on the header (`inf` overflowed a timedelta, `-5` made
        # slack_sdk sleep a negative time), and nothing was posted yet.
        assert (sender.last_error, slack.messages_in(CHANNEL)) == ("ratelimited", [])
        slack.clear_faults()
        clock.advance(300)
        sender.wake()
        assert sender.flush(5)
        assert len(slack.messages_in(CHANNEL)) == 1
        assert store.outbox.backlog(sink="slack", now=clock.now()) == (0, 0.0)
    finally:
        sender.stop(timeout=2)
        store.close()
