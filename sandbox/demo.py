"""`rok-token-bot demo`: the real app against the sandbox fakes, as a short story, a prompt or a page.

Everything runs in this process on 127.0.0.1: `Sandbox` starts the fake cluster, registry and Slack and
the real `BotServer` in HTTP mode; the demo then plays Slack (signed slash commands and button clicks)
and prints what each person would see. Every token is masked down to its last 4 characters wherever it
is printed or shown, so a demo transcript can be pasted anywhere.
"""

from __future__ import annotations

import contextlib
import html
import io
import logging
import re
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from string import Template
from typing import Any, TextIO

from bot.domain.durations import format_duration, parse_duration
from bot.domain.errors import DurationError, RokBotError
from bot.settings import SettingsError
from sandbox.world import ADMINS_GROUP, AUDIT_CHANNEL, Reply, Sandbox

EXIT_OK, EXIT_FAIL = 0, 1
# The sandbox's policy. The bot runs on the sandbox's manual clock: the story moves it forward to show a
# reminder (a 1-hour token is reminded when a quarter of its life is left), and nothing waits for it.
DEMO_POLICY = f"""\
limits: {{default: 24h, min: 5m, max: 7d}}
groups:
  - {{usergroup: {ADMINS_GROUP}, name: admins, max: 30d}}
quota: {{per_hour: 1000, cooldown: 0}}
"""
WAIT_SECONDS = 15.0
DEFAULT_USER = "U0JDOE"
# Who the story calls whom; the other demo people go by their Slack handle.
STORY_NAMES = {"U0JDOE": "Jane", "U0BOB": "Bob", "U0MALLORY": "Mallory"}
EMOJI = {
    "key": "🔑",
    "mag": "🔍",
    "no_entry": "⛔",
    "x": "❌",
    "warning": "⚠️",
    "white_check_mark": "✅",
    "rotating_light": "🚨",
    "arrow_forward": "▶️",
    "stop_button": "⏹️",
    "hourglass_flowing_sand": "⏳",
}
HELP = """\
commands:
  /rok-token [duration|help] [as USERID]   run the slash command (default user U0JDOE), e.g. /rok-token 2h as U0BOB
  verify [as USERID]                       click Verify on that user's last token message
  home [as USERID]                         open the bot's Home tab: live tokens, limits, Get a token
  later DURATION                           move the bot's clock forward, e.g. later 45m: reminders come
  users                                    the demo people and how each maps to a Rok username
  audit                                    what the audit channel #rok-audit shows so far
  help                                     this list
  quit                                     stop (so does end of input or Ctrl-C)"""


class DemoError(Exception):
    """A step of the demo did not behave as expected."""


# -- masking -----------------------------------------------------------------------------------------

# A safety net for token-shaped text the fake did not record (tokens are 43 characters).
_LONG_RUN = re.compile(r"(?<![A-Za-z0-9_\-])[A-Za-z0-9_\-]{40,}(?![A-Za-z0-9_\-])")


def mask_token(token: str) -> str:
    """`••••••…abcd`: enough to tell tokens apart, not enough to use one."""
    return "••••••…" + token[-4:]


class Masker:
    """Replaces every minted token (and anything token-shaped) in a string by its masked form."""

    def __init__(self, tokens: Callable[[], list[str]]) -> None:
        self._tokens = tokens

    def __call__(self, text: str) -> str:
        for token in self._tokens():
            if token in text:
                text = text.replace(token, mask_token(token))
        return _LONG_RUN.sub(lambda m: mask_token(m.group(0)), text)

    def blocks(self, value: Any) -> Any:
        """The same structure with every string masked."""
        if isinstance(value, str):
            return self(value)
        if isinstance(value, list):
            return [self.blocks(v) for v in value]
        if isinstance(value, dict):
            return {k: self.blocks(v) for k, v in value.items()}
        return value


# -- Block Kit rendering -----------------------------------------------------------------------------

# Inline mrkdwn: `code`, *bold*, <special|label>, :emoji: and ~strike~.
_INLINE = re.compile(r"`([^`\n]+)`|\*([^*\n]+)\*|<([^<>\n]+)>|:([a-z0-9_+-]+):|~([^~\n]+)~")


def _unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _special(inner: str, names: Mapping[str, str]) -> str:
    """What Slack shows for `<...>`: a date's fallback, a mention's name, a link's label."""
    target, _, label = inner.partition("|")
    if target.startswith("!date^"):
        return label or target
    if target.startswith("@"):
        return "@" + (names.get(target[1:]) or label or target[1:])
    if target.startswith("#"):
        return "#" + (label or target[1:])
    if target.startswith("!"):
        return "@" + (label or target[1:].split("^")[0])
    return label or target


