"""The Block Kit of the token's life in Slack, drawn in full and checked as Slack checks it (slack_sdk's models
and the fake Slack's limits): the Home tab stays inside 100 blocks however many tokens, the form reads its
submission with no I/O, and no message carries a token."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.domain.approvals import PendingRequest
from bot.domain.lifecycle import (
    HOME_EXPIRED_CAP,
    HOME_LIVE_CAP,
    LIST_CAP,
    HomeView,
    Reminder,
    TokenForm,
    TokenLine,
    TokenList,
)
from bot.domain.models import Limits
from bot.slack.views import (
    DISMISS_ACTION_ID,
    DURATION_BLOCK,
    DURATION_TEXT_BLOCK,
    OPEN_FORM_ACTION_ID,
    RENEW_ACTION_ID,
    FormError,
    dismissed_message,
    form_sent_view,
    form_view,
    home_view,
    list_message,
    read_form,
    reminder_message,
    renewed_message,
)
from sandbox.slack import MAX_BLOCKS, block_problem, view_problem

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
LIMITS = Limits(86400, 300, 7 * 86400, "everyone", 10, 9)


def _lines(n: int, *, expired: bool = False) -> list[TokenLine]:
    at = NOW - timedelta(hours=1) if expired else NOW + timedelta(hours=5)
    return [TokenLine(1000 + n * 2 + expired, f"{n:08x}", f"req{n}", 86400, at) for n in range(n)]


def _home(tokens: TokenList, *, refusal: str | None = None, pending: tuple[PendingRequest, ...] = ()) -> dict[str, Any]:
    home = HomeView(
        "U0JDOE", tokens, LIMITS, None if refusal else "jdoe", refusal, "#platform-help", NOW, 3600, pending
    )
    view = home_view(home).to_dict()
    assert view_problem(view) is None, view_problem(view)
    return view


def _text(view_or_blocks: Any) -> str:
    return json.dumps(view_or_blocks, ensure_ascii=False)


def _buttons(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    found = []
    for block in blocks:
        found += [e for e in block.get("elements", []) if e.get("type") == "button"]
        if isinstance(block.get("accessory"), dict):
            found.append(block["accessory"])
    return found


def test_the_home_tab_shows_live_tokens_with_renew_and_expired_ones_greyed() -> None:
    tokens = TokenList(_lines(2), 0, [TokenLine(7, "deadbeef", "old", 600, NOW - timedelta(hours=2))], 0)
    view = _home(tokens)
    text = _text(view)
    assert view["type"] == "home"
    assert "`00000000` · 1d · expires <!date^" in text and "`00000001`" in text
    renews = [b for b in _buttons(view["blocks"]) if b["action_id"] == RENEW_ACTION_ID]
    assert [b["value"] for b in renews] == ["1000", "1002"]
    assert next(b["action_id"] for b in _buttons(view["blocks"])) == OPEN_FORM_ACTION_ID
    expired = [b for b in view["blocks"] if b.get("block_id") == "expired-7"]
    assert expired and expired[0]["type"] == "context" and "~`deadbeef`~" in _text(expired)
    assert "You may ask for 5m to 7d (default 1d" in text and "9 of 10 tokens left this hour" in text
    assert "#platform-help" in text and "1h ahead" in text


def test_the_home_tab_stays_inside_100_blocks_and_says_how_many_more() -> None:
    tokens = TokenList(_lines(HOME_LIVE_CAP), 160, _lines(HOME_EXPIRED_CAP, expired=True), 75)
    view = _home(tokens)
    assert len(view["blocks"]) <= 100
    assert "…and 160 more, not shown here." in _text(view) and "…and 75 more expired." in _text(view)


def _pending(n: int) -> tuple[PendingRequest, ...]:
    return tuple(
        PendingRequest(
            id=f"p{i}",
            request_id=f"req-p{i}",
            team_id="T0",
            user_id="U0JDOE",
            rok_user="jdoe",
            seconds=14 * 86400,
            usual_max=7 * 86400,
            usual_source="everyone",
            reason="training run X",
            requested_at=NOW,
            expires_at=NOW + timedelta(hours=1),
        )
        for i in range(n)
    )


def test_the_home_tab_shows_requests_waiting_for_an_approver_and_still_fits() -> None:
    view = _home(TokenList([]), pending=_pending(1))
    assert "Waiting for approval" in _text(view) and "*14d* for `jdoe`" in _text(view)
    full = _home(TokenList(_lines(HOME_LIVE_CAP), 160, _lines(HOME_EXPIRED_CAP, expired=True), 75), pending=_pending(9))
    assert len(full["blocks"]) <= 100


def test_the_home_tab_of_a_refused_user_has_no_get_a_token_button() -> None:
    view = _home(TokenList([]), refusal="Your Slack user is not mapped to a Rok Registry username; ask #help.")
    assert OPEN_FORM_ACTION_ID not in _text(view) and "not mapped" in _text(view) and "No live token." in _text(view)


def test_a_renewed_token_on_the_home_tab_names_its_renewal_and_has_no_renew() -> None:
    line = TokenLine(5, "aaaaaaaa", "r", 3600, NOW + timedelta(minutes=5), renewed_by="bbbbbbbb")
    view = _home(TokenList([line]))
    assert "renewed by `bbbbbbbb`" in _text(view) and RENEW_ACTION_ID not in _text(view)


def _form() -> dict[str, Any]:
    view = form_view(TokenForm(LIMITS, [3600, 28800, 86400, 604800])).to_dict()
    assert view_problem(view) is None, view_problem(view)
    return view


def _submitted(
    view: dict[str, Any], *, typed: str | None = None, chosen: str = "28800", reason: str | None = None
) -> dict[str, Any]:
    values = {
        DURATION_BLOCK: {DURATION_BLOCK: {"type": "static_select", "selected_option": {"value": chosen}}},
        DURATION_TEXT_BLOCK: {DURATION_TEXT_BLOCK: {"type": "plain_text_input", "value": typed}},
        "reason": {"reason": {"type": "plain_text_input", "value": reason}},
    }
    return view | {"state": {"values": values}}


def test_the_form_offers_the_presets_with_the_default_chosen_and_carries_the_range() -> None:
    view = _form()
    select = next(b for b in view["blocks"] if b.get("block_id") == DURATION_BLOCK)["element"]
    assert [o["text"]["text"] for o in select["options"]] == ["1h", "8h", "1d", "7d"]
    assert select["initial_option"]["value"] == "86400"
    assert json.loads(view["private_metadata"]) == {"min": 300, "max": 604800}
    assert view["submit"]["text"] == "Get token"


def test_a_submission_is_read_with_no_io_typed_text_first() -> None:
    view = _form()
    assert read_form(_submitted(view)).seconds == 28800
    wanted = read_form(_submitted(view, typed="90m", reason="  nightly\nrun "))
    assert (wanted.seconds, wanted.note) == (5400, "nightly run")


@pytest.mark.parametrize(
    ("typed", "chosen", "block", "phrase"),
    [
        ("5x", "28800", DURATION_TEXT_BLOCK, "is not a duration"),
        ("30d", "28800", DURATION_TEXT_BLOCK, "longer than the maximum of 7d: choose between 5m and 7d"),
        ("1m", "28800", DURATION_TEXT_BLOCK, "shorter than the minimum of 5m"),
        (None, "99999999", DURATION_BLOCK, "Choose a duration"),
        (None, "x", DURATION_BLOCK, "Choose a duration"),
    ],
)
def test_an_invalid_submission_names_the_field_and_says_why(
    typed: str | None, chosen: str, block: str, phrase: str
) -> None:
    with pytest.raises(FormError) as refused:
        read_form(_submitted(_form(), typed=typed, chosen=chosen))
    assert refused.value.block_id == block and phrase in refused.value.message


def test_a_form_without_its_range_asks_to_open_it_again() -> None:
    with pytest.raises(FormError, match="out of date"):
        read_form(_submitted(_form()) | {"private_metadata": "garbage"})


def test_a_refused_users_form_says_why_and_cannot_be_submitted() -> None:
    view = form_view(TokenForm(LIMITS, [], refusal="Bots cannot get Rok Registry tokens.")).to_dict()
    assert view_problem(view) is None and "submit" not in view and "Bots cannot" in _text(view)


def test_the_submitted_form_says_where_the_token_comes() -> None:
    view = form_sent_view(seconds=28800, request_id="abc123").to_dict()
    assert view_problem(view) is None and "8h token" in _text(view) and "abc123" in _text(view)


def test_the_list_fits_a_message_and_offers_renew() -> None:
    text, blocks = list_message(TokenList(_lines(LIST_CAP), 12))
    raw = [b.to_dict() for b in blocks]
    assert block_problem(raw) is None and len(raw) <= MAX_BLOCKS
    assert text == "You have 52 live Rok Registry tokens." and "…and 12 more" in _text(raw)
    assert len([b for b in _buttons(raw) if b["action_id"] == RENEW_ACTION_ID]) == LIST_CAP


def test_the_reminder_names_the_token_offers_renew_for_the_same_length_and_dismiss() -> None:
    reminder = Reminder(42, "U0JDOE", "abcdef01", "req", "jdoe", 3600, NOW + timedelta(minutes=15), NOW)
    text, blocks = reminder_message(reminder)
    raw = [b.to_dict() for b in blocks]
    assert block_problem(raw) is None
    assert text == "Your Rok Registry token abcdef01 expires in 15m."
    assert "`abcdef01`" in _text(raw) and "<!date^" in _text(raw)
    buttons = {b["action_id"]: b for b in _buttons(raw)}
    assert buttons[RENEW_ACTION_ID]["text"]["text"] == "Renew for 1h" and buttons[RENEW_ACTION_ID]["value"] == "42"
    assert buttons[DISMISS_ACTION_ID]["value"] == "42"
    for _, edited in (
        renewed_message(reminder, new_uuid="99999999-0000", new_expires_at=NOW + timedelta(hours=1)),
        dismissed_message(reminder),
    ):
        done = [b.to_dict() for b in edited]
        assert block_problem(done) is None and _buttons(done) == []
    assert "replaced by `99999999`" in _text(
        [b.to_dict() for b in renewed_message(reminder, new_uuid="99999999-0000", new_expires_at=NOW)[1]]
    )


def test_the_form_selects_a_registry_only_among_several_and_the_submission_names_it() -> None:
    from bot.slack.views import REGISTRY_BLOCK

    assert all(b.get("block_id") != REGISTRY_BLOCK for b in _form()["blocks"])
    choices = (("prod", "Production"), ("staging", "staging"))
    view = form_view(TokenForm(LIMITS, [3600, 28800, 86400, 604800], registries=choices)).to_dict()
    assert view_problem(view) is None, view_problem(view)
    select = next(b for b in view["blocks"] if b.get("block_id") == REGISTRY_BLOCK)["element"]
    assert [o["value"] for o in select["options"]] == ["prod", "staging"]
    submitted = _submitted(view)
    picked = {"type": "static_select", "selected_option": {"value": "staging"}}
    submitted["state"]["values"][REGISTRY_BLOCK] = {REGISTRY_BLOCK: picked}
    assert read_form(submitted).registry == "staging"
    assert read_form(_submitted(view)).registry is None


def test_with_several_registries_the_tokens_come_under_a_heading_each() -> None:
    lines = [
        TokenLine(1, "aaaaaaaa", "r1", 3600, NOW + timedelta(hours=1), registry="prod"),
        TokenLine(2, "bbbbbbbb", "r2", 3600, NOW + timedelta(hours=1), registry="staging"),
    ]
    text = _text(_home(TokenList(lines)))
    assert text.index("Registry `prod`") < text.index("aaaaaaaa") < text.index("Registry `staging`")
