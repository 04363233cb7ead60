"""Block Kit for the token's life in Slack: the Home tab, the get-token form, the token list, the reminder.

Built with slack_sdk's typed models, like `bot.slack.blocks`. None of these ever carries a token: a token is
named by the first characters of its UUID. Button values carry a ledger row ID, which is no secret: the
use case checks the clicker against the row's owner.

The form's submission is read here with no I/O (`read_form`): the user's range travels in the view's
`private_metadata`, which Slack returns unchanged, so an invalid duration is answered inside the form in
the view_submission's ack. The use case checks the user's limits again after it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import msgspec
from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    InputBlock,
    Option,
    PlainTextInputElement,
    SectionBlock,
    StaticSelectElement,
)
from slack_sdk.models.views import View

from bot.domain.durations import format_duration, parse_duration
from bot.domain.errors import DurationError
from bot.domain.lifecycle import (
    HomeView,
    Reminder,
    TokenForm,
    TokenLine,
    TokenList,
    short_uuid,
)
from bot.domain.models import Limits
from bot.domain.text import REASON_MAX, clean_text
from bot.slack.blocks import escape, mrkdwn, pending_requests_blocks, slack_date, time_left
from bot.slack.holders import holders_home_blocks

OPEN_FORM_ACTION_ID = "get_token"
RENEW_ACTION_ID = "renew_token"
DISMISS_ACTION_ID = "dismiss_reminder"
FORM_CALLBACK_ID = "get_token_form"
# The form's input blocks (each block's only element has the same action_id).
DURATION_BLOCK = "duration"
DURATION_TEXT_BLOCK = "duration_text"
REASON_BLOCK = "reason"
REGISTRY_BLOCK = "registry"
TITLE = "Get a token"


_md = mrkdwn  # verbatim: nothing a user typed becomes a link


def _name(line: TokenLine) -> str:
    return f"`{line.short_uuid}`" if line.short_uuid else f"request `{escape(line.request_id)}`"


def renew_button(entry_id: int, *, seconds: int | None = None) -> ButtonElement:
    """A Renew button: the value is the ledger row's ID (the use case checks whose row it is)."""
    text = f"Renew for {format_duration(seconds)}" if seconds else "Renew"
    return ButtonElement(text=text, action_id=RENEW_ACTION_ID, value=str(entry_id))


def _token_section(line: TokenLine) -> SectionBlock:
    text = f"{_name(line)} · {format_duration(line.duration_seconds)} · expires {slack_date(line.expires_at)}"
    if line.renewed_by:
        return SectionBlock(block_id=f"token-{line.entry_id}", text=_md(f"{text} · renewed by `{line.renewed_by}`"))
    return SectionBlock(block_id=f"token-{line.entry_id}", text=_md(text), accessory=renew_button(line.entry_id))


def _token_sections(lines: list[TokenLine]) -> list[Block]:
    """Live tokens with Renew; with several registries, under a heading per registry (the lines come grouped)."""
    blocks: list[Block] = []
    heading = None
    for line in lines:
        if line.registry and line.registry != heading:
            heading = line.registry
            blocks.append(ContextBlock(elements=[_md(f"*Registry `{escape(heading)}`*")]))
        blocks.append(_token_section(line))
    return blocks


def _limits_line(limits: Limits) -> str:
    lo, hi, default = (format_duration(v) for v in (limits.min, limits.max, limits.default))
    line = f"You may ask for {lo} to {hi} (default {default}; limits of {escape(limits.source)})."
    if limits.per_hour is not None and limits.left is not None:
        line += f" {limits.left} of {limits.per_hour} tokens left this hour."
    return line


# -- the Home tab -------------------------------------------------------------------------------------


