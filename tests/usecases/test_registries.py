"""Several registries on the in-memory fakes: a request reaches the registry it names, its channel's, the
user's only one, or a chooser; everything that comes back later (Verify, Renew, an approval) goes to the
registry that minted or was asked."""

from __future__ import annotations

from typing import Any

from bot.domain.approvals import PendingRequest
from bot.domain.ledger import TokenStatus
from bot.domain.ports import TokenQuery
from bot.usecases import (
    Decision,
    Issued,
    RenewRequest,
    ShowToken,
    decide_request,
    renew_token,
    show_approved_token,
    verify_button,
    worker_share,
)
from tests.usecases.fakes_fleet import PROD_CHANNEL, FleetWorld, fleet_world

D = 86400
ONLY_ANN_ON_STAGING: dict[str, dict[str, Any]] = {"staging": {"allow": {"users": ["U0ANN"]}}}


def _registries_of(w: FleetWorld) -> list[str]:
    return [event.registry for event in w.life.base.audit.events]


def test_a_named_registry_mints_there_and_only_there() -> None:
    w = fleet_world()
    issued = w.ask("staging")
    assert isinstance(issued, Issued)
    assert w.minted() == {"prod": 0, "staging": 1}
    assert _registries_of(w) == ["staging"]
    [row] = w.life.ledger.tokens(TokenQuery(slack_user="U0JDOE"))
    assert row.registry == "staging"


def test_the_channel_default_when_none_is_named() -> None:
    w = fleet_world()
    w.ask(channel=PROD_CHANNEL)
    assert w.minted() == {"prod": 1, "staging": 0}
    w.ask("staging", channel=PROD_CHANNEL, rid="r2")  # a name beats the channel
    assert w.minted() == {"prod": 1, "staging": 1}


def test_the_users_only_eligible_registry_without_asking() -> None:
    w = fleet_world({"prod": {"allow": {"users": ["U0JDOE"]}}, **ONLY_ANN_ON_STAGING})
    w.ask()
    assert w.minted() == {"prod": 1, "staging": 0}
    assert w.life.base.replies.offers == []


def test_a_chooser_mints_nothing_and_its_click_mints_in_the_registry_clicked() -> None:
    w = fleet_world()
    assert w.ask(reason="deploy", seconds=7200) is None
    [(_, offer)] = w.life.base.replies.offers
    assert [name for name, _ in offer.choices] == ["prod", "staging"]
    assert dict(offer.choices)["prod"] == "Production"
    assert (offer.seconds, offer.reason) == (7200, "deploy")
    assert w.minted() == {"prod": 0, "staging": 0} and w.life.base.audit.events == []
    issued = w.ask("staging", rid="click", seconds=offer.seconds, reason=offer.reason)
    assert isinstance(issued, Issued) and issued.seconds == 7200
    assert w.minted() == {"prod": 0, "staging": 1}


def test_the_chooser_offers_only_the_registries_the_user_may_use() -> None:
    w = fleet_world({**ONLY_ANN_ON_STAGING, "prod": {"allow": {"users": ["U0ANN", "U0JDOE"]}}})
    w.life.base.directory.add("U0ANN", email="ann@example.com")
    w.ask(user="U0ANN")
    [(_, offer)] = w.life.base.replies.offers
    assert [name for name, _ in offer.choices] == ["prod", "staging"]
    w.ask(channel="C0ELSEWHERE", rid="r2")  # jdoe: staging is not open to them, so prod at once
    assert w.minted() == {"prod": 1, "staging": 0}


def test_an_unknown_or_forbidden_name_is_refused_and_nothing_runs_anywhere() -> None:
    w = fleet_world(ONLY_ANN_ON_STAGING)
    assert w.ask("nope") is None
    assert w.ask("staging", rid="r2") is None  # a forged chooser click reads the same
    assert w.minted() == {"prod": 0, "staging": 0}
    unknown, forbidden = (text for _, text in w.life.base.replies.notices)
    assert unknown == '"nope" is not a registry you may use; you may use prod.'
    assert forbidden == '"staging" is not a registry you may use; you may use prod.'
    reasons = [event.reason or "" for event in w.life.base.audit.events]
    assert [r.split(":")[0] for r in reasons] == ["access_denied", "access_denied"]
    assert _registries_of(w) == ["", "staging"]  # an unknown name is no registry; a forbidden one is named
    assert w.life.ledger.tokens(TokenQuery(slack_user="U0JDOE")) == []


def test_verify_asks_the_registry_that_minted_the_token() -> None:
    w = fleet_world()
    w.ask("staging")
    [(_, _, value)] = w.life.base.replies.tokens
    result = verify_button(w.shared, w.ctx(request_id="v1", once_key="v1"), value)
    assert result is not None
    assert (w.engines["staging"].verify_calls, w.engines["prod"].verify_calls) == (1, 0)
    assert w.life.base.audit.events[-1].registry == "staging"


