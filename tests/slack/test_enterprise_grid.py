"""Enterprise Grid, end to end in both Slack modes: one org-wide install of the bot serves the workspaces of its
organisation, against the fake Slack answering as an org install (`Sandbox(org=...)`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sandbox.slack_org import OrgSpec
from sandbox.world import ADMINS_GROUP, APPROVALS_CHANNEL, DEMO_PEOPLE, Person, Sandbox

ORG = OrgSpec(enterprise_id="E0ORG", teams=("T0A", "T0B"))
PEOPLE = (
    *DEMO_PEOPLE,  # workspace T0A, the first
    Person("W0BEA", "bea", "bea@example.com", mapped_to="jdoe2", team_id="T0B"),  # an org-wide W… ID
    Person("U0EVE", "eve", "eve@example.com", mapped_to="alice", team_id="T0X", enterprise_id="E0OTHER"),
    # A workspace of the organisation the app was never added to (auth.teams.list does not name it).
    Person("W0CID", "cid", "cid@example.com", mapped_to="alice", team_id="T0C"),
)
# Two tokens an hour, so the third request of one person is refused wherever they ask from; a group rule, so
# every request looks up user groups (with the request's workspace: an org token needs its team_id).
POLICY = f"""\
limits: {{default: 1h, min: 5m, max: 7d}}
groups:
  - {{usergroup: {ADMINS_GROUP}, name: admins, max: 30d}}
quota: {{per_hour: 2, cooldown: 0}}
"""


@pytest.fixture(params=["http", "socket"])
def box(request: pytest.FixtureRequest) -> Iterator[Sandbox]:
    with Sandbox(org=ORG, people=PEOPLE, policy=POLICY, socket_mode=request.param == "socket") as box:
        yield box


def _token(box: Sandbox, user_id: str, team_id: str | None = None) -> None:
    before = len(box.private_messages(user_id))
    status, _, _ = box.slash(user_id, "1h", team_id=team_id)
    assert status == 200
    assert box.wait_private(user_id, count=before + 1)[-1].token is not None


def test_users_of_two_workspaces_get_tokens_from_one_bot_and_group_lookups_name_their_workspace(box: Sandbox) -> None:
    _token(box, "U0JDOE")  # workspace T0A
    _token(box, "W0BEA")  # workspace T0B, an org-wide W… user ID
    assert len(box.rok.minted) == 2
    # One audit channel serves every workspace: each line says which one the request came from.
    box.wait_audit("issued", count=2)
    ids = {line.facts.split("<@")[1].split(">")[0]: line.ids for line in box.audit_lines("issued")}
    assert "workspace `T0A` of org `E0ORG`" in ids["U0JDOE"]
    assert "workspace `T0B` of org `E0ORG`" in ids["W0BEA"]
    # The fake refuses a user-group lookup without team_id, as Slack does for an org token.
    teams = {team for _, team in box.usergroup_calls()}
    assert {"T0A", "T0B"} <= teams and None not in teams


def test_a_user_of_another_organisation_is_refused_and_nothing_runs(box: Sandbox) -> None:
    execs = len(box.kube.execs)
    status, ack, _ = box.slash("U0EVE", "1h")
    assert status == 200 and ack is not None and "only serves its own Slack workspace" in ack["text"]
    assert len(box.kube.execs) == execs and box.rok.minted == []


def test_a_revoked_workspace_is_audited_and_its_requests_are_refused(box: Sandbox) -> None:
    _token(box, "W0BEA")
    box.revoke_team("T0B")
    box.wait_audit("access_revoked")
    minted, execs = len(box.rok.minted), len(box.kube.execs)
    status, ack, _ = box.slash("W0BEA", "1h")
    assert status == 200 and ack is not None and "only serves its own Slack workspace" in ack["text"]
    assert len(box.rok.minted) == minted and len(box.kube.execs) == execs
    _token(box, "U0JDOE")  # the other workspace is still served


def test_the_quota_holds_for_one_person_across_two_workspaces(box: Sandbox) -> None:
    _token(box, "W0BEA", team_id="T0A")
    _token(box, "W0BEA", team_id="T0B")
    box.idle()
    _, _, url = box.slash("W0BEA", "1h", team_id="T0A")
    refusal = box.wait_reply(url).text
    box.idle()
    assert "You have had 2 tokens in the last hour" in refusal and len(box.rok.minted) == 2


def test_a_workspace_the_app_is_not_in_is_refused_from_the_first_request(box: Sandbox) -> None:
    status, ack, _ = box.slash("W0CID", "1h")
    assert status == 200 and ack is not None and "only serves its own Slack workspace" in ack["text"]
    assert box.rok.minted == []


def test_a_replica_that_missed_the_revoke_event_refuses_the_workspace_within_a_minute(box: Sandbox) -> None:
    _token(box, "W0BEA")
    box.slack.set_teams(["T0A"])  # removed from T0B; Slack delivered team_access_revoked to another replica
    box.advance(60)
    minted = len(box.rok.minted)
    status, ack, _ = box.slash("W0BEA", "1h")
    assert status == 200 and ack is not None and "only serves its own Slack workspace" in ack["text"]
    box.slack.set_teams(["T0A", "T0B"])  # added back, the grant event went elsewhere too
    box.advance(60)
    _token(box, "W0BEA")
    assert len(box.rok.minted) == minted + 1


APPROVALS_POLICY = f"""\
limits: {{default: 1h, min: 5m, max: 7d}}
groups:
  - {{usergroup: {ADMINS_GROUP}, name: admins, max: 30d}}
quota: {{per_hour: 100, cooldown: 0}}
approvals:
  channel: {APPROVALS_CHANNEL}
  approvers:
    users: [U0BOB]
  max: 30d
  expire_after: 1h
"""


@pytest.mark.parametrize("mode", ["http", "socket"])
def test_an_approver_in_one_workspace_approves_a_request_from_another(mode: str) -> None:
    """The approvals channel is org-shared: W0BEA asks from T0B, U0BOB approves from T0A, W0BEA's click mints.
    Each audit line of the story names the workspace the request came from; the stored request names the
    organisation."""
    with Sandbox(org=ORG, people=PEOPLE, policy=APPROVALS_POLICY, socket_mode=mode == "socket") as box:
        status, ack, url = box.slash("W0BEA", "14d because training run X")
        assert status == 200 and ack is not None
        message = box.wait_approval_request()
        box.wait_reply(url)
        box.decide("U0BOB", message)
        box.org_null_team = True  # Slack may send an org install's interactions with `team: null`
        box.show_my_token("W0BEA")
        reply = box.wait_private("W0BEA")[-1]
        assert reply.token is not None and box.rok.lookup(reply.token).username == "jdoe2"  # type: ignore[union-attr]
        box.wait_audit("issued")
        ids = {line.outcome: line.ids for line in box.audit_lines()}
        assert "workspace `T0B` of org `E0ORG`" in ids["approval_requested"]
        assert "workspace `T0B` of org `E0ORG`" in ids["approved"]  # the request's, whoever decides
        assert "workspace `T0B` of org `E0ORG`" in ids["issued"]
        stored = box.server.bot.store.approvals.get(message.request_value)
        assert stored is not None and (stored.team_id, stored.enterprise_id) == ("T0B", "E0ORG")
        assert None not in {team for _, team in box.usergroup_calls()}
