"""doctor's Slack line on a workspace install, against the fake Slack (the org-wide cases need its org mode)."""

from __future__ import annotations

from slack_sdk import WebClient

from bot.slack.install import describe_install
from sandbox.slack import FakeSlack


def test_a_workspace_install_is_described_as_one() -> None:
    with FakeSlack() as fake:
        line = describe_install(WebClient(base_url=fake.api_url, token=fake.bot_token))
    assert line == f"workspace install: team {fake.team_id} (is_enterprise_install: false)"
