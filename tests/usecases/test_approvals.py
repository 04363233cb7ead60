"""The approval flow's decisions on in-memory fakes: who may decide, what gets minted for whom, once."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import timedelta
from typing import Any

import msgspec
import pytest

from bot.domain.approvals import PendingRequest, RequestStatus
from bot.domain.audit import Origin, Outcome
from bot.domain.errors import CommandFailed
from bot.domain.policy import build_policy
from bot.usecases import (
    Decision,
    Issued,
    IssueRequest,
    ShowToken,
    decide_request,
    issue_token,
    lapse_due,
    pending_for,
    show_approved_token,
)
from tests.usecases.fakes import World, world

H, D = 3600, 86400
POLICY: dict[str, Any] = {
    "quota": {"per_hour": 100, "cooldown": 0},
    "approvals": {
        "channel": "C0APPROVALS",
        "approvers": {"users": ["U0BOB", "U0JDOE"], "usergroups": ["S0LEADS"]},
        "max": "30d",
        "expire_after": "1h",
    },
}


def _world(policy: dict[str, Any] | None = None) -> World:
    w = world(policy=policy or POLICY)
    w.directory.groups["S0LEADS"] = {"U0ALICE"}
    return w


def _ask(w: World, seconds: int = 14 * D, reason: str = "training run X") -> PendingRequest:
    result = issue_token(w.ports, IssueRequest(w.ctx("U0JDOE"), seconds, reason=reason))
    assert isinstance(result, PendingRequest)
    return result


def _decide(w: World, user_id: str, request: PendingRequest, *, approve: bool = True, **kw: Any) -> Any:
    ctx = w.ctx(user_id, request_id=f"click-{user_id}")
    return decide_request(w.ports, Decision(ctx, request.id, approve=approve, **kw))


def _show(w: World, request: PendingRequest, user_id: str = "U0JDOE", rid: str = "show") -> Any:
    """The requester's click on Show my token in the DM that says their request was approved."""
    ctx = msgspec.structs.replace(
        w.ctx(user_id, request_id=rid), origin=Origin.APPROVAL, reply_to="https://hooks.example/show"
    )
    return show_approved_token(w.ports, ShowToken(ctx, request.id))


def _told(w: World, user_id: str) -> list[str]:
    return [text for ctx, text in w.replies.notices if ctx.user_id == user_id]


def test_above_the_users_limit_the_request_goes_to_the_approvers_and_nothing_is_minted() -> None:
    w = _world()
    request = _ask(w)
    assert w.engine.minted == []
    assert (request.user_id, request.rok_user, request.seconds, request.usual_max) == ("U0JDOE", "jdoe", 14 * D, 7 * D)
    assert request.reason == "training run X" and request.status is RequestStatus.PENDING
    assert request.requested_at == w.clock.now() and (request.expires_at - request.requested_at).total_seconds() == H
    [posted] = w.board.posted
    assert posted.id == request.id and posted.seconds == 14 * D
    [(ctx, told)] = w.board.submitted_to
    assert ctx.user_id == "U0JDOE" and told.id == request.id and told.channel == "C0APPROVALS"
    [event] = w.audit.events
    assert (event.outcome, event.slack_user, event.duration_seconds, event.reason) == (
        Outcome.APPROVAL_REQUESTED,
        "U0JDOE",
        14 * D,
        "training run X",
    )
    assert w.ports.quota.remaining("U0JDOE") == 100  # the quota applies when minting, not when asking
    assert pending_for(w.ports, "U0JDOE") == [w.pending.rows[request.id]]


def test_within_the_users_limit_it_mints_at_once_and_above_approvals_max_it_is_refused_at_once() -> None:
    w = _world()
    assert isinstance(issue_token(w.ports, IssueRequest(w.ctx("U0JDOE"), 7 * D)), Issued)
    assert issue_token(w.ports, IssueRequest(w.ctx("U0JDOE"), 60 * D)) is None
    assert "60d is longer than anyone can approve (30d); your own limit is 7d" in _told(w, "U0JDOE")[-1]
    assert w.board.posted == [] and len(w.engine.minted) == 1
    assert w.audit.outcomes() == ["issued", "refused"]


