"""Once-claims: a key (a Slack trigger_id, a reminder, an approval) acts once, whichever replica asks.

`claim` is one statement: `INSERT ... ON CONFLICT (key) DO UPDATE ... WHERE the row has expired
RETURNING key`. The unique key makes the insert win for exactly one caller; a live row makes the update's
WHERE false, so nothing is returned to the others; an expired row is taken over by the first caller after
expiry (PostgreSQL locks the conflicting row, so two callers cannot both take it over; SQLite has one
writer). `prune` deletes expired rows.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from bot.store.db import upsert, writing
from bot.store.schema import once_claims

_KEY_LENGTH = 255


def stored_key(key: str) -> str:
    """The key as stored: itself, or a SHA-256 of it when it is longer than the column."""
    if len(key) <= _KEY_LENGTH:
        return key
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


class SqlOnceClaims:
    """`OnceClaims` on SQLAlchemy (SQLite or PostgreSQL)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def claim(self, key: str, *, holder: str, now: datetime, ttl_seconds: float) -> bool:
        """True for exactly one caller per key within `ttl_seconds`, whichever replica asks."""
        values = {
            "key": stored_key(key),
            "holder": holder[:128],
            "claimed_at": now,
            "expires_at": now + timedelta(seconds=ttl_seconds),
        }
        with writing(self._engine) as conn:
            insert = upsert(conn)
            new = insert(once_claims).values(values)
            stmt = new.on_conflict_do_update(
                index_elements=[once_claims.c.key],
                set_={name: new.excluded[name] for name in ("holder", "claimed_at", "expires_at")},
                where=once_claims.c.expires_at <= now,
            ).returning(once_claims.c.key)
            return conn.execute(stmt).first() is not None

    def prune(self, now: datetime) -> int:
        """Delete expired claims; how many."""
        with writing(self._engine) as conn:
            return conn.execute(sa.delete(once_claims).where(once_claims.c.expires_at <= now)).rowcount
