"""Approvals end to end, in HTTP and Socket Mode: a request above the user's limit goes to the approvals
channel; only a listed approver (never the requester, nor their second account) decides, once; an approval
sends the requester a persistent DM with Show my token, whose click (theirs only, once) mints and shows the
token privately; a denial or a lapse tells the requester; no token ever reaches the approvals channel."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from bot.domain.ports import TokenQuery
from bot.usecases import lapse_due
from sandbox.slack import Call
from sandbox.world import ADMINS_GROUP, APPROVALS_CHANNEL, ApprovalMessage, Person, Sandbox

D = 86400
LEADS = "S0LEADS"
ONCALL = "S0ONCALL"
APPROVALS_POLICY = f"""\
limits: {{default: 24h, min: 5m, max: 7d}}
groups:
  - {{usergroup: {ADMINS_GROUP}, name: admins, max: 30d}}
quota: {{per_hour: 1000, cooldown: 0}}
approvals:
  channel: {APPROVALS_CHANNEL}
  approvers:
    users: [U0BOB, U0JDOE]
    usergroups: [{LEADS}]
  max: 30d
  expire_after: 1h
break_glass:
  usergroups: [{ONCALL}]
  max: 4h
"""


@pytest.fixture(scope="module", params=["http", "socket"])
def approvals_world(request: pytest.FixtureRequest) -> Iterator[Sandbox]:
    """A sandbox whose policy has approvals (U0BOB and U0JDOE listed, U0ALICE through the S0LEADS group) and
    break-glass (U0JDOE2, through the S0ONCALL group)."""
    with Sandbox(socket_mode=request.param == "socket", policy=APPROVALS_POLICY) as box:
        box.slack.usergroups[LEADS] = ["U0ALICE"]
        box.slack.usergroups[ONCALL] = ["U0JDOE2"]
        yield box


@pytest.fixture
def box(approvals_world: Sandbox) -> Iterator[Sandbox]:
    yield approvals_world
    # Whatever a test left pending lapses (the upkeep's round, on the sandbox's clock), so the next one starts
    # with no live request; a year on, every token of this test has expired too.
    approvals_world.advance(365 * 86400)
    _assert_no_token_in_the_approvals_channel(approvals_world)


def _assert_no_token_in_the_approvals_channel(box: Sandbox) -> None:
    tokens = [m.token for m in box.rok.minted]
    posted = [
        json.dumps(c.params)
        for c in box.slack.calls
        if c.method in ("chat.postMessage", "chat.update") and c.params.get("channel") == APPROVALS_CHANNEL
    ]
    assert posted, "nothing reached the approvals channel at all"
    assert not [t for t in tokens for p in posted if t in p]


def _mints(box: Sandbox, username: str) -> list[int]:
    """Durations (seconds) of the token-create execs for a Rok user's account."""
    uuid = box.rok.account(username).uuid
    return [int(e.argv[e.argv.index("--duration") + 1]) for e in box.kube.execs if uuid in e.argv]


def _dms(box: Sandbox, user_id: str) -> list[Call]:
    """Ordinary messages in the user's DM with the bot (what they are told about their request)."""
    channel = box.slack.dm_channel(user_id)
    return [c for c in box.slack.calls_to("chat.postMessage") if c.params.get("channel") == channel]


def _ask(box: Sandbox, user_id: str, text: str, *, count: int) -> tuple[ApprovalMessage, str]:
    status, ack, url = box.slash(user_id, text)
    assert status == 200 and ack is not None and "Checking" in ack["text"]
    message = box.wait_approval_request(count=count)
    box.wait_reply(url)  # the requester is told last, once the request knows where its message is
    return message, url


def _updated(box: Sandbox, message: ApprovalMessage) -> dict[str, object]:
    """The approvals message as it stands after its chat.update."""
    box.slack.wait_for(lambda: any(c.params.get("ts") == message.ts for c in box.slack.calls_to("chat.update")))
    current = box.slack.message(APPROVALS_CHANNEL, message.ts)
    assert current is not None
    return current


