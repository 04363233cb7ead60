"""The `splunk_hec` webhook with real `serve` processes: each audit event reaches a real HTTP server standing in
for Splunk HEC exactly once, across a restart (SQLite) and with two replicas on one PostgreSQL; a token HEC
refuses (403) is parked, shown as such in /readyz, and never retried in a tight loop.

The replicas run on the sandbox's shared clock: "after the five-minute backoff" is a move of the clock.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from sandbox import slack_requests as sr
from sandbox.clock import SharedClock
from sandbox.hec import FakeHec
from sandbox.world import SIGNING_SECRET, Replica, Sandbox

HEC_TOKEN = "6d2f5a1c-8b3e-4f0a-9c7d-2e1b0a9f8c7d"
USERS = ("U0JDOE", "U0ALICE", "U0BOB")


@pytest.fixture
def hec() -> Iterator[FakeHec]:
    with FakeHec(HEC_TOKEN) as server:
        yield server


def _spawn(box: Sandbox, hec: FakeHec, *, db: str = "", log_level: str = "INFO") -> Replica:
    """A `serve` replica whose webhook is the fake HEC (on PostgreSQL when `db` is given)."""
    url, fmt = hec.url, "splunk_hec"
    if db:
        return box.spawn(
            ROK_BOT_AUDIT_WEBHOOK_URL=url,
            ROK_BOT_AUDIT_WEBHOOK_SECRET=HEC_TOKEN,
            ROK_BOT_AUDIT_WEBHOOK_FORMAT=fmt,
            ROK_BOT_LOG_LEVEL=log_level,
            ROK_BOT_DATABASE_URL=db,
        )
    return box.spawn(
        ROK_BOT_AUDIT_WEBHOOK_URL=url,
        ROK_BOT_AUDIT_WEBHOOK_SECRET=HEC_TOKEN,
        ROK_BOT_AUDIT_WEBHOOK_FORMAT=fmt,
        ROK_BOT_LOG_LEVEL=log_level,
    )


def _issue(box: Sandbox, replica: Replica, user_id: str) -> None:
    """A signed /rok-token 1h to one replica, and the token's private message."""
    fields = sr.slash_command(
        user_id=user_id, text="1h", team_id=box.slack.team_id, response_url=box.slack.new_response_url()
    )
    before = len(box.private_messages(user_id))
    response = sr.signed_post(replica.url + "/slack/events", sr.form_body(fields), SIGNING_SECRET, client=box._http)
    assert response.status_code == 200
    box.wait_private(user_id, count=before + 1, timeout=30)


def _parked_with(checks: dict[str, Any], *, backlog: int) -> dict[str, Any] | None:
    """/readyz's checks once the webhook is parked with `backlog` events waiting; None before."""
    parked = str(checks["audit_webhook"]).startswith("parked: ") and checks["audit_webhook_backlog"] == backlog
    return checks if parked else None


def _readyz(replica: Replica) -> dict[str, Any]:
    checks: dict[str, Any] = httpx.get(replica.url + "/readyz", timeout=5).json()["checks"]
    return checks


def _sqlite_url(box: Sandbox) -> str:
    return f"sqlite:///{Path(box.env['ROK_BOT_DATA_DIR']) / 'rok-token-bot.sqlite3'}"


def _no_delivery_under_way(box: Sandbox, url: str, *, started: int) -> None:
    """Wait until every event the test caused is written (each minted token's `issued`, each replica's
    `started`) and each of the webhook's waiting events was tried and given back (none new, none claimed, so no
    POST in flight), before the clock jumps five minutes.

    A claim's lease (60 s) outlives any POST in real time, but a jump of the clock does not: a replica whose
    POST was under way when the test moved the clock 301 s would lose its lease, and the other replica would
    send the same events again. Real time does not jump; the test waits for the replicas to be still."""
    engine = sa.create_engine(url)
    query = sa.text(
        "SELECT (SELECT count(*) FROM audit_events WHERE outcome = 'issued'),"
        " (SELECT count(*) FROM audit_events WHERE outcome = 'started'),"
        " (SELECT count(*) FROM audit_outbox WHERE sink = 'webhook' AND delivered_at IS NULL"
        "  AND (attempts = 0 OR claimed_by IS NOT NULL))"
    )
    expected = (len(box.rok.minted), started, 0)
    try:

        def still() -> bool:
            with engine.connect() as conn:
                return tuple(conn.execute(query).one()) == expected

        box.slack.wait_for(lambda: still() or None, 20)
    finally:
        engine.dispose()


def _nudging(box: Sandbox, done: Callable[[], bool]) -> None:
    """Wait until `done()`, moving the shared clock 2 s at a time when it is not.

    A replica's sender that finished its round just as the test moved the clock starts its 2-second poll on
    the new time, and on a clock that stands still it would wait for ever; real time keeps moving. 20 steps
    at most: 40 s, less than a claim's 60-second lease, so no nudge hands a batch under way to the other
    replica."""
    for _ in range(20):
        try:
            box.slack.wait_for(lambda: done() or None, 1)
            return
        except TimeoutError:
            box.advance(2)
    box.slack.wait_for(lambda: done() or None, 5)


