"""One contract, two implementations: the same ledger cases on the use-case tests' in-memory fake and on the
real store (SQLite and PostgreSQL). A fake that drifts from the store makes the use-case tests lie; here it
fails first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.domain.audit import AuditEvent, Origin, Outcome
from bot.domain.errors import LimitExceeded, RenewRefused
from bot.domain.ledger import Minted, QuotaRule, TokenStatus
from bot.domain.patterns import DEFAULT_REGISTRY
from bot.domain.ports import Ledger, Reservation, TokenQuery
from bot.store import Store
from tests.usecases.fakes import FakeAudit
from tests.usecases.fakes_lifecycle import FakeLedger

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
RULE = QuotaRule(per_hour=3, cooldown=30)
HOUR = 3600


@pytest.fixture
def ledger(contract_store: Store | None) -> Ledger:
    return FakeLedger(clock=None, audit=FakeAudit()) if contract_store is None else contract_store.ledger


def _reserve(
    ledger: Ledger, user: str = "U1", *, at: datetime = T0, renews: int | None = None, registry: str | None = None
) -> Reservation:
    # No `registry`: the call of every caller written before registries existed (the default registry).
    where = {} if registry is None else {"registry": registry}
    return ledger.reserve(
        user_id=user,
        team_id="T1",
        request_id=f"r-{user}-{at.timestamp():.0f}",
        origin=Origin.COMMAND,
        duration_seconds=HOUR,
        rule=RULE,
        now=at,
        renewed_from=renews,
        **where,
    )


def _issue(
    ledger: Ledger,
    user: str = "U1",
    *,
    at: datetime = T0,
    rok: str = "jdoe",
    renews: int | None = None,
    registry: str | None = None,
) -> int:
    place = _reserve(ledger, user, at=at, renews=renews, registry=registry)
    uuid = f"00000000-0000-4000-8000-{int(at.timestamp()) % 10**12:012d}"
    minted = Minted(rok, "acc-uuid", uuid, at, at + timedelta(seconds=HOUR))
    event = AuditEvent(
        outcome=Outcome.ISSUED, request_id=f"r-{user}", registry=registry or DEFAULT_REGISTRY, occurred_at=at
    )
    ledger.settle(place, status=TokenStatus.ISSUED, minted=minted, event=event)
    return place.id


def test_the_quota_counts_the_rolling_hour_and_the_cooldown_and_a_release_gives_a_place_back(ledger: Ledger) -> None:
    _reserve(ledger, at=T0)
    with pytest.raises(LimitExceeded, match="wait"):
        _reserve(ledger, at=T0 + timedelta(seconds=10))  # the cooldown
    ledger.release(_reserve(ledger, at=T0 + timedelta(seconds=40)))
    _reserve(ledger, at=T0 + timedelta(seconds=80))
    _reserve(ledger, at=T0 + timedelta(seconds=120))
    assert ledger.remaining("U1", rule=RULE, now=T0 + timedelta(seconds=150)) == 0
    with pytest.raises(LimitExceeded, match="3 tokens in the last hour"):
        _reserve(ledger, at=T0 + timedelta(seconds=200))
    _reserve(ledger, "U2", at=T0 + timedelta(seconds=200))  # per user
    assert ledger.remaining("U1", rule=RULE, now=T0 + timedelta(seconds=HOUR + 1)) == 1


def test_a_settled_row_holds_what_became_of_the_token_and_reads_back_newest_first(ledger: Ledger) -> None:
    first = _issue(ledger, at=T0)
    second = _issue(ledger, at=T0 + timedelta(minutes=5), rok="jdoe2")
    other = _issue(ledger, "U2", at=T0 + timedelta(minutes=6))
    rows = ledger.tokens(TokenQuery())
    assert [r.id for r in rows] == [other, second, first]
    entry = ledger.entry(first)
    assert entry is not None and entry.status is TokenStatus.ISSUED and entry.slack_user == "U1"
    assert entry.expires_at == T0 + timedelta(seconds=HOUR) and entry.rok_user == "jdoe"
    assert ledger.entry(10**9) is None
    assert [r.id for r in ledger.tokens(TokenQuery(slack_user="U1"))] == [second, first]
    assert [r.id for r in ledger.tokens(TokenQuery(rok_user="jdoe2"))] == [second]
    assert [r.id for r in ledger.tokens(TokenQuery(since=T0 + timedelta(minutes=5)))] == [other, second]
    live = ledger.tokens(TokenQuery(active_at=T0 + timedelta(minutes=62)))
    assert [r.id for r in live] == [other, second]
    assert [r.id for r in ledger.tokens(TokenQuery(limit=1))] == [other]


def test_a_token_is_renewed_once(ledger: Ledger) -> None:
    old = _issue(ledger, at=T0)
    assert ledger.renewal_of(old) is None
    renewal = _issue(ledger, at=T0 + timedelta(minutes=50), renews=old)
    found = ledger.renewal_of(old)
    assert found is not None and found.id == renewal and found.renewed_from == old
    with pytest.raises(RenewRefused, match="renewed already"):
        _reserve(ledger, at=T0 + timedelta(minutes=55), renews=old)


def test_a_reminder_is_due_within_its_lead_claimed_once_and_never_for_a_renewed_or_cli_token(ledger: Ledger) -> None:
    mine = _issue(ledger, at=T0)
    renewed = _issue(ledger, "U2", at=T0)
    _issue(ledger, "U2", at=T0 + timedelta(minutes=20), renews=renewed)  # itself due only 65 minutes in
    _issue(ledger, "cli:root", at=T0)
    now = T0 + timedelta(minutes=50)
    due = ledger.due_reminders(now=now, lead=15 * 60, limit=10)
    assert [e.id for e in due] == [mine]
    assert ledger.due_reminders(now=T0 + timedelta(minutes=40), lead=15 * 60, limit=10) == []
    assert ledger.claim_reminder(mine, now=now) is True
    assert ledger.claim_reminder(mine, now=now) is False
    assert ledger.due_reminders(now=now, lead=15 * 60, limit=10) == []
    ledger.reminder_posted(mine, channel="D1", ts="1.000001")
    entry = ledger.entry(mine)
    assert entry is not None and (entry.reminder_channel, entry.reminder_ts) == ("D1", "1.000001")
    assert entry.reminded_at == now
    expired = _issue(ledger, "U3", at=T0 - timedelta(hours=2))
    assert ledger.claim_reminder(expired, now=now) is False  # no reminder for a token already gone


def _outcomes(ledger: Ledger) -> list[str]:
    """The audit events a ledger's settles appended: the fake's audit trail, the store's outbox."""
    if isinstance(ledger, FakeLedger):
        return ledger.audit.outcomes()
    import sqlalchemy as sa

    from bot.store.ledger import SqlLedger
    from bot.store.schema import audit_events

    assert isinstance(ledger, SqlLedger)
    with ledger._engine.connect() as conn:
        return [str(o) for o in conn.execute(sa.select(audit_events.c.outcome).order_by(audit_events.c.id)).scalars()]


