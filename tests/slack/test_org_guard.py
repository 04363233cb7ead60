"""Enterprise Grid at the ack: the guard and the workspace-access listeners on a real Bolt app (no Slack server).

Bolt dispatches a Socket Mode request body in-process; nothing here reaches the network (the app verifies no
token and the listeners only ack and queue the audit). The Slack-level end-to-end tests, against the fake
Slack answering as an org install, come with the sandbox's org mode.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from slack_bolt import App, BoltRequest
from slack_bolt.authorization import AuthorizeResult

from bot.domain.identity import workspace_of
from bot.runtime.jobs import Capacity, Jobs
from bot.slack.app import SlackFrontEnd, org_event, register
from bot.slack.dedupe import SeenRequests
from bot.slack.org import register_org, team_ids_of
from tests.usecases.fakes import World, world

ORG = {"team_id": "T0ORG", "enterprise_id": "E0ORG", "is_enterprise_install": True}


@pytest.fixture
def org() -> Iterator[tuple[App, World, Jobs]]:
    w = world()
    w.ports.identity.workspace = workspace_of(ORG)
    jobs = Jobs(workers=1, on_error=lambda exc, job: None)
    front = SlackFrontEnd(ports=w.ports, jobs=jobs, capacity=Capacity(4), seen=SeenRequests(clock=w.clock.monotonic))
    # Bolt's own authorize hook, answering as the org install would: no auth.test on the network.
    app = App(signing_secret="unused", authorize=_org_authorize, process_before_response=True)
    register(app, front)
    register_org(app, front)
    yield app, w, jobs
    jobs.drain(5.0)


def _org_authorize(enterprise_id: str | None, team_id: str | None, **_: Any) -> AuthorizeResult:
    return AuthorizeResult(enterprise_id=enterprise_id, team_id=team_id, bot_token="xoxb-test", bot_user_id="U0BOT")


def _access_event(kind: str, teams: list[str], enterprise_id: str = "E0ORG") -> dict[str, Any]:
    return {
        "type": "event_callback",
        "event_id": f"Ev{kind}{''.join(teams)}",
        "enterprise_id": enterprise_id,
        "team_id": teams[0] if teams else "T0ORG",
        "is_ext_shared_channel": False,
        "event": {"type": kind, "team_ids": teams, "event_ts": "1.0"},
    }


def _command(team_id: str, enterprise_id: str) -> dict[str, Any]:
    return {
        "command": "/rok-token",
        "text": "help",
        "user_id": "W0JDOE",
        "team_id": team_id,
        "enterprise_id": enterprise_id,
        "is_enterprise_install": "true",
        "trigger_id": f"trig-{team_id}-{enterprise_id}",
        "channel_id": "D0JDOE",
        "response_url": "https://hooks.slack.invalid/x",
    }


def _dispatch(app: App, body: dict[str, Any]) -> tuple[int, str]:
    response = app.dispatch(BoltRequest(body=body, mode="socket_mode"))
    return response.status, response.body if isinstance(response.body, str) else json.dumps(response.body)


def test_a_command_from_another_organisation_is_refused_at_the_ack(org: tuple[App, World, Jobs]) -> None:
    app, _w, _jobs = org
    status, body = _dispatch(app, _command("T0A", "E0OTHER"))
    assert status == 200
    assert "only serves its own Slack workspace" in body


def test_a_command_from_a_workspace_of_the_org_passes_the_guard(org: tuple[App, World, Jobs]) -> None:
    app, _w, _jobs = org
    status, body = _dispatch(app, _command("T0B", "E0ORG"))
    assert status == 200
    assert "only serves its own Slack workspace" not in body


def test_team_access_revoked_refuses_that_workspace_then_granted_serves_it_again(
    org: tuple[App, World, Jobs],
) -> None:
    app, w, jobs = org
    assert _dispatch(app, _access_event("team_access_revoked", ["T0B"]))[0] == 200
    assert "only serves its own Slack workspace" in _dispatch(app, _command("T0B", "E0ORG"))[1]
    assert "only serves its own Slack workspace" not in _dispatch(app, _command("T0A", "E0ORG"))[1]
    assert _dispatch(app, _access_event("team_access_granted", ["T0B"]))[0] == 200
    assert jobs.drain(5.0)
    outcomes = [(e.outcome, e.reason, e.enterprise_id) for e in w.audit.events]
    assert ("access_revoked", "workspaces: T0B", "E0ORG") in outcomes
    assert ("access_granted", "workspaces: T0B", "E0ORG") in outcomes
    assert w.ports.identity.workspace.owns(team_id="T0B", enterprise_id="E0ORG")


def test_an_access_event_from_another_organisation_changes_nothing(org: tuple[App, World, Jobs]) -> None:
    app, w, _jobs = org
    _dispatch(app, _access_event("team_access_revoked", ["T0B"], enterprise_id="E0OTHER"))
    assert w.ports.identity.workspace.owns(team_id="T0B", enterprise_id="E0ORG")


def test_access_events_are_recognised_and_their_team_ids_checked() -> None:
    assert org_event(_access_event("team_access_granted", ["T0A"]))
    assert not org_event({"type": "event_callback", "event": {"type": "app_home_opened"}})
    assert team_ids_of({"team_ids": ["T0B", "T0A", "T0A", "not a team", 7]}) == ["T0A", "T0B"]
