"""Who holds tokens (`/rok-token who`, an admin's Home tab) on in-memory fakes: an admin by ID or user group gets
every live token, capped with the total; anyone else is refused, audited, and told who may; never a token."""

from __future__ import annotations

from datetime import timedelta

from bot.domain.audit import Origin
from bot.domain.errors import InternalError
from bot.domain.holders import HOME_WHO_ROWS, WHO_ROWS, Holdings, WhoRefusal
from bot.domain.ledger import TokenStatus
from bot.usecases import Issued, IssueRequest, issue_token, show_home, who_holds
from tests.usecases.fakes import START
from tests.usecases.fakes_lifecycle import LifeWorld, life_world

ADMINS = {"admins": {"users": ["U0ALICE"], "usergroups": ["S0SEC"]}, "quota": {"per_hour": 1000, "cooldown": 0}}


def _world(policy: dict[str, object] | None = ADMINS) -> LifeWorld:
    w = life_world(policy=dict(policy) if policy is not None else None)
    for user in ("U0ALICE", "U0BOB", "U0MALLORY"):
        w.base.directory.add(user, email=f"{user.lower()}@example.com")
    w.base.directory.groups["S0SEC"] = {"U0BOB"}
    return w


def _issue(w: LifeWorld, seconds: int = 3600, rid: str = "r1") -> Issued:
    issued = issue_token(w.ports, IssueRequest(w.ctx("U0JDOE", rid), seconds))
    assert isinstance(issued, Issued)
    return issued


def _answer(w: LifeWorld) -> Holdings | WhoRefusal:
    assert w.surfaces.answers, "nothing was answered"
    return w.surfaces.answers[-1][1]


def _no_token_anywhere(w: LifeWorld) -> None:
    secrets = [t.token.reveal() for t in w.base.engine.minted]
    assert secrets, "the test minted nothing to look for"
    seen = str(w.surfaces.answers) + str(w.surfaces.homes) + str([e.as_record() for e in w.base.audit.events])
    assert not any(s in seen for s in secrets)


def test_an_admin_by_id_sees_every_live_token_oldest_first_and_never_a_token() -> None:
    w = _world()
    first_issued = _issue(w, 7200, "a")
    w.at(START + timedelta(minutes=1))
    second = _issue(w, 3600, "b")
    w.ledger.add_issued("U0MALLORY", seconds=600, issued_at=START - timedelta(hours=1), token_uuid="dead-expired")
    held = who_holds(w.ports, w.ctx("U0ALICE"))
    assert held is not None and _answer(w) == held
    assert [h.token_uuid for h in held.rows] == [first_issued.token_uuid, second.token_uuid]
    now = START + timedelta(minutes=1)
    assert (held.total, held.more, held.now, held.several) == (2, 0, now, False)
    first = held.rows[0]
    assert (first.slack_user, first.rok_user, first.how, first.expires_at, first.held) == (
        "U0JDOE",
        "jdoe",
        "command",
        START + timedelta(hours=2),
        True,
    )
    assert w.holders.asked == [(now, WHO_ROWS)]
    # An admin's answer is a read: not audited (the two issues are).
    assert w.base.audit.outcomes() == ["issued", "issued"]
    _no_token_anywhere(w)


def test_an_admin_through_a_user_group_is_asked_in_the_requests_workspace() -> None:
    w = _world()
    _issue(w)
    held = who_holds(w.ports, w.ctx("U0BOB"))
    assert held is not None and held.total == 1
    assert w.base.directory.asked_teams[-1] == "T0UNIT"


def test_anyone_else_is_refused_audited_and_told_who_may() -> None:
    w = _world()
    _issue(w)
    assert who_holds(w.ports, w.ctx("U0MALLORY", "r9")) is None
    refusal = _answer(w)
    assert refusal == WhoRefusal(
        "Only the bot's admins may see who holds tokens; ask one of them.", ("U0ALICE",), ("S0SEC",)
    )
    assert w.holders.asked == []  # nothing was read for them
    event = w.base.audit.events[-1]
    assert (event.outcome, event.command, event.slack_user, event.request_id) == ("refused", "who", "U0MALLORY", "r9")
    assert event.reason is not None and event.reason.startswith("not_an_admin: Only the bot's admins")
    assert w.base.replies.notices == []  # the refusal went once, naming the admins


def test_without_admins_in_the_policy_nobody_may_and_the_refusal_says_whom_to_ask() -> None:
    w = _world(None)
    assert who_holds(w.ports, w.ctx("U0ALICE")) is None
    refusal = _answer(w)
    assert isinstance(refusal, WhoRefusal) and (refusal.users, refusal.usergroups) == ((), ())
    assert "names no admins" in refusal.text and "#help" in refusal.text
    assert w.base.audit.outcomes() == ["refused"]


