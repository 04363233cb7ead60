"""What the webhook sink's tests share: a store whose outbox feeds the webhook, a manual clock, a receiver."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.runtime.clock import ManualClock
from bot.store import Store, open_url
from sandbox.siem import FakeSiem

SECRET = "siem-webhook-secret-0123456789"  # the webhook's signing secret (16+ characters, as the settings want)
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def open_webhook_store(path: Path) -> Store:
    """A SQLite store at `path`, migrated, whose outbox has the webhook as its one sink."""
    store = open_url(f"sqlite:///{path}", sinks=("webhook",))
    store.upgrade()
    return store


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "rok-token-bot.sqlite3"


@pytest.fixture
def store(db: Path) -> Iterator[Store]:
    opened = open_webhook_store(db)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def receiver() -> Iterator[FakeSiem]:
    with FakeSiem(SECRET) as siem:
        yield siem
