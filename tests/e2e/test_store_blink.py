"""PostgreSQL restarts while a token is being minted (issue 21, finding 2; the review's r02): nothing is lost.

The real bot (in process, on the sandbox's manual clock) on a PostgreSQL server of the test's own, which is
stopped while the fake cluster holds `token-create` and started again after the token was delivered. The
user gets the token once and never hears that something went wrong; once the database is back and the clock
moves on, the ledger row is `issued` with the token's UUID, the outbox holds one `issued` event, and the
audit channel posts it. The token is in no row and no log line.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest
import sqlalchemy as sa

from bot.domain.audit import Outcome
from bot.domain.ledger import TokenStatus
from bot.domain.ports import TokenQuery
from bot.store import open_url
from bot.store.ledger import UNCONFIRMED_REASON
from sandbox import slack_requests as sr
from sandbox.world import SIGNING_SECRET, Sandbox
from tests.store.pgserver import PostgresServer


@pytest.fixture
def own_postgres() -> Iterator[PostgresServer]:
    """A server this test may stop and start (the session's shared one serves other tests)."""
    server = PostgresServer.start()
    if server is None:
        pytest.skip("needs the PostgreSQL server binaries (a server of its own, to restart)")
    try:
        yield server
    finally:
        server.stop()


def _every_value(url: str) -> str:
    engine = sa.create_engine(url)
    try:
        values: list[str] = []
        with engine.connect() as conn:
            for table in sa.inspect(conn).get_table_names():
                for row in conn.execute(sa.text(f'SELECT * FROM "{table}"')):
                    values += [json.dumps(v, default=str) if isinstance(v, dict | list) else str(v) for v in row]
        return "\n".join(values)
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_postgresql_restarted_during_token_create_loses_nothing(
    own_postgres: PostgresServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)  # the bot's own levels (slack_sdk's DEBUG would echo request bodies)
    caplog.set_level(logging.DEBUG, logger="bot")
    url = own_postgres.url
    with Sandbox(settings={"ROK_BOT_DATABASE_URL": url}) as box:
        hold = threading.Event()
        box.rok.hold = hold
        status, _, response_url = box.slash("U0JDOE", "1h")
        assert status == 200
        box.slack.wait_for(lambda: [e for e in box.kube.execs if "token-create" in e.argv], 10)
        own_postgres.pause()  # the database goes away while token-create runs
        hold.set()
        (reply,) = box.wait_private("U0JDOE")
        bot = box.idle()
        (minted,) = box.rok.minted
        assert reply.token == minted.token
        told = [r.text for r in box.replies_to(response_url)] + [r.text for r in box.wait_private("U0JDOE")]
        assert not [text for text in told if "went wrong" in text], told
        assert len(box.private_messages("U0JDOE")) == 1  # the token, and nothing after it

        own_postgres.resume()
        box.advance(2)  # the upkeep's retry round: the settle lands
        engine = sa.create_engine(url)
        try:
            with engine.connect() as conn:
                rows = conn.execute(sa.text("SELECT status, token_uuid, expires_at FROM ledger")).all()
                outcomes = conn.execute(sa.text("SELECT outcome FROM audit_events ORDER BY id")).scalars().all()
        finally:
            engine.dispose()
        assert [(r.status, r.token_uuid) for r in rows] == [("issued", minted.token_uuid)]
        assert rows[0].expires_at is not None
        assert outcomes.count("issued") == 1 and "failed" not in outcomes and "possibly_minted" not in outcomes
        assert bot.flush_audit(10)
        issued = box.audit_lines("issued")
        assert sum(minted.token_uuid in line.ids for line in issued) == 1

        box.advance(11 * 60)  # past the crash sweep's ten minutes: nothing left for it
        assert "possibly_minted" not in box.audit_posts().__repr__()
        assert minted.token not in _every_value(url)
    leaks = [(r.name, r.levelname, r.getMessage()[:200]) for r in caplog.records if minted.token in r.getMessage()]
    assert minted.token not in caplog.text, leaks
    assert "ledger write failed after the mint" in caplog.text


def test_a_bot_killed_after_the_mint_leaves_the_uuid_and_the_sweep_names_it_unconfirmed() -> None:
    with Sandbox(start_bot=False) as box:
        replica = box.spawn(ROK_BOT_LOG_LEVEL="WARNING")
        url = f"sqlite:///{box.env['ROK_BOT_DATA_DIR']}/rok-token-bot.sqlite3"
        hold = threading.Event()
        box.rok.hold = hold
        fields = sr.slash_command(
            user_id="U0JDOE", text="1h", team_id=box.slack.team_id, response_url=box.slack.new_response_url()
        )
        body = sr.form_body(fields)
        assert sr.signed_post(replica.url + "/slack/events", body, SIGNING_SECRET).status_code == 200
        box.slack.wait_for(lambda: [e for e in box.kube.execs if "token-create" in e.argv], 10)
        box.slack.latency = 30.0  # Slack hangs: the delivery is under way when the bot is killed
        hold.set()
        store = open_url(url)
        try:
            row = box.slack.wait_for(
                lambda: [e for e in store.ledger.tokens(TokenQuery()) if e.status is TokenStatus.MINTED], 10
            )[0]
            replica.kill()  # SIGKILL: no drain, no settle
            box.slack.latency = 0.0
            (minted,) = box.rok.minted
            assert row.token_uuid == minted.token_uuid and row.expires_at is not None

            assert store.sweep(now=row.reserved_at + timedelta(minutes=11)) == 1
            entry = store.ledger.entry(row.id)
            assert entry is not None and entry.status is TokenStatus.UNCONFIRMED
            assert entry.token_uuid == minted.token_uuid
            later = row.reserved_at + timedelta(minutes=11)
            claimed = store.outbox.claim(sink="slack", worker="t", limit=10, lease_seconds=30, now=later)
            (event,) = [c.event for c in claimed if c.event.request_id == row.request_id]
            assert (event.outcome, event.token_uuid, event.reason) == (
                Outcome.UNCONFIRMED,
                minted.token_uuid,
                UNCONFIRMED_REASON,
            )
            assert minted.token not in _every_value(url)
        finally:
            store.close()