def test_an_approver_in_a_group_approves_and_only_the_requester_gets_the_token_once(box: Sandbox) -> None:
    before = len(box.approval_posts())
    minted_before = len(box.rok.minted)
    message, url = _ask(box, "U0JDOE", "14d because training run X", count=before + 1)
    # The approvals channel: requester, Rok user, duration, reason, usual limit; Approve and Deny.
    for fact in ("<@U0JDOE>", "`jdoe`", "*14d*", "training run X", "7d (everyone)"):
        assert fact in message.text, fact
    assert '"action_id": "approval_deny"' in message.text
    told = box.wait_reply(url)
    assert "went to the approvers" in str(told.blocks) and f"<#{APPROVALS_CHANNEL}>" in str(told.blocks)
    assert "<@U0BOB>" in str(told.blocks) and f"<!subteam^{LEADS}>" in str(told.blocks)
    assert len(box.rok.minted) == minted_before

    # The requester (even though listed) and someone not listed: refused privately, nothing minted.
    _, own = box.decide("U0JDOE", message)
    assert "your own request" in box.wait_reply(own).text
    _, other = box.decide("U0MALLORY", message)
    assert box.wait_reply(other).text == "You cannot approve this request: only the listed approvers can."
    assert len(box.rok.minted) == minted_before
    assert all(c.params["ts"] != message.ts for c in box.slack.calls_to("chat.update"))

    # U0ALICE is an approver through the S0LEADS user group (usergroups.users.list).
    ephemerals_to_alice = len(box.private_messages("U0ALICE"))
    tokens_before = len(box.private_messages("U0JDOE"))
    box.decide("U0ALICE", message)
    # No token yet: a persistent DM says who approved it, with Show my token; the click mints and shows it.
    [granted] = box.slack.wait_for(lambda: box.show_token_messages("U0JDOE"))
    assert "<@U0ALICE> approved" in json.dumps(granted["blocks"]) and "*14d*" in json.dumps(granted["blocks"])
    assert len(box.rok.minted) == minted_before and len(box.private_messages("U0JDOE")) == tokens_before
    box.show_my_token("U0JDOE")
    reply = box.wait_private("U0JDOE", count=tokens_before + 1)[-1]
    assert reply.token is not None and box.rok.lookup(reply.token).username == "jdoe"  # type: ignore[union-attr]
    assert _mints(box, "jdoe")[-1] == 14 * D
    assert len(box.rok.minted) == minted_before + 1
    assert len(box.private_messages("U0ALICE")) == ephemerals_to_alice  # the approver never gets a token
    carrying = [c for c in box.slack.calls if reply.token in json.dumps(c.params)]
    assert [(c.method, c.params.get("user")) for c in carrying] == [("chat.postEphemeral", "U0JDOE")]
    assert carrying[0].params["channel"] == box.slack.dm_channel("U0JDOE")
    assert any(c.params.get("usergroup") == LEADS for c in box.slack.calls_to("usergroups.users.list"))

    current = _updated(box, message)
    blocks = json.dumps(current.get("blocks"))
    assert "Approved* by <@U0ALICE>" in blocks and "approval_approve" not in blocks and '"input"' not in blocks
    box.slack.wait_for(lambda: any("approved" in json.dumps(c.params) for c in _dms(box, "U0JDOE")))
    box.wait_audit("approved")
    box.wait_audit("issued")
    [approved] = [ln for ln in box.audit_lines("approved") if "<@U0ALICE>" in ln.facts]
    assert "<@U0JDOE>" in approved.facts

    # A second Approve, by another approver or a double click: nothing more.
    _, again = box.decide("U0BOB", message)
    assert "already approved" in box.wait_reply(again).text
    _, double = box.decide("U0ALICE", message)
    assert "already approved" in box.wait_reply(double).text
    assert len(box.rok.minted) == minted_before + 1
    assert len(box.private_messages("U0JDOE")) == tokens_before + 1
    assert len([c for c in box.slack.calls_to("chat.update") if c.params["ts"] == message.ts]) == 1
    # The DM keeps no button (and never the token); the requester's own second click mints nothing.
    box.slack.wait_for(lambda: not box.show_token_messages("U0JDOE"))
    shown = box.slack.message(granted["channel"], granted["ts"])
    assert shown is not None
    assert "was shown to you" in json.dumps(shown["blocks"]) and reply.token not in json.dumps(shown)
    again_url = box.click_message("U0JDOE", granted, "approval_show_token")
    assert "already shown" in box.wait_reply(again_url).text
    assert len(box.rok.minted) == minted_before + 1


