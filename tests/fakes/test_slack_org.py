"""The fake Slack as an Enterprise Grid org-wide install: what Slack answers an org token, and the payload
shapes an org install receives (workspace installs keep today's shapes: tests/fakes/test_slack.py)."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from sandbox import slack_requests as sr
from sandbox.slack import FakeSlack
from sandbox.slack_org import OrgSpec, stamp, team_access_event
from sandbox.world import ADMINS_GROUP, Person, Sandbox

ORG = OrgSpec(enterprise_id="E0ORG", teams=("T0A", "T0B"))


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack(org=ORG) as fake:
        fake.add_user("U0ANNA", name="anna", team_id="T0A")
        fake.add_user("W0BEA", name="bea", team_id="T0B")
        fake.add_user("U0EVE", name="eve", team_id="T0OTHER", enterprise_id="E0OTHER")
        fake.team_usergroups["T0A"]["S0OPS"] = ["U0ANNA"]
        fake.team_usergroups["T0B"]["S0OPS"] = ["W0BEA"]
        yield fake


@pytest.fixture
def client(fake: FakeSlack) -> WebClient:
    return WebClient(token=fake.bot_token, base_url=fake.api_url, timeout=5)


def test_auth_test_answers_the_enterprise_as_the_team_of_an_org_token(client: WebClient) -> None:
    resp = client.auth_test()
    assert resp["is_enterprise_install"] is True
    assert (resp["enterprise_id"], resp["team_id"]) == ("E0ORG", "E0ORG")
    assert resp["user_id"] == "UROKBOT"


def test_workspace_install_auth_test_is_unchanged() -> None:
    with FakeSlack() as fake:
        resp = WebClient(token=fake.bot_token, base_url=fake.api_url).auth_test()
    assert (resp["team_id"], resp["is_enterprise_install"]) == ("T0ROKDEMO", False)
    assert "enterprise_id" not in resp.data


def test_auth_teams_list_follows_the_workspaces_the_app_is_in(fake: FakeSlack, client: WebClient) -> None:
    assert [t["id"] for t in client.auth_teams_list()["teams"]] == ["T0A", "T0B"]
    fake.set_teams(["T0A"])
    assert [t["id"] for t in client.auth_teams_list()["teams"]] == ["T0A"]


def test_usergroups_need_a_team_id_with_an_org_token(fake: FakeSlack, client: WebClient) -> None:
    with pytest.raises(SlackApiError) as refused:
        client.usergroups_users_list(usergroup="S0OPS")
    assert refused.value.response["error"] == "missing_argument"
    assert client.usergroups_users_list(usergroup="S0OPS", team_id="T0A")["users"] == ["U0ANNA"]
    assert client.usergroups_users_list(usergroup="S0OPS", team_id="T0B")["users"] == ["W0BEA"]
    assert [(c.params.get("team_id"), c.ok) for c in fake.calls_to("usergroups.users.list")] == [
        (None, False),
        ("T0A", True),
        ("T0B", True),
    ]
    with pytest.raises(SlackApiError) as listed:
        client.usergroups_list()
    assert listed.value.response["error"] == "missing_argument"
    assert [g["id"] for g in client.usergroups_list(team_id="T0B")["usergroups"]] == ["S0OPS"]


def test_usergroups_of_a_workspace_the_app_left_are_refused(fake: FakeSlack, client: WebClient) -> None:
    fake.set_teams(["T0A"])
    with pytest.raises(SlackApiError) as refused:
        client.usergroups_users_list(usergroup="S0OPS", team_id="T0B")
    assert refused.value.response["error"] == "team_access_not_granted"


def test_users_info_works_org_wide(client: WebClient) -> None:
    bea = client.users_info(user="W0BEA")["user"]
    assert (bea["team_id"], bea["enterprise_user"]["enterprise_id"]) == ("T0B", "E0ORG")
    eve = client.users_info(user="U0EVE")["user"]
    assert eve["enterprise_user"]["enterprise_id"] == "E0OTHER"


def test_slash_command_of_an_org_install() -> None:
    fields = sr.slash_command(user_id="W0BEA", text="1h", team_id="T0ROKDEMO", response_url="http://r")
    stamp("slash", fields, enterprise_id="E0ORG", team_id="T0B")
    parsed = {k: v[0] for k, v in parse_qs(sr.form_body(fields)).items()}
    assert (parsed["team_id"], parsed["enterprise_id"], parsed["is_enterprise_install"]) == ("T0B", "E0ORG", "true")


def test_block_actions_and_view_submission_of_an_org_install() -> None:
    click = sr.block_actions(user_id="W0BEA", team_id="T0ROKDEMO", action_id="a", value="v", response_url="http://r")
    stamp("interactive", click, enterprise_id="E0ORG", team_id="T0B")
    assert click["team"]["id"] == click["user"]["team_id"] == "T0B"
    assert click["enterprise"]["id"] == click["team"]["enterprise_id"] == "E0ORG"
    assert click["is_enterprise_install"] is True
    nameless = sr.block_actions(user_id="W0BEA", team_id="T0ROKDEMO", action_id="a", value="v", response_url="r")
    stamp("interactive", nameless, enterprise_id="E0ORG", team_id="T0B", null_team=True)
    assert (nameless["team"], nameless["user"]["team_id"]) == (None, "T0B")
    submitted = sr.view_submission(user_id="W0BEA", team_id="T0ROKDEMO", view={"id": "V1"}, values={})
    stamp("interactive", submitted, enterprise_id="E0ORG", team_id="T0B")
    assert (submitted["team"]["id"], submitted["enterprise"]["id"], submitted["is_enterprise_install"]) == (
        "T0B",
        "E0ORG",
        True,
    )


def test_events_of_an_org_install_carry_the_authorization_of_the_organisation() -> None:
    event = sr.app_home_opened(user_id="W0BEA", team_id="T0ROKDEMO", channel_id="D1")
    stamp("event", event, enterprise_id="E0ORG", team_id="T0B")
    assert (event["team_id"], event["context_team_id"], event["enterprise_id"]) == ("T0B", "T0B", "E0ORG")
    (authorization,) = event["authorizations"]
    assert authorization == {
        "enterprise_id": "E0ORG",
        "team_id": None,
        "user_id": "UROKBOT",
        "is_bot": True,
        "is_enterprise_install": True,
    }


def test_team_access_events_name_the_workspaces() -> None:
    revoked = team_access_event(False, ["T0B"], enterprise_id="E0ORG")
    assert revoked["event"] == {
        "type": "team_access_revoked",
        "team_ids": ["T0B"],
        "event_ts": revoked["event"]["event_ts"],
    }
    assert revoked["enterprise_id"] == "E0ORG"
    assert revoked["authorizations"][0]["is_enterprise_install"] is True
    assert team_access_event(True, ["T0C"], enterprise_id="E0ORG")["event"]["type"] == "team_access_granted"


def test_sandbox_people_act_from_their_workspace_and_organisation() -> None:
    people = (
        Person("U0ANNA", "anna", team_id="T0A"),
        Person("W0BEA", "bea", team_id="T0B"),
        Person("U0EVE", "eve", team_id="T0X", enterprise_id="E0OTHER"),
    )
    box = Sandbox(org=ORG, people=people, start_bot=False)
    try:
        box.start()
        assert (box.team_of("W0BEA"), box.enterprise_of("W0BEA")) == ("T0B", "E0ORG")
        assert (box.team_of("U0EVE"), box.enterprise_of("U0EVE")) == ("T0X", "E0OTHER")
        assert box.slack.team_usergroups["T0B"][ADMINS_GROUP] == ["U0ALICE"]
        assert box.slack.users["W0BEA"]["team_id"] == "T0B"
        box.slack.set_teams(["T0A"])
        assert box.slack.granted_teams == ["T0A"]
    finally:
        box.stop()
