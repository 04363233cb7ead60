"""End to end: signed slash commands and clicks through the real Bolt app, the fake cluster and registry."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import httpx
import pytest

from sandbox.world import Sandbox


def _issue(box: Sandbox, user_id: str = "U0JDOE", text: str = "24h") -> tuple[str, str]:
    """Run /rok-token and return (token, verify value) from the private message."""
    before = len(box.private_messages(user_id))
    status, ack, _ = box.slash(user_id, text)
    assert status == 200
    assert ack is not None and "Checking" in ack["text"]
    reply = box.wait_private(user_id, count=before + 1)[-1]
    assert reply.token is not None and reply.verify_value is not None
    return reply.token, reply.verify_value


def test_happy_path_delivers_privately_with_everything_the_user_needs(box: Sandbox) -> None:
    status, ack, _ = box.slash("U0JDOE", "24h")
    assert status == 200 and ack is not None
    assert ack["response_type"] == "ephemeral"
    reply = box.wait_private("U0JDOE")[-1]
    call = box.private_messages("U0JDOE")[-1]
    # An ephemeral message in the user's DM with the bot, to that user only.
    assert call.params["channel"] == box.slack.dm_channel("U0JDOE")
    assert call.params["user"] == "U0JDOE"
    token = reply.token
    assert token is not None
    record = box.rok.lookup(token)
    assert record is not None and record.username == "jdoe"
    texts = " ".join(str((b.get("text") or {}).get("text", "")) for b in reply.blocks)
    assert f"export ROK_REGISTRY_TOKEN={token}" in texts
    assert "`jdoe`" in texts
    assert re.search(r"<!date\^\d+\^\{date_short_pretty\} at \{time\}\|", texts)
    # The notification text never carries the token.
    assert token not in reply.text
    assert reply.verify_value is not None and token not in reply.verify_value
    issued = box.wait_audit("issued")[-1]
    assert token not in str(issued.params)
    assert record.token_uuid in str(issued.params)


def test_default_duration_and_duration_forms(box: Sandbox) -> None:
    for text, seconds in (("", 86400), ("1h30m", 5400), ("2H", 7200), ("1w", 604800)):
        before = len(box.rok.minted)
        status, _, _ = box.slash("U0ALICE", text)
        assert status == 200, text

        def minted_one_more(n: int = before) -> bool:  # bound now: B023, and a lambda's default defeats mypy
            return len(box.rok.minted) > n

        box.slack.wait_for(minted_one_more, 10)
        minted = box.rok.minted[-1]
        assert round((minted.expires_at - minted.created_at).total_seconds()) == seconds


def test_the_right_command_runs_with_a_warm_cache(box: Sandbox) -> None:
    _issue(box, "U0JDOE", "1h")
    box.kube.reset_records()
    _issue(box, "U0JDOE2", "2h")
    assert [e.argv for e in box.kube.execs] == [
        [
            "rok-fort-manage",
            "token-create",
            "--user",
            box.rok.account("jdoe2").uuid,
            "--duration",
            "7200",
            "--no-borders",
        ]
    ]


def test_verify_valid_expired_and_unreachable(box: Sandbox) -> None:
    token, value = _issue(box)
    box.registry.fault = "http500"
    _, url = box.click("U0JDOE", value)
    assert "could not be reached" in box.wait_reply(url).text
    box.registry.fault = None
    # "Unreachable" is not reused: the next click checks again.
    _, url = box.click("U0JDOE", value)
    assert "valid" in box.wait_reply(url).text.lower()
    expired, expired_value = _issue(box)
    box.rok.expire(expired)
    _, url = box.click("U0JDOE", expired_value)
    assert "expired or malformed" in box.wait_reply(url).text
    verified = box.wait_audit("verified", count=3)
    assert all(token not in str(c.params) and expired not in str(c.params) for c in verified)


def test_verify_button_is_only_for_its_owner_and_cannot_be_forged(box: Sandbox) -> None:
    _, value = _issue(box)
    requests_before = box.registry.requests
    _, url = box.click("U0ALICE", value)
    assert "not valid for you" in box.wait_reply(url).text
    tampered = value[:-2] + ("AA" if value[-2:] != "AA" else "BB")
    _, url = box.click("U0JDOE", tampered)
    assert "not valid for you" in box.wait_reply(url).text
    _, url = box.click("U0JDOE", "v1.forged")
    assert "not valid for you" in box.wait_reply(url).text
    assert box.registry.requests == requests_before
    box.wait_audit("refused")


@pytest.mark.parametrize(
    ("user_id", "phrase"),
    [
        ("U0MALLORY", "not mapped"),
        ("U0GUEST", "Guest accounts"),
        ("U0HUBOT", "Bots cannot"),
    ],
)
def test_refused_users_are_told_why_and_whom_to_ask(box: Sandbox, user_id: str, phrase: str) -> None:
    minted = len(box.rok.minted)
    status, _, url = box.slash(user_id, "1h")
    assert status == 200
    reply = box.wait_reply(url)
    assert phrase in reply.text
    assert "#platform-help" in reply.text or "Bots" in phrase
    assert len(box.rok.minted) == minted
    assert not box.private_messages(user_id)


def test_email_mapping_uses_the_profile_email_of_an_allowed_domain(box: Sandbox) -> None:
    _issue(box, "U0BOB", "1h")
    assert box.rok.minted[-1].username == "bob"


def test_deleted_user_and_user_of_another_workspace_are_refused(box: Sandbox) -> None:
    box.slack.add_user("U0GONE", email="gone@example.com", deleted=True)
    box.slack.add_user("U0OUTSIDER", email="jdoe@example.com", team_id="T0OTHER")
    for user_id, phrase in (("U0GONE", "deactivated"), ("U0OUTSIDER", "other workspaces")):
        _, _, url = box.slash(user_id, "1h")
        assert phrase in box.wait_reply(url).text


def test_request_from_another_workspace_is_refused_at_the_ack(box: Sandbox) -> None:
    execs = len(box.kube.execs)
    status, ack, _ = box.slash("U0JDOE", "1h", team_id="T0FOREIGN")
    assert status == 200 and ack is not None
    assert "only serves its own Slack workspace" in ack["text"]
    assert len(box.kube.execs) == execs


@pytest.mark.parametrize(
    ("text", "phrase"),
    [
        ("24", "did you mean 24h?"),
        ("60d", "choose between 5m and 30d"),
        ("0m", "choose between 5m and 30d"),
        ("1m", "choose between 5m and 30d"),
        ("-5h", "choose between 5m and 30d"),
        ("99999999999999999999d", "choose between 5m and 30d"),
    ],
)
def test_bad_durations_are_refused_in_the_ack_with_the_range(box: Sandbox, text: str, phrase: str) -> None:
    execs = len(box.kube.execs)
    status, ack, _ = box.slash("U0JDOE", text)
    assert status == 200 and ack is not None
    assert phrase in ack["text"]
    assert len(box.kube.execs) == execs


def test_per_group_limits_are_stated_never_clamped(box: Sandbox) -> None:
    """jdoe (everyone: up to 7d) is refused 30d with his limit; alice (admins: up to 30d) gets it."""
    minted = len(box.rok.minted)
    _, _, url = box.slash("U0JDOE", "30d")
    assert "longer than your limit of 7d (everyone)" in box.wait_reply(url).text
    assert len(box.rok.minted) == minted
    _issue(box, "U0ALICE", "30d")
    record = box.rok.minted[-1]
    assert record.username == "alice"
    assert round((record.expires_at - record.created_at).total_seconds()) == 30 * 86400


@pytest.mark.parametrize("text", ["help", "HELP", "what is this", "please"])
def test_help_and_unknown_text_answer_with_usage_range_and_username(box: Sandbox, text: str) -> None:
    _, _, url = box.slash("U0JDOE", text)
    reply = box.wait_reply(url)
    body = str(reply.blocks)
    assert "between *5m* and *7d*" in body
    assert "`jdoe`" in body
    assert "tokens an hour" in body


def test_help_for_an_unmapped_user_says_so(box: Sandbox) -> None:
    _, _, url = box.slash("U0MALLORY", "help")
    assert "not mapped" in str(box.wait_reply(url).blocks)


@pytest.mark.parametrize(
    ("setup", "phrase", "outcome"),
    [
        ({"exec_fault": "http500"}, "could not be reached", "failed"),
        ({"rok_fault": "exit"}, "management command failed", "failed"),
        # Exit 0 with unreadable output: Rok most likely created a token that nobody can see.
        ({"rok_fault": "garbage"}, "format the bot cannot read", "possibly_minted"),
    ],
)
def test_cluster_faults_reach_the_user_as_one_sentence_and_the_audit_channel(
    box: Sandbox, setup: dict[str, str], phrase: str, outcome: str
) -> None:
    box.kube.exec_fault = setup.get("exec_fault")
    box.kube.exec_fault_commands = {"token-create"}
    box.rok.fault = setup.get("rok_fault")
    box.rok.fault_commands = {"token-create"}
    seen = box.audit_count(outcome)
    _, _, url = box.slash("U0ALICE", "1h")
    reply = box.wait_reply(url)
    assert phrase in reply.text
    assert "Traceback" not in reply.text and "rok-fort-manage" not in reply.text
    box.wait_audit(outcome, count=seen + 1)


def test_no_pod_left_behind_the_service(box: Sandbox) -> None:
    pods = list(box.kube.pods)
    box.kube.pods.clear()
    try:
        _, _, url = box.slash("U0ALICE", "1h")
        text = box.wait_reply(url).text
    finally:
        box.kube.pods.extend(pods)
    assert "No ready Rok Registry pod" in text


def test_dm_failure_falls_back_to_response_url(box: Sandbox) -> None:
    box.slack.fail("chat.postEphemeral", error="user_not_in_channel")
    _, _, url = box.slash("U0ALICE", "1h")
    replies = box.slack.wait_for(lambda: [r for r in box.replies_to(url) if r.token], 10)
    assert replies[0].verify_value is not None
    assert box.rok.lookup(replies[0].token or "") is not None


def test_minted_but_undelivered_is_audited_with_the_token_uuid(box: Sandbox) -> None:
    box.slack.fail("chat.postEphemeral", error="user_not_in_channel")
    box.slack.fail_responses(http_status=404)
    before = len(box.rok.minted)
    try:
        _, _, _ = box.slash("U0ALICE", "1h")
        minted = box.slack.wait_for(lambda: box.rok.minted[before:])[0]
        box.slack.wait_for(lambda: [ln for ln in box.audit_lines("undelivered") if minted.token_uuid in ln.ids])
    finally:
        box.slack.clear_faults()
    # The token went only into the failed attempts at the owner's private message.
    carriers = [c for c in box.slack.calls if minted.token in str(c.params)]
    assert carriers and all(c.method == "chat.postEphemeral" and c.params["user"] == "U0ALICE" for c in carriers)
    # The user is told, without the token, that a token exists that they never saw.
    notes = box.slack.wait_for(
        lambda: [c for c in box.slack.calls_to("chat.postMessage") if minted.token_uuid in str(c.params.get("text"))]
    )
    assert "revoke token" in notes[-1].params["text"]


def test_audit_post_failure_does_not_stop_the_token(box: Sandbox) -> None:
    box.slack.fail("chat.postMessage", error="not_in_channel")
    token, _ = _issue(box, "U0ALICE", "1h")
    assert box.rok.lookup(token) is not None
    assert box.server is not None
    box.slack.wait_for(lambda: not box.server.bot.senders[0].healthy, 5)
    ready = httpx.get(box.url + "/readyz").json()
    # not_in_channel: only an admin can fix it (invite the bot), so the sink is parked, not retried in a loop.
    assert ready["checks"]["audit_channel"].startswith("parked: not_in_channel")
    metrics = httpx.get(box.url + "/metrics").text
    assert re.search(r"^rok_bot_audit_failures_total [1-9]", metrics, re.M)


def test_probes_and_metrics(box: Sandbox) -> None:
    assert httpx.get(box.url + "/healthz").json()["status"] == "alive"
    ready = httpx.get(box.url + "/readyz")
    assert ready.status_code == 200 and ready.json()["ready"] is True
    _issue(box, "U0JDOE", "1h")
    metrics = httpx.get(box.url + "/metrics").text
    assert 'rok_bot_requests_total{command="issue",outcome="issued",registry="default"}' in metrics
    assert "rok_bot_exec_seconds_bucket" in metrics
    assert 'rok_bot_cache_lookups_total{cache="accounts",result="hit"}' in metrics
    assert re.search(r"^rok_bot_ready 1\.0$", metrics, re.M)  # as /readyz says


def test_expiry_in_the_message_matches_the_registry(box: Sandbox) -> None:
    token, _ = _issue(box, "U0JDOE", "2h")
    record = box.rok.lookup(token)
    assert record is not None
    call = box.private_messages("U0JDOE")[-1]
    epoch = int(re.findall(r"<!date\^(\d+)\^", str(call.params["blocks"]))[0])
    assert abs(epoch - record.expires_at.timestamp()) < 2
    assert record.expires_at > datetime.now(UTC)


def test_acks_come_back_before_the_cluster_work(box: Sandbox) -> None:
    """The ack never waits for the exec: with a slow rok-fort-manage the token does not exist yet at the ack."""
    box.rok.latency = 1.0
    try:
        minted = len(box.rok.minted)
        status, ack, _ = box.slash("U0ALICE", "1h")
        assert status == 200 and ack is not None and "Checking" in ack["text"]
        assert len(box.rok.minted) == minted
        box.wait_private("U0ALICE")
    finally:
        box.rok.latency = 0.0