def test_an_approver_may_grant_less_and_a_forged_duration_or_request_is_refused(box: Sandbox) -> None:
    message, _ = _ask(box, "U0JDOE2", "20d", count=len(box.approval_posts()) + 1)
    minted = len(box.rok.minted)
    _, forged = box.decide("U0BOB", message, seconds=60 * D)
    assert "at most the 20d asked for" in box.wait_reply(forged).text
    _, unknown = box.decide("U0BOB", message, value="f" * 20)
    assert "no such request" in box.wait_reply(unknown).text
    assert len(box.rok.minted) == minted
    tokens = len(box.private_messages("U0JDOE2"))
    box.decide("U0BOB", message, seconds=10 * D)
    box.show_my_token("U0JDOE2")
    box.wait_private("U0JDOE2", count=tokens + 1)
    assert _mints(box, "jdoe2")[-1] == 10 * D
    assert "for *10d*" in json.dumps(_updated(box, message).get("blocks"))


def test_a_denial_tells_the_requester_and_mints_nothing(box: Sandbox) -> None:
    message, _ = _ask(box, "U0JDOE2", "10d for a demo", count=len(box.approval_posts()) + 1)
    minted, dms = len(box.rok.minted), len(_dms(box, "U0JDOE2"))
    box.decide("U0BOB", message, approve=False, note="not for a demo, sorry")
    told = box.slack.wait_for(lambda: _dms(box, "U0JDOE2")[dms:])
    assert "denied" in json.dumps(told[0].params) and "not for a demo, sorry" in json.dumps(told[0].params)
    blocks = json.dumps(_updated(box, message).get("blocks"))
    assert "Denied* by <@U0BOB>" in blocks and "approval_approve" not in blocks
    box.wait_audit("denied")
    assert len(box.rok.minted) == minted
    _, late = box.decide("U0ALICE", message)
    assert "already denied" in box.wait_reply(late).text
    assert len(box.rok.minted) == minted


def test_above_what_anyone_can_approve_is_refused_at_once_with_both_limits(box: Sandbox) -> None:
    posts, minted = len(box.approval_posts()), len(box.rok.minted)
    _, ack, _ = box.slash("U0JDOE", "60d because reasons")
    assert ack is not None
    assert ack["text"] == (
        "60d is longer than anyone can approve (30d); the usual limit is 7d (/rok-token help shows yours): "
        "ask for at most that, or up to 30d with an approver's OK."
    )
    box.wait_audit("refused")
    assert len(box.approval_posts()) == posts and len(box.rok.minted) == minted


def test_a_request_nobody_decides_lapses_and_the_requester_is_told(box: Sandbox) -> None:
    message, _ = _ask(box, "U0BOB", "8d", count=len(box.approval_posts()) + 1)
    dms = len(_dms(box, "U0BOB"))
    assert box.server is not None and box.server.bot is not None
    assert lapse_due(box.server.bot.ports) == []  # not yet
    box.advance(59 * 60)
    assert _dms(box, "U0BOB")[dms:] == []  # nor a minute before its hour is up
    box.advance(65)  # the upkeep's next round lapses it
    told = box.slack.wait_for(lambda: _dms(box, "U0BOB")[dms:])
    assert "lapsed" in json.dumps(told[0].params)
    blocks = json.dumps(_updated(box, message).get("blocks"))
    assert "Lapsed*" in blocks and "approval_approve" not in blocks
    box.wait_audit("lapsed")
    minted = len(box.rok.minted)
    _, late = box.decide("U0ALICE", message)
    assert "already lapsed" in box.wait_reply(late).text
    assert len(box.rok.minted) == minted