def _inline(text: str, names: Mapping[str, str], *, as_html: bool) -> str:
    out: list[str] = []
    pos = 0

    def plain(s: str) -> str:
        s = _unescape(s)
        return html.escape(s).replace("\n", "<br>") if as_html else s

    for m in _INLINE.finditer(text):
        out.append(plain(text[pos : m.start()]))
        pos = m.end()
        code, bold, special, emoji, strike = m.groups()
        if strike is not None:
            inner = _inline(strike, names, as_html=as_html)
            out.append(f"<s>{inner}</s>" if as_html else inner)
        elif code is not None:
            out.append(f"<code>{html.escape(_unescape(code))}</code>" if as_html else _unescape(code))
        elif bold is not None:
            inner = _inline(bold, names, as_html=as_html)
            out.append(f"<b>{inner}</b>" if as_html else inner)
        elif special is not None:
            shown = _unescape(_special(special, names))
            if as_html and special[0] in "@#!" and not special.startswith("!date^"):
                out.append(f'<span class="mention">{html.escape(shown)}</span>')
            else:
                out.append(html.escape(shown) if as_html else shown)
        else:
            out.append(plain(EMOJI.get(emoji, m.group(0))))
    out.append(plain(text[pos:]))
    return "".join(out)


def _segments(text: str) -> Iterator[tuple[bool, str]]:
    """Split mrkdwn into (is_code_block, text) pieces on ``` fences."""
    parts = text.split("```")
    if len(parts) % 2 == 0:  # an unclosed fence is shown as typed
        parts[-2:] = [parts[-2] + "```" + parts[-1]]
    for index, part in enumerate(parts):
        if part:
            yield index % 2 == 1, part


def mrkdwn_lines(text: str, names: Mapping[str, str]) -> list[str]:
    """Slack mrkdwn as terminal lines: markup dropped, code blocks indented."""
    lines: list[str] = []
    for is_code, part in _segments(text):
        if is_code:
            lines.extend("    " + _unescape(line) for line in part.strip("\n").splitlines())
        else:
            lines.extend(_inline(part.strip("\n"), names, as_html=False).splitlines())
    return lines


def mrkdwn_html(text: str, names: Mapping[str, str]) -> str:
    """Slack mrkdwn as HTML, everything escaped."""
    out: list[str] = []
    for is_code, part in _segments(text):
        if is_code:
            out.append(f"<pre>{html.escape(_unescape(part.strip(chr(10))))}</pre>")
        else:
            out.append(_inline(part.strip("\n"), names, as_html=True))
    return "".join(out)


def _text_object(obj: Any, names: Mapping[str, str]) -> list[str]:
    if not isinstance(obj, dict):
        return []
    text = str(obj.get("text", ""))
    if obj.get("type") == "mrkdwn":
        return mrkdwn_lines(text, names)
    return text.splitlines()


def _text_object_html(obj: Any, names: Mapping[str, str]) -> str:
    if not isinstance(obj, dict):
        return ""
    text = str(obj.get("text", ""))
    return mrkdwn_html(text, names) if obj.get("type") == "mrkdwn" else html.escape(text)


def _button_label(element: dict[str, Any]) -> str:
    if element.get("type") == "button":
        return " ".join(_text_object(element.get("text"), {})) or "button"
    return str(element.get("type", "element"))


def blocks_to_lines(blocks: list[dict[str, Any]], names: Mapping[str, str]) -> list[str]:
    """Block Kit as terminal lines: header underlined, sections, code blocks, buttons as `[ Verify ]`."""
    lines: list[str] = []
    for block in blocks:
        kind = block.get("type")
        if kind == "header":
            title = " ".join(_text_object(block.get("text"), names))
            lines += [title, "─" * len(title)]
        elif kind == "section":
            lines += _text_object(block.get("text"), names)
            for item in block.get("fields") or []:
                lines += _text_object(item, names)
            accessory = block.get("accessory")
            if isinstance(accessory, dict):
                lines.append(f"[ {_button_label(accessory)} ]")
        elif kind == "actions":
            lines.append("  ".join(f"[ {_button_label(e)} ]" for e in block.get("elements") or []))
        elif kind == "context":
            parts = [" ".join(_text_object(e, names)) or str(e.get("alt_text", "")) for e in block["elements"]]
            lines.append(" · ".join(p for p in parts if p))
        elif kind == "divider":
            lines.append("─" * 24)
        elif kind == "input":
            lines.append(f"{' '.join(_text_object(block.get('label'), names))}: [ {_input_shown(block)} ]")
        else:
            lines.append(f"[{kind} block]")
    return lines


def _input_shown(block: dict[str, Any]) -> str:
    """What an input block's element shows before anyone types: the chosen option, or the placeholder."""
    element = block.get("element") or {}
    option = element.get("initial_option")
    if isinstance(option, dict):
        return " ".join(_text_object(option.get("text"), {})) + " ▾"
    placeholder = element.get("placeholder")
    return " ".join(_text_object(placeholder, {})) if isinstance(placeholder, dict) else ""


def _button_html(element: dict[str, Any]) -> str:
    style = html.escape(str(element.get("style", "")))
    return f'<button class="btn {style}" type="button">{html.escape(_button_label(element))}</button>'


