"""The token's life in Slack, end to end in HTTP and Socket Mode: the Home tab, the get-token form, the list,
an expiry reminder with Renew and Dismiss, through the real Bolt app against the fake Slack (which checks
every message and view with slack_sdk's models, the Home tab's 100 blocks included).

Each sandbox issues three 1-minute tokens at once, with ROK_BOT_REMIND_BEFORE=50s: their reminders come when
a quarter of their life is left (15 s before expiry, 45 s in). The bot runs on the sandbox's manual clock, so
the reminder test moves it 46 s forward instead of waiting; it comes last, after the tests that need the
tokens live.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from sandbox.world import Sandbox

LIFE_POLICY = """\
limits: {default: 24h, min: 1m, max: 7d}
quota: {per_hour: 1000, cooldown: 0}
"""
LIFE_SETTINGS = {"ROK_BOT_REMIND_BEFORE": "50s", "ROK_BOT_MIN_DURATION": "1m"}
OWNER = "U0JDOE2"  # jdoe2: the 1-minute tokens' owner, in no other test here
SHORT = 8


@dataclass
class Life:
    """A sandbox and the 1-minute tokens issued when it started (in this order): one renewed at once from
    the Home tab, one to renew from its reminder, one whose reminder is dismissed."""

    box: Sandbox
    early: str  # token UUIDs
    renew: str
    dismiss: str
    early_renewal: str = ""


def _issue(box: Sandbox, user_id: str, text: str) -> str:
    """/rok-token text; the minted token's UUID once it reached the user privately."""
    before = len(box.private_messages(user_id))
    status, _, _ = box.slash(user_id, text)
    assert status == 200
    reply = box.wait_private(user_id, count=before + 1)[-1]
    assert reply.token is not None
    record = box.rok.lookup(reply.token)
    assert record is not None and record.token_uuid
    # The message goes before the ledger row is settled (it is `minted` until then): wait for the job to end,
    # as the Home tab lists settled tokens only.
    box.idle()
    assert _rows(box, str(record.token_uuid))
    return str(record.token_uuid)


def _rows(box: Sandbox, token_uuid: str) -> list[Any]:
    from bot.domain.ports import TokenQuery

    assert box.server is not None
    return [e for e in box.server.bot.store.ledger.tokens(TokenQuery(limit=10_000)) if e.token_uuid == token_uuid]


@pytest.fixture(scope="module")
def lives() -> Iterator[dict[str, Life]]:
    boxes = {
        mode: Sandbox(socket_mode=mode == "socket", settings=LIFE_SETTINGS, policy=LIFE_POLICY)
        for mode in ("http", "socket")
    }
    try:
        for box in boxes.values():
            box.start()
        lives = {mode: Life(box, *(_issue(box, OWNER, "1m") for _ in range(3))) for mode, box in boxes.items()}
        for life in lives.values():
            life.early_renewal = _renew_on_home(life.box, life.early)
        yield lives
    finally:
        for box in boxes.values():
            box.stop()


@pytest.fixture(params=["http", "socket"])
def life(request: pytest.FixtureRequest, lives: dict[str, Life]) -> Iterator[Life]:
    one = lives[request.param]
    one.box.slack.clear_faults()
    yield one
    assert one.box.slack.block_errors == [], "the bot sent Slack something it would refuse"


def _renew_on_home(box: Sandbox, token_uuid: str) -> str:
    """Click Renew on a token's line of its owner's Home tab; the new token's UUID."""
    view = _open_home(box, OWNER)
    before = len(box.private_messages(OWNER))
    box.click_view(OWNER, view, "renew_token", value=str(_entry(box, token_uuid).id))
    reply = box.wait_private(OWNER, count=before + 1)[-1]
    record = box.rok.lookup(reply.token or "")
    assert record is not None and record.token_uuid
    _entry(box, str(record.token_uuid))
    return str(record.token_uuid)


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _secrets(box: Sandbox) -> list[str]:
    return [m.token for m in box.rok.minted]


