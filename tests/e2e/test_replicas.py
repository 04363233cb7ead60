"""Several real `serve` processes on one database: the quota, "exactly once" and the audit trail hold for
the installation, across replicas and restarts (PostgreSQL for replicas; SQLite for one replica's restart)."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from sandbox import slack_requests as sr
from sandbox.clock import SharedClock
from sandbox.world import SIGNING_SECRET, Replica, Sandbox

QUOTA_3 = "limits: {default: 24h, min: 5m, max: 7d}\nquota: {per_hour: 3, cooldown: 0}\n"


def _slash(box: Sandbox, replica: Replica, user_id: str, text: str = "1h") -> tuple[str, str]:
    """A signed /rok-token body for one replica, and its response_url."""
    url = box.slack.new_response_url()
    fields = sr.slash_command(user_id=user_id, text=text, team_id=box.slack.team_id, response_url=url)
    return sr.form_body(fields), url


def _post(box: Sandbox, replica: Replica, body: str) -> int:
    return sr.signed_post(replica.url + "/slack/events", body, SIGNING_SECRET, client=box._http).status_code


def _scan_for(url: str, secrets: list[str]) -> list[str]:
    """Every table and column of the database that holds one of the secrets (or a 16-character piece of one)."""
    pieces = {s[i : i + 16] for s in secrets for i in range(0, max(len(s) - 15, 1), 8)}
    engine = sa.create_engine(url)
    found: list[str] = []
    try:
        meta = sa.MetaData()
        meta.reflect(engine)
        with engine.connect() as conn:
            for table in meta.sorted_tables:
                for row in conn.execute(sa.select(table)):
                    for column, value in row._mapping.items():
                        if any(p in str(value) for p in pieces):
                            found.append(f"{table.name}.{column}")
    finally:
        engine.dispose()
    return found


@pytest.mark.postgres
def test_two_replicas_on_one_postgresql_never_exceed_the_quota(
    new_postgres_url: Callable[[], str], tmp_path: Path
) -> None:
    """8 concurrent /rok-token from one user with quota 3/h, spread over two replicas: exactly 3 minted."""
    db = new_postgres_url()
    with Sandbox(start_bot=False, policy=QUOTA_3, clock=SharedClock.create(tmp_path)) as box:
        replicas = [box.spawn(ROK_BOT_DATABASE_URL=db), box.spawn(ROK_BOT_DATABASE_URL=db)]
        requests = [(replicas[i % 2], *_slash(box, replicas[i % 2], "U0JDOE")) for i in range(8)]
        start = threading.Barrier(len(requests))
        codes: list[int] = []

        def send(replica: Replica, body: str) -> None:
            start.wait()
            codes.append(_post(box, replica, body))

        threads = [threading.Thread(target=send, args=(r, body)) for r, body, _ in requests]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert codes == [200] * 8
        box.wait_private("U0JDOE", count=3, timeout=30)
        refusals = box.slack.wait_for(
            lambda: (
                [r for _, _, url in requests for r in box.replies_to(url) if "3 tokens in the last hour" in r.text]
                if sum(bool(box.replies_to(url)) for _, _, url in requests) >= 5
                else []
            ),
            30,
        )
        assert len(refusals) == 5
        minted = [m for m in box.rok.minted if m.username == "jdoe"]
        assert len(minted) == 3
        assert len(box.private_messages("U0JDOE")) == 3
        # Refusals linger 5 s to merge, on the replicas' clock; a replica records one just after its answer,
        # so the clock moves on until all five are due.
        for _ in range(30):
            box.advance(6)
            with contextlib.suppress(TimeoutError):
                box.wait_audit("refused", count=5, timeout=1)
                break
        assert box.audit_count("refused") == 5
        # The ledger has the 3 tokens by UUID, and no column of any row holds a token or a piece of one.
        assert _scan_for(db, [m.token for m in minted]) == []
        for replica in replicas:
            assert replica.terminate() == 0


@pytest.mark.postgres
def test_the_same_request_to_both_replicas_acts_once(new_postgres_url: Callable[[], str]) -> None:
    """A signed command replayed to the other replica (its in-memory guard has not seen it): one token."""
    db = new_postgres_url()
    with Sandbox(start_bot=False) as box:
        a, b = box.spawn(ROK_BOT_DATABASE_URL=db), box.spawn(ROK_BOT_DATABASE_URL=db)
        body, _ = _slash(box, a, "U0JDOE")
        assert _post(box, a, body) == 200
        assert _post(box, b, body) == 200
        box.wait_private("U0JDOE")
        box.wait_audit("issued")
        assert a.terminate() == 0 and b.terminate() == 0  # both drained: nothing else was in flight
        assert len(box.rok.minted) == 1
        assert len(box.private_messages("U0JDOE")) == 1


def _outage_then_recovery(box: Sandbox, first: Replica, restart: Callable[[], list[Replica]]) -> None:
    """Tokens issued while the audit channel answers 500; the replica stops; replicas start with Slack
    healthy: every missed event is posted exactly once."""
    box.wait_audit("started")  # posted before the outage (its post may come after the replica says it listens)
    before = [c for c in box.audit_posts() if c.ok]
    box.slack.fail("chat.postMessage", error="internal_error", http_status=500)
    for user in ("U0JDOE", "U0ALICE", "U0BOB"):
        body, _ = _slash(box, first, user)
        assert _post(box, first, body) == 200
        box.wait_private(user)
    assert first.terminate() == 0
    assert [c for c in box.audit_posts() if c.ok] == before
    box.slack.clear_faults()
    replicas = restart()
    box.advance(301)  # past the longest backoff (5 minutes) of the deliveries that failed
    uuids = [m.token_uuid for m in box.rok.minted]
    assert len(uuids) == 3 and all(uuids)

    def posted() -> dict[str, int]:
        lines = box.audit_lines("issued")
        return {u: sum(u in ln.ids for ln in lines) for u in uuids}

    box.slack.wait_for(lambda: all(posted().values()), 60)
    for replica in replicas:
        assert replica.terminate() == 0
    assert posted() == dict.fromkeys(uuids, 1)
    assert box.audit_count("stopped") == 1 + len(replicas)


def test_audit_events_missed_during_an_outage_are_posted_once_after_a_restart(tmp_path: Path) -> None:
    # The default store: an SQLite file, one replica.
    with Sandbox(start_bot=False, clock=SharedClock.create(tmp_path)) as box:
        _outage_then_recovery(box, box.spawn(), lambda: [box.spawn()])


@pytest.mark.postgres
def test_two_replicas_post_each_missed_audit_event_once(new_postgres_url: Callable[[], str], tmp_path: Path) -> None:
    db = new_postgres_url()
    with Sandbox(start_bot=False, clock=SharedClock.create(tmp_path)) as box:
        first = box.spawn(ROK_BOT_DATABASE_URL=db)
        _outage_then_recovery(
            box, first, lambda: [box.spawn(ROK_BOT_DATABASE_URL=db), box.spawn(ROK_BOT_DATABASE_URL=db)]
        )


def _reminded_by(replicas: list[Replica], token_uuid: str) -> list[Replica]:
    """The replicas whose log says they sent the reminder of this token."""
    return [r for r in replicas if "reminder sent" in r.stderr and token_uuid in r.stderr]


@pytest.mark.postgres
def test_two_replicas_remind_once_and_the_other_one_serves_the_renew(
    new_postgres_url: Callable[[], str], tmp_path: Path
) -> None:
    """Both replicas sweep the ledger; its claim lets one remind. The Renew click goes to the other replica,
    which mints the same duration again and edits the reminder the first one posted. Both run on the
    sandbox's shared clock: the test moves it 45 minutes instead of waiting."""
    db = new_postgres_url()
    with Sandbox(start_bot=False, clock=SharedClock.create(tmp_path)) as box:
        replicas = [box.spawn(ROK_BOT_DATABASE_URL=db), box.spawn(ROK_BOT_DATABASE_URL=db)]
        body, _ = _slash(box, replicas[0], "U0JDOE", "1h")
        assert _post(box, replicas[0], body) == 200
        [reply] = box.wait_private("U0JDOE", timeout=30)
        record = box.rok.lookup(reply.token or "")
        assert record is not None and record.token_uuid
        short = record.token_uuid[:8]

        def reminders() -> list[dict[str, Any]]:  # Slack's JSON, as dm_messages gives it
            return [m for m in box.dm_messages("U0JDOE") if short in str(m.get("text", ""))]

        box.advance(44 * 60)
        time.sleep(0.3)  # both replicas' sweeps look at the moved clock within 10 ms: nothing is due yet
        assert reminders() == []
        # A quarter of an hour is left 45 minutes in: one reminder, from one of the two.
        box.advance(60)
        [reminder] = box.slack.wait_for(reminders, 10)
        senders = box.slack.wait_for(lambda: _reminded_by(replicas, record.token_uuid), 10)
        assert len(senders) == 1
        other = next(r for r in replicas if r is not senders[0])
        # The Renew click reaches the other replica.
        renew = next(
            e
            for b in reminder["blocks"]
            if b["type"] == "actions"
            for e in b["elements"]
            if e["action_id"] == "renew_token"
        )
        payload = sr.message_block_actions(
            user_id="U0JDOE",
            team_id=box.slack.team_id,
            channel_id=reminder["channel"],
            message={k: v for k, v in reminder.items() if k != "channel"},
            action_id="renew_token",
            value=renew["value"],
            block_id="reminder-actions",
            response_url=box.slack.new_response_url(),
        )
        assert _post(box, other, sr.interactivity_body(payload)) == 200
        renewed = box.wait_private("U0JDOE", count=2, timeout=30)[-1]
        new = box.rok.lookup(renewed.token or "")
        assert new is not None and round((new.expires_at - new.created_at).total_seconds()) == 3600
        box.slack.wait_for(lambda: [m for m in reminders() if "edited" in m], 15)
        # Past the old token's expiry, and many sweeps later: still exactly one reminder for it, one audit line.
        box.advance(16 * 60)
        time.sleep(0.3)
        assert len(reminders()) == 1
        box.wait_audit("reminded", timeout=30)
        assert sum(record.token_uuid in ln.ids for ln in box.audit_lines("reminded")) == 1
        for replica in replicas:
            assert replica.terminate() == 0