def blocks_to_html(blocks: list[dict[str, Any]], names: Mapping[str, str]) -> str:
    """Block Kit as HTML, in the page's Slack-like classes; every text escaped."""
    out: list[str] = []
    for block in blocks:
        kind = block.get("type")
        if kind == "header":
            out.append(f'<div class="header">{_text_object_html(block.get("text"), names)}</div>')
        elif kind == "section":
            body = _text_object_html(block.get("text"), names)
            body += "".join(
                f'<div class="field">{_text_object_html(f, names)}</div>' for f in block.get("fields") or []
            )
            accessory = block.get("accessory")
            if isinstance(accessory, dict):
                body = f'<div class="grow">{body}</div><div class="accessory">{_button_html(accessory)}</div>'
                out.append(f'<div class="section with-accessory">{body}</div>')
            else:
                out.append(f'<div class="section">{body}</div>')
        elif kind == "actions":
            buttons = "".join(_button_html(e) for e in block.get("elements") or [])
            out.append(f'<div class="actions">{buttons}</div>')
        elif kind == "input":
            label = _text_object_html(block.get("label"), names)
            optional = ' <span class="optional">(optional)</span>' if block.get("optional") else ""
            hint = _text_object_html(block.get("hint"), names)
            out.append(
                f'<div class="input"><div class="label">{label}{optional}</div>'
                f'<div class="field-box">{html.escape(_input_shown(block))}</div>'
                + (f'<div class="hint">{hint}</div>' if hint else "")
                + "</div>"
            )
        elif kind == "context":
            parts = " · ".join(_text_object_html(e, names) for e in block.get("elements") or [])
            out.append(f'<div class="context">{parts}</div>')
        elif kind == "divider":
            out.append("<hr>")
        else:
            out.append(f'<div class="context">[{html.escape(str(kind))} block]</div>')
    return "".join(out)


# -- the conversation --------------------------------------------------------------------------------


@dataclass
class Entry:
    """One thing a person did or saw: a command typed, an ack, a private message, a reply."""

    user_id: str
    kind: str  # "command" (the user typed it) or "bot" (only this user sees it)
    text: str
    blocks: list[dict[str, Any]] = field(default_factory=list)
    note: str = ""


@dataclass
class Outcome:
    """What came back from one slash command or click."""

    status: int
    ack_text: str | None
    ack_ms: float
    reply: Reply | None = None
    reply_ms: float = 0.0


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


