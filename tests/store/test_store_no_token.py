"""The store never holds a token, nor anything it could be recovered from.

Real tokens are minted by the real engine through the fake cluster (`rok-fort-manage token-create`
prints `secrets.token_urlsafe(32)` values), and go through every path a mint's facts take into the store:
reserve, settle as issued / undelivered / possibly minted with the Minted facts and the audit event the
Slack app builds, a failure with the error's detail, the outbox's claim/retry, the crash sweep. Then every
column of every row of every table is scanned for each token, its SHA-256 and any 16-character piece of
it; on SQLite the database file and its WAL are scanned as bytes too.

A token users paste where they type (a command's reason, a break-glass reason, an approver's note) is
masked before it is stored or posted: the last test checks the store, both channels and a SIEM webhook.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from aiohttp import web

from bot.bootstrap import Engine
from bot.domain.audit import AuditEvent, Origin, Outcome
from bot.domain.errors import DeliveryError, ExecTimeout
from bot.domain.ledger import Minted, QuotaRule, TokenStatus
from bot.domain.models import IssuedToken
from bot.store import Store
from sandbox.aio import ServerThread
from sandbox.hec import split_objects
from sandbox.world import REASONS_POLICY, Sandbox

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


# -- a token pasted where users type: reasons and notes ------------------------------------------------


class _Siem:
    """A SIEM's webhook receiver on this machine: every body it was sent."""

    def __init__(self) -> None:
        self.bodies: list[str] = []
        app = web.Application()
        app.router.add_post("/events", self._receive)
        self._server = ServerThread(app, name="fake-siem")

    async def _receive(self, request: web.Request) -> web.Response:
        self.bodies.append(await request.text())
        return web.json_response({"text": "Success", "code": 0})  # Splunk HEC's success; any 2xx for the others

    def __enter__(self) -> _Siem:
        self._server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop()

    @property
    def url(self) -> str:
        return self._server.url + "/events"


def _token_of(box: Sandbox, user_id: str) -> str:
    """A live token of the user's, as they would copy it from their private message."""
    before = len(box.private_messages(user_id))
    box.slash(user_id, "1h")
    token = box.wait_private(user_id, count=before + 1)[-1].token
    assert token is not None
    return token


@pytest.mark.parametrize("fmt", ["rok", "jsonl", "splunk_hec"])
def test_a_token_pasted_into_a_reason_or_a_note_reaches_no_store_channel_nor_webhook(fmt: str) -> None:
    """A command's reason (an approval request), a break-glass reason and an approver's note, each with a
    live token pasted in: the token (or a piece or hash of it) is in no row of the store, no post to the
    approvals or audit channel, and no body the SIEM webhook received, in each of its formats."""
    with _Siem() as siem:
        settings = {
            "ROK_BOT_AUDIT_WEBHOOK_URL": siem.url,
            "ROK_BOT_AUDIT_WEBHOOK_SECRET": "s" * 32,
            "ROK_BOT_AUDIT_WEBHOOK_FORMAT": fmt,
        }
        with Sandbox(policy=REASONS_POLICY, settings=settings) as box:
            box.slack.usergroups["S0ONCALL"] = ["U0ALICE"]
            pasted = [_token_of(box, user) for user in ("U0JDOE", "U0ALICE", "U0BOB")]
            box.slash("U0JDOE", f"14d my token {pasted[0]} expires too soon")
            request = box.wait_approval_request()
            box.slash("U0ALICE", f'2h --break-glass "incident 4711, old token {pasted[1]} revoked"')
            box.wait_private("U0ALICE", count=2)
            box.decide("U0BOB", request, approve=False, note=f"use this one instead: {pasted[2]}")
            for outcome in ("approval_requested", "break_glass", "denied"):
                box.wait_audit(outcome)
            box.slack.wait_for(lambda: sum(body.count('"outcome"') for body in siem.bodies) >= 6, 10)

            assert box.server is not None
            store: Store = box.server.bot.store
            values = _every_value(store)
            assert any("incident 4711" in v for v in values), "the scan must see the reasons"
            places: dict[str, str | bytes] = {
                "store": "\n".join(values),
                "approvals channel": json.dumps([c.params for c in box.approval_posts()]),
                "audit channel": json.dumps([c.params for c in box.audit_posts()]),
                "webhook": "\n".join(siem.bodies),
            }
            assert "incident 4711" in places["webhook"] and "incident 4711" in places["approvals channel"]
            assert all(_shaped(fmt, body) for body in siem.bodies), f"the webhook's bodies are not {fmt}"
            if store.backend == "sqlite":  # the file and its WAL, as bytes
                database = Path(store.engine.url.database or "")
                places["database file"] = b"".join(p.read_bytes() for p in database.parent.glob(database.name + "*"))
            for token in pasted:
                for needle in _needles(token):
                    found = [where for where, said in places.items() if _holds(said, needle)]
                    assert not found, f"a pasted token (or a piece or hash of one) reached: {found}"


def _shaped(fmt: str, body: str) -> bool:
    """Whether a webhook body is of its format: the scan above reads the bodies as sent, whatever their shape."""
    if fmt == "rok":
        return isinstance(json.loads(body)["events"], list)
    if fmt == "jsonl":
        return all("outcome" in json.loads(line) for line in body.splitlines())
    return all(o["sourcetype"] == "rok-token-bot:audit" and "outcome" in o["event"] for o in split_objects(body))


def _holds(said: str | bytes, needle: str) -> bool:
    return needle.encode() in said if isinstance(said, bytes) else needle in said
