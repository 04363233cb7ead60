"""A Renew above the owner's own limit goes to the approvers; the request names the token it renews, so that
token is renewed once, whether the renewal is waiting, approved or done."""

from __future__ import annotations

from typing import Any

from bot.domain.approvals import PendingRequest
from bot.domain.audit import Origin
from bot.domain.ledger import TokenStatus
from bot.usecases import Decision, Issued, RenewRequest, ShowToken, decide_request, renew_token, show_approved_token
from tests.usecases.fakes import START
from tests.usecases.fakes_lifecycle import LifeWorld, life_world

D = 86400
POLICY: dict[str, Any] = {
    "quota": {"per_hour": 100, "cooldown": 0},
    "approvals": {"channel": "C0APPROVALS", "approvers": {"users": ["U0BOB"]}, "max": "30d", "expire_after": "1h"},
}


def _world() -> tuple[LifeWorld, int]:
    """jdoe holds a 14-day token (approved earlier): a Renew of it is above his 7-day limit."""
    w = life_world(policy=POLICY)
    entry_id = w.ledger.add_issued("U0JDOE", seconds=14 * D, issued_at=START, token_uuid="0ld-uuid")
    return w, entry_id


def _renew(w: LifeWorld, entry_id: int, rid: str) -> object:
    return renew_token(w.ports, RenewRequest(w.ctx(request_id=rid, origin=Origin.RENEW), entry_id))


def _approve(w: LifeWorld, request: PendingRequest) -> object:
    decided = decide_request(w.ports, Decision(w.ctx("U0BOB", f"click-{request.id}"), request.id, approve=True))
    assert decided is not None
    return show_approved_token(w.ports, ShowToken(w.ctx(request_id=f"show-{request.id}"), request.id))


def test_a_renewal_that_went_to_approval_names_the_token_it_renews_and_cannot_be_asked_twice() -> None:
    w, old = _world()
    request = _renew(w, old, "r1")
    assert isinstance(request, PendingRequest) and request.renews_entry == old
    assert _renew(w, old, "r2") is None
    assert "renewal of this token is already waiting for approval" in w.base.replies.notices[-1][1]
    assert len(w.base.board.posted) == 1 and w.base.engine.minted == []


def test_a_token_renewed_through_an_approval_cannot_be_renewed_again() -> None:
    w, old = _world()
    request = _renew(w, old, "r1")
    assert isinstance(request, PendingRequest)
    assert isinstance(_approve(w, request), Issued)
    [minted] = w.base.engine.minted
    row = next(r for r in w.ledger.rows if r.token_uuid == minted.token_uuid)
    assert (row.renewed_from, row.status) == (old, TokenStatus.ISSUED)
    # The reminder's Renew clicked again: no second request, no second token.
    assert _renew(w, old, "r3") is None
    assert "renewed already" in w.base.replies.notices[-1][1]
    assert len(w.base.board.posted) == 1 and len(w.base.engine.minted) == 1


def test_a_renew_while_its_approved_renewal_waits_for_show_my_token_is_refused() -> None:
    w, old = _world()
    request = _renew(w, old, "r1")
    assert isinstance(request, PendingRequest)
    decide_request(w.ports, Decision(w.ctx("U0BOB", "click"), request.id, approve=True))
    assert _renew(w, old, "r2") is None
    assert "renewal of this token was approved" in w.base.replies.notices[-1][1]
    assert len(w.base.board.posted) == 1 and w.base.engine.minted == []


def test_a_renewal_shown_through_show_my_token_edits_the_tokens_reminder() -> None:
    w, old = _world()
    w.ledger.reminder_posted(old, channel="D0JDOE", ts="1700000000.000001")
    request = _renew(w, old, "r1")
    assert isinstance(request, PendingRequest)
    issued = _approve(w, request)
    assert isinstance(issued, Issued)
    [(what, posted, uuid)] = w.surfaces.edits
    assert (what, posted.ts, uuid) == ("renewed", "1700000000.000001", issued.token_uuid)