class Demo:
    """Plays Slack against a running sandbox and tells what each person sees, masked."""

    def __init__(self, box: Sandbox, *, out: TextIO) -> None:
        self.box = box
        self.out = out
        self.mask = Masker(lambda: [r.token for c in box.clusters.values() for r in list(c.rok.minted)])
        self.names = {uid: p.name for uid, p in box.people.items()}
        self.entries: list[Entry] = []
        self._lock = threading.Lock()

    # -- output

    def say(self, line: str = "") -> None:
        print(self.mask(line), file=self.out, flush=True)

    def show(self, title: str, entry: Entry, *, indent: str = "   ") -> None:
        """Print what one person saw, under a one-line title, framed."""
        self.say(f"{indent}{title}")
        lines = blocks_to_lines(self.mask.blocks(entry.blocks), self.names) if entry.blocks else []
        if not lines:
            lines = mrkdwn_lines(self.mask(entry.text), self.names)
        for line in lines:
            self.say(f"{indent}│ {line}".rstrip())

    def record(self, entry: Entry) -> Entry:
        with self._lock:
            self.entries.append(entry)
        return entry

    def snapshot(self) -> list[Entry]:
        """The conversation so far (the page reads it from its own thread)."""
        with self._lock:
            return list(self.entries)

    def who(self, user_id: str) -> str:
        person = self.box.people.get(user_id)
        name = STORY_NAMES.get(user_id) or (person.name if person else user_id)
        return f"{name} ({user_id})"

    def audit_lines(self) -> list[str]:
        """Each event of the audit channel as one line (a post may batch several): facts, then IDs in brackets."""
        lines = []
        for call in self.box.audit_posts():
            if not call.ok:
                continue
            blocks = self.mask.blocks(list(call.params.get("blocks") or []))
            for i, block in enumerate(blocks):
                if block.get("type") != "section":
                    continue
                line = " ".join(blocks_to_lines([block], self.names))
                after = blocks[i + 1] if i + 1 < len(blocks) and blocks[i + 1].get("type") == "context" else None
                ids = " ".join(blocks_to_lines([after], self.names)) if after else ""
                lines.append(line + (f"  [{ids}]" if ids else ""))
        return lines

    # -- playing Slack

    def command(self, user_id: str, text: str, *, indent: str = "   ", channel_id: str = "C0GENERAL") -> Outcome:
        """`/rok-token text` as `user_id` (in `channel_id`): print the ack, then the private answer if one is
        coming."""
        box = self.box
        typed = f"/rok-token {text}".rstrip()
        self.record(Entry(user_id, "command", typed))
        dms_before = len(box.private_messages(user_id))
        started = time.monotonic()
        status, ack, response_url = box.slash(user_id, text, channel_id=channel_id)
        ack_s = time.monotonic() - started
        ack_text = str(ack["text"]) if ack and ack.get("text") else None
        outcome = Outcome(status, ack_text, ack_s)
        if status != 200:
            raise DemoError(f"the bot answered the slash command with HTTP {status}")
        audience = STORY_NAMES.get(user_id, user_id)
        if ack_text is not None:
            entry = self.record(Entry(user_id, "bot", ack_text, note=f"ack · {_ms(ack_s)}"))
            self.show(f"ack after {_ms(ack_s)}, only {audience} sees it:", entry, indent=indent)
        else:
            self.say(f"{indent}ack after {_ms(ack_s)} (empty: the answer follows)")
        if ack_text is not None and not ack_text.startswith("Checking"):
            return outcome  # answered in the ack: nothing else is coming

        def arrived() -> Reply | None:
            dms = box.private_messages(user_id)
            if len(dms) > dms_before:
                call = dms[dms_before]
                return Reply(str(call.params.get("text", "")), list(call.params.get("blocks") or []), "dm")
            replies = box.replies_to(response_url)
            return replies[0] if replies else None

        try:
            reply = box.slack.wait_for(arrived, WAIT_SECONDS)
        except TimeoutError:
            raise DemoError(f"no private message for {user_id} within {WAIT_SECONDS:.0f} s") from None
        assert reply is not None  # wait_for returns only a truthy result
        outcome.reply, outcome.reply_ms = reply, time.monotonic() - started
        where = "private message in the DM with the bot" if reply.via == "dm" else "private reply"
        entry = self.record(Entry(user_id, "bot", reply.text, reply.blocks, note=_ms(outcome.reply_ms)))
        self.show(f"{where}, {_ms(outcome.reply_ms)} after the command:", entry, indent=indent)
        return outcome

    def last_token_message(self, user_id: str) -> Reply | None:
        for call in reversed(self.box.private_messages(user_id)):
            reply = Reply(str(call.params.get("text", "")), list(call.params.get("blocks") or []), "dm")
            if reply.verify_value:
                return reply
        return None

    def verify(self, user_id: str, *, indent: str = "   ") -> Outcome:
        """Click Verify on the user's last token message and print the private answer."""
        message = self.last_token_message(user_id)
        if message is None or message.verify_value is None:
            raise DemoError(f"{user_id} has no token message to verify yet; run /rok-token first")
        self.record(Entry(user_id, "command", "clicked [ Verify ]"))
        started = time.monotonic()
        status, response_url = self.box.click(user_id, message.verify_value)
        ack_s = time.monotonic() - started
        if status != 200:
            raise DemoError(f"the bot answered the click with HTTP {status}")
        try:
            reply = self.box.wait_reply(response_url, timeout=WAIT_SECONDS)
        except TimeoutError:
            raise DemoError(f"no answer to the Verify click within {WAIT_SECONDS:.0f} s") from None
        elapsed = time.monotonic() - started
        entry = self.record(Entry(user_id, "bot", reply.text, reply.blocks, note=_ms(elapsed)))
        self.show(f"private answer, {_ms(elapsed)} after the click (ack in {_ms(ack_s)}):", entry, indent=indent)
        return Outcome(status, None, ack_s, reply, elapsed)

    # -- the token's life in Slack: the Home tab, the form, a reminder

    def home(self, user_id: str, *, indent: str = "   ") -> dict[str, Any]:
        """Open the user's Home tab (app_home_opened) and print the view the bot published."""
        published = len([c for c in self.box.home_publishes(user_id) if c.ok])
        started = time.monotonic()
        self.box.open_home(user_id)
        try:
            view = self.box.wait_home(user_id, count=published + 1, timeout=WAIT_SECONDS)
        except TimeoutError:
            raise DemoError(f"the bot published no Home tab for {user_id} within {WAIT_SECONDS:.0f} s") from None
        self.show(
            f"the Home tab, published {_ms(time.monotonic() - started)} after it opened:",
            _view_entry(user_id, view),
            indent=indent,
        )
        return view

    def open_form(self, user_id: str, home: dict[str, Any], *, indent: str = "   ") -> dict[str, Any]:
        """Click [ Get a token ] on the Home tab; print the form Slack opens."""
        opened = len(self.box.modals(user_id))
        self.box.click_view(user_id, home, "get_token")
        try:
            form = self.box.wait_modal(user_id, count=opened + 1, timeout=WAIT_SECONDS)
        except TimeoutError:
            raise DemoError("the bot opened no form within 3 seconds of the click") from None
        self.show("the form (a modal over the Home tab):", _view_entry(user_id, form), indent=indent)
        return form

    def submit_form(
        self, user_id: str, form: dict[str, Any], *, typed: str, reason: str, indent: str = "   "
    ) -> Outcome:
        """Type a duration and a reason in the form and submit it; print the form's answer and the token."""
        values: dict[str, dict[str, dict[str, Any]]] = {
            "duration": {"duration": {"type": "static_select", "selected_option": {"value": "86400"}}},
            "duration_text": {"duration_text": {"type": "plain_text_input", "value": typed}},
            "reason": {"reason": {"type": "plain_text_input", "value": reason}},
        }
        self.record(Entry(user_id, "command", f"submitted the form: {typed}, reason “{reason}”"))
        before = len(self.box.private_messages(user_id))
        started = time.monotonic()
        ack = self.box.submit_view(user_id, form, values) or {}
        ack_s = time.monotonic() - started
        if ack.get("response_action") != "update":
            raise DemoError(f"the form was not accepted: {ack.get('errors')}")
        self.show(f"the form's answer, after {_ms(ack_s)}:", _view_entry(user_id, ack.get("view") or {}), indent=indent)
        return self._next_private(user_id, before, started, ack_s, indent=indent, what="after the form")

    def _next_private(
        self, user_id: str, before: int, started: float, ack_s: float, *, indent: str, what: str
    ) -> Outcome:
        try:
            call = self.box.slack.wait_for(lambda: self.box.private_messages(user_id)[before:], WAIT_SECONDS)[0]
        except TimeoutError:
            raise DemoError(f"no private message for {user_id} within {WAIT_SECONDS:.0f} s") from None
        reply = Reply(str(call.params.get("text", "")), list(call.params.get("blocks") or []), "dm")
        elapsed = time.monotonic() - started
        entry = self.record(Entry(user_id, "bot", reply.text, reply.blocks, note=_ms(elapsed)))
        self.show(f"private message in the DM with the bot, {_ms(elapsed)} {what}:", entry, indent=indent)
        return Outcome(200, None, ack_s, reply, elapsed)

    def later(self, seconds: int, *, indent: str = "   ") -> None:
        """Move the bot's (and the fake registry's) clock forward: what falls due meanwhile happens now."""
        now = self.box.advance(seconds)
        self.say(f"{indent}(the demo moves the bot's clock {format_duration(seconds)} forward, to {now:%H:%M} UTC)")

    def reminder(self, user_id: str, short_uuid: str, *, timeout: float, indent: str = "   ") -> dict[str, Any]:
        """Wait for the reminder of one token in the user's DM with the bot; print it as it arrived."""
        started = time.monotonic()

        def arrived() -> list[dict[str, Any]]:
            return [m for m in self.box.dm_messages(user_id) if short_uuid in str(m.get("text", ""))]

        try:
            message = self.box.slack.wait_for(arrived, timeout)[0]
        except TimeoutError:
            raise DemoError(f"no reminder for token {short_uuid} within {timeout:.0f} s") from None
        entry = self.record(Entry(user_id, "bot", str(message.get("text", "")), list(message.get("blocks") or []),
                                  note="reminder, a message that stays"))  # fmt: skip
        self.show(f"a message in the DM with the bot, {_ms(time.monotonic() - started)} later:", entry, indent=indent)
        return message

    def click_reminder(self, user_id: str, message: dict[str, Any], *, label: str, indent: str = "   ") -> Outcome:
        """Click Renew on a reminder: print the new token, then the reminder as Slack shows it once edited."""
        self.record(Entry(user_id, "command", f"clicked [ {label} ]"))
        before = len(self.box.private_messages(user_id))
        started = time.monotonic()
        self.box.click_message(user_id, message, "renew_token")
        outcome = self._next_private(user_id, before, started, 0.0, indent=indent, what="after the click")

        def edited() -> list[dict[str, Any]]:
            now = self.box.slack.message(str(message["channel"]), str(message["ts"])) or {}
            return [now] if "edited" in now else []

        try:
            now = self.box.slack.wait_for(edited, WAIT_SECONDS)[0]
        except TimeoutError:
            raise DemoError("the reminder was not edited after the renewal") from None
        entry = self.record(Entry(user_id, "bot", str(now.get("text", "")), list(now.get("blocks") or []),
                                  note="the reminder, edited"))  # fmt: skip
        self.show("the reminder, edited in place:", entry, indent=indent)
        return outcome

    def settle_audit(self, timeout: float = 2.0) -> None:
        """Let the audit poster catch up: it posts from a background thread, after the user's answer."""
        bot = self.box.idle()  # a refusal answered in the ack is audited by a job right after it
        if bot is not None:
            bot.flush_audit(timeout)
        deadline, seen = time.monotonic() + timeout, -1
        while time.monotonic() < deadline and seen != (seen := len(self.box.audit_posts())):
            time.sleep(0.15)

    # -- summaries

    def execs_summary(self) -> str:
        execs = [e for cluster in self.box.clusters.values() for e in cluster.kube.execs]
        counts = Counter(e.argv[1] if len(e.argv) > 1 else e.argv[0] for e in execs)
        return " + ".join(f"{n} {name}" for name, n in counts.items()) or "none"