def home_view(home: HomeView) -> View:
    """The Home tab: Get a token, the user's limits, live tokens with Renew, expired ones greyed, an admin's
    "who holds tokens", whom to ask."""
    intro = "Short-lived *Rok Registry API tokens*, sent to you privately."
    blocks: list[Block] = [HeaderBlock(text="Rok Registry tokens")]
    if home.refusal is None:
        button = ButtonElement(text="Get a token", action_id=OPEN_FORM_ACTION_ID, style="primary")
        blocks.append(SectionBlock(block_id="get", text=_md(intro), accessory=button))
        who = f"You are Rok Registry user `{escape(home.username or '')}`. " if home.username else ""
        blocks.append(ContextBlock(block_id="limits", elements=[_md(who + _limits_line(home.limits))]))
    else:
        blocks.append(SectionBlock(block_id="get", text=_md(f"{intro}\n:no_entry: {escape(home.refusal)}")))
    if home.pending:
        blocks += [DividerBlock(), *pending_requests_blocks(list(home.pending), now=home.now)]
    blocks += [DividerBlock(), SectionBlock(block_id="yours", text=_md("*Your tokens*"))]
    tokens = home.tokens
    blocks += _token_sections(tokens.live)
    if not tokens.live:
        blocks.append(ContextBlock(block_id="none", elements=[_md("No live token.")]))
    if tokens.live_more:
        more = f"…and {tokens.live_more} more, not shown here."
        blocks.append(ContextBlock(block_id="more", elements=[_md(more)]))
    if tokens.expired:
        blocks.append(ContextBlock(block_id="expired", elements=[_md("*Expired in the last 24 hours*")]))
        for line in tokens.expired:
            text = f"~{_name(line)}~ · {format_duration(line.duration_seconds)} · expired {slack_date(line.expires_at)}"
            text += f" · `{escape(line.registry)}`" if line.registry else ""
            blocks.append(ContextBlock(block_id=f"expired-{line.entry_id}", elements=[_md(text)]))
        if tokens.expired_more:
            more = f"…and {tokens.expired_more} more expired."
            blocks.append(ContextBlock(block_id="expired-more", elements=[_md(more)]))
    if home.holders is not None:
        blocks += holders_home_blocks(home.holders)
    reminders = (
        f" A reminder comes here before a token expires ({format_duration(home.remind_before)} ahead), "
        "with a one-click *Renew*."
        if home.remind_before
        else ""
    )
    how = (
        "*How it works:* the bot creates a token for your Rok Registry user and shows it to you once, in "
        "your Messages tab with the bot; it never keeps it. Use *Get a token* above, or type "
        f"`/rok-token 8h` anywhere (`/rok-token list`, `/rok-token help`).{reminders} "
        f"Questions or access: {escape(home.contact)}."
    )
    blocks += [DividerBlock(), ContextBlock(block_id="how", elements=[_md(how)])]
    return View(type="home", blocks=blocks)


# -- the get-token form --------------------------------------------------------------------------------


class FormInput(msgspec.Struct, frozen=True):
    """What a valid submission asks for."""

    seconds: int
    note: str | None
    registry: str | None = None  # the registry chosen in the form (untrusted: checked by the use case)


class FormError(Exception):
    """An invalid submission: the message goes under the input block it names (`response_action: errors`)."""

    def __init__(self, block_id: str, message: str) -> None:
        super().__init__(message)
        self.block_id = block_id
        self.message = message