def test_without_approvals_in_the_policy_above_the_limit_is_refused_as_before() -> None:
    w = world()
    assert issue_token(w.ports, IssueRequest(w.ctx("U0JDOE"), 14 * D)) is None
    assert "longer than your limit of 7d" in w.replies.notices[-1][1]


def test_the_requester_cannot_decide_even_when_listed_and_a_non_approver_cannot_either() -> None:
    w = _world()
    request = _ask(w)
    assert _decide(w, "U0JDOE", request) is None
    assert "your own request" in _told(w, "U0JDOE")[-1]
    assert _decide(w, "U0MALLORY", request) is None
    assert _decide(w, "U0MALLORY", request, approve=False) is None
    assert _told(w, "U0MALLORY") == ["You cannot approve this request: only the listed approvers can."] * 2
    assert w.engine.minted == [] and w.board.decisions == []
    assert w.pending.rows[request.id].status is RequestStatus.PENDING
    refusals = [e for e in w.audit.events if e.outcome == Outcome.REFUSED]
    assert [e.slack_user for e in refusals] == ["U0JDOE", "U0MALLORY", "U0MALLORY"]


def test_an_approver_by_group_approves_and_the_requester_gets_the_token_once_on_show_my_token() -> None:
    w = _world()
    request = _ask(w)
    decided = _decide(w, "U0ALICE", request)
    assert decided is not None and decided.status is RequestStatus.APPROVED and decided.decided_by == "U0ALICE"
    # Nothing is minted until the requester is there to see it: a persistent DM with Show my token.
    assert w.engine.minted == [] and w.replies.tokens == []
    [shown] = w.board.decisions
    assert shown.status is RequestStatus.APPROVED and shown.claim_by == w.clock.now() + timedelta(hours=24)
    assert [r.id for r in pending_for(w.ports, "U0JDOE")] == [request.id]  # App Home offers the button too
    stored = w.pending.rows[request.id]
    assert (stored.dm_channel, stored.dm_ts) == ("DU0JDOE", "2.000001")
    assert w.audit.outcomes()[-1] == "approved"
    assert isinstance(_show(w, request), Issued)
    [minted] = w.engine.minted
    assert (minted.username, minted.duration_seconds) == ("jdoe", 14 * D)
    [(ctx, issued, _)] = w.replies.tokens
    # Minted for the requester, never the approver, delivered privately in answer to their click.
    assert ctx.user_id == "U0JDOE" and ctx.origin is Origin.APPROVAL and ctx.reply_to == "https://hooks.example/show"
    assert ctx.request_id == request.request_id and issued.token_uuid == minted.token_uuid
    [told] = w.board.shown_to
    assert told.id == request.id and told.status is RequestStatus.CLAIMED
    approved, issued_event = w.audit.events[-2:]
    assert (approved.outcome, approved.actor, approved.slack_user) == (Outcome.APPROVED, "U0ALICE", "U0JDOE")
    assert (issued_event.outcome, issued_event.actor, issued_event.slack_user) == (Outcome.ISSUED, "U0ALICE", "U0JDOE")
    assert issued_event.request_id == request.request_id and issued_event.token_uuid == minted.token_uuid
    assert w.ports.quota.remaining("U0JDOE") == 99 and w.ports.quota.remaining("U0ALICE") == 100
    # A second click, by the same approver or another, or the requester again: nothing more.
    assert _decide(w, "U0ALICE", request) is None
    assert _decide(w, "U0BOB", request, approve=False) is None
    assert "already approved" in _told(w, "U0BOB")[-1]
    assert _show(w, request, rid="show2") is None
    assert "already shown" in _told(w, "U0JDOE")[-1]
    assert len(w.engine.minted) == 1 and len(w.board.decisions) == 1
    assert pending_for(w.ports, "U0JDOE") == []