def _view_entry(user_id: str, view: dict[str, Any]) -> Entry:
    """A view (the Home tab, a form) as a printable entry, the form's title first."""
    title = (view.get("title") or {}).get("text")
    blocks = list(view.get("blocks") or [])
    if title:
        blocks = [{"type": "header", "text": {"type": "plain_text", "text": title}}, *blocks]
    return Entry(user_id, "view", "", blocks)


# -- the story ---------------------------------------------------------------------------------------


def _expect(condition: object, message: str) -> None:
    if not condition:
        raise DemoError(message)


def _step(demo: Demo, number: int, title: str) -> float:
    demo.say()
    demo.say(f"{number}. {title}")
    return time.monotonic()


def _done(demo: Demo, started: float, summary: str) -> None:
    demo.say(f"   ✓ {summary} (step: {_ms(time.monotonic() - started)})")


def play_story(demo: Demo) -> None:
    """The nine steps; raises DemoError at the first one that does not behave as expected."""
    box = demo.box
    minted = box.rok.minted

    t = _step(demo, 1, "Jane (U0JDOE, mapped to jdoe in the user map) types  /rok-token 24h")
    got = demo.command("U0JDOE", "24h")
    _expect(got.ack_text and "Checking" in got.ack_text, f"unexpected ack: {got.ack_text!r}")
    _expect(got.reply and got.reply.via == "dm" and got.reply.token, "no token in a private message to Jane")
    assert got.reply is not None
    jane_token = got.reply.token
    _expect(minted and minted[-1].token == jane_token and minted[-1].username == "jdoe", "token not minted for jdoe")
    _done(demo, t, "Jane has a token, privately")

    t = _step(demo, 2, "Jane clicks [ Verify ]")
    got = demo.verify("U0JDOE")
    _expect(got.reply and "valid" in got.reply.text.lower(), "the registry did not call the token valid")
    _done(demo, t, "the Rok Registry accepted the token")

    t = _step(demo, 3, "Bob (U0BOB, mapped by his bob@example.com email) types  /rok-token 1h")
    execs = len(box.kube.execs)
    got = demo.command("U0BOB", "1h")
    _expect(got.reply and got.reply.token, "no token in a private message to Bob")
    _expect(minted[-1].username == "bob", "Bob's token was not minted for bob")
    cached = len(box.kube.execs) - execs == 1
    _done(demo, t, "Bob has a token too" + ("; the account list came from the cache: one exec" if cached else ""))

    t = _step(demo, 4, "Mallory (U0MALLORY, mallory@elsewhere.test, in no map) types  /rok-token 24h")
    count = len(minted)
    got = demo.command("U0MALLORY", "24h")
    _expect(got.reply and "not mapped" in got.reply.text, "Mallory was not told she is not mapped")
    _expect(len(minted) == count and not box.private_messages("U0MALLORY"), "Mallory got something")
    _done(demo, t, "refused, told why and whom to ask; nothing minted")

    t = _step(demo, 5, "Jane asks for a month:  /rok-token 30d")
    count = len(minted)
    got = demo.command("U0JDOE", "30d")
    # Refused in the ack (a global limit) or right after it (a per-user limit): either way, with the range.
    answer = got.reply.text if got.reply else got.ack_text or ""
    _expect("choose between" in answer, f"30d was not refused with the allowed range: {answer!r}")
    _expect(len(minted) == count, "a 30d token was minted")
    _done(demo, t, "refused, with the allowed range; nothing minted")

    t = _step(demo, 6, "Jane opens the bot's Home tab")
    home = demo.home("U0JDOE")
    jane = str(minted[0].token_uuid or "")[:8]
    _expect(jane and jane in str(home.get("blocks")), "Jane's live token is not on her Home tab")
    _done(demo, t, f"her live token {jane} with [ Renew ], what she may ask for, whom to ask; never a token")

    t = _step(demo, 7, "Jane clicks [ Get a token ] and asks for 1h, for a notebook run")
    form = demo.open_form("U0JDOE", home)
    count = len(minted)
    got = demo.submit_form("U0JDOE", form, typed="1h", reason="the demo: a notebook run")
    _expect(got.reply and got.reply.token and len(minted) == count + 1, "no token from the form")
    short = str(minted[-1].token_uuid or "")[:8]
    _done(demo, t, f"token {short}, privately, exactly as from /rok-token")

    t = _step(demo, 8, "45 minutes later, a quarter of its life left, a reminder comes; Jane clicks [ Renew for 1h ]")
    demo.later(45 * 60)
    reminder = demo.reminder("U0JDOE", short, timeout=WAIT_SECONDS)
    count = len(minted)
    got = demo.click_reminder("U0JDOE", reminder, label="Renew for 1h")
    _expect(got.reply and got.reply.token and len(minted) == count + 1, "Renew gave no new token")
    renewal = minted[-1]
    _expect(round((renewal.expires_at - renewal.created_at).total_seconds()) == 3600, "the renewal is not 1h")
    _done(demo, t, f"a new 1h token {str(renewal.token_uuid or '')[:8]}, privately; the reminder says so")

    t = _step(demo, 9, f"The audit channel #rok-audit ({AUDIT_CHANNEL}) shows every event, never a token")
    try:
        for outcome, n in (("issued", 4), ("verified", 1), ("refused", 2), ("reminded", 2)):
            box.wait_audit(outcome, count=n, timeout=WAIT_SECONDS)
    except TimeoutError:
        raise DemoError("the audit channel is missing events: " + " | ".join(demo.audit_lines())) from None
    for line in demo.audit_lines():
        demo.say(f"   │ {line}")
    _done(demo, t, "4 issued (one from the form, one a renewal), 1 verified, 2 refused, 2 reminded (Jane's, Bob's)")


