"""Failure semantics through the fakes: Slack rate limits and errors, and a graceful SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from sandbox import slack_requests as sr
from sandbox.world import AUDIT_CHANNEL, SIGNING_SECRET, Sandbox


def test_slack_429_is_retried_after_retry_after(box: Sandbox) -> None:
    box.slack.fail("chat.postEphemeral", error="ratelimited", http_status=429, retry_after=1, times=1)
    before = len(box.private_messages("U0JDOE"))
    box.slash("U0JDOE", "1h")
    box.wait_private("U0JDOE", count=before + 2, timeout=15)
    attempts = box.private_messages("U0JDOE")[-2:]
    assert "export ROK_REGISTRY_TOKEN=" in str(attempts[-1].params)
    assert [c.status for c in attempts] == [429, 200]


def test_a_long_retry_after_is_not_waited_for_the_fallback_delivers(box: Sandbox) -> None:
    box.slack.fail("chat.postEphemeral", error="ratelimited", http_status=429, retry_after=120)
    _, _, url = box.slash("U0ALICE", "1h")
    replies = box.slack.wait_for(lambda: [r for r in box.replies_to(url) if r.token], 10)
    assert replies[0].via == "response_url"


def test_server_errors_are_retried_with_backoff(box: Sandbox) -> None:
    box.slack.fail("conversations.open", error="internal_error", http_status=500, times=1)
    before = len(box.private_messages("U0JDOE"))
    box.slash("U0JDOE", "1h")
    assert box.wait_private("U0JDOE", count=before + 1, timeout=15)[-1].token is not None


def _serve(box: Sandbox, tmp_path: Path, **overrides: str) -> subprocess.Popen[str]:
    """The real `rok-token-bot serve` in its own process, configured for the sandbox's fakes."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        **box.env,
        "ROK_BOT_SECRETS_DIR": str(tmp_path / "none"),
        **overrides,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "bot", "serve"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_sigterm_finishes_in_flight_requests_refuses_new_ones_and_exits_0(tmp_path: Path) -> None:
    with Sandbox(start_bot=False, exec_latency=1.5) as box:
        proc = _serve(box, tmp_path, ROK_BOT_LOG_LEVEL="WARNING")
        try:
            assert proc.stdout is not None
            url = json.loads(proc.stdout.readline())["listening"]
            body = sr.form_body(
                sr.slash_command(
                    user_id="U0JDOE", text="1h", team_id=box.slack.team_id, response_url=box.slack.new_response_url()
                )
            )
            assert sr.signed_post(url + "/slack/events", body, SIGNING_SECRET).status_code == 200
            box.slack.wait_for(lambda: box.kube.current_execs > 0 or box.rok.minted, 10)
            proc.send_signal(signal.SIGTERM)
            box.slack.wait_for(lambda: httpx.get(url + "/readyz").status_code == 503, 5)
            late = sr.signed_post(url + "/slack/events", body, SIGNING_SECRET)
            assert late.status_code == 503
            assert proc.wait(timeout=30) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
        # The request that was in flight was finished and delivered before the exit.
        assert box.private_messages("U0JDOE")
        assert len(box.rok.minted) == 1
        stopped = [c for c in box.audit_posts() if "*stopped*" in str(c.params)]
        assert stopped and "drained" in str(stopped[-1].params)


def test_sigterm_while_slack_is_unreachable_at_start_exits_0(tmp_path: Path) -> None:
    """auth.test keeps failing (Slack unreachable): the bot retries with backoff, and SIGTERM still ends it."""
    with Sandbox(start_bot=False) as box:
        proc = _serve(box, tmp_path, SLACK_API_URL="http://127.0.0.1:9/api/")
        try:
            assert proc.stderr is not None
            for line in proc.stderr:  # wait for the first failed attempt
                if "auth.test failed" in line:
                    break
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=20) == 0
        finally:
            if proc.poll() is None:
                proc.kill()


def test_a_failure_after_the_mint_is_undelivered_not_failed(box: Sandbox) -> None:
    """A 1,500-character token cannot be sealed into a button value: the user hears to revoke it by UUID."""
    box.rok.token_shape = "oversized"
    before = len(box.rok.minted)
    _, _, url = box.slash("U0JDOE", "1h")
    minted = box.slack.wait_for(lambda: box.rok.minted[before:])[0]
    box.slack.wait_for(
        lambda: [
            c for c in box.audit_posts() if "*undelivered*" in str(c.params) and minted.token_uuid in str(c.params)
        ]
    )
    notices = box.slack.wait_for(
        lambda: [c for c in box.slack.calls_to("chat.postMessage") if minted.token_uuid in str(c.params.get("text"))]
    )
    assert notices[0].params["channel"] != AUDIT_CHANNEL
    assert "revoke" in notices[0].params["text"]
    assert not any(minted.token in str(c.params) for c in box.slack.calls)
    assert not [r for r in box.replies_to(url) if "went wrong" in r.text]


def test_a_token_create_dropped_mid_stream_is_possibly_minted_and_counts_against_the_quota(box: Sandbox) -> None:
    """The pod restarts during token-create: the reservation is kept and the audit says possibly minted."""
    assert box.server is not None
    limiter = box.server.bot.ports.quota
    left = limiter.remaining("U0JDOE")
    box.kube.exec_fault, box.kube.exec_fault_commands = "restart", {"token-create"}
    _, _, url = box.slash("U0JDOE", "1h")
    box.wait_audit("possibly_minted")
    reply = box.wait_reply(url)
    assert "may have been created" in reply.text
    assert limiter.remaining("U0JDOE") == left - 1
