"""Break-glass is loud whatever the policy: with no approvals channel its `@here` notice goes to the audit
channel; with neither channel the bot refuses to start, in one line that names the fix."""

from __future__ import annotations

import json

import pytest

from bot.settings import SettingsError
from sandbox.world import APPROVALS_CHANNEL, Sandbox

ONCALL = "S0ONCALL"
NO_APPROVALS = """\
limits: {default: 1h, min: 5m, max: 1h}
quota: {per_hour: 100, cooldown: 0}
break_glass: {usergroups: [S0ONCALL], max: 4h}
"""


def test_without_an_approvals_channel_the_break_glass_notice_goes_to_the_audit_channel() -> None:
    with Sandbox(policy=NO_APPROVALS) as box:
        box.slack.usergroups[ONCALL] = ["U0ALICE"]
        box.slash("U0ALICE", '4h --break-glass "incident 4711"')
        reply = box.wait_private("U0ALICE")[-1]
        assert reply.token is not None
        minted = box.rok.minted[-1]
        here = box.slack.wait_for(lambda: [c for c in box.audit_posts() if "<!here>" in json.dumps(c.params)])
        said = json.dumps(here[0].params)
        assert "Break-glass" in said and "<@U0ALICE>" in said and "incident 4711" in said
        assert minted.token_uuid in said and reply.token not in said
        approvals = [c for c in box.slack.calls_to("chat.postMessage") if c.params.get("channel") == APPROVALS_CHANNEL]
        assert approvals == []


def test_with_neither_channel_break_glass_refuses_to_start_in_one_line_naming_the_fix() -> None:
    with Sandbox(policy=NO_APPROVALS, start_bot=False) as box:
        del box.env["ROK_BOT_AUDIT_CHANNEL"]
        with pytest.raises(SettingsError) as refused:
            box.start_bot()
        assert "break_glass" in str(refused.value) and "ROK_BOT_AUDIT_CHANNEL" in str(refused.value)
        with pytest.raises(RuntimeError) as failed:  # the real `serve`: one line on stderr, no traceback
            box.spawn()
        said = str(failed.value).removeprefix("serve did not start: ").strip()
        assert "ROK_BOT_AUDIT_CHANNEL" in said and "Traceback" not in said and len(said.splitlines()) == 1