def test_approve_and_deny_make_no_call_before_the_ack(box: Sandbox) -> None:
    message, _ = _ask(box, "U0JDOE", "9d", count=len(box.approval_posts()) + 1)
    assert box.server is not None and box.server.bot is not None
    bot = box.server.bot
    bot.flush_audit()
    before = (len(box.slack.calls), len(box.kube.execs))
    with bot.jobs.hold():
        status, _ = box.decide("U0MALLORY", message)
        assert status == 200
        box.decide("U0BOB", message, approve=False, note="no")
        assert (len(box.slack.calls), len(box.kube.execs)) == before, "an approval listener did I/O before the ack"
    _updated(box, message)  # released: the denial happens after all


def test_break_glass_by_a_member_mints_at_once_and_loudly(box: Sandbox) -> None:
    posts, tokens = len(box.approval_posts()), len(box.private_messages("U0JDOE2"))
    _, ack, _ = box.slash("U0JDOE2", '2h --break-glass "incident 4711"')
    assert ack is not None and "Checking your break-glass request for a 2h token" in ack["text"]
    reply = box.wait_private("U0JDOE2", count=tokens + 1)[-1]
    assert reply.token is not None
    record = box.rok.lookup(reply.token)
    assert record is not None and record.username == "jdoe2" and _mints(box, "jdoe2")[-1] == 7200
    notice = box.slack.wait_for(lambda: box.approval_posts()[posts:])[0]
    said = json.dumps(notice.params)
    assert "Break-glass" in said and "<@U0JDOE2>" in said and "incident 4711" in said and "<!here>" in said
    assert record.token_uuid in said and reply.token not in said
    box.wait_audit("break_glass")
    [line] = [ln for ln in box.audit_lines("break_glass") if "<@U0JDOE2>" in ln.facts]
    assert "incident 4711" in line.facts and record.token_uuid in line.ids
    assert box.server is not None and box.server.bot is not None
    [entry] = [
        e
        for e in box.server.bot.store.ledger.tokens(TokenQuery(slack_user="U0JDOE2"))
        if e.token_uuid == record.token_uuid
    ]
    assert entry.origin == "break_glass"


def test_break_glass_by_a_non_member_or_without_a_reason_is_refused(box: Sandbox) -> None:
    posts, minted = len(box.approval_posts()), len(box.rok.minted)
    assert box.server is not None and box.server.bot is not None
    box.server.bot.flush_audit()
    refused = box.audit_count("refused")
    _, _, url = box.slash("U0JDOE", "2h --break-glass db is down")
    assert "may not use break-glass" in box.wait_reply(url).text
    _, ack, _ = box.slash("U0JDOE2", "2h --break-glass")
    assert ack is not None and "Break-glass needs a reason" in ack["text"]
    _, _, url = box.slash("U0JDOE2", "5h --break-glass incident 4712")
    assert "longer than the break-glass limit of 4h" in box.wait_reply(url).text
    box.wait_audit("refused", count=refused + 3)
    refusals = " ".join(ln.facts for ln in box.audit_lines("refused"))
    assert "may not use break-glass" in refusals
    assert len(box.rok.minted) == minted and len(box.approval_posts()) == posts


def test_break_glass_flag_first_with_an_em_dash_mints_the_duration_typed_after_it(box: Sandbox) -> None:
    """`—break-glass 3h incident 4713`: Slack's autocorrected flag first is break-glass, not a help request,
    and the 3h after it is the token's duration (not the 24h default, refused above the 4h limit)."""
    tokens = len(box.private_messages("U0JDOE2"))
    _, ack, _ = box.slash("U0JDOE2", "\u2014break-glass 3h incident 4713")
    assert ack is not None and "Checking your break-glass request for a 3h token" in ack["text"]
    reply = box.wait_private("U0JDOE2", count=tokens + 1)[-1]
    assert reply.token is not None and _mints(box, "jdoe2")[-1] == 3 * 3600


