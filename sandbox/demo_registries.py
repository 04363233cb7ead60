"""`rok-token-bot demo --registries`: the story with two registries, `prod` and `staging`, in one bot.

Two fake clusters, each with its own `rok-fort-manage` and Rok Registry (sandbox/clusters.py); `prod` is the
default of the channel #prod-ops. The story shows the three ways a request finds its registry: named in the
command, the channel's default, and the chooser (one button per registry the user may use; nothing is minted
until a click); then a name that is no registry, refused with those Jane may use; then the audit channel, where
each line names its registry. Which registry minted a token is read from the fakes themselves.
"""

from __future__ import annotations

from typing import Any

from sandbox.clusters import RegistrySpec
from sandbox.demo import WAIT_SECONDS, Demo, DemoError, Entry, _done, _expect, _step
from sandbox.world import AUDIT_CHANNEL, Reply

PROD_CHANNEL = "C0PRODOPS"
REGISTRIES = (
    RegistrySpec("prod", title="Production", channels=(PROD_CHANNEL,)),
    RegistrySpec("staging", title="Staging"),
)
MISSING = (
    "the bot does not serve several registries yet: ROK_BOT_REGISTRIES must be wired into bootstrap (one engine "
    "per registry) and the slash command must route by registry (issue 22)"
)


def _minted_in(demo: Demo, reply: Reply | None, name: str, what: str) -> str:
    """The registry that minted the token in this reply, which must be `name`."""
    token = reply.token if reply is not None else None
    _expect(token, f"{what}: no token in a private message ({MISSING})")
    assert token is not None
    where = demo.box.minted_by(token)
    _expect(where == name, f"{what}: the token was minted in {where or 'no registry'}, not in {name}")
    return name


def _chooser_buttons(reply: Reply | None) -> list[dict[str, Any]]:
    """The buttons of a chooser message: one per registry offered."""
    blocks = reply.blocks if reply is not None else []
    return [
        element
        for block in blocks
        if block.get("type") == "actions"
        for element in block.get("elements", [])
        if element.get("type") == "button"
    ]


def _button_for(buttons: list[dict[str, Any]], name: str, title: str) -> dict[str, Any] | None:
    """The chooser's button for a registry: its label or value names it (by name or title)."""
    wanted = {name.lower(), title.lower()}
    for button in buttons:
        label = str((button.get("text") or {}).get("text", "")).lower()
        value = str(button.get("value", "")).lower()
        if any(w in label for w in wanted) or value == name:
            return button
    return None


def click_chooser(demo: Demo, user_id: str, button: dict[str, Any], *, indent: str = "   ") -> Reply:
    """Click one button of the chooser; the private message that follows (the token, or why not)."""
    box = demo.box
    label = str((button.get("text") or {}).get("text", ""))
    demo.record(Entry(user_id, "command", f"clicked [ {label} ]"))
    before = len(box.private_messages(user_id))
    status, response_url = box.click(user_id, str(button.get("value", "")), action_id=str(button.get("action_id")))
    if status != 200:
        raise DemoError(f"the bot answered the chooser click with HTTP {status}")

    def arrived() -> Reply | None:
        dms = box.private_messages(user_id)
        if len(dms) > before:
            call = dms[before]
            return Reply(str(call.params.get("text", "")), list(call.params.get("blocks") or []), "dm")
        replies = [r for r in box.replies_to(response_url) if r.token]
        return replies[0] if replies else None

    try:
        reply = box.slack.wait_for(arrived, WAIT_SECONDS)
    except TimeoutError:
        raise DemoError(f"no private message after the chooser click within {WAIT_SECONDS:.0f} s") from None
    assert reply is not None
    entry = demo.record(Entry(user_id, "bot", reply.text, reply.blocks))
    demo.show("private message after the click:", entry, indent=indent)
    return reply


def play_registries_story(demo: Demo) -> None:
    """Five steps; raises DemoError at the first one that does not behave as expected."""
    box = demo.box

    t = _step(demo, 1, "Jane names the registry:  /rok-token staging 2h")
    got = demo.command("U0JDOE", "staging 2h")
    _minted_in(demo, got.reply, "staging", "/rok-token staging 2h")
    _done(demo, t, "a staging token, minted in the staging cluster; prod ran nothing")

    t = _step(demo, 2, f"In #prod-ops ({PROD_CHANNEL}), whose default registry is prod, Jane types  /rok-token 1h")
    got = demo.command("U0JDOE", "1h", channel_id=PROD_CHANNEL)
    _minted_in(demo, got.reply, "prod", "/rok-token 1h in #prod-ops")
    _done(demo, t, "the channel's registry: a prod token")

    t = _step(demo, 3, "In #general, which has no registry, Jane types  /rok-token 1h: the bot asks which one")
    minted = {name: len(box.rok_of(name).minted) for name in box.clusters}
    got = demo.command("U0JDOE", "1h")
    buttons = _chooser_buttons(got.reply)
    _expect(len(buttons) >= 2, f"no chooser with a button per registry ({MISSING})")
    _expect(minted == {name: len(box.rok_of(name).minted) for name in box.clusters}, "minted before any click")
    button = _button_for(buttons, "staging", "Staging")
    _expect(button is not None, "the chooser offers no button for staging")
    assert button is not None
    reply = click_chooser(demo, "U0JDOE", button)
    _minted_in(demo, reply, "staging", "the chooser's staging button")
    _done(demo, t, f"{len(buttons)} buttons, nothing minted until the click; then a staging token")

    t = _step(demo, 4, "Jane mistypes the name:  /rok-token --registry prdo 1h")
    minted = {name: len(box.rok_of(name).minted) for name in box.clusters}
    got = demo.command("U0JDOE", "--registry prdo 1h")
    answer = got.reply.text if got.reply else got.ack_text or ""
    _expect("prod" in answer and "staging" in answer, f"the refusal does not list the registries: {answer!r}")
    _expect(minted == {name: len(box.rok_of(name).minted) for name in box.clusters}, "a token was minted")
    _done(demo, t, "refused with the registries she may use; nothing ran in any cluster")

    t = _step(demo, 5, f"The audit channel #rok-audit ({AUDIT_CHANNEL}): each line names its registry")
    try:
        box.wait_audit("issued", count=3, timeout=WAIT_SECONDS)
    except TimeoutError:
        raise DemoError("the audit channel is missing events: " + " | ".join(demo.audit_lines())) from None
    lines = demo.audit_lines()
    for line in lines:
        demo.say(f"   │ {line}")
    _expect(any("prod" in line for line in lines) and any("staging" in line for line in lines), "no registry shown")
    counts = ", ".join(f"{len(box.rok_of(n).minted)} in {n}" for n in box.clusters)
    _done(demo, t, f"tokens minted: {counts}")
