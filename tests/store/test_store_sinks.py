"""The audit sinks are a property of the database: the serving bot records them, every writer's events reach them.

An admin's `rok-token-bot issue` runs with a shell that names no audit channel and no webhook; its `issued`
event must still reach both, because the bot that serves this database delivers to them. So the bot records its
sinks at start, and every event appended (by anyone, in any transaction) gets a delivery row per recorded sink.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.domain.audit import AuditEvent, Origin, Outcome
from bot.domain.ledger import Minted, QuotaRule, TokenStatus
from bot.store import Store, open_url

T0 = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
BOT_SINKS = {"slack": "slack:C0AUDIT", "webhook": "webhook"}


def _issued(request_id: str, at: datetime = T0) -> AuditEvent:
    return AuditEvent(outcome=Outcome.ISSUED, request_id=request_id, username="jdoe", occurred_at=at)


def _claimed(store: Store, sink: str, now: datetime = T0) -> list[str]:
    return [c.event.request_id for c in store.outbox.claim(sink=sink, worker="w", limit=10, lease_seconds=30, now=now)]


def test_an_event_appended_by_a_writer_with_no_sink_reaches_the_sinks_the_bot_recorded(db_url: str) -> None:
    bot = open_url(db_url, sinks=tuple(BOT_SINKS))
    bot.upgrade()
    bot.outbox.record_sinks(BOT_SINKS, holder="bot-1", now=T0)
    cli = open_url(db_url, sinks=())  # the admin's shell: no channel, no webhook
    try:
        assert cli.outbox.recorded_sinks() == BOT_SINKS
        cli.outbox.append(_issued("cli-1"))
        assert (_claimed(bot, "slack"), _claimed(bot, "webhook")) == (["cli-1"], ["cli-1"])
    finally:
        cli.close()
        bot.close()


def test_the_ledgers_settle_writes_a_row_for_each_recorded_sink_too(store: Store, db_url: str) -> None:
    store.outbox.record_sinks({"webhook": "webhook"}, holder="bot-1", now=T0)
    cli = open_url(db_url, sinks=())
    try:
        rule = QuotaRule(per_hour=100, cooldown=0)
        reservation = cli.ledger.reserve(
            user_id="cli:root",
            team_id=None,
            request_id="cli-2",
            origin=Origin.CLI,
            duration_seconds=3600,
            rule=rule,
            now=T0,
        )
        minted = Minted(rok_user="jdoe", account_uuid="a1", token_uuid="t1", issued_at=T0, expires_at=T0)
        cli.ledger.settle(reservation, status=TokenStatus.ISSUED, minted=minted, event=_issued("cli-2"))
        assert (_claimed(store, "webhook"), _claimed(store, "slack")) == (["cli-2"], [])
    finally:
        cli.close()


def test_a_new_start_replaces_the_recorded_sinks_and_a_retired_sinks_backlog_is_pruned_with_the_retention(
    store: Store, db_url: str
) -> None:
    store.outbox.record_sinks(BOT_SINKS, holder="bot-1", now=T0)
    store.outbox.append(_issued("before"))
    # The webhook is removed from the bot's settings: the next start records the channel only.
    bot = open_url(db_url, sinks=("slack",))
    try:
        bot.outbox.record_sinks({"slack": "slack:C0AUDIT"}, holder="bot-2", now=T0)
        assert bot.outbox.recorded_sinks() == {"slack": "slack:C0AUDIT"}
        bot.outbox.append(_issued("after"))
        assert _claimed(bot, "webhook") == ["before"]  # what was written for it stays, and nothing new
        slack = bot.outbox.claim(sink="slack", worker="w", limit=10, lease_seconds=30, now=T0)
        bot.outbox.delivered([c.id for c in slack], now=T0)
        # The webhook's undelivered copy no longer holds the event past the retention: nobody will deliver it.
        pruned = bot.prune(now=T0 + timedelta(days=91))
        assert pruned.events == 2
    finally:
        bot.close()