def form_view(form: TokenForm) -> View:
    """The get-token form: a duration from the presets that fit the user's range, or typed; a reason."""
    if form.refusal is not None:
        blocks: list[Block] = [SectionBlock(text=_md(f":no_entry: {escape(form.refusal)}"))]
        return View(type="modal", callback_id=FORM_CALLBACK_ID, title=TITLE, close="Close", blocks=blocks)
    limits = form.limits
    lo, hi = format_duration(limits.min), format_duration(limits.max)
    options = [Option(text=format_duration(s), value=str(s)) for s in form.presets]
    default = next(o for o, s in zip(options, form.presets, strict=True) if s == limits.default)
    blocks = [
        SectionBlock(text=_md(f"A Rok Registry token for you, between *{lo}* and *{hi}*, sent to you privately.")),
        InputBlock(
            block_id=DURATION_BLOCK,
            label="Duration",
            element=StaticSelectElement(action_id=DURATION_BLOCK, options=options, initial_option=default),
        ),
        *_registry_input(form),
        InputBlock(
            block_id=DURATION_TEXT_BLOCK,
            label="Or type a duration",
            optional=True,
            hint=f"Between {lo} and {hi}, e.g. 90m, 1d12h or 2 days; it replaces the choice above.",
            element=PlainTextInputElement(action_id=DURATION_TEXT_BLOCK, placeholder="e.g. 2h", max_length=64),
        ),
        InputBlock(
            block_id=REASON_BLOCK,
            label="Reason",
            optional=True,
            hint="For the audit trail, e.g. the notebook or pipeline it is for. Never paste a token here.",
            element=PlainTextInputElement(action_id=REASON_BLOCK, multiline=True, max_length=REASON_MAX),
        ),
        ContextBlock(elements=[_md("The token is shown once, to you only, in your Messages tab with the bot.")]),
    ]
    # What the submission's ack needs to answer without I/O; Slack returns it unchanged.
    metadata = json.dumps({"min": limits.min, "max": limits.max}, separators=(",", ":"))
    return View(
        type="modal",
        callback_id=FORM_CALLBACK_ID,
        title=TITLE,
        submit="Get token",
        close="Cancel",
        private_metadata=metadata,
        blocks=blocks,
    )


def _registry_input(form: TokenForm) -> list[Block]:
    """The registry select, listing only those the user may use; none when there is one to choose from."""
    if len(form.registries) < 2:
        return []
    options = [
        Option(text=(title if title == name else f"{title} ({name})")[:75], value=name)
        for name, title in form.registries
    ]
    select = StaticSelectElement(action_id=REGISTRY_BLOCK, options=options, placeholder="Choose a registry")
    return [InputBlock(block_id=REGISTRY_BLOCK, label="Registry", element=select)]


def _value(values: Mapping[str, Any], block_id: str) -> dict[str, Any]:
    block = values.get(block_id)
    element = block.get(block_id) if isinstance(block, Mapping) else None
    return dict(element) if isinstance(element, Mapping) else {}


def read_form(view: Mapping[str, Any]) -> FormInput:
    """The duration (typed text first, else the choice) and reason of a submission; FormError says what is
    wrong and where. No I/O: the range comes from the view's private_metadata."""
    try:
        meta = json.loads(str(view.get("private_metadata") or "{}"))
        minimum, maximum = int(meta["min"]), int(meta["max"])
    except (ValueError, KeyError, TypeError):
        raise FormError(DURATION_TEXT_BLOCK, "This form is out of date; close it and open it again.") from None
    state = view.get("state")
    values = state.get("values") if isinstance(state, Mapping) else None
    values = values if isinstance(values, Mapping) else {}
    typed = str(_value(values, DURATION_TEXT_BLOCK).get("value") or "").strip()
    note = clean_text(str(_value(values, REASON_BLOCK).get("value") or "")) or None
    picked = _value(values, REGISTRY_BLOCK).get("selected_option")
    registry = str(picked.get("value") or "")[:40] or None if isinstance(picked, Mapping) else None
    if typed:
        try:
            return FormInput(parse_duration(typed, minimum=minimum, maximum=maximum), note, registry)
        except DurationError as exc:
            raise FormError(DURATION_TEXT_BLOCK, exc.user_message) from None
    option = _value(values, DURATION_BLOCK).get("selected_option")
    chosen = str(option.get("value", "")) if isinstance(option, Mapping) else ""
    if not chosen.isdigit() or not minimum <= int(chosen) <= maximum:
        raise FormError(DURATION_BLOCK, f"Choose a duration, or type one between {format_duration(minimum)} "
                        f"and {format_duration(maximum)}.")  # fmt: skip
    return FormInput(int(chosen), note, registry)


