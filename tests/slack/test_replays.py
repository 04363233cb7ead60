"""Replays and redeliveries: the same signed request or Socket Mode envelope acts once, whatever arrives."""

from __future__ import annotations

import time

from prometheus_client import REGISTRY

from bot.slack.dedupe import SeenRequests, delivery_key
from sandbox import slack_requests as sr
from sandbox.world import SIGNING_SECRET, Sandbox


def _duplicates(kind: str) -> float:
    return REGISTRY.get_sample_value("rok_bot_duplicate_requests_total", {"kind": kind}) or 0.0


def _minted_for(box: Sandbox, username: str) -> int:
    return sum(1 for m in box.rok.minted if m.username == username)


def test_the_same_signed_slash_command_replayed_mints_once(http_box: Sandbox) -> None:
    """A captured `/rok-token 1h` posted 20 times inside the signature window: one token, 19 silent acks."""
    before_minted, before_dup = _minted_for(http_box, "jdoe"), _duplicates("command")
    before_dms = len(http_box.private_messages("U0JDOE"))
    fields = sr.slash_command(
        user_id="U0JDOE", text="1h", team_id=http_box.slack.team_id, response_url=http_box.slack.new_response_url()
    )
    body, ts = sr.form_body(fields), int(time.time())
    responses = [sr.signed_post(http_box.url + "/slack/events", body, SIGNING_SECRET, ts) for _ in range(20)]
    assert [r.status_code for r in responses] == [200] * 20
    assert "Checking" in responses[0].json()["text"]
    assert all(r.content == b"" for r in responses[1:])
    http_box.wait_private("U0JDOE", count=before_dms + 1)
    http_box.wait_audit("issued")
    assert _minted_for(http_box, "jdoe") == before_minted + 1
    assert _duplicates("command") == before_dup + 19


def test_a_redelivered_socket_mode_envelope_mints_once() -> None:
    """The same slash_commands envelope delivered 5 times (retry_attempt 0..4): one token."""
    with Sandbox(socket_mode=True) as box:
        fields = sr.slash_command(
            user_id="U0JDOE", text="1h", team_id=box.slack.team_id, response_url=box.slack.new_response_url()
        )
        for attempt in range(5):
            frame = sr.envelope(
                "slash_commands",
                fields,
                envelope_id="fixed-envelope-id",
                retry_attempt=attempt,
                retry_reason="timeout" if attempt else "",
            )
            box.slack.send_frame(frame, timeout=10)
        box.wait_private("U0JDOE")
        box.wait_audit("issued")
        assert box.server is not None
        assert box.server.bot.jobs.drain(10)
        assert _minted_for(box, "jdoe") == 1
        assert len(box.private_messages("U0JDOE")) == 1


def test_a_replayed_verify_click_calls_the_registry_once(http_box: Sandbox) -> None:
    _, _, _ = http_box.slash("U0JDOE", "1h")
    value = http_box.wait_private("U0JDOE")[-1].verify_value
    assert value
    payload = sr.block_actions(
        user_id="U0JDOE",
        team_id=http_box.slack.team_id,
        action_id="verify_token",
        value=value,
        response_url=http_box.slack.new_response_url(),
    )
    body = sr.interactivity_body(payload)
    before = http_box.registry.requests
    for _ in range(5):
        assert sr.signed_post(http_box.url + "/slack/events", body, SIGNING_SECRET).status_code == 200
    http_box.wait_reply(payload["response_url"])
    http_box.wait_audit("verified")
    assert http_box.server is not None
    http_box.server.bot.flush_audit()
    assert http_box.registry.requests == before + 1


def test_delivery_keys_are_slacks_own_ids() -> None:
    assert delivery_key({"command": "/rok-token", "trigger_id": "1.2.abc"}) == "trigger:1.2.abc"
    assert delivery_key({"type": "block_actions", "trigger_id": "9.9.x"}) == "trigger:9.9.x"
    assert delivery_key({"type": "event_callback", "event_id": "Ev01", "trigger_id": "x"}) == "event:Ev01"
    assert delivery_key({"command": "/rok-token"}) is None
    assert delivery_key({"type": "event_callback"}) is None


def test_seen_requests_forget_after_the_window_and_stay_bounded() -> None:
    now = [0.0]
    seen = SeenRequests(window=600, max_keys=3, clock=lambda: now[0])
    assert seen.first("a") and not seen.first("a")
    now[0] = 599.0
    assert not seen.first("a")
    now[0] = 600.0
    assert seen.first("a")  # outside the window: Slack would refuse the signature by now anyway
    for key in "bcd":
        assert seen.first(key)
    assert len(seen) == 3


def test_verify_clicks_within_the_cooldown_reuse_the_last_answer(box: Sandbox) -> None:
    """30 clicks on one token's Verify button: one registry call, one audit post, every click answered."""
    box.slash("U0JDOE", "1h")
    value = box.wait_private("U0JDOE")[-1].verify_value
    assert value and box.server is not None
    box.server.bot.flush_audit()
    registry_calls = box.registry.requests
    verified = box.audit_count("verified")
    urls = [box.click("U0JDOE", value)[1] for _ in range(30)]
    replies = [box.wait_reply(url) for url in urls]
    assert box.registry.requests == registry_calls + 1
    assert all("valid" in r.text for r in replies)
    assert sum("Checked" in r.text and "ago" in r.text for r in replies) == 29
    box.server.bot.flush_audit()
    assert box.audit_count("verified") == verified + 1
