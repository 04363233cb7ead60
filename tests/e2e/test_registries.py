"""Several registries end to end (issue 22, "Done when"): two fake clusters and two fake registries in one world.

`prod` is the default of #prod-ops and has approvals (U0BOB approves); `staging` has neither. Which registry did
what is read from the fakes (`box.minted_by(token)`, `box.kube_of(name).execs`, `box.registry_of(name).requests`),
never from the bot's own word. The module is skipped, with the reason, while the bot does not route by registry:
a named registry's command must mint in that registry first.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from sandbox.clusters import RegistrySpec
from sandbox.rok import generate_accounts
from sandbox.world import ADMINS_GROUP, APPROVALS_CHANNEL, DEMO_PEOPLE, Person, Reply, Sandbox

PROD_CHANNEL = "C0PRODOPS"
PROD_APPROVALS = {
    "approvals": {"channel": APPROVALS_CHANNEL, "approvers": {"users": ["U0BOB"]}, "max": "30d", "expire_after": "1h"}
}
HANGERS = generate_accounts(5, prefix="hang")
PEOPLE = (
    *DEMO_PEOPLE,
    *(Person(f"U0HANG{i}", a.username, a.email, mapped_to=a.username) for i, a in enumerate(HANGERS)),
)
POLICY = f"""\
limits: {{default: 24h, min: 5m, max: 7d}}
groups:
  - {{usergroup: {ADMINS_GROUP}, name: admins, max: 30d}}