def _mrkdwn_objects(node: object) -> list[dict[str, object]]:
    """Every mrkdwn text object in a payload, however deep."""
    if isinstance(node, list):
        return [m for item in node for m in _mrkdwn_objects(item)]
    if not isinstance(node, dict):
        return []
    own = [node] if node.get("type") == "mrkdwn" else []
    return own + [m for value in node.values() for m in _mrkdwn_objects(value)]


def test_user_text_is_posted_verbatim_and_escaped_so_slack_never_links_or_pings_it(box: Sandbox) -> None:
    """Reasons and notes with a URL, a #channel and a broadcast: in every message (approvals channel, DMs,
    replies, audit channel) their mrkdwn is `verbatim` and the control characters are escaped."""
    calls, responses = len(box.slack.calls), len(box.slack.responses)
    typed = "see https://evil.example/login <!channel> & #general"
    requests = [c for c in box.approval_posts() if "approval_approve" in json.dumps(c.params)]
    message, _ = _ask(box, "U0JDOE2", f"10d {typed}", count=len(requests) + 1)
    box.decide("U0BOB", message, approve=False, note=f"no: {typed}")
    box.wait_audit("denied")
    glass = len(box.approval_posts())
    box.slash("U0JDOE2", f"2h --break-glass {typed}")
    box.slack.wait_for(lambda: box.approval_posts()[glass:])
    box.wait_audit("break_glass")
    payloads = [c.params for c in box.slack.calls[calls:] if c.method in ("chat.postMessage", "chat.update")]
    payloads += [r.body for r in box.slack.responses[responses:]]
    said = json.dumps(payloads)
    assert said.count("&lt;!channel&gt; &amp; #general") >= 5  # request, denial x2, break-glass, audit
    assert "<!channel>" not in said
    texts = _mrkdwn_objects(payloads)
    assert texts and all(t.get("verbatim") is True for t in texts)


SECOND_ACCOUNT_POLICY = f"""\
limits: {{default: 24h, min: 5m, max: 7d}}
quota: {{per_hour: 100, cooldown: 0}}
approvals:
  channel: {APPROVALS_CHANNEL}
  approvers:
    users: [U0BOB, U0ALICE]
  max: 30d
"""


def test_an_approver_cannot_approve_what_their_second_account_asked_for() -> None:
    """U0BOB is an approver; U0BOB2 is his second Slack account, mapped to the same Rok user `bob`."""
    people = (
        Person("U0BOB", "bob", "bob@example.com", mapped_to="bob"),
        Person("U0BOB2", "bob-alt", "bob.alt@example.com", mapped_to="bob"),
        Person("U0ALICE", "alice", "alice@example.com", mapped_to="alice"),
    )
    with Sandbox(policy=SECOND_ACCOUNT_POLICY, people=people) as box:
        message, _ = _ask(box, "U0BOB2", "14d nightly retraining", count=1)
        _, url = box.decide("U0BOB", message)
        assert "the Rok user bob is yours" in box.wait_reply(url).text
        box.wait_audit("refused")
        [refusal] = [ln for ln in box.audit_lines("refused") if "<@U0BOB>" in ln.facts]
        assert "bob" in refusal.facts
        assert box.rok.minted == [] and box.private_messages("U0BOB2") == []
        assert box.slack.calls_to("chat.update") == []  # still waiting for another approver
        # Someone else may approve it: the token goes to U0BOB2, for Rok user bob.
        box.decide("U0ALICE", message)
        box.show_my_token("U0BOB2")
        reply = box.wait_private("U0BOB2")[-1]
        assert reply.token is not None and box.rok.lookup(reply.token).username == "bob"  # type: ignore[union-attr]


