"""The Block Kit of "who holds tokens", drawn in full and checked as Slack checks it (slack_sdk's models and the
fake Slack's table rules): a table of at most 100 rows, header included, then how many more; what a user typed
stays plain text; the refusal names the admins; an admin's Home tab stays inside 100 blocks, with no table."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.domain.holders import HOME_WHO_ROWS, WHO_ROWS, Holding, Holdings, WhoRefusal
from bot.domain.lifecycle import HOME_EXPIRED_CAP, HOME_LIVE_CAP, HomeView, TokenLine, TokenList
from bot.domain.models import Limits
from bot.slack.holders import who_message, who_refused_message
from bot.slack.views import home_view
from sandbox.slack import block_problem, view_problem
from tests.slack.test_lifecycle_views import _pending

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def _holding(n: int, **changes: Any) -> Holding:
    fields: dict[str, Any] = {
        "token_uuid": f"{n:08x}-0000-4000-8000-000000000000",
        "slack_user": f"U0USER{n:04d}",
        "rok_user": f"user-{n}-" + "x" * 100,  # Rok usernames may be 128 characters long
        "registry": "staging-west-1",
        "expires_at": NOW + timedelta(hours=1, minutes=n),
        "origin": "command",
    }
    return Holding(**(fields | changes))


def _held(n: int, *, total: int | None = None, several: bool = False) -> Holdings:
    return Holdings(tuple(_holding(i) for i in range(n)), total if total is not None else n, NOW, several=several)


def _blocks(held: Holdings) -> list[dict[str, Any]]:
    _, blocks = who_message(held)
    raw = [b.to_dict() for b in blocks]
    assert block_problem(raw) is None, block_problem(raw)
    return raw


def _rows(blocks: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    [table] = [b for b in blocks if b["type"] == "table"]
    rows: list[list[dict[str, Any]]] = table["rows"]
    return rows


def test_a_full_table_is_100_rows_with_its_header_then_says_how_many_more() -> None:
    blocks = _blocks(_held(WHO_ROWS, total=WHO_ROWS + 51))
    rows = _rows(blocks)
    assert len(rows) == 100 and all(len(row) == 5 for row in rows)
    assert "…and 51 more: use `rok-token-bot report --at now` for all of them." in json.dumps(
        blocks, ensure_ascii=False
    )
    assert "150 live Rok Registry tokens" in json.dumps(blocks)


def test_a_user_is_a_mention_an_expiry_a_date_and_several_registries_add_a_column() -> None:
    rows = _rows(_blocks(_held(1, several=True)))
    assert [c["text"] for c in rows[0]] == ["Slack user", "Rok user", "Registry", "Token", "Expires", "How"]
    user, rok, registry, token, expires, how = rows[1]
    assert user["elements"][0]["elements"] == [{"type": "user", "user_id": "U0USER0000"}]
    assert (rok["type"], registry["text"], token["text"], how["text"]) == (
        "raw_text",
        "staging-west-1",
        "00000000",
        "command",
    )
    date, left = expires["elements"][0]["elements"]
    assert date["type"] == "date" and date["timestamp"] == int((NOW + timedelta(hours=1)).timestamp())
    assert date["fallback"] == "2026-11-30 13:00 UTC" and left["text"] == " (in 1h)"


def test_the_cli_an_approval_and_a_typed_reason_are_shown_for_what_they_are() -> None:
    held = Holdings(
        (
            _holding(1, slack_user=None, requester="cli:root", origin="cli", rok_user=None),
            _holding(2, origin="approval", approver="U0LEAD"),
            _holding(3, origin="break_glass", reason="<@U0ALL> *incident* 4711 <https://evil.example|x>"),
            _holding(4, held=False),
            _holding(5, origin="approval", approver="U0LEAD", held=False),
        ),
        5,
        NOW,
    )
    rows = _rows(_blocks(held))
    assert [rows[1][0]["text"], rows[1][1]["text"], rows[1][4]["text"]] == ["cli:root", "—", "CLI"]
    assert rows[2][4]["elements"][0]["elements"] == [
        {"type": "text", "text": "approval by "},
        {"type": "user", "user_id": "U0LEAD"},
    ]
    # Typed text is a raw_text cell: Slack shows it as typed, no mention, no link, no bold.
    assert rows[3][4] == {"type": "raw_text", "text": "break-glass: <@U0ALL> *incident* 4711 <https://evil.example|x>"}
    # A token minted and never delivered works until it expires: the admins see it, and that nobody holds it.
    assert rows[4][4] == {"type": "raw_text", "text": "command (never delivered: nobody holds it)"}
    assert rows[5][4]["elements"][0]["elements"][-1] == {"type": "text", "text": " (never delivered: nobody holds it)"}


def test_nobody_holding_a_token_is_said_without_a_table() -> None:
    blocks = _blocks(_held(0))
    assert not [b for b in blocks if b["type"] == "table"]
    assert "Nobody holds a live token right now." in json.dumps(blocks)


def test_the_refusal_names_the_admins_as_slack_renders_them() -> None:
    text, blocks = who_refused_message(
        WhoRefusal("Only the bot's admins may see who holds tokens; ask one of them.", ("U0A",), ("T0A:S0SEC",)),
        request_id="r1",
    )
    raw = json.dumps([b.to_dict() for b in blocks])
    assert "*Admins:* <@U0A>, <!subteam^S0SEC>" in raw and "Request `r1`" in raw
    assert text.startswith("Only the bot's admins")
    _, none = who_refused_message(WhoRefusal("Nobody may see who holds tokens here."), request_id="r2")
    assert "Admins" not in json.dumps([b.to_dict() for b in none])


def _full_home(holders: Holdings) -> dict[str, Any]:
    lines = [TokenLine(i, f"{i:08x}", f"r{i}", 86400, NOW + timedelta(hours=5), registry="prod") for i in range(40)]
    gone = [TokenLine(100 + i, f"{i:08x}", f"o{i}", 600, NOW - timedelta(hours=1)) for i in range(20)]
    tokens = TokenList(lines[:HOME_LIVE_CAP], 160, gone[:HOME_EXPIRED_CAP], 75)
    limits = Limits(86400, 300, 7 * 86400, "everyone", 10, 9)
    home = HomeView("U0ALICE", tokens, limits, "alice", None, "#help", NOW, 3600, _pending(9), holders=holders)
    view = home_view(home).to_dict()
    assert view_problem(view) is None, view_problem(view)
    return view


def test_an_admins_full_home_tab_stays_inside_100_blocks_with_no_table() -> None:
    view = _full_home(_held(HOME_WHO_ROWS, total=HOME_WHO_ROWS + 30, several=True))
    text = json.dumps(view, ensure_ascii=False)
    assert len(view["blocks"]) <= 100 and not [b for b in view["blocks"] if b["type"] == "table"]
    assert "*Who holds tokens* (admins only) · 50 live" in text
    assert "<@U0USER0019> · `user-19-" in text and "registry `staging-west-1`" in text
    assert "…and 30 more: use `rok-token-bot report --at now`" in text


def test_an_admins_home_tab_says_when_the_live_tokens_could_not_be_read() -> None:
    view = _full_home(Holdings((), 0, NOW, problem="The live tokens could not be read just now."))
    assert "could not be read" in json.dumps(view)


def test_the_longest_lines_still_fit_the_home_tab() -> None:
    rows = tuple(
        _holding(n, rok_user="u" * 128, origin="break_glass", reason="r" * 500, slack_user=f"W0{n:018d}")
        for n in range(HOME_WHO_ROWS)
    )
    view = _full_home(Holdings(rows, 500, NOW, several=True))
    assert len(view["blocks"]) <= 100
    sections = [
        b for b in view["blocks"] if str(b.get("block_id", "")).startswith("holders-") and b["type"] == "section"
    ]
    assert sum(b["text"]["text"].count("\n") + 1 for b in sections) == HOME_WHO_ROWS
