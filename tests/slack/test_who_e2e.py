"""Who holds tokens, end to end in HTTP and Socket Mode: an admin's `/rok-token who` is a private table of the
live tokens (the fake Slack checks the table block's documented shape); anyone else is refused, told who may,
and the refusal is audited; an admin's Home tab shows the same section, nobody else's does; never a token."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from sandbox.world import ADMINS_GROUP, Sandbox

SECURITY = "S0SEC"
ONCALL = "S0ONCALL"
WHO_POLICY = f"""\
limits: {{default: 24h, min: 5m, max: 7d}}
groups:
  - {{usergroup: {ADMINS_GROUP}, name: admins, max: 30d}}
quota: {{per_hour: 1000, cooldown: 0}}
admins:
  users: [U0ALICE]
  usergroups: [{SECURITY}]
break_glass:
  usergroups: [{ONCALL}]
  max: 4h
"""


@pytest.fixture(scope="module", params=["http", "socket"])
def who_world(request: pytest.FixtureRequest) -> Iterator[Sandbox]:
    """Admins: U0ALICE by ID, U0BOB through the S0SEC user group; U0JDOE2 may use break-glass."""
    with Sandbox(socket_mode=request.param == "socket", policy=WHO_POLICY) as box:
        box.slack.usergroups[SECURITY] = ["U0BOB"]
        box.slack.usergroups[ONCALL] = ["U0JDOE2"]
        yield box


@pytest.fixture
def box(who_world: Sandbox) -> Iterator[Sandbox]:
    yield who_world
    assert who_world.slack.block_errors == [], "the bot sent blocks Slack would refuse"
    who_world.advance(365 * 86400)  # every token of this test has expired for the next one


def _issue(box: Sandbox, user_id: str, text: str = "24h") -> str:
    """/rok-token text; the token, once it reached the user privately and its ledger row is settled."""
    before = len(box.private_messages(user_id))
    status, _, _ = box.slash(user_id, text)
    assert status == 200
    token = box.wait_private(user_id, count=before + 1)[-1].token
    assert token is not None
    box.idle()
    return token


def _uuid(box: Sandbox, token: str) -> str:
    record = box.rok.lookup(token)
    assert record is not None and record.token_uuid
    return str(record.token_uuid)


def _who(box: Sandbox, user_id: str) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """/rok-token who as the user: the ack's body, and the blocks of the private answer."""
    status, ack, url = box.slash(user_id, "who")
    assert status == 200
    return ack, box.wait_reply(url).blocks


def _table(blocks: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    [table] = [b for b in blocks if b.get("type") == "table"]
    rows: list[list[dict[str, Any]]] = table["rows"]
    return rows


def _cell_text(cell: dict[str, Any]) -> str:
    """What a cell shows: its raw text, or its rich text's parts (a mention as <@U…>, a date as its fallback)."""
    if cell["type"] == "raw_text":
        return str(cell["text"])
    parts = [p for section in cell["elements"] for p in section["elements"]]
    return "".join(
        f"<@{p['user_id']}>" if p["type"] == "user" else str(p.get("text") or p.get("fallback") or "") for p in parts
    )


def test_an_admin_gets_every_live_token_as_a_private_table_and_never_a_token(box: Sandbox) -> None:
    tokens = [_issue(box, "U0JDOE"), _issue(box, "U0JDOE2", "2h")]
    ack, blocks = _who(box, "U0ALICE")
    assert not (ack or {}).get("text")  # the ack says nothing and does nothing: the answer comes after it
    rows = [[_cell_text(c) for c in row] for row in _table(blocks)]
    assert rows[0] == ["Slack user", "Rok user", "Token", "Expires", "How"]
    assert (
        [r[:3] for r in rows[1:]]
        == [
            ["<@U0JDOE>", "jdoe", _uuid(box, tokens[0])[:8]],  # oldest issue first
            ["<@U0JDOE2>", "jdoe2", _uuid(box, tokens[1])[:8]],
        ]
    )
    assert rows[2][3].endswith("UTC (in 2h)") and rows[2][4] == "command"
    answer = json.dumps(blocks)
    assert "2 live Rok Registry tokens" in answer
    assert not [t for t in tokens if t in answer]


def test_a_break_glass_token_shows_its_reason_as_typed(box: Sandbox) -> None:
    token = _issue(box, "U0JDOE2", '2h --break-glass "incident 4711 <@U0ALL>"')
    _, blocks = _who(box, "U0ALICE")
    [row] = _table(blocks)[1:]
    assert row[-1] == {"type": "raw_text", "text": "break-glass: incident 4711 <@U0ALL>"}  # quotes cleaned
    assert token not in json.dumps(blocks)


def test_an_admin_through_a_user_group_gets_it_too(box: Sandbox) -> None:
    _issue(box, "U0JDOE")
    _, blocks = _who(box, "U0BOB")
    assert len(_table(blocks)) == 2


def test_anyone_else_is_refused_told_who_may_and_audited(box: Sandbox) -> None:
    token = _issue(box, "U0JDOE")
    refused = box.audit_count("refused")
    _, blocks = _who(box, "U0JDOE")
    text = json.dumps(blocks)
    assert "Only the bot's admins may see who holds tokens" in text
    assert "<@U0ALICE>" in text and f"<!subteam^{SECURITY}>" in text
    assert not [b for b in blocks if b.get("type") == "table"] and token not in text
    box.wait_audit("refused", count=refused + 1)
    line = box.audit_lines("refused")[-1]
    assert "U0JDOE" in line.facts + line.ids and "not_an_admin" in line.facts + line.ids


def test_an_admins_home_tab_shows_the_section_and_nobody_elses_does(box: Sandbox) -> None:
    token = _issue(box, "U0JDOE")
    before = len(box.home_publishes("U0ALICE"))
    box.open_home("U0ALICE")
    home = json.dumps(box.wait_home("U0ALICE", count=before + 1), ensure_ascii=False)
    assert "*Who holds tokens* (admins only) · 1 live" in home
    assert "<@U0JDOE>" in home and _uuid(box, token)[:8] in home and token not in home
    mine = len(box.home_publishes("U0JDOE"))
    box.open_home("U0JDOE")
    assert "Who holds tokens" not in json.dumps(box.wait_home("U0JDOE", count=mine + 1))


def test_help_lists_who_for_an_admin_only(box: Sandbox) -> None:
    _, _, url = box.slash("U0ALICE", "help")
    assert "`/rok-token who` shows who holds live tokens" in json.dumps(box.wait_reply(url).blocks)
    _, _, url = box.slash("U0JDOE", "help")
    assert "/rok-token who" not in json.dumps(box.wait_reply(url).blocks)


def test_with_several_registries_each_row_names_its_registry() -> None:
    with Sandbox(registries=("prod", "staging"), policy=WHO_POLICY) as several:
        several.slack.usergroups[SECURITY] = ["U0BOB"]  # the policy's groups exist, as in the module's sandbox
        several.slack.usergroups[ONCALL] = ["U0JDOE2"]
        tokens = [_issue(several, "U0JDOE", "prod 24h"), _issue(several, "U0JDOE2", "staging 2h")]
        _, blocks = _who(several, "U0ALICE")
        rows = [[_cell_text(c) for c in row] for row in _table(blocks)]
        assert rows[0] == ["Slack user", "Rok user", "Registry", "Token", "Expires", "How"]
        assert [r[:3] for r in rows[1:]] == [["<@U0JDOE>", "jdoe", "prod"], ["<@U0JDOE2>", "jdoe2", "staging"]]
        assert not [t for t in tokens if t in json.dumps(blocks)]
        assert several.slack.block_errors == []
