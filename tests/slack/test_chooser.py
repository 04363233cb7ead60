"""The registry chooser's message and what its buttons carry back. Pure code: no Slack."""

from __future__ import annotations

import json

import msgspec

from bot.domain.routing import RegistryOffer
from bot.slack.chooser import CHOOSE_ACTION, choice_value, chooser_message, read_choice

OFFER = RegistryOffer(
    choices=(("prod", "Production"), ("staging", "staging")), seconds=7200, reason="deploy <!here>", break_glass=False
)


def test_one_button_per_offered_registry_each_carrying_the_request() -> None:
    text, blocks = chooser_message(OFFER, request_id="r1")
    assert "Nothing is created until you choose" in text
    buttons = blocks[1].to_dict()["elements"]
    assert [b["text"]["text"] for b in buttons] == ["Production (prod)", "staging"]
    assert all(CHOOSE_ACTION.match(b["action_id"]) for b in buttons)
    assert len({b["action_id"] for b in buttons}) == 2
    clicked = read_choice(buttons[1]["value"])
    assert clicked is not None
    assert (clicked.registry, clicked.seconds, clicked.reason, clicked.break_glass) == (
        "staging",
        7200,
        "deploy <!here>",
        False,
    )
    assert "<!here>" not in json.dumps(blocks[0].to_dict())  # the note and text are escaped


def test_a_value_that_is_not_one_asks_for_nothing() -> None:
    for value in ("", "garbage", "[]", '{"s": 5}', '{"r": 3}', "x" * 3000):
        assert read_choice(value) is None
    forged = read_choice('{"r": "prod", "s": -5, "w": 7, "b": "yes"}')
    assert forged is not None and (forged.seconds, forged.reason, forged.break_glass) == (None, "", False)


def test_a_long_reason_is_cut_to_fit_a_button_value() -> None:
    long = RegistryOffer(choices=(("prod", "prod"),), seconds=None, reason="why " * 1000)
    value = choice_value("prod", long)
    assert len(value) <= 2000
    clicked = read_choice(value)
    assert clicked is not None and clicked.registry == "prod" and clicked.reason.startswith("why why")


def test_an_approval_request_names_its_registry_unless_it_is_the_only_one() -> None:
    from datetime import UTC, datetime

    from bot.domain.approvals import PendingRequest
    from bot.slack.blocks import _request_facts

    at = datetime(2026, 1, 1, tzinfo=UTC)
    request = PendingRequest(
        id="a1", request_id="r1", team_id="T1", user_id="U1", rok_user="jdoe", seconds=7200, usual_max=3600,
        usual_source="everyone", reason="", requested_at=at, expires_at=at, registry="staging",
    )  # fmt: skip
    assert "in registry `staging`" in _request_facts(request)
    assert "in registry" not in _request_facts(msgspec.structs.replace(request, registry="default"))
