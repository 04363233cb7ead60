"""The registry chooser: one button per registry the user may use, and what its click carries back.

A button's value holds the registry's name and the request waiting for it (duration, reason, break-glass):
nothing secret, and nothing trusted either. The click goes back through `request_token`, which checks the
name against the clicker's own eligibility, so a forged value naming another registry is refused there.
"""

from __future__ import annotations

import json
import re

import msgspec
from slack_sdk.models.blocks import ActionsBlock, Block, ButtonElement, ContextBlock, SectionBlock

from bot.domain.durations import format_duration
from bot.domain.routing import RegistryOffer
from bot.slack.blocks import escape, mrkdwn

CHOOSE_ACTION_PREFIX = "choose_registry"
# Each button's action ID is unique in its block: the prefix and the button's place.
CHOOSE_ACTION = re.compile(rf"^{CHOOSE_ACTION_PREFIX}(_\d+)?$")
_VALUE_MAX = 2000  # Slack's limit for a button value
_BUTTONS_MAX = 25  # Slack's limit of elements in an actions block


class Clicked(msgspec.Struct, frozen=True):
    """What a chooser button's value says (untrusted: checked by the use case)."""

    registry: str
    seconds: int | None
    reason: str
    break_glass: bool


def choice_value(name: str, offer: RegistryOffer) -> str:
    """A button's value: the registry and the waiting request, within Slack's limit."""
    body = {"r": name, "s": offer.seconds, "w": offer.reason, "b": offer.break_glass}
    value = json.dumps(body, separators=(",", ":"))
    while len(value) > _VALUE_MAX and body["w"]:
        body["w"] = str(body["w"])[: len(str(body["w"])) // 2]
        value = json.dumps(body, separators=(",", ":"))
    return value


def read_choice(value: str) -> Clicked | None:
    """A button's value read back; None for anything that is not one (then nothing is asked for)."""
    try:
        data = json.loads(value) if len(value) <= _VALUE_MAX else None
    except ValueError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("r"), str):
        return None
    seconds = data.get("s")
    reason = data.get("w")
    return Clicked(
        registry=str(data["r"])[:40],
        seconds=seconds if isinstance(seconds, int) and not isinstance(seconds, bool) and seconds > 0 else None,
        reason=reason if isinstance(reason, str) else "",
        break_glass=data.get("b") is True,
    )


def chooser_message(offer: RegistryOffer, *, request_id: str) -> tuple[str, list[Block]]:
    """Ask which registry: the note (if any), then one button per registry the user may use."""
    what = f"a {format_duration(offer.seconds)} token" if offer.seconds else "a token"
    text = f"Which registry is {what} for? Nothing is created until you choose."
    if offer.note:
        text = f"{offer.note} {text}"
    buttons = [
        ButtonElement(
            text=title[:75] if title == name else f"{title} ({name})"[:75],
            action_id=f"{CHOOSE_ACTION_PREFIX}_{i}",
            value=choice_value(name, offer),
        )
        for i, (name, title) in enumerate(offer.choices[:_BUTTONS_MAX])
    ]
    blocks: list[Block] = [
        SectionBlock(text=mrkdwn(escape(text))),
        ActionsBlock(block_id="choose_registry", elements=buttons),
        ContextBlock(elements=[mrkdwn(f"Request `{request_id}`")]),
    ]
    return text, blocks