def form_sent_view(*, seconds: int, request_id: str) -> View:
    """What the form turns into once submitted: the answer comes privately in the Messages tab."""
    text = (
        f":hourglass_flowing_sand: Checking your request for a {format_duration(seconds)} token… it arrives "
        "privately in your Messages tab with the bot in a few seconds, or a short message there says why not."
    )
    blocks: list[Block] = [
        SectionBlock(text=_md(text)),
        ContextBlock(elements=[_md(f"Request `{request_id}`")]),
    ]
    return View(type="modal", callback_id=FORM_CALLBACK_ID, title=TITLE, close="Done", blocks=blocks)


# -- the token list (`/rok-token list`) ----------------------------------------------------------------


def list_message(tokens: TokenList) -> tuple[str, list[Block]]:
    """The user's live tokens, privately, with a Renew button each; the Home tab shows them too."""
    count = len(tokens.live) + tokens.live_more
    blocks: list[Block] = [HeaderBlock(text="Your live Rok Registry tokens")]
    blocks += _token_sections(tokens.live)
    if not tokens.live:
        blocks.append(SectionBlock(text=_md("You have no live token. `/rok-token 8h` gets one.")))
    if tokens.live_more:
        blocks.append(ContextBlock(elements=[_md(f"…and {tokens.live_more} more, not shown here.")]))
    footer = "Tokens are shown once, when issued: this list names them by UUID. The bot's Home tab shows them too."
    blocks.append(ContextBlock(elements=[_md(footer)]))
    return f"You have {count} live Rok Registry token{'s' if count != 1 else ''}.", blocks


# -- the expiry reminder -------------------------------------------------------------------------------


def _reminder_name(reminder: Reminder) -> str:
    return f"`{reminder.short_uuid}`" if reminder.short_uuid else f"of request `{escape(reminder.request_id)}`"


def reminder_message(reminder: Reminder) -> tuple[str, list[Block]]:
    """A persistent DM: which token expires when, Renew for the same duration, Dismiss. Never the token."""
    rok_user = f"Rok user `{escape(reminder.username)}`, " if reminder.username else ""
    who = f" ({rok_user}{format_duration(reminder.duration_seconds)})"
    left = time_left(reminder.expires_at, reminder.now)
    text = (
        f":hourglass_flowing_sand: Your Rok Registry token {_reminder_name(reminder)}{who} expires "
        f"{slack_date(reminder.expires_at)}, in {left}."
    )
    blocks: list[Block] = [
        SectionBlock(block_id="reminder", text=_md(text)),
        ActionsBlock(
            block_id="reminder-actions",
            elements=[
                ButtonElement(
                    text=f"Renew for {format_duration(reminder.duration_seconds)}",
                    action_id=RENEW_ACTION_ID,
                    value=str(reminder.entry_id),
                    style="primary",
                ),
                ButtonElement(text="Dismiss", action_id=DISMISS_ACTION_ID, value=str(reminder.entry_id)),
            ],
        ),
        ContextBlock(
            elements=[
                _md("Renew sends you a new token of the same length, privately; this one works until it expires.")
            ]
        ),
    ]
    short = reminder.short_uuid or reminder.request_id
    return f"Your Rok Registry token {short} expires in {left}.", blocks


def renewed_message(reminder: Reminder, *, new_uuid: str | None, new_expires_at: datetime) -> tuple[str, list[Block]]:
    """The reminder once its token was renewed: no buttons left."""
    new = f"`{short_uuid(new_uuid)}`" if new_uuid else "a new token"
    text = (
        f":white_check_mark: Renewed: token {_reminder_name(reminder)} was replaced by {new}, which expires "
        f"{slack_date(new_expires_at)}. The new token was sent to you privately."
    )
    old = reminder.short_uuid or reminder.request_id
    done = f"Renewed: token {old} was replaced by {short_uuid(new_uuid) or 'a new token'}."
    return done, [SectionBlock(text=_md(text))]


def dismissed_message(reminder: Reminder) -> tuple[str, list[Block]]:
    """The reminder once dismissed: no buttons left."""
    text = f"Reminder dismissed: token {_reminder_name(reminder)} expires {slack_date(reminder.expires_at)}."
    return text, [ContextBlock(elements=[_md(text)])]
