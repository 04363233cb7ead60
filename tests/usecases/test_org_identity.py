"""Enterprise Grid on in-memory fakes: one person is one identity whatever workspace they ask from."""

from __future__ import annotations

from typing import Any

import pytest

from bot.domain.audit import Origin, Outcome
from bot.domain.identity import workspace_of
from bot.domain.models import RequestContext
from bot.domain.policy import PolicyError, build_policy
from bot.usecases import Issued, IssueRequest, issue_token
from tests.usecases.fakes import World, world

ORG = {"team_id": "T0ORG", "enterprise_id": "E0ORG", "is_enterprise_install": True}


def _org_world(policy: dict[str, Any] | None = None) -> World:
    w = world(policy=policy, user_map={"W0JDOE": "jdoe"})
    w.directory.add("W0JDOE", email="jdoe@example.com")
    w.ports.identity.workspace = workspace_of(ORG)
    return w


def _ask(w: World, team_id: str, request_id: str, **kwargs: Any) -> object:
    origin = Origin.BREAK_GLASS if kwargs.get("break_glass") else Origin.COMMAND
    ctx = RequestContext(request_id, "W0JDOE", origin, "https://hooks.example/r", team_id, enterprise_id="E0ORG")
    return issue_token(w.ports, IssueRequest(ctx, 3600, **kwargs))


def test_a_w_user_gets_a_token_and_the_audit_names_the_workspace_and_the_organisation() -> None:
    w = _org_world()
    assert isinstance(_ask(w, "T0B", "r1"), Issued)
    [event] = w.audit.events
    assert (event.outcome, event.slack_user, event.username) == (Outcome.ISSUED, "W0JDOE", "jdoe")
    assert (event.team_id, event.enterprise_id) == ("T0B", "E0ORG")


def test_the_quota_holds_for_one_person_across_two_workspaces() -> None:
    w = _org_world({"quota": {"per_hour": 1, "cooldown": 0}})
    assert isinstance(_ask(w, "T0A", "r1"), Issued)
    assert not isinstance(_ask(w, "T0B", "r2"), Issued)
    assert [e.outcome for e in w.audit.events] == [Outcome.ISSUED, Outcome.REFUSED]
    assert len(w.engine.minted) == 1


def test_the_cooldown_holds_across_workspaces_too() -> None:
    w = _org_world({"quota": {"per_hour": 100, "cooldown": "10m"}})
    assert isinstance(_ask(w, "T0A", "r1"), Issued)
    assert not isinstance(_ask(w, "T0B", "r2"), Issued)


def test_a_user_group_lookup_carries_the_requests_workspace() -> None:
    policy = {"quota": {"per_hour": 100, "cooldown": 0}, "break_glass": {"usergroups": ["S0ONCALL"], "max": "4h"}}
    w = _org_world(policy)
    w.directory.groups["S0ONCALL"] = {"W0JDOE"}
    assert isinstance(_ask(w, "T0B", "r1", reason="incident 4711", break_glass=True), Issued)
    assert "T0B" in w.directory.asked_teams and None not in w.directory.asked_teams


def test_the_policy_takes_w_users_and_groups_that_name_their_workspace() -> None:
    approvers = {"users": ["W0BOB", "U0ANN"], "usergroups": ["T0A:S0LEADS", "S0OPS"]}
    policy = _policy({"approvals": {"channel": "C0APPROVALS", "approvers": approvers, "max": "30d"}})
    assert policy.approvals is not None
    assert policy.approvals.users == {"W0BOB", "U0ANN"}
    assert policy.approvals.usergroups == {"T0A:S0LEADS", "S0OPS"}


def test_a_group_reference_must_be_a_workspace_then_a_group() -> None:
    for bad in ("S0LEADS:T0A", "T0A:", "E0ORG:S0LEADS", "T0A:S0LEADS:S0X"):
        with pytest.raises(PolicyError):
            _policy({"break_glass": {"usergroups": [bad], "max": "4h"}})


def _policy(data: dict[str, Any]) -> Any:
    return build_policy(data, default=86400, minimum=300, maximum=7 * 86400, allow_guests=False)