quota: {{per_hour: 1000, cooldown: 0}}
"""


@pytest.fixture(scope="module")
def box() -> Iterator[Sandbox]:
    registries = (
        RegistrySpec("prod", title="Production", channels=(PROD_CHANNEL,), policy=PROD_APPROVALS),
        RegistrySpec("staging", title="Staging"),
    )
    with Sandbox(registries=registries, people=PEOPLE, policy=POLICY, start_bot=False) as world:
        world.add_accounts(HANGERS)
        world.start_bot()
        reply = _ask(world, "U0JDOE2", "staging 1h")
        if reply is None or reply.token is None or world.minted_by(reply.token) != "staging":
            said = reply.text[:160] if reply is not None else "nothing"
            pytest.skip(f"the bot does not route by registry yet: /rok-token staging 1h answered {said!r}")
        yield world


def _ask(box: Sandbox, user_id: str, text: str, *, channel_id: str = "C0GENERAL") -> Reply | None:
    """`/rok-token text` as the user in a channel: the private answer (a DM or a response_url post), or None."""
    before = len(box.private_messages(user_id))
    status, ack, response_url = box.slash(user_id, text, channel_id=channel_id)
    assert status == 200
    if ack and ack.get("text") and not str(ack["text"]).startswith("Checking"):
        return Reply(str(ack["text"]), list(ack.get("blocks") or []), "ack")

    def arrived() -> Reply | None:
        dms = box.private_messages(user_id)
        if len(dms) > before:
            return Reply(str(dms[before].params.get("text", "")), list(dms[before].params.get("blocks") or []))
        replies = box.replies_to(response_url)
        return replies[0] if replies else None

    try:
        return box.slack.wait_for(arrived, 10)
    except TimeoutError:
        return None


def _minted(box: Sandbox) -> dict[str, int]:
    return {name: len(box.rok_of(name).minted) for name in box.clusters}


def _execs(box: Sandbox) -> dict[str, int]:
    box.idle()
    return {name: len(box.kube_of(name).execs) for name in box.clusters}


def _buttons(reply: Reply | None) -> list[dict[str, Any]]:
    blocks = reply.blocks if reply is not None else []
    return [e for b in blocks if b.get("type") == "actions" for e in b.get("elements", []) if e.get("type") == "button"]


def test_a_named_registry_mints_there_and_runs_nothing_in_the_other(box: Sandbox) -> None:
    execs = _execs(box)
    reply = _ask(box, "U0JDOE", "--registry prod 2h")
    assert reply is not None and reply.token is not None
    assert box.minted_by(reply.token) == "prod" and reply.token.startswith("prod_")
    assert _execs(box)["staging"] == execs["staging"]
    after_duration = _ask(box, "U0JDOE", "2h staging deploy check")
    assert after_duration is not None and after_duration.token is not None
    assert box.minted_by(after_duration.token) == "staging"


def test_the_channel_default_mints_in_the_channels_registry(box: Sandbox) -> None:
    reply = _ask(box, "U0JDOE", "1h", channel_id=PROD_CHANNEL)
    assert reply is not None and reply.token is not None and box.minted_by(reply.token) == "prod"
    named = _ask(box, "U0JDOE", "staging 1h", channel_id=PROD_CHANNEL)  # a name wins over the channel
    assert named is not None and named.token is not None and box.minted_by(named.token) == "staging"


def test_the_chooser_mints_nothing_until_a_click_then_in_the_registry_clicked(box: Sandbox) -> None:
    minted = _minted(box)
    reply = _ask(box, "U0JDOE", "1h")
    buttons = _buttons(reply)
    assert len(buttons) == 2, reply
    assert _minted(box) == minted
    staging = next(b for b in buttons if "staging" in str(b.get("text", {}).get("text", "")).lower())
    before = len(box.private_messages("U0JDOE"))
    status, _ = box.click("U0JDOE", str(staging["value"]), action_id=str(staging["action_id"]))
    assert status == 200
    token = box.wait_private("U0JDOE", count=before + 1)[-1].token
    assert token is not None and box.minted_by(token) == "staging"
    assert _minted(box) == {**minted, "staging": minted["staging"] + 1}


def test_an_unknown_name_is_refused_with_the_names_the_user_may_use_and_nothing_runs(box: Sandbox) -> None:
    execs = _execs(box)
    reply = _ask(box, "U0JDOE", "--registry prdo 1h")  # a leading unknown word is a help request
    assert reply is not None and reply.token is None
    assert "prod" in reply.text and "staging" in reply.text
    assert _execs(box) == execs


def test_verify_asks_the_registry_that_minted_the_token(box: Sandbox) -> None:
    reply = _ask(box, "U0ALICE", "staging 1h")
    assert reply is not None and reply.verify_value is not None
    asked = {name: box.registry_of(name).requests for name in box.clusters}
    status, response_url = box.click("U0ALICE", reply.verify_value)
    assert status == 200
    assert "valid" in box.wait_reply(response_url).text.lower()
    assert box.registry_of("staging").requests == asked["staging"] + 1
    assert box.registry_of("prod").requests == asked["prod"]


def test_renew_from_the_reminder_mints_in_the_same_registry(box: Sandbox) -> None:
    reply = _ask(box, "U0BOB", "staging 1h")
    assert reply is not None and reply.token is not None
    box.advance(46 * 60)  # a quarter of its life left: the reminder is due

    def reminder() -> list[dict[str, Any]]:
        return [m for m in box.dm_messages("U0BOB") if "Renew for 1h" in str(m.get("blocks"))]

    message = box.slack.wait_for(reminder, 10)[-1]
    button = next(
        e for b in message["blocks"] if b.get("type") == "actions" for e in b["elements"] if "Renew" in str(e)
    )
    before = len(box.private_messages("U0BOB"))
    box.click_message("U0BOB", message, str(button["action_id"]))
    renewed = box.wait_private("U0BOB", count=before + 1)[-1].token
    assert renewed is not None and box.minted_by(renewed) == "staging"


def test_an_approval_request_names_its_registry_and_only_prod_has_approvals(box: Sandbox) -> None:
    minted = _minted(box)
    _ask(box, "U0JDOE", "prod 14d")  # above jdoe's 7d: prod's policy sends it to its approvers
    request = box.wait_approval_request()
    assert "prod" in request.text.lower() or "production" in request.text.lower()
    refused = _ask(box, "U0JDOE", "staging 14d")  # staging has no approvals: refused with the range
    assert refused is not None and "between" in refused.text
    assert _minted(box) == minted


def test_one_registry_hanging_does_not_slow_the_other(box: Sandbox) -> None:
    users = [f"U0HANG{i}" for i in range(len(HANGERS))]
    minted = _minted(box)
    with box.hang("prod"):
        for user in users:  # more than prod's exec limit: some hold its slots, the rest queue
            status, _, _ = box.slash(user, "prod 1h")
            assert status == 200
        box.slack.wait_for(lambda: box.kube_of("prod").current_execs >= 1, 10)
        started = time.monotonic()
        reply = _ask(box, "U0JDOE", "staging 1h")
        elapsed = time.monotonic() - started
        assert reply is not None and reply.token is not None and box.minted_by(reply.token) == "staging"
        assert elapsed < 3.0, f"staging took {elapsed:.1f} s while prod hung"
        assert _minted(box)["prod"] == minted["prod"]
        assert box.kube_of("prod").max_concurrent_execs <= 4
    for user in users:  # released: prod answers every one of them
        assert box.wait_private(user, count=1)[-1].token is not None