def _delivered_once(box: Sandbox, hec: FakeHec) -> dict[str, int]:
    """Every minted token's `issued` event, and how many times HEC indexed it (waits until each is there)."""
    uuids = [m.token_uuid for m in box.rok.minted]
    assert len(uuids) == len(set(uuids)) and all(uuids)

    def counts() -> dict[str, int]:
        issued = collections.Counter(e["token_uuid"] for e in hec.events if e["outcome"] == "issued")
        return {u: issued[u] for u in uuids}

    _nudging(box, lambda: all(counts().values()))
    return counts()


def _assert_no_duplicates(hec: FakeHec) -> None:
    ids = collections.Counter(e["event_id"] for e in hec.events)
    assert [i for i, n in ids.items() if n > 1] == []  # not one event indexed twice, of any kind
    assert all(h["source"] == "rok-token-bot" and h["sourcetype"] == "rok-token-bot:audit" for h in hec.accepted)


def test_a_refused_hec_token_is_parked_then_each_event_is_indexed_once_after_a_restart(
    hec: FakeHec, tmp_path: Path
) -> None:
    """The collector does not know the bot's token (403, code 4): the sink is parked, /readyz says so, the bot
    tries again only every five minutes, and tokens are still issued. The admin fixes the token at the collector
    and restarts the bot on the same SQLite file: every event written meanwhile is indexed exactly once."""
    hec.token = "the-collector-knows-another-token-only"
    with Sandbox(start_bot=False, clock=SharedClock.create(tmp_path)) as box:
        first = _spawn(box, hec)
        for user in USERS:
            _issue(box, first, user)
        # Every event so far (started, three issued) tried once and given back: /readyz says parked.
        checks = box.slack.wait_for(lambda: _parked_with(_readyz(first), backlog=4) or {}, 20)
        assert (
            checks["audit_webhook"] == "parked: HTTP 403, HEC code 4 (invalid token); retried every 300 s until fixed"
        )
        refused = len(hec.posts)
        time.sleep(0.5)  # the replica's sender polls every 2 s of its clock: the shared clock has not moved
        box.advance(60)
        time.sleep(0.5)
        assert len(hec.posts) == refused, "a parked sink was retried before its five minutes"
        assert first.terminate() == 0
        assert hec.accepted == [] and HEC_TOKEN not in first.stderr

        hec.token = HEC_TOKEN  # fixed at the collector
        second = _spawn(box, hec)
        _no_delivery_under_way(box, _sqlite_url(box), started=2)
        box.advance(301)  # past the parked events' five minutes
        assert _delivered_once(box, hec) == dict.fromkeys([m.token_uuid for m in box.rok.minted], 1)
        _nudging(box, lambda: _readyz(second)["audit_webhook_backlog"] == 0)
        assert _readyz(second)["audit_webhook"] == "ok"
        assert second.terminate() == 0
        _assert_no_duplicates(hec)
        outcomes = collections.Counter(e["outcome"] for e in hec.events)
        assert (outcomes["started"], outcomes["issued"]) == (2, 3)


@pytest.mark.postgres
def test_two_replicas_on_postgresql_index_each_event_once_after_hec_was_busy(
    new_postgres_url: Callable[[], str], hec: FakeHec, tmp_path: Path
) -> None:
    """HEC answers 503 (server is busy) while both replicas issue tokens; once it recovers, the two senders
    race for the same outbox: every event is indexed once, none twice."""
    db = new_postgres_url()
    hec.plan.extend([(503, 9)] * 1000)  # busy until the test says otherwise
    with Sandbox(start_bot=False, clock=SharedClock.create(tmp_path)) as box:
        replicas = [_spawn(box, hec, db=db) for _ in range(2)]
        for n, user in enumerate(USERS * 2):
            _issue(box, replicas[n % 2], user)
        _no_delivery_under_way(box, db, started=2)
        hec.plan.clear()  # HEC recovers: every POST from now on is indexed, none is given back to wait again
        box.advance(301)  # past the longest backoff of the failed posts
        assert _delivered_once(box, hec) == dict.fromkeys([m.token_uuid for m in box.rok.minted], 1)
        for replica in replicas:
            assert replica.terminate() == 0
        _assert_no_duplicates(hec)
        outcomes = collections.Counter(e["outcome"] for e in hec.events)
        assert (outcomes["started"], outcomes["issued"], outcomes["stopped"]) == (2, 6, 2)
        assert 9 in hec.answers  # the outage happened


def test_serve_at_debug_never_logs_the_hec_token_it_sends(hec: FakeHec, tmp_path: Path) -> None:
    """The HEC token travels in every POST's Authorization header; at DEBUG (httpx and httpcore log each
    request), neither the log, /readyz nor /metrics holds it, though it is shaped like the UUIDs the log
    keeps visible."""
    with Sandbox(start_bot=False) as box:
        replica = _spawn(box, hec, log_level="DEBUG")
        box.slack.wait_for(lambda: hec.events, 30)  # the `started` event, indexed
        box.slack.wait_for(lambda: _readyz(replica)["audit_webhook_backlog"] == 0 or None, 30)
        ready = _readyz(replica)
        metrics = httpx.get(replica.url + "/metrics", timeout=5).text
        assert replica.terminate() == 0
    assert hec.posts[0][0]["Authorization"] == f"Splunk {HEC_TOKEN}"
    assert ready["audit_webhook"] == "ok" and HEC_TOKEN not in str(ready) and HEC_TOKEN not in metrics
    assert '"level": "debug"' in replica.stderr and HEC_TOKEN not in replica.stderr