def test_only_the_requester_can_show_an_approved_token_and_one_nobody_opens_lapses(box: Sandbox) -> None:
    requests = [c for c in box.approval_posts() if "approval_approve" in json.dumps(c.params)]
    message, _ = _ask(box, "U0JDOE2", "9d for the weekend", count=len(requests) + 1)
    minted = len(box.rok.minted)
    box.decide("U0BOB", message)
    # Someone else clicking the requester's button (a forged or forwarded value): refused, nothing minted.
    url = box.show_my_token("U0JDOE2", as_user="U0JDOE")
    assert "only the person whose request was approved" in box.wait_reply(url).text
    box.wait_audit("refused")
    assert len(box.rok.minted) == minted
    # Nobody opens it: a day later it lapses, audited, and the DM loses its button.
    [granted] = box.show_token_messages("U0JDOE2")
    assert box.server is not None and box.server.bot is not None
    box.server.bot.flush_audit()
    lapses = box.audit_count("lapsed")
    box.advance(24 * 3600 + 65)
    box.slack.wait_for(lambda: not box.show_token_messages("U0JDOE2"))
    lapsed = box.slack.message(granted["channel"], granted["ts"])
    assert lapsed is not None and "was not opened by" in json.dumps(lapsed["blocks"])
    box.wait_audit("lapsed", count=lapses + 1)
    assert [ln for ln in box.audit_lines("lapsed") if "<@U0JDOE2>" in ln.facts and "not opened" in ln.facts]
    url = box.click_message("U0JDOE2", granted, "approval_show_token")
    assert "lapsed" in box.wait_reply(url).text
    assert len(box.rok.minted) == minted


def test_show_my_token_works_from_app_home_too(box: Sandbox) -> None:
    """App Home lists an approval not yet opened with its own Show my token: a way in if the DM never came."""
    requests = [c for c in box.approval_posts() if "approval_approve" in json.dumps(c.params)]
    message, _ = _ask(box, "U0JDOE2", "8d from home", count=len(requests) + 1)
    box.decide("U0BOB", message)

    def home_with_button() -> dict[str, Any]:
        view = box.slack.home_view("U0JDOE2") or {}
        return view if "approval_show_token" in json.dumps(view) and "from home" in json.dumps(view) else {}

    view: dict[str, Any] = box.slack.wait_for(home_with_button)
    [value] = [
        b["accessory"]["value"]
        for b in view["blocks"]
        if (b.get("accessory") or {}).get("action_id") == "approval_show_token"
    ]
    tokens = len(box.private_messages("U0JDOE2"))
    box.click_view("U0JDOE2", view, "approval_show_token", value=value)
    reply = box.wait_private("U0JDOE2", count=tokens + 1)[-1]
    assert reply.token is not None and box.rok.lookup(reply.token).username == "jdoe2"  # type: ignore[union-attr]
    box.slack.wait_for(lambda: not box.show_token_messages("U0JDOE2"))  # the DM's button is gone too
    box.slack.wait_for(lambda: not home_with_button())


def test_show_my_token_makes_no_call_before_the_ack(box: Sandbox) -> None:
    requests = [c for c in box.approval_posts() if "approval_approve" in json.dumps(c.params)]
    message, _ = _ask(box, "U0JDOE", "9d", count=len(requests) + 1)
    box.decide("U0BOB", message)
    [granted] = box.slack.wait_for(lambda: box.show_token_messages("U0JDOE"))
    assert box.server is not None and box.server.bot is not None
    bot = box.server.bot
    box.idle()  # the decision's job is done (its Home tab refresh comes after the DM)
    bot.flush_audit()
    tokens = len(box.private_messages("U0JDOE"))
    before = (len(box.slack.calls), len(box.kube.execs))
    with bot.jobs.hold():
        box.click_message("U0JDOE", granted, "approval_show_token")
        assert (len(box.slack.calls), len(box.kube.execs)) == before, "Show my token did I/O before the ack"
    box.wait_private("U0JDOE", count=tokens + 1)  # released: the token is shown after all