# -- interactive ------------------------------------------------------------------------------------


def _users(demo: Demo) -> list[str]:
    domains = [d.strip().lower() for d in demo.box.env.get("ROK_BOT_EMAIL_DOMAINS", "").split(",") if d.strip()]
    lines = []
    for person in demo.box.people.values():
        local, _, domain = (person.email or "").rpartition("@")
        if person.is_bot:
            how = "a bot: refused"
        elif person.restricted:
            how = "a guest account: refused"
        elif person.mapped_to:
            how = f"user map → {person.mapped_to}"
        elif local and domain.lower() in domains:
            how = f"email {person.email} → {local}"
        else:
            how = f"not mapped ({person.email or 'no email'}): refused"
        name = STORY_NAMES.get(person.user_id, person.name)
        lines.append(f"  {person.user_id:<10} {name:<8} {how}")
    return lines


def _parse(line: str) -> tuple[str, str, str | None]:
    """`/rok-token 2h as U0BOB` -> ("/rok-token", "2h", "U0BOB")."""
    words = line.split()
    user: str | None = None
    if len(words) >= 3 and words[-2].lower() == "as":
        user, words = words[-1].upper(), words[:-2]
    command = words[0].lower() if words else ""
    return command, " ".join(words[1:]), user


def run_interactive(demo: Demo, stdin: TextIO) -> None:
    """Read commands until `quit` or end of input; each answer is printed as the person would see it."""
    tty = stdin.isatty()
    demo.say(
        'Type commands, e.g. "/rok-token 2h", "verify", "home", "/rok-token 1h as U0MALLORY", "users", "audit", "quit".'
    )
    while True:
        if tty:
            print("> ", end="", file=demo.out, flush=True)
        raw = stdin.readline()
        if not raw:
            return
        line = raw.strip()
        if not line:
            continue
        if not tty:
            demo.say(f"> {line}")
        command, text, user = _parse(line)
        user_id = user or DEFAULT_USER
        try:
            if command in {"quit", "exit", "q"}:
                return
            _interactive_command(demo, command, text, user_id)
        except DemoError as exc:
            demo.say(f"  ✗ {exc}")
        except DurationError as exc:
            demo.say(f"  ✗ {exc.user_message}")


