"""Enterprise Grid: which requests an org-wide install serves (pure: no fakes)."""

from __future__ import annotations

import pytest

from bot.domain.identity import Workspace, parse_team_ids, workspace_of

ORG = {"team_id": "T0ORG", "enterprise_id": "E0ORG", "is_enterprise_install": True}


def test_a_workspace_install_serves_its_own_team_only() -> None:
    home = workspace_of({"team_id": "T0A"})
    assert not home.org_wide
    assert home.owns(team_id="T0A", enterprise_id=None)
    assert not home.owns(team_id="T0B", enterprise_id=None)


def test_a_workspace_install_on_a_grid_workspace_keeps_todays_enterprise_rule() -> None:
    grid = workspace_of({"team_id": "T0A", "enterprise_id": "E0ORG", "is_enterprise_install": False})
    assert not grid.org_wide
    assert grid.owns(team_id="T0B", enterprise_id="E0ORG")
    assert not grid.owns(team_id="T0A", enterprise_id="E0OTHER")


def test_an_org_install_serves_every_workspace_of_its_enterprise() -> None:
    org = workspace_of(ORG)
    assert org.org_wide
    assert org.owns(team_id="T0A", enterprise_id="E0ORG")
    assert org.owns(team_id="T0B", enterprise_id="E0ORG")


def test_an_org_install_refuses_another_organisation_and_a_request_without_a_workspace() -> None:
    org = workspace_of(ORG)
    assert not org.owns(team_id="T0A", enterprise_id="E0OTHER")
    assert not org.owns(team_id="T0A", enterprise_id=None)
    assert not org.owns(team_id=None, enterprise_id="E0ORG")


def test_slack_teams_narrows_an_org_install_to_the_listed_workspaces() -> None:
    org = workspace_of(ORG, teams="T0A, T0C")
    assert org.owns(team_id="T0A", enterprise_id="E0ORG")
    assert not org.owns(team_id="T0B", enterprise_id="E0ORG")


def test_a_revoked_workspace_is_refused_until_access_is_granted_again() -> None:
    org = workspace_of(ORG)
    org.revoke(["T0B"])
    assert not org.owns(team_id="T0B", enterprise_id="E0ORG")
    assert org.owns(team_id="T0A", enterprise_id="E0ORG")
    org.grant(["T0B"])
    assert org.owns(team_id="T0B", enterprise_id="E0ORG")


def test_a_grant_does_not_widen_the_configured_list() -> None:
    org = workspace_of(ORG, teams="T0A")
    org.grant(["T0B"])
    assert not org.owns(team_id="T0B", enterprise_id="E0ORG")


def test_is_enterprise_install_is_read_as_slack_sends_it_string_or_bool() -> None:
    assert workspace_of({**ORG, "is_enterprise_install": "true"}).org_wide
    assert not workspace_of({**ORG, "is_enterprise_install": "false"}).org_wide
    assert not workspace_of({"team_id": "T0A", "is_enterprise_install": True}).org_wide  # no enterprise


def test_the_team_list_is_parsed_and_a_bad_id_is_refused() -> None:
    assert parse_team_ids(None) is None
    assert parse_team_ids("  ") is None
    assert parse_team_ids("T0A,T0B,") == frozenset({"T0A", "T0B"})
    with pytest.raises(ValueError, match="not a Slack workspace ID"):
        parse_team_ids("T0A,general")


def test_equal_workspaces_compare_equal_whatever_was_revoked() -> None:
    a, b = Workspace("T0ORG", "E0ORG", True), Workspace("T0ORG", "E0ORG", True)
    a.revoke(["T0B"])
    assert a == b


def test_auth_teams_list_names_the_workspaces_served_and_an_unlisted_one_is_refused() -> None:
    org = workspace_of(ORG)
    assert org.owns(team_id="T0C", enterprise_id="E0ORG")  # never asked: Slack routes only its workspaces
    org.access.learn(["T0A", "T0B"], asked_at=org.access.asking())
    assert org.owns(team_id="T0B", enterprise_id="E0ORG")
    assert not org.owns(team_id="T0C", enterprise_id="E0ORG")


def test_an_answer_asked_before_an_access_event_does_not_undo_it() -> None:
    org = workspace_of(ORG)
    asked_at = org.access.asking()
    org.revoke(["T0B"])  # heard while auth.teams.list was on its way, its answer still naming T0B
    org.access.learn(["T0A", "T0B"], asked_at=asked_at)
    assert not org.owns(team_id="T0B", enterprise_id="E0ORG")
    asked_at = org.access.asking()
    org.grant(["T0C"])
    org.access.learn(["T0A"], asked_at=asked_at)
    assert org.owns(team_id="T0C", enterprise_id="E0ORG")
    assert not org.owns(team_id="T0B", enterprise_id="E0ORG")


def test_an_answer_asked_after_an_access_event_is_the_truth() -> None:
    org = workspace_of(ORG)
    org.revoke(["T0B"])
    org.access.learn(["T0A", "T0B"], asked_at=org.access.asking())  # added back, the event went elsewhere
    assert org.owns(team_id="T0B", enterprise_id="E0ORG")
    org.access.learn(["T0A"], asked_at=org.access.asking())  # removed, the event went to another replica
    assert not org.owns(team_id="T0B", enterprise_id="E0ORG")