def test_a_minted_row_keeps_the_uuid_before_delivery_and_its_writes_are_safe_to_retry(ledger: Ledger) -> None:
    place = _reserve(ledger, at=T0)
    uuid = "00000000-0000-4000-8000-000000000042"
    minted = Minted("jdoe", "acc-uuid", uuid, T0, T0 + timedelta(seconds=HOUR))
    ledger.mark_minted(place, minted=minted)
    ledger.mark_minted(place, minted=minted)  # a retry of a write that did land
    entry = ledger.entry(place.id)
    assert entry is not None and entry.status is TokenStatus.MINTED
    assert (entry.token_uuid, entry.rok_user, entry.expires_at) == (uuid, "jdoe", T0 + timedelta(seconds=HOUR))
    assert not entry.live(T0) and ledger.tokens(TokenQuery(active_at=T0)) == []  # live once delivered
    assert _outcomes(ledger) == []  # no event yet: the settle brings it
    assert ledger.remaining("U1", rule=RULE, now=T0 + timedelta(seconds=60)) == 2  # it holds its place

    event = AuditEvent(outcome=Outcome.ISSUED, request_id="r-U1", token_uuid=uuid, occurred_at=T0)
    ledger.settle(place, status=TokenStatus.ISSUED, minted=minted, event=event)
    ledger.settle(place, status=TokenStatus.ISSUED, minted=minted, event=event)  # unsure commit, retried
    ledger.mark_minted(place, minted=minted)  # a minted write retried late changes nothing
    entry = ledger.entry(place.id)
    assert entry is not None and entry.status is TokenStatus.ISSUED and entry.token_uuid == uuid
    assert _outcomes(ledger) == ["issued"]
    assert [r.id for r in ledger.tokens(TokenQuery(active_at=T0))] == [place.id]