def _interactive_command(demo: Demo, command: str, text: str, user_id: str) -> None:
    """Carry out one typed command other than `quit`, as `user_id`; anything not understood prints the help."""
    if command in {"/rok-token", "rok-token"}:
        if _known_user(demo, user_id):
            demo.say(f"  {demo.who(user_id)} runs /rok-token {text}".rstrip())
            demo.command(user_id, text, indent="  ")
    elif command == "verify" and not text:
        demo.say(f"  {demo.who(user_id)} clicks [ Verify ]")
        demo.verify(user_id, indent="  ")
    elif command == "home" and not text:
        if _known_user(demo, user_id):
            demo.say(f"  {demo.who(user_id)} opens the bot's Home tab")
            demo.home(user_id, indent="  ")
    elif command == "later" and text:
        demo.later(parse_duration(text, minimum=1, maximum=366 * 86400), indent="  ")
        demo.settle_audit()
    elif command == "users":
        for entry in _users(demo):
            demo.say(entry)
    elif command == "audit":
        demo.settle_audit()
        lines = demo.audit_lines()
        for entry in lines or ["(no posts yet)"]:
            demo.say(f"  │ {entry}")
    else:
        demo.say(HELP)


def _known_user(demo: Demo, user_id: str) -> bool:
    """Whether `user_id` is one of the demo's people; if not, say so (and where to find them) instead."""
    if user_id in demo.box.people:
        return True
    demo.say(f"  {user_id} is not a demo user; `users` lists them.")
    return False


# -- the page ---------------------------------------------------------------------------------------


def conversation_html(demo: Demo) -> str:
    """The conversation as Slack would show it, masked and escaped."""
    out: list[str] = []
    for entry in demo.snapshot():
        name = html.escape(demo.names.get(entry.user_id, entry.user_id))
        if entry.kind == "command":
            out.append(
                f'<div class="msg user"><div class="who">{name}</div>'
                f'<div class="section">{html.escape(demo.mask(entry.text))}</div></div>'
            )
            continue
        body = (
            blocks_to_html(demo.mask.blocks(entry.blocks), demo.names)
            if entry.blocks
            else f'<div class="section">{mrkdwn_html(demo.mask(entry.text), demo.names)}</div>'
        )
        note = html.escape(entry.note)
        out.append(
            '<div class="msg bot"><div class="who">rok-token-bot <span class="app">APP</span>'
            f' <span class="only">Only visible to {name} · {note}</span></div>{body}</div>'
        )
    return "".join(out) or '<div class="empty">Nothing yet.</div>'


def audit_html(demo: Demo) -> str:
    """The audit channel's posts, masked and escaped."""
    out = []
    for call in (c for c in demo.box.audit_posts() if c.ok):
        blocks = demo.mask.blocks(list(call.params.get("blocks") or []))
        body = blocks_to_html(blocks, demo.names) or html.escape(demo.mask(str(call.params.get("text", ""))))
        out.append(
            f'<div class="msg bot"><div class="who">rok-token-bot <span class="app">APP</span></div>{body}</div>'
        )
    return "".join(out) or '<div class="empty">No posts yet.</div>'


def home_html(demo: Demo, user_id: str = DEFAULT_USER) -> str:
    """The user's Home tab as last published (Slack keeps showing it until the next publish), masked."""
    view = demo.box.slack.home_view(user_id)
    if view is None:
        return '<div class="empty">Not opened yet.</div>'
    return blocks_to_html(demo.mask.blocks(list(view.get("blocks") or [])), demo.names)


def modal_html(demo: Demo, user_id: str = DEFAULT_USER) -> str:
    """The last form opened for the user, as it looked when it opened: title, blocks, its two buttons."""
    views = demo.box.slack.opened_views(user_id)
    if not views:
        return '<div class="empty">Not opened yet.</div>'
    view = demo.mask.blocks(views[-1])
    title = html.escape(str((view.get("title") or {}).get("text", "")))
    buttons = "".join(
        f'<button class="btn {style}" type="button">{html.escape(str(view[key]["text"]))}</button>'
        for key, style in (("close", ""), ("submit", "primary"))
        if isinstance(view.get(key), dict)
    )
    body = blocks_to_html(list(view.get("blocks") or []), demo.names)
    return (
        f'<div class="modal-title">{title}</div><div class="modal-body">{body}</div>'
        f'<div class="modal-foot">{buttons}</div>'
    )


