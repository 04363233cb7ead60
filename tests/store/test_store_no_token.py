"""The store never holds a token, nor anything it could be recovered from.

Real tokens are minted by the real engine through the fake cluster (`rok-fort-manage token-create`
prints `secrets.token_urlsafe(32)` values), and go through every path a mint's facts take into the store:
reserve, settle as issued / undelivered / possibly minted with the Minted facts and the audit event the
Slack app builds, a failure with the error's detail, the outbox's claim/retry, the crash sweep. Then every
column of every row of every table is scanned for each token, its SHA-256 and any 16-character piece of
it; on SQLite the database file and its WAL are scanned as bytes too.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from bot.bootstrap import Engine
from bot.domain.audit import AuditEvent, Origin, Outcome
from bot.domain.errors import DeliveryError, ExecTimeout
from bot.domain.ledger import Minted, QuotaRule, TokenStatus
from bot.domain.models import IssuedToken
from bot.store import Store

RULE = QuotaRule(per_hour=100, cooldown=0)


def _needles(token: str) -> list[str]:
    pieces = [token[i : i + 16] for i in range(0, len(token) - 15)]
    return [token, hashlib.sha256(token.encode()).hexdigest(), *pieces]


def _every_value(store: Store) -> list[str]:
    values: list[str] = []
    with store.engine.connect() as conn:
        for table in sa.inspect(conn).get_table_names():
            for row in conn.execute(sa.text(f'SELECT * FROM "{table}"')):
                values += [json.dumps(v, default=str) if isinstance(v, dict | list) else str(v) for v in row]
    return values


def _audit(issued: IssuedToken, outcome: str, request_id: str, *, detail: str | None = None) -> AuditEvent:
    """The event as bot/slack/app.py builds it for an issued token."""
    return AuditEvent(
        outcome=outcome,
        request_id=request_id,
        slack_user="U0JDOE",
        username=issued.username,
        duration_seconds=issued.duration_seconds,
        expires_at=issued.expires_at,
        token_uuid=issued.token_uuid,
        detail=detail,
        command="issue",
        occurred_at=datetime.now(UTC),
    )


def test_no_column_of_any_row_holds_a_token_or_a_piece_or_hash_of_one(store: Store, engine: Engine) -> None:
    now = datetime.now(UTC)
    tokens: list[str] = []
    for n, (status, outcome) in enumerate(
        [
            (TokenStatus.ISSUED, Outcome.ISSUED),
            (TokenStatus.UNDELIVERED, Outcome.UNDELIVERED),
            (TokenStatus.POSSIBLY_MINTED, Outcome.POSSIBLY_MINTED),
        ]
    ):
        reservation = store.ledger.reserve(
            user_id="U0JDOE", team_id="T1", request_id=f"req-{n}", origin=Origin.COMMAND,
            duration_seconds=3600, rule=RULE, now=now,
        )  # fmt: skip
        issued = engine.engine.mint(engine.engine.account("jdoe"), seconds=3600)
        tokens.append(issued.token.reveal())
        minted = Minted(
            rok_user=issued.username,
            account_uuid=issued.account_uuid,
            token_uuid=issued.token_uuid,
            issued_at=now,
            expires_at=issued.expires_at,
        )
        error = DeliveryError(detail="the token was minted but not delivered") if n == 1 else None
        detail = error.detail if error else None
        store.ledger.settle(
            reservation, status=status, minted=minted, event=_audit(issued, outcome, f"req-{n}", detail=detail)
        )
    # A mint that timed out, and one left behind by a crash for the sweep.
    timeout = ExecTimeout(detail="token-create did not finish in 30s").possibly_minted()
    store.outbox.append(
        AuditEvent(
            outcome=timeout.outcome, request_id="req-t", detail=timeout.detail, reason=timeout.kind, occurred_at=now
        )
    )
    store.ledger.reserve(
        user_id="U0JDOE", team_id="T1", request_id="req-crash", origin=Origin.CLI,
        duration_seconds=60, rule=RULE, now=now - timedelta(hours=1),
    )  # fmt: skip
    assert store.sweep(now=now) == 1
    claimed = store.outbox.claim(sink="slack", worker="w", limit=50, lease_seconds=30, now=now)
    store.outbox.retry([c.id for c in claimed], at=now, error="slack: ratelimited")
    store.once.claim("trigger-123", holder="replica-a", now=now, ttl_seconds=60)

    assert len(tokens) == 3 and len(set(tokens)) == 3
    values = _every_value(store)
    assert any("jdoe" in v for v in values), "the scan must see the rows"
    for token in tokens:
        for needle in _needles(token):
            hits = [v for v in values if needle in v]
            assert not hits, f"a token (or a piece or hash of one) is in the store: {len(hits)} value(s)"

    if store.backend == "sqlite":
        database = Path(store.engine.url.database or "")
        blobs = b"".join(p.read_bytes() for p in database.parent.glob(database.name + "*"))
        assert b"jdoe" in blobs
        for token in tokens:
            for needle in _needles(token):
                assert needle.encode() not in blobs