def _no_token_in(box: Sandbox, value: Any) -> None:
    text = _json(value)
    assert not [t for t in _secrets(box) if t in text]


def _entry(box: Sandbox, token_uuid: str) -> Any:
    """The ledger row of a token, read from the bot's own store (once settled)."""
    [row] = box.slack.wait_for(lambda: _rows(box, token_uuid), 10)
    return row


def _audited(box: Sandbox, outcome: str, needle: str) -> list[Any]:
    """Wait for audit lines of an outcome that mention `needle` (in their facts or IDs)."""

    def found() -> list[Any]:
        box.wait_audit(outcome, timeout=10)  # also hurries the outbox along
        return [ln for ln in box.audit_lines(outcome) if needle in ln.ids or needle in ln.facts]

    return box.slack.wait_for(found, 20)


def _more_audited(box: Sandbox, outcome: str, before: int, more: int) -> None:
    """Wait until `more` events of an outcome were posted beyond the `before` counted earlier."""
    box.wait_audit(outcome, count=before + more)


def _open_home(box: Sandbox, user_id: str) -> dict[str, Any]:
    """Open the Home tab; the view published in answer."""
    published = len([c for c in box.home_publishes(user_id) if c.ok])
    box.open_home(user_id)
    return box.wait_home(user_id, count=published + 1)


def _block_texts(view: dict[str, Any]) -> str:
    return _json(view.get("blocks") or [])


def _form_values(*, chosen: str = "86400", typed: str | None = None, reason: str | None = None) -> dict[str, Any]:
    return {
        "duration": {"duration": {"type": "static_select", "selected_option": {"value": chosen}}},
        "duration_text": {"duration_text": {"type": "plain_text_input", "value": typed}},
        "reason": {"reason": {"type": "plain_text_input", "value": reason}},
    }


def _open_form(box: Sandbox, user_id: str) -> dict[str, Any]:
    view = _open_home(box, user_id)
    opened = len(box.modals(user_id))
    box.click_view(user_id, view, "get_token")
    return box.wait_modal(user_id, count=opened + 1)


# -- the Home tab ---------------------------------------------------------------------------------------


def test_app_home_opened_publishes_the_users_live_tokens_never_a_token(life: Life) -> None:
    box = life.box
    token_uuid = _issue(box, "U0JDOE", "24h")
    view = _open_home(box, "U0JDOE")
    blocks = _block_texts(view)
    row = _entry(box, token_uuid)
    section = next(b for b in view["blocks"] if b.get("block_id") == f"token-{row.id}")
    assert f"`{token_uuid[:SHORT]}` · 1d · expires <!date^" in section["text"]["text"]
    assert section["accessory"]["action_id"] == "renew_token" and section["accessory"]["value"] == str(row.id)
    assert '"action_id": "get_token"' in blocks
    assert "You are Rok Registry user `jdoe`" in blocks and "1m to 7d" in blocks and "#platform-help" in blocks
    _no_token_in(box, view)
    # Someone else's tokens are not on it.
    assert life.renew[:SHORT] not in blocks


def test_the_home_button_opens_the_form_and_its_submission_delivers_the_token_privately(life: Life) -> None:
    box = life.box
    form = _open_form(box, "U0JDOE")
    assert form["callback_id"] == "get_token_form" and json.loads(form["private_metadata"]) == {
        "min": 60,
        "max": 604800,
    }
    options = next(b for b in form["blocks"] if b.get("block_id") == "duration")["element"]["options"]
    assert [o["text"]["text"] for o in options] == ["1h", "8h", "1d", "7d"]
    before, minted = len(box.private_messages("U0JDOE")), len(box.rok.minted)
    published = len(box.home_publishes("U0JDOE"))
    ack = box.submit_view("U0JDOE", form, _form_values(chosen="28800", reason="nightly notebook"))
    assert ack is not None and ack["response_action"] == "update"
    assert "Checking your request for a 8h token" in _json(ack["view"])
    reply = box.wait_private("U0JDOE", count=before + 1)[-1]
    assert reply.token is not None and len(box.rok.minted) == minted + 1
    record = box.rok.lookup(reply.token)
    assert record is not None and round((record.expires_at - record.created_at).total_seconds()) == 28800
    assert _entry(box, str(record.token_uuid)).origin == "modal"
    # Audited like the slash command, with the form's reason; the Home tab is published again with the token.
    [line] = _audited(box, "issued", str(record.token_uuid))
    assert "nightly notebook" in line.facts and "issue via modal" in line.ids
    home = box.wait_home("U0JDOE", count=published + 1)
    assert str(record.token_uuid)[:SHORT] in _block_texts(home)
    _no_token_in(box, [ack, home, [c.params for c in box.audit_posts()]])


