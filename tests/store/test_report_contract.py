"""The tokens live at an instant: one rule, the same cases on the use-case tests' in-memory ledger (the domain's
`live_tokens`) and the store's SQL (SQLite and PostgreSQL)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from bot.domain.audit import AuditEvent, Origin
from bot.domain.ledger import Minted, QuotaRule, TokenStatus
from bot.domain.ports import Ledger, Reservation
from bot.domain.report import LiveTokens
from bot.store import Store
from tests.usecases.fakes import FakeAudit
from tests.usecases.fakes_lifecycle import FakeLedger

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
RULE = QuotaRule(per_hour=100, cooldown=0)
HOUR = timedelta(hours=1)


@dataclass
class Books:
    """A ledger and the live-tokens query on the same rows."""

    ledger: Ledger
    live: LiveTokens


@pytest.fixture
def books(contract_store: Store | None) -> Books:
    if contract_store is None:
        fake = FakeLedger(clock=None, audit=FakeAudit())
        return Books(fake, fake)
    return Books(contract_store.ledger, contract_store.live)


def _reserve(books: Books, user: str, at: datetime, *, origin: Origin, registry: str) -> Reservation:
    return books.ledger.reserve(
        user_id=user,
        team_id="T1",
        request_id=f"r-{user}-{at.timestamp():.0f}",
        origin=origin,
        duration_seconds=int((2 * HOUR).total_seconds()),
        rule=RULE,
        now=at,
        registry=registry,
    )


def _token(
    books: Books,
    user: str,
    *,
    at: datetime,
    lives: timedelta = HOUR,
    status: TokenStatus = TokenStatus.ISSUED,
    origin: Origin = Origin.COMMAND,
    registry: str = "default",
    approved_by: str | None = None,
    reason: str | None = None,
) -> int:
    """A row in `status`, through the ledger's own writes (reserve, mark_minted, settle)."""
    place = _reserve(books, user, at, origin=origin, registry=registry)
    if status is TokenStatus.RESERVED:
        return place.id
    uuid = f"00000000-0000-4000-8000-{place.id:012d}"
    minted = Minted(f"rok-{user}", "acc", uuid, at, at + lives, approved_by=approved_by, reason=reason)
    if status is TokenStatus.POSSIBLY_MINTED:
        minted = None  # type: ignore[assignment]
    if status is TokenStatus.MINTED:
        books.ledger.mark_minted(place, minted=minted)
        return place.id
    event = AuditEvent(outcome=str(status), request_id=f"r-{user}", registry=registry, occurred_at=at)
    books.ledger.settle(place, status=status, minted=minted, event=event)
    return place.id


def _ids(books: Books, at: datetime, **kw: object) -> list[int]:
    rows, total = books.live.live_at(at, **kw)  # type: ignore[arg-type]
    assert total >= len(rows)
    return [r.ledger_id for r in rows]


def test_live_before_between_and_after_two_tokens_lives(books: Books) -> None:
    """A lives 09:00-10:00, B 09:30-11:30: issued at or before T, expiring after T."""
    a = _token(books, "U1", at=T0)
    b = _token(books, "U2", at=T0 + timedelta(minutes=30), lives=2 * HOUR)
    assert _ids(books, T0 - timedelta(seconds=1)) == []
    assert _ids(books, T0) == [a]  # issued at T: live
    assert _ids(books, T0 + timedelta(minutes=45)) == [a, b]  # oldest issue first
    assert _ids(books, T0 + HOUR) == [b]  # expiring at T: gone
    assert _ids(books, T0 + timedelta(minutes=150)) == []
    (row,), total = books.live.live_at(T0 + timedelta(minutes=10))
    assert total == 1
    assert (row.slack_user, row.slack_team, row.rok_user, row.registry) == ("U1", "T1", "rok-U1", "default")
    assert (row.issued_at, row.expires_at, row.origin, row.status) == (T0, T0 + HOUR, Origin.COMMAND, "issued")
    assert row.token_uuid == f"00000000-0000-4000-8000-{a:012d}" and row.held


def test_a_token_that_exists_is_live_whether_or_not_its_owner_saw_it(books: Books) -> None:
    """issued, minted (delivery not settled), unconfirmed and undelivered tokens work until they expire;
    nothing was minted for `reserved`, and `possibly_minted` has no UUID nor expiry to place in time."""
    issued = _token(books, "U1", at=T0)
    minted = _token(books, "U2", at=T0, status=TokenStatus.MINTED)
    undelivered = _token(books, "U3", at=T0, status=TokenStatus.UNDELIVERED)
    unconfirmed = _token(books, "U4", at=T0, status=TokenStatus.UNCONFIRMED)
    _token(books, "U5", at=T0, status=TokenStatus.RESERVED)
    _token(books, "U6", at=T0, status=TokenStatus.POSSIBLY_MINTED)
    rows, total = books.live.live_at(T0 + timedelta(minutes=1))
    assert sorted(r.ledger_id for r in rows) == sorted([issued, minted, undelivered, unconfirmed]) and total == 4
    assert {r.ledger_id for r in rows if not r.held} == {undelivered}


def test_one_registry_and_a_limit_with_the_total_count(books: Books) -> None:
    prod = [_token(books, f"U{i}", at=T0 + timedelta(minutes=i), registry="prod") for i in range(3)]
    staging = _token(books, "U9", at=T0, registry="staging")
    at = T0 + timedelta(minutes=30)
    assert _ids(books, at, registry="staging") == [staging]
    assert _ids(books, at, registry="prod") == prod
    rows, total = books.live.live_at(at, limit=2)
    assert [r.ledger_id for r in rows] == [prod[0], staging] and total == 4  # issued 09:00, id order
    rows, total = books.live.live_at(at, registry="prod", limit=1)
    assert [r.ledger_id for r in rows] == [prod[0]] and total == 3
    assert books.live.live_at(at, registry="nowhere") == ([], 0)


def test_the_approver_and_the_reason_are_kept_with_the_token(books: Books) -> None:
    approved = _token(books, "U1", at=T0, origin=Origin.APPROVAL, approved_by="U0BOSS", reason="training run X")
    glass = _token(books, "U2", at=T0, origin=Origin.BREAK_GLASS, reason='=HYPERLINK("http://x","y")')
    cli = _token(books, "cli:root", at=T0, origin=Origin.CLI)
    rows = {r.ledger_id: r for r in books.live.live_at(T0)[0]}
    assert (rows[approved].origin, rows[approved].approver, rows[approved].reason) == (
        Origin.APPROVAL,
        "U0BOSS",
        "training run X",
    )
    assert (rows[glass].origin, rows[glass].approver) == (Origin.BREAK_GLASS, None)
    assert rows[glass].reason == '=HYPERLINK("http://x","y")'  # kept as typed: the CSV writer guards it
    assert (rows[cli].slack_user, rows[cli].origin, rows[cli].approver, rows[cli].reason) == (
        "cli:root",
        Origin.CLI,
        None,
        None,
    )
    entry = books.ledger.entry(approved)
    assert entry is not None and (entry.approved_by, entry.reason) == ("U0BOSS", "training run X")
