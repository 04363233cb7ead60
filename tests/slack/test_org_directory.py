"""User groups on an org-wide install: usergroups.users.list names the workspace (against the fake Slack).

The current fake answers with or without `team_id`; these tests read what the bot sent. With the fake's org
mode (which refuses a lookup without `team_id`, as Slack does for org tokens) they also prove the answer.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from slack_sdk import WebClient

from bot.runtime.clock import ManualClock
from bot.slack.directory import SlackDirectory
from sandbox.slack import FakeSlack
from tests.usecases.fakes import START


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as server:
        server.add_user("W0JDOE", email="jdoe@example.com", name="jdoe", team_id="T0HOME")
        server.usergroups["S0LEADS"] = ["W0JDOE"]
        yield server


def _directory(fake: FakeSlack, *, org_wide: bool) -> SlackDirectory:
    fake.reset()
    client = WebClient(base_url=fake.api_url, token=fake.bot_token)
    return SlackDirectory(client, clock=ManualClock(START), org_wide=org_wide)


def _teams_sent(fake: FakeSlack) -> list[str | None]:
    return [call.params.get("team_id") for call in fake.calls_to("usergroups.users.list")]


def test_a_workspace_install_sends_no_team_id(fake: FakeSlack) -> None:
    directory = _directory(fake, org_wide=False)
    assert directory.groups_of("W0JDOE", frozenset({"S0LEADS"}), team_id="T0B") == {"S0LEADS"}
    assert _teams_sent(fake) == [None]


def test_an_org_install_reads_the_group_in_the_requests_workspace(fake: FakeSlack) -> None:
    directory = _directory(fake, org_wide=True)
    assert directory.groups_of("W0JDOE", frozenset({"S0LEADS"}), team_id="T0B") == {"S0LEADS"}
    assert _teams_sent(fake) == ["T0B"]


def test_a_group_that_names_its_workspace_is_read_there(fake: FakeSlack) -> None:
    directory = _directory(fake, org_wide=True)
    assert directory.groups_of("W0JDOE", frozenset({"T0A:S0LEADS"}), team_id="T0B") == {"T0A:S0LEADS"}
    assert _teams_sent(fake) == ["T0A"]


def test_without_a_request_workspace_the_users_home_workspace_is_used(fake: FakeSlack) -> None:
    directory = _directory(fake, org_wide=True)
    assert directory.groups_of("W0JDOE", frozenset({"S0LEADS"})) == {"S0LEADS"}
    assert _teams_sent(fake) == ["T0HOME"]


def test_membership_is_cached_per_workspace(fake: FakeSlack) -> None:
    directory = _directory(fake, org_wide=True)
    for team in ("T0A", "T0B", "T0A"):
        directory.groups_of("W0JDOE", frozenset({"S0LEADS"}), team_id=team)
    assert _teams_sent(fake) == ["T0A", "T0B"]