def test_a_released_reminder_is_due_and_claimed_again_but_a_posted_one_stays_claimed(ledger: Ledger) -> None:
    mine = _issue(ledger, at=T0)
    now = T0 + timedelta(minutes=50)
    assert ledger.claim_reminder(mine, now=now) is True
    ledger.release_reminder(mine)  # Slack answered 429: nothing was posted
    assert [e.id for e in ledger.due_reminders(now=now, lead=15 * 60, limit=10)] == [mine]
    later = now + timedelta(minutes=1)
    assert ledger.claim_reminder(mine, now=later) is True
    ledger.reminder_posted(mine, channel="D1", ts="1.000002")
    ledger.release_reminder(mine)  # a late release never undoes a posted reminder
    entry = ledger.entry(mine)
    assert entry is not None and entry.reminded_at == later and entry.reminder_ts == "1.000002"
    assert ledger.due_reminders(now=later, lead=15 * 60, limit=10) == []


# -- several registries: the quota, renewals, listings and audit records per registry --------------------------


def test_the_quota_counts_per_user_per_registry(ledger: Ledger) -> None:
    """A user's places in prod (the hourly quota and the cooldown) leave staging's untouched, and the rows of
    callers that name no registry count in `default`."""
    for minute in (0, 1, 2):
        _reserve(ledger, at=T0 + timedelta(minutes=minute), registry="prod")
    with pytest.raises(LimitExceeded, match="3 tokens in the last hour"):
        _reserve(ledger, at=T0 + timedelta(minutes=3), registry="prod")
    now = T0 + timedelta(minutes=3)
    assert ledger.remaining("U1", rule=RULE, now=now, registry="prod") == 0
    assert ledger.remaining("U1", rule=RULE, now=now, registry="staging") == 3
    assert ledger.remaining("U1", rule=RULE, now=now) == 3  # the default registry
    staging = _reserve(ledger, at=now, registry="staging")
    assert staging.registry == "staging"
    default = _reserve(ledger, at=now)  # in the same second: the cooldown is per registry too
    assert default.registry == DEFAULT_REGISTRY
    with pytest.raises(LimitExceeded, match="wait"):
        _reserve(ledger, at=now + timedelta(seconds=10), registry="staging")  # staging's own cooldown
    assert ledger.remaining("U1", rule=RULE, now=now, registry="staging") == 2
    assert ledger.remaining("U1", rule=RULE, now=T0 + timedelta(minutes=61), registry="prod") == 2