def _fragments(demo: Demo) -> dict[str, str]:
    return {
        "conversation": conversation_html(demo),
        "audit": audit_html(demo),
        "home": home_html(demo),
        "modal": modal_html(demo),
    }


def _page_template() -> Template:
    return Template(resources.files("sandbox").joinpath("demo_page.html").read_text(encoding="utf-8"))


def start_page(demo: Demo) -> Any:
    """Serve the page on a random loopback port; returns the running ServerThread."""
    from aiohttp import web

    from sandbox.aio import ServerThread

    template = _page_template()
    headers = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}

    async def page(request: web.Request) -> web.Response:
        body = template.substitute(_fragments(demo), user=html.escape(demo.names.get(DEFAULT_USER, DEFAULT_USER)))
        return web.Response(text=body, content_type="text/html", headers=headers)

    async def fragments(request: web.Request) -> web.Response:
        return web.json_response(_fragments(demo), headers=headers)

    app = web.Application()
    app.router.add_get("/", page)
    app.router.add_get("/fragments", fragments)
    return ServerThread(app, name="demo-page").start()


# -- entry point -------------------------------------------------------------------------------------


def _quiet_output(stream: TextIO) -> None:
    # A terminal that cannot show "…" or "│" gets "?" rather than a traceback.
    if isinstance(stream, io.TextIOWrapper):
        stream.reconfigure(errors="replace")


def _quiet_logs() -> None:
    """Warnings only, on stderr; refusals are part of the story, so their warning lines are left out."""
    from bot.runtime.logs import setup_logging

    setup_logging(level="WARNING", fmt="text")

    def not_a_refusal(record: logging.LogRecord) -> bool:
        # The Slack front end logs them, and the use cases for a refusal after the ack (an unknown registry).
        where = record.name in ("bot.slack.app", "bot.usecases")
        return not (where and record.getMessage().startswith("refused:"))

    for handler in logging.getLogger().handlers:
        handler.addFilter(not_a_refusal)


def _wait_for_enter(demo: Demo) -> None:
    demo.say("The page stays up: press Enter (or Ctrl-C) to stop.")
    with contextlib.suppress(KeyboardInterrupt):
        sys.stdin.readline()


def run_demo(*, interactive: bool = False, open_page: bool = False, registries: bool = False) -> int:
    """Start the fakes and the real bot on 127.0.0.1, then play the story (or read commands); 0 if all went well.
    `registries`: two registries, prod and staging, each with its own fake cluster, and their story."""
    _quiet_logs()
    out = sys.stdout
    _quiet_output(out)
    began = time.monotonic()
    print(
        "rok-token-bot demo: the real bot, in HTTP mode, against a fake Kubernetes API (with a fake rok-fort-manage),\n"
        "a fake Rok Registry and a fake Slack, all on 127.0.0.1. Tokens are shown masked: ••••••…last4.",
        file=out,
        flush=True,
    )
    story: Callable[[Demo], None] = play_story
    if registries:
        from sandbox.demo_registries import REGISTRIES, play_registries_story

        print("Two registries, prod and staging: two fake clusters, two fake Rok Registries.", file=out, flush=True)
        box = Sandbox(exec_latency=0.3, policy=DEMO_POLICY, registries=REGISTRIES)
        story = play_registries_story
    else:
        box = Sandbox(exec_latency=0.3, policy=DEMO_POLICY)
    page: Any = None
    try:
        try:
            box.start()
        except (RokBotError, SettingsError, OSError, TimeoutError) as exc:
            print(f"The sandbox did not start: {exc}", file=out, flush=True)
            return EXIT_FAIL
        demo = Demo(box, out=out)
        demo.say(f"Started in {_ms(time.monotonic() - began)}; the bot listens on {box.url}/slack/events.")
        if open_page:
            page = start_page(demo)
            demo.say(f"The conversation as Slack would show it: {page.url}/  (refreshes every 2 s)")
        if interactive:
            try:
                run_interactive(demo, sys.stdin)
            except KeyboardInterrupt:
                demo.say()
            return EXIT_OK
        try:
            story(demo)
        except (DemoError, TimeoutError) as exc:
            demo.say(f"   ✗ {exc}")
            demo.say()
            demo.say(f"The demo did not behave as expected ({_ms(time.monotonic() - began)}).")
            if open_page:
                _wait_for_enter(demo)
            return EXIT_FAIL
        demo.say()
        demo.say(
            f"Done in {_ms(time.monotonic() - began)}: "
            f"{sum(len(c.rok.minted) for c in box.clusters.values())} tokens minted, "
            f"execs run in the pod: {demo.execs_summary()}, {len(box.audit_posts())} audit posts."
        )
        demo.say("Next: play with it yourself:  rok-token-bot demo --interactive   (add --open to watch in a browser)")
        demo.say('      the real setup (a Slack app, a cluster): README.md, "Create the Slack app" and onwards.')
        if open_page:
            _wait_for_enter(demo)
        return EXIT_OK
    except KeyboardInterrupt:
        print("\ninterrupted", file=out, flush=True)
        return EXIT_FAIL
    finally:
        if page is not None:
            page.stop()
        box.stop()
