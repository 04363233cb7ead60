"""Approvals across two real `serve` processes on one PostgreSQL: the same Approve delivered to both, or two
approvers clicking at once on different replicas, decide once; the requester's Show my token, redelivered
to both and double-clicked, mints one token; a request decided on one replica is decided for the other."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

import pytest

from sandbox import slack_requests as sr
from sandbox.world import APPROVALS_CHANNEL, SIGNING_SECRET, Replica, Sandbox

D = 86400
POLICY = f"""\
limits: {{default: 24h, min: 5m, max: 7d}}
quota: {{per_hour: 1000, cooldown: 0}}
approvals:
  channel: {APPROVALS_CHANNEL}
  approvers:
    users: [U0BOB]
    usergroups: [S0LEADS]
  max: 30d
"""


def _post(box: Sandbox, replica: Replica, body: str) -> int:
    return sr.signed_post(replica.url + "/slack/events", body, SIGNING_SECRET, client=box._http).status_code


def _all_at_once(box: Sandbox, deliveries: list[tuple[Replica, str]]) -> list[int]:
    start = threading.Barrier(len(deliveries))
    codes: list[int] = []

    def send(replica: Replica, body: str) -> None:
        start.wait()
        codes.append(_post(box, replica, body))

    threads = [threading.Thread(target=send, args=pair) for pair in deliveries]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return codes


def _ask(box: Sandbox, replica: Replica, user_id: str, text: str, count: int) -> Any:
    url = box.slack.new_response_url()
    fields = sr.slash_command(user_id=user_id, text=text, team_id=box.slack.team_id, response_url=url)
    assert _post(box, replica, sr.form_body(fields)) == 200
    message = box.wait_approval_request(count=count, timeout=30)
    box.slack.wait_for(lambda: box.replies_to(url), 30)  # the request knows where its message is
    return message


def _body(payload: dict[str, Any]) -> str:
    return sr.interactivity_body(payload)


def _show_click(box: Sandbox, message: dict[str, Any]) -> dict[str, Any]:
    """The requester's click on Show my token in the approval message of their DM."""
    buttons = [e for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]]
    [button] = [e for e in buttons if e["action_id"] == "approval_show_token"]
    return sr.message_block_actions(
        user_id="U0JDOE",
        team_id=box.slack.team_id,
        channel_id=str(message["channel"]),
        message={k: v for k, v in message.items() if k != "channel"},
        action_id="approval_show_token",
        value=str(button["value"]),
        block_id="approval_show",
        response_url=box.slack.new_response_url(),
    )


@pytest.mark.postgres
@pytest.mark.parametrize("how", ["the same click to both", "two approvers at once"])
def test_an_approve_on_two_replicas_mints_once(new_postgres_url: Callable[[], str], how: str) -> None:
    db = new_postgres_url()
    with Sandbox(start_bot=False, policy=POLICY) as box:
        box.slack.usergroups["S0LEADS"] = ["U0ALICE"]
        a, b = box.spawn(ROK_BOT_DATABASE_URL=db), box.spawn(ROK_BOT_DATABASE_URL=db)
        message = _ask(box, a, "U0JDOE", "14d training run X", count=1)
        if how == "the same click to both":
            same = _body(box.decision_payload("U0BOB", message))
            deliveries = [(a, same), (b, same)]
        else:
            deliveries = [
                (a, _body(box.decision_payload("U0BOB", message))),
                (b, _body(box.decision_payload("U0ALICE", message))),
            ]
        assert _all_at_once(box, deliveries) == [200, 200]
        [granted] = box.slack.wait_for(lambda: box.show_token_messages("U0JDOE"), 30)
        assert box.rok.minted == []  # nothing until the requester is there to see it
        # Show my token: one click redelivered to both replicas, and a double click, all at once.
        same, other = _body(_show_click(box, granted)), _body(_show_click(box, granted))
        assert _all_at_once(box, [(a, same), (b, same), (b, other)]) == [200, 200, 200]
        reply = box.wait_private("U0JDOE", timeout=30)[-1]
        assert reply.token is not None
        box.slack.wait_for(lambda: box.slack.calls_to("chat.update"), 30)
        assert a.terminate() == 0 and b.terminate() == 0  # both drained: every click was handled
        assert [(m.username, round((m.expires_at - m.created_at).total_seconds())) for m in box.rok.minted] == [
            ("jdoe", 14 * D)
        ]
        assert len(box.private_messages("U0JDOE")) == 1
        assert [c.params["ts"] for c in box.slack.calls_to("chat.update")] == [message.ts, granted["ts"]]
        for approver in ("U0BOB", "U0ALICE"):
            assert box.private_messages(approver) == []
        assert not [
            c for c in box.slack.calls if reply.token in json.dumps(c.params) and c.method != "chat.postEphemeral"
        ]


@pytest.mark.postgres
def test_a_request_denied_on_one_replica_cannot_be_approved_on_the_other(new_postgres_url: Callable[[], str]) -> None:
    db = new_postgres_url()
    with Sandbox(start_bot=False, policy=POLICY) as box:
        a, b = box.spawn(ROK_BOT_DATABASE_URL=db), box.spawn(ROK_BOT_DATABASE_URL=db)
        message = _ask(box, b, "U0JDOE", "10d", count=1)
        deny = box.decision_payload("U0BOB", message, approve=False, note="not now")
        assert _post(box, a, _body(deny)) == 200
        box.slack.wait_for(lambda: box.slack.calls_to("chat.update"), 30)
        approve = box.decision_payload("U0BOB", message)
        assert _post(box, b, _body(approve)) == 200
        assert "already denied" in box.slack.wait_for(lambda: box.replies_to(approve["response_url"]), 30)[0].text
        assert a.terminate() == 0 and b.terminate() == 0
        assert box.rok.minted == []
