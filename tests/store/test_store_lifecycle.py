"""The ledger's part in a token's life in Slack: a row renewed once, a reminder claimed once, on SQLite and
PostgreSQL, by threads that race (the migration 0002 is covered by the schema comparison in
test_store_migrations.py)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from bot.domain.audit import AuditEvent, Origin, Outcome
from bot.domain.errors import RenewRefused
from bot.domain.ledger import Minted, QuotaRule, TokenStatus
from bot.domain.ports import Reservation, TokenQuery
from bot.store import Store
from bot.store.admin import token_record

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
MANY = QuotaRule(per_hour=100, cooldown=0)


def _issue(
    store: Store,
    user: str = "U1",
    *,
    seconds: int = 3600,
    at: datetime = T0,
    renewed_from: int | None = None,
    uuid: str | None = None,
) -> int:
    """A settled, issued row of `seconds` from `at`; its ID."""
    reservation = store.ledger.reserve(
        user_id=user,
        team_id="T1",
        request_id=f"r-{user}-{at.timestamp():.0f}-{renewed_from}",
        origin=Origin.RENEW if renewed_from else Origin.COMMAND,
        duration_seconds=seconds,
        rule=MANY,
        now=at,
        renewed_from=renewed_from,
    )
    minted = Minted(
        "jdoe", "acc", uuid or f"{reservation.id:08d}-0000-4000-8000-000000000000", at, at + timedelta(seconds=seconds)
    )
    store.ledger.settle(
        reservation,
        status=TokenStatus.ISSUED,
        minted=minted,
        event=AuditEvent(outcome=Outcome.ISSUED, request_id="r", occurred_at=at),
    )
    return reservation.id


def test_a_renewal_names_the_row_it_renews_and_a_row_is_renewed_once(store: Store) -> None:
    old = _issue(store)
    new = _issue(store, at=T0 + timedelta(minutes=50), renewed_from=old)
    entry = store.ledger.entry(new)
    assert entry is not None and entry.renewed_from == old and entry.origin is Origin.RENEW
    renewal = store.ledger.renewal_of(old)
    assert renewal is not None and renewal.id == new
    assert store.ledger.renewal_of(new) is None
    with pytest.raises(RenewRefused, match="renewed already: the new one is `00000002`"):
        _issue(store, at=T0 + timedelta(minutes=51), renewed_from=old)
    assert store.ledger.entry(999) is None
    # The admin CLI's JSON lines carry the link.
    assert (token_record(entry)["id"], token_record(entry)["renewed_from"]) == (new, old)


def test_a_released_renewal_gives_the_renewal_back(store: Store) -> None:
    """A refused or failed renewal (nothing minted) deletes its row: the token can be renewed again."""
    old = _issue(store)
    reservation: Reservation = store.ledger.reserve(
        user_id="U1", team_id="T1", request_id="x", origin=Origin.RENEW, duration_seconds=3600, rule=MANY,
        now=T0, renewed_from=old,
    )  # fmt: skip
    with pytest.raises(RenewRefused, match="request x"):
        _issue(store, at=T0 + timedelta(seconds=1), renewed_from=old)
    store.ledger.release(reservation)
    _issue(store, at=T0 + timedelta(seconds=2), renewed_from=old)


def test_eight_threads_renewing_one_token_mint_one(store: Store) -> None:
    old = _issue(store)
    barrier = threading.Barrier(8)
    outcomes: list[str] = [""] * 8

    def renew(n: int) -> None:
        barrier.wait()
        try:
            store.ledger.reserve(
                user_id="U1", team_id="T1", request_id=f"t{n}", origin=Origin.RENEW, duration_seconds=3600,
                rule=MANY, now=datetime.now(UTC), renewed_from=old,
            )  # fmt: skip
            outcomes[n] = "ok"
        except RenewRefused:
            outcomes[n] = "refused"

    threads = [threading.Thread(target=renew, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["ok"] + ["refused"] * 7


def test_due_reminders_are_live_unreminded_unrenewed_slack_rows_expiring_within_the_lead(store: Store) -> None:
    now = T0 + timedelta(minutes=30)
    soon = _issue(store, seconds=3600)  # expires at T0+1h: 30 minutes from now
    later = _issue(store, "U2", seconds=5 * 3600)  # 4.5 h from now: outside a 1 h lead
    gone = _issue(store, "U3", seconds=600)  # expired at T0+10m
    renewed = _issue(store, "U4", seconds=3600)
    _issue(store, "U4", at=T0 + timedelta(minutes=20), renewed_from=renewed, seconds=5 * 3600)
    admin = store.ledger.reserve(
        user_id="cli:root", team_id=None, request_id="c", origin=Origin.CLI, duration_seconds=3600, rule=MANY, now=T0
    )
    store.ledger.settle(
        admin,
        status=TokenStatus.ISSUED,
        minted=Minted("jdoe", "acc", "cli-token", T0, T0 + timedelta(hours=1)),
        event=AuditEvent(outcome=Outcome.ISSUED, request_id="c", occurred_at=T0),
    )
    due = store.ledger.due_reminders(now=now, lead=3600, limit=10)
    assert [e.id for e in due] == [soon]
    assert later not in [e.id for e in store.ledger.due_reminders(now=now, lead=3600, limit=10)]
    assert gone not in [e.id for e in store.ledger.due_reminders(now=now, lead=86400, limit=10)]
    # The renewing row (U4's second) is due too, once its own time comes.
    assert len(store.ledger.due_reminders(now=now, lead=86400, limit=10)) == 3
    assert store.ledger.due_reminders(now=now, lead=86400, limit=1)[0].id == soon


def test_a_reminder_is_claimed_once_and_its_message_is_recorded(store: Store) -> None:
    row = _issue(store)
    now = T0 + timedelta(minutes=30)
    assert store.ledger.claim_reminder(row, now=now)
    assert not store.ledger.claim_reminder(row, now=now)
    assert store.ledger.due_reminders(now=now, lead=3600, limit=10) == []
    store.ledger.reminder_posted(row, channel="D0123", ts="1700000000.000100")
    entry = store.ledger.entry(row)
    assert entry is not None
    assert (entry.reminded_at, entry.reminder_channel, entry.reminder_ts) == (now, "D0123", "1700000000.000100")


def test_no_reminder_is_claimed_for_an_expired_or_renewed_token(store: Store) -> None:
    expired = _issue(store, seconds=600)
    assert not store.ledger.claim_reminder(expired, now=T0 + timedelta(minutes=10))
    renewed = _issue(store, "U2")
    _issue(store, "U2", at=T0 + timedelta(minutes=1), renewed_from=renewed)
    assert not store.ledger.claim_reminder(renewed, now=T0 + timedelta(minutes=2))


def test_eight_threads_claiming_one_reminder_one_wins(store: Store) -> None:
    row = _issue(store)
    barrier = threading.Barrier(8)
    wins: list[bool] = []
    lock = threading.Lock()

    def claim() -> None:
        barrier.wait()
        won = store.ledger.claim_reminder(row, now=T0 + timedelta(minutes=59))
        with lock:
            wins.append(won)

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(wins) == [False] * 7 + [True]


def test_a_database_at_0001_with_tokens_upgrades_to_0002_and_back(db_url: str) -> None:
    """Revision 0002 adds nullable columns: an existing installation's rows keep their meaning, and the
    downgrade returns the ledger to its first shape."""
    import sqlalchemy as sa
    from alembic import command

    from bot.store import open_url
    from bot.store.db import writing
    from bot.store.migrate import _config
    from bot.store.schema import HEAD_REVISION, ledger

    store = open_url(db_url)
    try:

        def migrate(target: str, *, down: bool = False) -> None:
            with writing(store.engine) as conn:
                config = _config()
                config.attributes["connection"] = conn
                (command.downgrade if down else command.upgrade)(config, target)

        migrate("0001")
        with store.engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO ledger (request_id, user_id, duration_seconds, origin, status, reserved_at) "
                    "VALUES ('old', 'U1', 60, 'command', 'issued', :now)"
                ),
                {"now": T0.replace(tzinfo=None) if store.backend == "sqlite" else T0},
            )
        assert store.upgrade() == HEAD_REVISION  # through 0002 (and any later revision)
        (entry,) = store.ledger.tokens(TokenQuery())
        assert (entry.request_id, entry.renewed_from, entry.reminded_at) == ("old", None, None)
        migrate("0001", down=True)
        columns = {c["name"] for c in sa.inspect(store.engine).get_columns(ledger.name)}
        assert "renewed_from" not in columns and "reserved_at" in columns
    finally:
        store.close()