def test_more_than_a_table_holds_shows_the_first_rows_and_counts_the_rest() -> None:
    w = _world()
    for n in range(WHO_ROWS + 51):
        w.ledger.add_issued(f"U0USER{n:03d}", seconds=3600 + n, issued_at=START, token_uuid=f"{n:08d}-live")
    held = who_holds(w.ports, w.ctx("U0ALICE"))
    assert held is not None
    assert (len(held.rows), held.total, held.more) == (WHO_ROWS, WHO_ROWS + 51, 51)
    assert held.rows[0].token_uuid == "00000000-live"


def test_no_live_token_is_an_empty_answer() -> None:
    w = _world()
    w.ledger.add_issued("U0JDOE", seconds=60, issued_at=START - timedelta(hours=1), token_uuid="gone-0001")
    held = who_holds(w.ports, w.ctx("U0ALICE"))
    assert held is not None and (held.rows, held.total, held.more) == ((), 0, 0)


def test_approvals_break_glass_the_cli_and_an_undelivered_token_are_named_as_such() -> None:
    w = _world()
    ids = [w.ledger.add_issued("U0JDOE", seconds=3600, issued_at=START, token_uuid=f"{n:08d}-x") for n in range(4)]
    w.ledger._update(ids[0], origin=Origin.APPROVAL, approved_by="U0LEAD", reason="training run X")
    w.ledger._update(ids[1], origin=Origin.BREAK_GLASS, reason="incident 4711 " + "x" * 200)
    w.ledger._update(ids[2], origin=Origin.CLI, slack_user="cli:root", reason="ops")
    w.ledger._update(ids[3], status=TokenStatus.UNDELIVERED)
    held = who_holds(w.ports, w.ctx("U0ALICE"))
    assert held is not None
    approval, glass, cli, undelivered = held.rows
    assert (approval.how, approval.approver, approval.reason) == ("approval", "U0LEAD", None)
    assert glass.how == "break-glass" and glass.shown_reason is not None
    assert len(glass.shown_reason) == 80 and glass.shown_reason.endswith("…")
    assert (cli.how, cli.slack_user, cli.requester, cli.reason) == ("CLI", None, "cli:root", None)
    assert not undelivered.held and approval.held


def test_a_store_that_fails_is_reported_with_a_reference_and_audited() -> None:
    w = _world()
    w.holders.broken = True
    assert who_holds(w.ports, w.ctx("U0ALICE", "r5")) is None
    assert w.surfaces.answers == []
    [(_, text)] = w.base.replies.notices
    assert text.startswith("The bot's database could not be reached")
    assert w.base.audit.outcomes() == ["failed"]


def test_without_a_store_an_admin_gets_a_reference() -> None:
    from dataclasses import replace

    w = _world()
    w.base.ports = replace(w.ports, holders=None)
    assert who_holds(w.ports, w.ctx("U0ALICE", "r6")) is None
    [(_, text)] = w.base.replies.notices
    assert text == InternalError("r6").user_message


def test_an_admins_home_tab_shows_the_section_capped_and_nobody_elses_does() -> None:
    w = _world()
    for n in range(HOME_WHO_ROWS + 4):
        w.ledger.add_issued(f"U0USER{n:03d}", seconds=3600 + n, issued_at=START, token_uuid=f"{n:08d}-live")
    admin = show_home(w.ports, w.ctx("U0ALICE"))
    assert admin is not None and admin.holders is not None
    assert (len(admin.holders.rows), admin.holders.total, admin.holders.more) == (HOME_WHO_ROWS, HOME_WHO_ROWS + 4, 4)
    by_group = show_home(w.ports, w.ctx("U0BOB"))
    assert by_group is not None and by_group.holders is not None
    other = show_home(w.ports, w.ctx("U0JDOE"))
    assert other is not None and other.holders is None
    assert w.base.audit.outcomes() == []  # opening the Home tab is not audited


def test_an_admins_home_tab_still_shows_their_own_tokens_when_the_section_fails() -> None:
    w = _world({**ADMINS, "admins": {"users": ["U0JDOE"]}})
    mine = _issue(w)
    w.holders.broken = True
    home = show_home(w.ports, w.ctx("U0JDOE"))
    assert home is not None and home.refusal is None
    assert [line.short_uuid for line in home.tokens.live] == [(mine.token_uuid or "")[:8]]
    assert home.holders is not None and home.holders.problem is not None and home.holders.rows == ()


def test_help_lists_who_for_an_admin_only() -> None:
    from bot.usecases import help_for

    w = _world()
    admin, other = help_for(w.ports, w.ctx("U0BOB")), help_for(w.ports, w.ctx("U0JDOE"))
    assert admin is not None and admin.admin and other is not None and not other.admin