def test_a_verify_value_for_a_registry_not_served_is_refused() -> None:
    w = fleet_world()
    w.ask("staging")
    [(_, _, value)] = w.life.base.replies.tokens
    sealer = w.shared.sealer
    forged = sealer.forge(value, registry="gone")  # type: ignore[attr-defined]
    assert verify_button(w.shared, w.ctx(request_id="v1", once_key="v1"), forged) is None
    assert (w.engines["staging"].verify_calls, w.engines["prod"].verify_calls) == (0, 0)
    event = w.life.base.audit.events[-1]
    assert (event.outcome, event.registry) == ("refused", "gone")
    assert (event.reason or "").startswith("seal_error: This token's registry is not served")


def test_renew_mints_in_the_registry_of_the_token_it_renews() -> None:
    w = fleet_world()
    w.ask("staging")
    [old] = w.life.ledger.tokens(TokenQuery(slack_user="U0JDOE"))
    renewed = renew_token(w.fleet["prod"], RenewRequest(w.ctx(request_id="renew", once_key="renew"), old.id))
    assert isinstance(renewed, Issued)
    assert w.minted() == {"prod": 0, "staging": 2}
    rows = w.life.ledger.tokens(TokenQuery(slack_user="U0JDOE"))
    assert {row.registry for row in rows} == {"staging"} and len(rows) == 2
    assert all(row.status is TokenStatus.ISSUED for row in rows)


APPROVALS = {
    "channel": "C0APPROVALS",
    "approvers": {"users": ["U0BOB"]},
    "max": "30d",
    "expire_after": "1h",
}


def test_an_approval_names_its_registry_and_that_registrys_approvers_decide() -> None:
    staging_rules = {**APPROVALS, "channel": "C0STAGINGOK", "approvers": {"users": ["U0CAROL"]}}
    w = fleet_world(
        {"staging": {"approvals": staging_rules}}, policy={"quota": {"per_hour": 100}, "approvals": APPROVALS}
    )
    asked = w.ask("staging", seconds=14 * D, reason="training")
    assert isinstance(asked, PendingRequest) and asked.registry == "staging"
    assert [r.registry for r in w.boards["staging"].posted] == ["staging"] and w.boards["prod"].posted == []
    # prod's approver is nobody's approver in staging.
    bob = w.ctx("U0BOB", request_id="bob", once_key="bob")
    assert decide_request(w.shared, Decision(bob, asked.id, approve=True)) is None
    carol = w.ctx("U0CAROL", request_id="carol", once_key="carol")
    decided = decide_request(w.shared, Decision(carol, asked.id, approve=True))
    assert decided is not None and decided.registry == "staging"
    shown = show_approved_token(w.shared, ShowToken(w.ctx(request_id="show", once_key="show"), asked.id))
    assert isinstance(shown, Issued)
    assert w.minted() == {"prod": 0, "staging": 1}
    assert {e.registry for e in w.life.base.audit.events} == {"staging"}


def test_each_registry_counts_its_own_quota() -> None:
    w = fleet_world({"staging": {"quota": {"per_hour": 1}}})
    assert isinstance(w.ask("staging"), Issued)
    assert w.ask("staging", rid="r2") is None  # staging's one an hour is used
    assert w.life.base.audit.events[-1].registry == "staging"
    assert isinstance(w.ask("prod", rid="r3"), Issued)
    assert w.minted() == {"prod": 1, "staging": 1}


def test_a_failing_registry_is_named_and_the_other_still_serves() -> None:
    from bot.domain.errors import CommandFailed

    w = fleet_world()
    w.engines["staging"].fail = CommandFailed(detail="the pod said no")
    assert w.ask("staging") is None
    assert w.life.base.replies.notices[-1][1].startswith("Registry staging: ")
    assert isinstance(w.ask("prod", rid="r2"), Issued)


def test_a_registry_holding_its_share_of_the_workers_is_busy_and_the_other_is_not() -> None:
    w = fleet_world(share=1)
    gate = w.fleet.gates["staging"]
    assert gate.try_enter()  # one staging request in flight (its exec hangs, say)
    assert w.ask("staging") is None
    assert w.life.base.replies.notices[-1][1] == "Registry staging is busy with many requests; try again in a minute."
    assert isinstance(w.ask("prod", rid="r2"), Issued)
    gate.leave()
    assert isinstance(w.ask("staging", rid="r3"), Issued)
    assert w.minted() == {"prod": 1, "staging": 1}
    assert (gate.in_flight, w.fleet.gates["prod"].in_flight) == (0, 0)


def test_a_registry_may_take_every_worker_but_a_reserve_for_each_other_one() -> None:
    """A healthy registry's burst is served whole (20 of 32 workers with two registries: no "busy"), a hung one
    leaves each other registry its reserve; one registry has no cap at all."""
    assert worker_share(32, 1) is None
    assert worker_share(32, 2) == 24  # 8 kept for the other
    assert worker_share(32, 4) == 20  # 4 kept for each of the three others
    assert worker_share(2, 2) == 1
