"""The in-memory quota (one replica, no store): a rolling hour per user, a cooldown, places given back."""

from __future__ import annotations

import pytest

from bot.adapters.quota import MemoryQuota
from bot.domain.audit import AuditEvent, Origin
from bot.domain.errors import LimitExceeded
from bot.domain.ledger import QuotaRule, TokenStatus
from bot.domain.models import RequestContext
from bot.runtime.clock import ManualClock
from tests.usecases.fakes import START, FakeAudit


def _ctx(user_id: str) -> RequestContext:
    return RequestContext("r", user_id, Origin.COMMAND)


def test_quota_per_rolling_hour_with_the_wait_in_the_refusal() -> None:
    clock, audit = ManualClock(START), FakeAudit()
    quota = MemoryQuota(rule=QuotaRule(per_hour=2, cooldown=0), audit=audit, clock=clock)
    event = AuditEvent("issued", "r", occurred_at=START)
    quota.reserve(_ctx("U1"), seconds=60).settle(status=TokenStatus.ISSUED, minted=None, event=event)
    clock.advance(60)
    quota.reserve(_ctx("U1"), seconds=60).settle(status=TokenStatus.ISSUED, minted=None, event=event)
    clock.advance(60)
    with pytest.raises(LimitExceeded, match=r"2 tokens in the last hour.*in 58m"):
        quota.reserve(_ctx("U1"), seconds=60)
    quota.reserve(_ctx("U2"), seconds=60)  # per user
    clock.advance(3541)
    quota.reserve(_ctx("U1"), seconds=60)
    assert quota.remaining("U1") == 1  # both earlier tokens are now over an hour old
    assert len(audit.events) == 2  # settling records the audit event; reserving alone does not


def test_cooldown_and_released_reservations() -> None:
    clock, audit = ManualClock(START), FakeAudit()
    quota = MemoryQuota(rule=QuotaRule(per_hour=10, cooldown=30), audit=audit, clock=clock)
    quota.reserve(_ctx("U1"), seconds=60).release()  # a failure before minting does not count
    quota.reserve(_ctx("U1"), seconds=60)
    clock.advance(10)
    with pytest.raises(LimitExceeded, match="wait 20s"):
        quota.reserve(_ctx("U1"), seconds=60)
    clock.advance(20)
    quota.reserve(_ctx("U1"), seconds=60)
    assert quota.remaining("U1") == 8