def test_an_invalid_duration_in_the_form_is_an_inline_error_and_nothing_is_minted(life: Life) -> None:
    box = life.box
    form = _open_form(box, "U0JDOE")
    before, minted = len(box.private_messages("U0JDOE")), len(box.rok.minted)
    refused = box.audit_count("refused")
    ack = box.submit_view("U0JDOE", form, _form_values(typed="5x"))
    assert ack is not None and ack["response_action"] == "errors"
    assert "is not a duration like 30m" in ack["errors"]["duration_text"]
    ack = box.submit_view("U0JDOE", form, _form_values(typed="30d"))
    assert ack is not None and "choose between 1m and 7d" in ack["errors"]["duration_text"]
    _more_audited(box, "refused", refused, 2)
    assert len(box.rok.minted) == minted and len(box.private_messages("U0JDOE")) == before


def test_list_answers_privately_and_help_mentions_the_home_tab_and_list(life: Life) -> None:
    box = life.box
    token_uuid = _issue(box, "U0BOB", "2h")
    _, _, url = box.slash("U0BOB", "list")
    reply = box.wait_reply(url)
    assert reply.text.startswith("You have ") and token_uuid[:SHORT] in _json(reply.blocks)
    assert '"action_id": "renew_token"' in _json(reply.blocks)
    _no_token_in(box, reply.blocks)
    _, _, url = box.slash("U0BOB", "help")
    text = _json(box.wait_reply(url).blocks)
    assert "/rok-token list" in text and "*Home* tab" in text


def test_another_users_renew_click_is_refused_and_nothing_is_minted(life: Life) -> None:
    box = life.box
    view = _open_home(box, OWNER)  # jdoe2's Home tab, clicked as Alice (as a crafted request would)
    row = _entry(box, life.renew)
    minted, refused = len(box.rok.minted), box.audit_count("refused")
    before = len(box.private_messages("U0ALICE"))
    box.click_view("U0ALICE", view, "renew_token", value=str(row.id))
    refusal = box.wait_private("U0ALICE", count=before + 1)[-1]
    assert "only the person a token was issued to can renew it" in refusal.text
    _more_audited(box, "refused", refused, 1)
    assert len(box.rok.minted) == minted


def test_renew_on_the_home_tab_mints_the_same_duration_linked_to_the_old_token(life: Life) -> None:
    """The module's fixture clicked Renew on the first 1-minute token's line of the Home tab at once."""
    box = life.box
    old, new = _entry(box, life.early), _entry(box, life.early_renewal)
    assert (new.renewed_from, new.origin, new.duration_seconds) == (old.id, "renew", 60)
    record = next(m for m in box.rok.minted if m.token_uuid == life.early_renewal)
    assert round((record.expires_at - record.created_at).total_seconds()) == 60
    # The Home tab says it was renewed, and by which token, instead of offering Renew again.
    renewed = f"renewed by `{life.early_renewal[:SHORT]}`"
    box.slack.wait_for(lambda: renewed in _block_texts(box.slack.home_view(OWNER) or {}), 10)
    view = box.slack.home_view(OWNER)
    assert view is not None  # published: the wait above read it
    line = next(b for b in view["blocks"] if b.get("block_id") == f"token-{old.id}")
    assert "accessory" not in line
    [audited] = _audited(box, "issued", life.early_renewal)
    assert f"renews token {life.early}" in audited.facts and "issue via renew" in audited.ids