def test_only_the_requester_may_click_show_my_token() -> None:
    w = _world()
    request = _ask(w)
    _decide(w, "U0BOB", request)
    w.directory.add("U0BOB", email="bob@example.com")
    for clicker in ("U0BOB", "U0MALLORY"):
        assert _show(w, request, clicker) is None
        assert "only the person whose request was approved" in _told(w, clicker)[-1]
    assert w.engine.minted == [] and w.pending.rows[request.id].status is RequestStatus.APPROVED
    assert w.audit.outcomes()[-2:] == ["refused", "refused"]
    assert isinstance(_show(w, request), Issued)


def test_a_double_click_on_show_my_token_mints_once() -> None:
    w = _world()
    request = _ask(w)
    _decide(w, "U0BOB", request)
    barrier = threading.Barrier(8)

    def click(n: int) -> None:
        barrier.wait()
        _show(w, request, rid=f"show{n}")

    threads = [threading.Thread(target=click, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(w.engine.minted) == 1 and len(w.replies.tokens) == 1
    assert w.audit.outcomes().count("issued") == 1


def test_a_mint_that_made_no_token_gives_the_approval_back_so_the_button_works_again() -> None:
    w = _world()
    request = _ask(w)
    _decide(w, "U0BOB", request)
    w.engine.fail = CommandFailed(exit_code=3)
    assert _show(w, request) is None
    assert "management command failed" in _told(w, "U0JDOE")[-1]
    assert w.pending.rows[request.id].status is RequestStatus.APPROVED and w.board.shown_to == []
    w.engine.fail = None
    assert isinstance(_show(w, request, rid="show2"), Issued)


def test_an_approval_nobody_opens_lapses_after_a_day_audited_and_its_button_then_refuses() -> None:
    w = _world()
    request = _ask(w)
    _decide(w, "U0BOB", request, seconds=str(10 * D))
    w.clock.advance(24 * H - 1)
    assert lapse_due(w.ports) == []
    w.clock.advance(1)
    [lapsed] = lapse_due(w.ports)
    assert lapsed.status is RequestStatus.LAPSED and lapsed.decided_by == "U0BOB"
    assert w.board.decisions[-1] == lapsed
    event = w.audit.events[-1]
    assert (event.outcome, event.actor, event.duration_seconds) == (Outcome.LAPSED, "U0BOB", 10 * D)
    assert "approved, but the token was not opened within 1d" in str(event.reason)
    assert _show(w, request) is None
    assert "lapsed" in _told(w, "U0JDOE")[-1]
    assert w.engine.minted == []


def test_an_approver_may_grant_less_never_more() -> None:
    w = _world()
    request = _ask(w)
    assert _decide(w, "U0BOB", request, seconds=str(60 * D)) is None
    assert "at most the 14d asked for" in _told(w, "U0BOB")[-1]
    assert w.engine.minted == []
    decided = _decide(w, "U0BOB", request, seconds=str(10 * D))
    assert decided is not None and decided.approved_seconds == 10 * D
    _show(w, request)
    assert [m.duration_seconds for m in w.engine.minted] == [10 * D]


def test_a_forged_request_id_decides_nothing() -> None:
    w = _world()
    _ask(w)
    forged = Decision(w.ctx("U0BOB"), "0" * 20, approve=True)
    assert decide_request(w.ports, forged) is None
    assert "no such request" in _told(w, "U0BOB")[-1]
    assert w.engine.minted == []


def test_a_denial_tells_the_requester_with_the_note_and_mints_nothing() -> None:
    w = _world()
    request = _ask(w)
    decided = _decide(w, "U0BOB", request, approve=False, note="  not for a demo\n")
    assert decided is not None and decided.status is RequestStatus.DENIED and decided.note == "not for a demo"
    [shown] = w.board.decisions
    assert shown.note == "not for a demo"
    assert w.engine.minted == []
    event = w.audit.events[-1]
    assert (event.outcome, event.actor, event.reason) == (Outcome.DENIED, "U0BOB", "not for a demo")
    assert _decide(w, "U0ALICE", request) is None and w.engine.minted == []


def test_a_request_nobody_decides_lapses_once_and_cannot_be_approved_after() -> None:
    w = _world()
    request = _ask(w)
    assert lapse_due(w.ports) == []
    w.clock.advance(H)
    [lapsed] = lapse_due(w.ports)
    assert lapsed.id == request.id and lapsed.status is RequestStatus.LAPSED
    assert lapse_due(w.ports) == []
    assert w.board.decisions == [lapsed]
    assert w.audit.events[-1].outcome == Outcome.LAPSED and "nobody decided within 1h" in str(w.audit.events[-1].reason)
    assert _decide(w, "U0BOB", request) is None
    assert "already lapsed" in _told(w, "U0BOB")[-1]
    assert w.engine.minted == []


def test_a_click_after_the_expiry_but_before_the_sweep_lapses_the_request() -> None:
    w = _world()
    request = _ask(w)
    w.clock.advance(H + 1)
    assert _decide(w, "U0BOB", request) is None
    assert "lapsed" in _told(w, "U0BOB")[-1]
    assert w.pending.rows[request.id].status is RequestStatus.LAPSED
    assert [d.status for d in w.board.decisions] == [RequestStatus.LAPSED]
    assert w.engine.minted == []


def test_one_request_at_a_time_per_user() -> None:
    w = _world()
    first = _ask(w)
    assert issue_token(w.ports, IssueRequest(w.ctx("U0JDOE", "r2"), 20 * D)) is None
    assert f"already have a request for 14d waiting for approval (request {first.request_id})" in _told(w, "U0JDOE")[-1]
    assert len(w.board.posted) == 1


def test_a_request_the_channel_refuses_is_withdrawn_and_the_requester_told() -> None:
    w = _world()
    w.board.postable = False
    assert issue_token(w.ports, IssueRequest(w.ctx("U0JDOE"), 14 * D)) is None
    assert "could not be put before the approvers" in _told(w, "U0JDOE")[-1]
    assert w.pending.rows == {}
    assert w.audit.outcomes() == ["failed"]


def test_the_quota_applies_when_an_approval_is_minted() -> None:
    w = _world({**POLICY, "quota": {"per_hour": 1, "cooldown": 0}})
    request = _ask(w)
    issue_token(w.ports, IssueRequest(w.ctx("U0JDOE", "r2"), H))  # uses the hour's only place
    assert _decide(w, "U0BOB", request) is not None
    assert _show(w, request) is None
    assert len(w.engine.minted) == 1  # the approval's mint was refused by the quota
    assert "1 tokens in the last hour" in _told(w, "U0JDOE")[-1]
    assert w.audit.outcomes()[-2:] == ["approved", "refused"]
    # Refused before the claim: once the quota allows, the same button works.
    assert w.pending.rows[request.id].status is RequestStatus.APPROVED
    w.clock.advance(H + 1)
    assert isinstance(_show(w, request, rid="show2"), Issued)


def test_a_failed_mint_after_an_approval_is_told_to_the_requester_not_the_approver() -> None:
    w = _world()
    request = _ask(w)
    w.engine.fail = CommandFailed(exit_code=3)
    _decide(w, "U0BOB", request)
    _show(w, request)
    [(ctx, text)] = [(c, t) for c, t in w.replies.notices if c.user_id == "U0JDOE"]
    assert ctx.reply_to == "https://hooks.example/show" and "management command failed" in text
    assert _told(w, "U0BOB") == []


def test_two_approvers_clicking_at_once_mint_once() -> None:
    w = _world()
    request = _ask(w)
    barrier = threading.Barrier(8)

    def click(n: int) -> None:
        barrier.wait()
        _decide(w, "U0BOB" if n % 2 else "U0ALICE", request)

    threads = [threading.Thread(target=click, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    _show(w, request)
    assert len(w.engine.minted) == 1 and len(w.replies.tokens) == 1
    assert w.audit.outcomes().count("approved") == 1


@pytest.mark.parametrize("seconds", [None, str(14 * D)])
def test_the_policy_is_checked_again_when_an_approval_is_minted(seconds: str | None) -> None:
    w = _world()
    request = _ask(w)
    # The admin lowers approvals.max while the request waits: the approval no longer mints.
    tighter = dict(POLICY, approvals={**POLICY["approvals"], "max": "10d"})
    w.ports = replace(w.ports, policy=build_policy(tighter, default=D, minimum=300, maximum=7 * D, allow_guests=False))
    assert _decide(w, "U0BOB", request, seconds=seconds) is not None
    assert _show(w, request) is None
    assert w.engine.minted == []
    assert "longer than the longest an approver can grant of 10d" in _told(w, "U0JDOE")[-1]


def test_an_approver_listed_by_id_needs_no_group_lookup_so_a_broken_group_cannot_stop_them() -> None:
    w = _world()
    request = _ask(w)

    class BrokenGroups(type(w.directory)):  # type: ignore[misc]
        def groups_of(self, user_id: str, groups: frozenset[str], *, team_id: str | None = None) -> frozenset[str]:
            raise RuntimeError("usergroups.users.list: no_such_subteam")

    broken = BrokenGroups(profiles=w.directory.profiles, groups=w.directory.groups)
    w.ports = replace(w.ports, directory=broken)
    assert _decide(w, "U0BOB", request) is not None
    _show(w, request)
    assert [m.duration_seconds for m in w.engine.minted] == [14 * D]


def _second_account_world() -> World:
    """U0JDOE (a listed approver) also has a second Slack account, U0JDOE2, mapped to the same Rok user."""
    w = world(policy=POLICY, user_map={"U0JDOE": "jdoe", "U0JDOE2": "jdoe"})
    w.directory.add("U0JDOE2", email="jdoe.alt@example.com")
    return w


def test_an_approver_cannot_approve_a_request_their_second_account_made_for_their_own_rok_user() -> None:
    w = _second_account_world()
    result = issue_token(w.ports, IssueRequest(w.ctx("U0JDOE2"), 14 * D, reason="nightly retraining"))
    assert isinstance(result, PendingRequest) and result.rok_user == "jdoe"
    assert _decide(w, "U0JDOE", result) is None
    assert "the Rok user jdoe is yours" in _told(w, "U0JDOE")[-1]
    assert _decide(w, "U0JDOE", result, approve=False) is None
    assert w.engine.minted == [] and w.replies.tokens == [] and w.board.decisions == []
    assert w.pending.rows[result.id].status is RequestStatus.PENDING
    refusal = w.audit.events[-1]
    assert (refusal.outcome, refusal.slack_user, refusal.username) == (Outcome.REFUSED, "U0JDOE", "jdoe")
    assert "self-approval through another account" in str(refusal.reason) or "yours" in str(refusal.reason)
    # Another approver may decide it.
    assert _decide(w, "U0BOB", result) is not None


def test_an_approver_whose_email_names_the_requesters_rok_user_cannot_decide() -> None:
    # U0BOB is listed and unmapped; his profile email says he is jdoe (the map gives jdoe to U0JDOE only).
    w = world(policy=POLICY, email_domains=["example.com"])
    w.directory.add("U0BOB", email="jdoe@example.com")
    request = _ask(w)
    assert _decide(w, "U0BOB", request) is None
    assert "the Rok user jdoe is yours" in _told(w, "U0BOB")[-1]
    assert w.engine.minted == []


def test_an_approval_mints_only_for_the_rok_user_the_approver_saw() -> None:
    w = _world()
    request = _ask(w)
    # The user map changes while the request waits: U0JDOE is now jdoe2, who also has an account.
    w.engine.add("jdoe2")
    w.ports = replace(w.ports, identity=world(user_map={"U0JDOE": "jdoe2"}).ports.identity)
    assert _decide(w, "U0BOB", request) is not None
    assert _show(w, request) is None
    assert w.engine.minted == [] and w.replies.tokens == []
    assert "approved for Rok user jdoe, but you are now jdoe2" in _told(w, "U0JDOE")[-1]
    refusal = w.audit.events[-1]
    assert (refusal.outcome, refusal.slack_user, refusal.username, refusal.actor) == (
        Outcome.REFUSED,
        "U0JDOE",
        "jdoe2",
        "U0BOB",
    )
