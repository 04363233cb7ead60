"""Reminders survive Slack's rate limit: a reminder Slack answered 429 (nothing posted) is released and sent
on a later round, after the Retry-After Slack asked for; every reminder is sent exactly once, none is lost.

Six 1-hour tokens, ROK_BOT_REMIND_BEFORE=10m: their reminders fall due together, 50 minutes in. The fake Slack
answers the third conversations.open of the round with 429 and Retry-After: 60 (above what slack_sdk's own
handler waits for, so nothing sleeps in real time); the bot runs on the sandbox's manual clock.
"""

from __future__ import annotations

import re
from typing import Any

from bot.domain.ports import TokenQuery
from sandbox.world import Sandbox

POLICY = """\
limits: {default: 1h, min: 5m, max: 7d}
quota: {per_hour: 1000, cooldown: 0}
"""
OWNER = "U0JDOE2"
TOKENS = 6


def _rows(box: Sandbox) -> list[Any]:
    assert box.server is not None
    return [e for e in box.server.bot.store.ledger.tokens(TokenQuery(slack_user=OWNER)) if e.token_uuid]


def _reminders(box: Sandbox) -> list[dict[str, Any]]:
    return [m for m in box.dm_messages(OWNER) if "expires in" in str(m.get("text"))]


def test_a_rate_limited_reminder_is_released_and_sent_once_after_retry_after() -> None:
    with Sandbox(policy=POLICY, settings={"ROK_BOT_REMIND_BEFORE": "10m"}) as box:
        for n in range(TOKENS):
            box.slash(OWNER, "1h")
            box.wait_private(OWNER, count=n + 1)
        box.slack.wait_for(lambda: len(_rows(box)) == TOKENS, 10)
        box.slack.fail("conversations.open", http_status=429, error="ratelimited", retry_after=60, after=2, times=1)
        before = len(box.slack.calls_to("conversations.open"))  # the tokens' delivery opened the DM too

        def opened() -> int:
            return len(box.slack.calls_to("conversations.open")) - before

        box.advance(50 * 60 + 1)  # all six due: two sent, the third rate-limited, the round stops there
        assert len(_reminders(box)) == 2
        assert opened() == 3
        assert sum(1 for r in _rows(box) if r.reminded_at is not None) == 2  # the 429's claim was released

        box.advance(45)  # rounds come every 15 s, but Slack said to wait 60 s: not one call meanwhile
        assert opened() == 3 and len(_reminders(box)) == 2

        box.advance(20)  # past the Retry-After: the four left go out
        assert len(_reminders(box)) == TOKENS
        box.advance(60)
        reminders = _reminders(box)
        short = {r.token_uuid[:8] for r in _rows(box)}
        named = {m.group(1) for r in reminders if (m := re.search(r"token (\S+) expires", str(r["text"])))}
        assert len(reminders) == TOKENS and named == short
        rows = _rows(box)
        assert all(r.reminded_at is not None and r.reminder_ts for r in rows)
        assert len({r.reminder_ts for r in rows}) == TOKENS
        box.wait_audit("reminded", count=TOKENS)
        assert box.audit_count("reminded") == TOKENS
