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


def test_one_ledger_quota_per_registry_each_with_its_rule_counts_its_own_rows() -> None:
    """The serving bot builds one `LedgerQuota` per registry (its policy may set its own rule) on one ledger:
    ten tokens an hour in prod leave staging's places alone, and each row names its registry."""
    from bot.adapters.quota import LedgerQuota
    from bot.domain.ports import TokenQuery
    from tests.usecases.fakes_lifecycle import FakeLedger

    clock = ManualClock(START)
    ledger = FakeLedger(clock=clock, audit=FakeAudit())
    prod = LedgerQuota(ledger=ledger, rule=QuotaRule(per_hour=10, cooldown=0), clock=clock, registry="prod")
    staging = LedgerQuota(ledger=ledger, rule=QuotaRule(per_hour=2, cooldown=60), clock=clock, registry="staging")
    for _ in range(10):
        prod.reserve(_ctx("U1"), seconds=60)
        clock.advance(1)
    with pytest.raises(LimitExceeded, match="10 tokens in the last hour"):
        prod.reserve(_ctx("U1"), seconds=60)
    assert (prod.remaining("U1"), staging.remaining("U1")) == (0, 2)
    staging.reserve(_ctx("U1"), seconds=60)
    with pytest.raises(LimitExceeded, match="wait"):
        staging.reserve(_ctx("U1"), seconds=60)  # staging's cooldown, not prod's (none)
    assert [e.registry for e in ledger.tokens(TokenQuery(registry="staging"))] == ["staging"]
    assert len(ledger.tokens(TokenQuery(registry="prod"))) == 10
