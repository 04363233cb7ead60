"""The words of `/rok-token`: a duration, then optionally a reason, or `--break-glass` and a reason.

    /rok-token 24h
    /rok-token 14d because training run X          above the user's limit: the reason goes to the approvers
    /rok-token 2h --break-glass "incident 4711"    an incident responder, at once, loudly

Pure parsing: no I/O, so the slash command's listener can answer a malformed command in its ack.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.domain.durations import leading_duration
from bot.domain.text import clean_text

# Desktop clients turn "--" into an en or em dash as people type: all three spell the flag.
BREAK_GLASS_FLAGS = frozenset({"--break-glass", "\u2014break-glass", "\u2013break-glass"})
HELP_WORDS = frozenset({"help", "-h", "--help", "?", "usage"})


@dataclass(frozen=True, slots=True)
class CommandText:
    """A command's text split into its parts; `duration` is "" when none was given."""

    duration: str
    reason: str
    break_glass: bool


def split_command(text: str) -> CommandText:
    """The duration, the reason (cleaned: one line, bounded) and whether `--break-glass` was given.

    The flag may come before the duration (`--break-glass 2h incident 4711`, as people type in a hurry):
    the duration is then the words right after it, so the one typed is the one minted, never the default.
    """
    words = text.split()
    flags = [i for i, word in enumerate(words) if word.lower() in BREAK_GLASS_FLAGS]
    before, after = (words[: flags[0]], words[flags[0] + 1 :]) if flags else (words, [])
    after = [w for w in after if w.lower() not in BREAK_GLASS_FLAGS]
    if before:
        duration, rest = leading_duration(" ".join(before))
    elif after and after[0][:1].isdigit():
        # A word starting with a digit right after the flag is meant as the duration: a typo is refused.
        duration, rest = leading_duration(" ".join(after))
        after = []
    else:
        duration, rest = "", ""
    reason = clean_text(" ".join([rest, *after]))
    return CommandText(duration=duration, reason=reason, break_glass=bool(flags))


def wants_help(text: str) -> bool:
    """Whether a command's text asks for help: a help word, or text that starts with neither a duration nor
    the break-glass flag (so `/rok-token hello` explains itself; `—break-glass 2h ...` is no help request)."""
    text = text.strip()
    if text.lower() in HELP_WORDS:
        return True
    if not text or text.split()[0].lower() in BREAK_GLASS_FLAGS:
        return False
    return not (text[0].isdigit() or text[0] in "+-.")
