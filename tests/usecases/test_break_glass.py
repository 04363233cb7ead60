"""Break-glass on in-memory fakes: members of its groups mint at once, with a reason, loudly; others never."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from bot.domain.audit import Origin, Outcome
from bot.domain.models import RequestContext
from bot.usecases import Issued, IssueRequest, issue_token
from tests.usecases.fakes import TEAM, World, world

H, D = 3600, 86400
POLICY: dict[str, Any] = {
    "quota": {"per_hour": 100, "cooldown": 0},
    "approvals": {"channel": "C0APPROVALS", "approvers": {"users": ["U0BOB"]}, "max": "30d"},
    "break_glass": {"usergroups": ["S0ONCALL"], "max": "4h"},
}


def _world(policy: dict[str, Any] | None = None) -> World:
    w = world(policy=policy or POLICY)
    w.directory.groups["S0ONCALL"] = {"U0JDOE"}
    return w


def _glass(w: World, seconds: int | None = 2 * H, reason: str = "incident 4711", user_id: str = "U0JDOE") -> object:
    ctx = RequestContext("r1", user_id, Origin.BREAK_GLASS, reply_to="https://hooks.example/r", team_id=TEAM)
    return issue_token(w.ports, IssueRequest(ctx, seconds, reason=reason, break_glass=True))


def test_a_member_mints_at_once_with_a_distinct_outcome_and_a_loud_notice() -> None:
    w = _world()
    assert isinstance(_glass(w), Issued)
    [minted] = w.engine.minted
    assert minted.duration_seconds == 2 * H
    [event] = w.audit.events
    assert (event.outcome, event.reason, event.slack_user) == (Outcome.BREAK_GLASS, "incident 4711", "U0JDOE")
    assert event.token_uuid == minted.token_uuid
    assert w.board.announced == [event] and w.board.posted == []  # a notice, not a request to approve
    assert w.ports.quota.remaining("U0JDOE") == 99


def test_a_non_member_is_refused_and_audited_nothing_minted() -> None:
    w = _world()
    w.directory.groups["S0ONCALL"] = {"U0ALICE"}
    assert _glass(w) is None
    assert w.engine.minted == [] and w.board.announced == []
    assert "may not use break-glass" in w.replies.notices[-1][1]
    [event] = w.audit.events
    assert event.outcome == Outcome.REFUSED and "break-glass" in str(event.reason)


def test_break_glass_needs_a_reason_and_stays_within_its_own_maximum() -> None:
    w = _world()
    assert _glass(w, reason="") is None
    assert "needs a reason" in w.replies.notices[-1][1]
    assert _glass(w, seconds=5 * H) is None
    assert "longer than the break-glass limit of 4h" in w.replies.notices[-1][1]
    assert w.engine.minted == [] and w.audit.outcomes() == ["refused", "refused"]


def test_without_break_glass_in_the_policy_it_is_refused() -> None:
    w = _world({"quota": {"per_hour": 100, "cooldown": 0}})
    assert _glass(w) is None
    assert "not enabled" in w.replies.notices[-1][1]
    assert w.engine.minted == []


def test_without_an_approvals_channel_the_audit_channel_alone_hears_it() -> None:
    w = _world({"quota": {"per_hour": 100, "cooldown": 0}, "break_glass": {"usergroups": ["S0ONCALL"], "max": "4h"}})
    w.ports = replace(w.ports, board=None)
    assert isinstance(_glass(w), Issued)
    assert w.audit.outcomes() == ["break_glass"]
