"""Quota, cooldown, allowlist and capacity refusals through the real app: each audited, none minted."""

from __future__ import annotations

from sandbox.world import Sandbox

STRICT = """\
limits: {default: 1h, min: 5m, max: 1d}
allow: {users: [U0JDOE, U0ALICE]}
quota: {per_hour: 2, cooldown: 0}
max_concurrent_issues: 50
"""


def test_quota_allowlist_and_help_show_the_callers_own_limits() -> None:
    with Sandbox(policy=STRICT) as box:
        for n in (1, 2):
            box.slash("U0JDOE", "")
            box.wait_private("U0JDOE", count=n)
        minted = len(box.rok.minted)
        _, _, url = box.slash("U0JDOE", "1h")
        assert "2 tokens in the last hour" in box.wait_reply(url).text
        _, _, url = box.slash("U0BOB", "1h")  # mapped by email, but not on the allowlist
        assert "not on the list" in box.wait_reply(url).text
        assert len(box.rok.minted) == minted
        _, _, url = box.slash("U0ALICE", "help")
        help_text = str(box.wait_reply(url).blocks)
        assert "between *5m* and *1d*" in help_text and "2 left now" in help_text
        box.wait_audit("refused", count=2)
        record = box.rok.minted[0]
        assert round((record.expires_at - record.created_at).total_seconds()) == 3600  # the policy default


def test_cooldown_refusal_states_the_wait() -> None:
    with Sandbox(policy="quota: {per_hour: 10, cooldown: 1h}\n") as box:
        box.slash("U0JDOE", "1h")
        box.wait_private("U0JDOE")
        _, _, url = box.slash("U0JDOE", "1h")
        assert "wait 59m" in box.wait_reply(url).text or "wait 1h" in box.wait_reply(url).text


def test_capacity_cap_refuses_at_the_ack() -> None:
    with Sandbox(policy="max_concurrent_issues: 1\nquota: {per_hour: 100, cooldown: 0}\n", exec_latency=1.0) as box:
        box.slash("U0JDOE", "1h")
        _, ack, _ = box.slash("U0ALICE", "1h")
        assert ack is not None and "busy" in ack["text"]
        box.wait_private("U0JDOE")
        box.wait_audit("refused")