def test_a_renewal_stays_in_the_registry_of_the_token_it_renews(ledger: Ledger) -> None:
    old = _issue(ledger, at=T0, registry="prod")
    with pytest.raises(ValueError, match="registry 'prod'"):
        _reserve(ledger, at=T0 + timedelta(minutes=50), renews=old)  # reserved in `default`: a wiring mistake
    assert ledger.renewal_of(old) is None  # nothing was written
    renewal = _issue(ledger, at=T0 + timedelta(minutes=50), renews=old, registry="prod")
    found = ledger.renewal_of(old)
    assert found is not None and found.id == renewal and found.registry == "prod"
    entry = ledger.entry(renewal)
    assert entry is not None and entry.registry == "prod" and entry.renewed_from == old


def test_token_queries_filter_by_registry(ledger: Ledger) -> None:
    default = _issue(ledger, at=T0)
    prod = _issue(ledger, at=T0 + timedelta(minutes=1), registry="prod")
    staging = _issue(ledger, at=T0 + timedelta(minutes=2), registry="staging")
    other = _issue(ledger, "U2", at=T0 + timedelta(minutes=3), registry="prod")
    assert [r.id for r in ledger.tokens(TokenQuery())] == [other, staging, prod, default]
    assert [r.id for r in ledger.tokens(TokenQuery(registry="prod"))] == [other, prod]
    assert [r.id for r in ledger.tokens(TokenQuery(registry=DEFAULT_REGISTRY))] == [default]
    mine = TokenQuery(slack_user="U1", registry="staging", active_at=T0 + timedelta(minutes=30))
    assert [(r.id, r.registry) for r in ledger.tokens(mine)] == [(staging, "staging")]
    assert ledger.tokens(TokenQuery(registry="nowhere")) == []
    due = ledger.due_reminders(now=T0 + timedelta(minutes=50), lead=15 * 60, limit=10)
    expected = {(default, "default"), (prod, "prod"), (staging, "staging"), (other, "prod")}
    assert {(e.id, e.registry) for e in due} == expected


def _records(ledger: Ledger) -> list[dict[str, object]]:
    """The audit records a ledger's settles appended, as a sink would get them."""
    if isinstance(ledger, FakeLedger):
        return [e.as_record() for e in ledger.audit.events]
    import sqlalchemy as sa

    from bot.store.ledger import SqlLedger
    from bot.store.schema import audit_events

    assert isinstance(ledger, SqlLedger)
    with ledger._engine.connect() as conn:
        rows = conn.execute(sa.select(audit_events.c.record, audit_events.c.registry).order_by(audit_events.c.id))
        records = []
        for record, registry in rows:
            assert record["registry"] == registry  # the column says what the record says
            records.append(dict(record))
        return records


def test_the_audit_record_of_a_settle_carries_the_registry(ledger: Ledger) -> None:
    _issue(ledger, at=T0, registry="prod")
    _issue(ledger, "U2", at=T0)
    assert [(r["request_id"], r["registry"]) for r in _records(ledger)] == [
        ("r-U1", "prod"),
        ("r-U2", DEFAULT_REGISTRY),
    ]


def test_a_row_records_the_workspace_and_organisation_and_the_quota_ignores_the_workspace(ledger: Ledger) -> None:
    """Enterprise Grid: one person asking from two workspaces of the organisation has one quota."""
    rule = QuotaRule(per_hour=1, cooldown=0)
    common = {"user_id": "W1", "origin": Origin.COMMAND, "duration_seconds": HOUR, "rule": rule, "now": T0}
    place = ledger.reserve(team_id="T0A", enterprise_id="E0ORG", request_id="r-a", **common)  # type: ignore[arg-type]
    entry = ledger.entry(place.id)
    assert entry is not None
    assert (entry.slack_team, entry.slack_enterprise, entry.slack_user) == ("T0A", "E0ORG", "W1")
    with pytest.raises(LimitExceeded):
        ledger.reserve(team_id="T0B", enterprise_id="E0ORG", request_id="r-b", **common)  # type: ignore[arg-type]
    other = ledger.entry(_reserve(ledger, "U2").id)
    assert other is not None and other.slack_enterprise is None  # a workspace install records none
