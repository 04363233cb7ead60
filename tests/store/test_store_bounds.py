"""The store's size is bounded: refusals (anyone can cause them, as many as they like) are kept a week, not the
full retention; the row counts are exported for an alert; the retention runs once as soon as the bot starts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from prometheus_client import REGISTRY

from bot.domain.audit import AuditEvent, Outcome
from bot.settings import SettingsError, load_store_settings
from bot.store import Store, open_store, open_url
from bot.store.schema import audit_events
from sandbox.world import Sandbox

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def _append(store: Store, outcome: str, request_id: str, at: datetime) -> None:
    store.outbox.append(AuditEvent(outcome=outcome, request_id=request_id, slack_user="U1", occurred_at=at))


def _deliver_all(store: Store, now: datetime) -> None:
    for sink in store.outbox.sinks:
        claimed = store.outbox.claim(sink=sink, worker="w", limit=100, lease_seconds=30, now=now)
        store.outbox.delivered([c.id for c in claimed], now=now)


def _request_ids(store: Store) -> set[str]:
    with store.engine.connect() as conn:
        return set(conn.execute(sa.select(audit_events.c.request_id)).scalars())


def test_delivered_refusals_go_after_the_refusal_retention_other_events_after_the_retention(db_url: str) -> None:
    store = open_url(db_url, sinks=("slack",), refusal_retention_seconds=7 * 86400)
    store.upgrade()
    try:
        _append(store, Outcome.REFUSED, "refused-8d", T0)
        _append(store, Outcome.ISSUED, "issued-8d", T0)
        _append(store, Outcome.REFUSED, "refused-6d", T0 + timedelta(days=2))
        _deliver_all(store, T0 + timedelta(days=2))
        _append(store, Outcome.REFUSED, "refused-undelivered", T0)  # the channel has not had it: kept
        pruned = store.prune(now=T0 + timedelta(days=8))
        assert pruned.events == 1
        assert _request_ids(store) == {"issued-8d", "refused-6d", "refused-undelivered"}
    finally:
        store.close()


def test_the_row_counts_are_exported_after_each_retention_pass(store: Store) -> None:
    _append(store, Outcome.ISSUED, "a", T0)
    _append(store, Outcome.REFUSED, "b", T0)
    store.prune(now=T0)
    assert REGISTRY.get_sample_value("rok_bot_store_rows", {"table": "audit_events"}) == 2
    assert REGISTRY.get_sample_value("rok_bot_store_rows", {"table": "audit_outbox"}) == 4  # two sinks each
    assert REGISTRY.get_sample_value("rok_bot_store_rows", {"table": "ledger"}) == 0


def test_the_retention_runs_once_as_soon_as_the_bot_starts(tmp_path: Path) -> None:
    with Sandbox(start_bot=False) as box:
        data_dir = Path(box.env["ROK_BOT_DATA_DIR"])
        old = open_store(url=None, data_dir=data_dir, retention_seconds=90 * 86400, sinks=("slack",))
        old.upgrade()
        long_ago = box.clock.now() - timedelta(days=100)
        _append(old, Outcome.ISSUED, "100-days-old", long_ago)
        _deliver_all(old, long_ago)
        old.close()

        box.start_bot()
        bot = box.idle()
        assert bot.upkeep.settle(10)  # the rounds due at start have run; the clock has not moved
        assert "100-days-old" not in _request_ids(bot.store)


def test_the_refusal_retention_is_a_setting_of_at_least_a_day(
    clean_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert load_store_settings().refusal_retention == 7 * 86400
    monkeypatch.setenv("ROK_BOT_REFUSAL_RETENTION", "30d")
    assert load_store_settings().refusal_retention == 30 * 86400
    monkeypatch.setenv("ROK_BOT_REFUSAL_RETENTION", "1h")
    with pytest.raises(SettingsError, match=r"^ROK_BOT_REFUSAL_RETENTION: must be at least 1d$"):
        load_store_settings()