# -- the reminder, last: it comes 45 s after the tokens were issued, on the sandbox's clock -----------------


def _reminders_of(box: Sandbox, token_uuid: str) -> list[dict[str, Any]]:
    """The reminder messages posted for one token (each message as it reads now)."""
    return [m for m in box.dm_messages(OWNER) if token_uuid[:SHORT] in str(m.get("text", ""))]


def test_a_1_minute_token_gets_one_reminder_before_expiry_and_renew_gives_a_new_1_minute_token(life: Life) -> None:
    box = life.box
    assert _reminders_of(box, life.renew) == []  # not yet: 45 s of the tokens' life have not passed
    box.advance(46)
    box.slack.wait_for(lambda: _reminders_of(box, life.renew) and _reminders_of(box, life.dismiss), 10)
    [reminder] = _reminders_of(box, life.renew)
    row = _entry(box, life.renew)
    # Before expiry, a quarter of its life before: the reminder names the token, never shows it.
    assert row.reminded_at is not None and row.expires_at is not None and row.reminded_at < row.expires_at
    assert (row.reminder_channel, row.reminder_ts) == (box.slack.dm_channel(OWNER), reminder["ts"])
    assert re.fullmatch(rf"Your Rok Registry token {life.renew[:SHORT]} expires in \d+s\.", reminder["text"])
    buttons = {e["action_id"]: e for b in reminder["blocks"] if b["type"] == "actions" for e in b["elements"]}
    assert buttons["renew_token"]["text"]["text"] == "Renew for 1m" and "dismiss_reminder" in buttons
    _no_token_in(box, box.dm_messages(OWNER))
    # The token renewed early from the Home tab got none.
    assert _reminders_of(box, life.early) == [] and _entry(box, life.early).reminded_at is None

    # Alice clicking Jane's reminder is refused; nothing minted.
    minted = len(box.rok.minted)
    url = box.click_message("U0ALICE", reminder, "renew_token")
    assert "only the person a token was issued to" in box.wait_reply(url).text
    assert len(box.rok.minted) == minted

    # Its owner's Renew: a new 1-minute token privately, linked in the ledger; the reminder now says so.
    before = len(box.private_messages(OWNER))
    box.click_message(OWNER, reminder, "renew_token")
    reply = box.wait_private(OWNER, count=before + 1)[-1]
    record = box.rok.lookup(reply.token or "")
    assert record is not None and round((record.expires_at - record.created_at).total_seconds()) == 60
    assert _entry(box, str(record.token_uuid)).renewed_from == row.id
    edited = box.slack.wait_for(lambda: [m for m in _reminders_of(box, life.renew) if "edited" in m], 10)[0]
    assert "Renewed" in _json(edited["blocks"]) and str(record.token_uuid)[:SHORT] in _json(edited["blocks"])
    assert '"type": "actions"' not in _json(edited["blocks"])
    # A second click (the old message on another device) is refused: a token is renewed once.
    url = box.click_message(OWNER, reminder, "renew_token")
    assert "renewed already" in box.wait_reply(url).text
    assert len(box.rok.minted) == minted + 1

    # Dismiss: the other reminder turns into one quiet line.
    [other] = _reminders_of(box, life.dismiss)
    box.click_message(OWNER, other, "dismiss_reminder")
    dismissed = box.slack.wait_for(lambda: [m for m in _reminders_of(box, life.dismiss) if "edited" in m], 10)[0]
    assert "Reminder dismissed" in dismissed["text"]

    # One reminder per token, audited.
    assert len(_reminders_of(box, life.renew)) == 1 and len(_reminders_of(box, life.dismiss)) == 1
    assert len(_audited(box, "reminded", life.renew)) == 1
    assert len(_audited(box, "reminded", life.dismiss)) == 1
