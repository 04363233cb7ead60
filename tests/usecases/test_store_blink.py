"""The database blinks between the mint and `settle` (issue 21, finding 2): nothing is dropped.

The token's UUID and expiry reach the ledger (a `minted` row) before delivery; a write the database refuses
after the mint is retried off the job thread on the clock; the user who got the token is never told that
something went wrong; the `issued` event reaches the audit trail once the database is back. The fake ledger's
switch raises the store's own error, as the real store does when PostgreSQL restarts.
"""

from __future__ import annotations

import logging

import pytest

from bot.domain.audit import Outcome
from bot.domain.errors import LimitExceeded
from bot.domain.ledger import TokenStatus
from bot.usecases import Issued, IssueRequest, issue_token
from bot.usecases.context import Facts, report_failure
from tests.usecases.fakes_lifecycle import LifeWorld, life_world

WRONG = "went wrong"


def _secrets(w: LifeWorld) -> list[str]:
    return [t.token.reveal() for t in w.base.engine.minted]


@pytest.mark.parametrize("blinked", [{"settle"}, {"mark_minted", "settle"}], ids=["settle", "minted-and-settle"])
def test_a_database_blink_after_the_mint_delivers_once_and_settles_when_the_store_is_back(
    blinked: set[str], caplog: pytest.LogCaptureFixture
) -> None:
    w = life_world()
    w.ledger.unavailable = set(blinked)
    caplog.set_level(logging.DEBUG)

    result = issue_token(w.ports, IssueRequest(w.ctx("U0JDOE", "r1"), 3600))

    assert isinstance(result, Issued)
    replies = w.base.replies
    assert len(replies.tokens) == 1 and replies.tokens[0][1].token_uuid == result.token_uuid
    assert [text for _, text in replies.notices if WRONG in text] == []
    assert replies.notices == [] and replies.undelivered_notes == []
    assert Outcome.ISSUED not in w.base.audit.outcomes()  # not yet: the database is down
    row = w.ledger.rows[0]
    if "mark_minted" in blinked:
        assert row.status is TokenStatus.RESERVED and row.token_uuid is None
    else:  # the UUID and expiry were written before delivery
        assert row.status is TokenStatus.MINTED and row.token_uuid == result.token_uuid
        assert row.expires_at == result.expires_at

    w.base.clock.advance(5)
    assert w.retries.retry_due() == 0  # still down: kept for the next round
    assert len(w.retries) == 1

    w.ledger.unavailable.clear()  # the database is back
    w.base.clock.advance(5)
    assert w.retries.retry_due() == 1
    assert len(w.retries) == 0
    row = w.ledger.rows[0]
    assert row.status is TokenStatus.ISSUED and row.token_uuid == result.token_uuid
    assert row.expires_at == result.expires_at
    assert w.base.audit.outcomes().count(Outcome.ISSUED) == 1
    w.base.clock.advance(120)
    assert w.retries.retry_due() == 0 and w.base.audit.outcomes().count(Outcome.ISSUED) == 1

    seen = caplog.text + str(w.ledger.rows) + str([e.as_record() for e in w.base.audit.events])
    assert not any(secret in seen for secret in _secrets(w))
    assert result.token_uuid is not None and "ledger write failed" in caplog.text


def test_the_retries_back_off_to_at_most_a_minute() -> None:
    w = life_world()
    w.ledger.unavailable = {"mark_minted", "settle"}
    issue_token(w.ports, IssueRequest(w.ctx("U0JDOE", "r1"), 3600))
    tries: list[float] = []
    original = w.ledger.settle

    def counting(*args: object, **kwargs: object) -> None:
        tries.append(w.base.clock.monotonic())
        original(*args, **kwargs)  # type: ignore[arg-type]

    w.ledger.settle = counting  # type: ignore[method-assign]
    start = w.base.clock.monotonic()
    for _ in range(600):  # ten minutes, a round every second as the upkeep runs it
        w.base.clock.advance(1)
        w.retries.retry_due()
    gaps = [round(b - a) for a, b in zip([start, *tries], tries, strict=False)]
    assert gaps[:7] == [1, 2, 4, 8, 16, 32, 60]
    assert max(gaps) == 60 and len(tries) < 20


def test_a_failed_audit_write_in_the_failure_reporter_is_logged_not_reported_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)  # whatever level an earlier test in this worker left on the root logger
    w = life_world()
    w.base.audit.unavailable = True
    ctx = w.ctx("U0JDOE", "r1")
    report_failure(w.ports, Facts(ctx, "issue"), LimitExceeded("Wait a minute.", detail="cooldown"))
    assert [text for _, text in w.base.replies.notices] == ["Wait a minute."]
    assert "audit write failed" in caplog.text
