"""The words of `/rok-token`: a registry, a duration and a reason, each optional; or `--break-glass` and a reason.

    /rok-token 24h
    /rok-token prod 24h                            a registry by name (only a configured name is one)
    /rok-token 24h prod deploy                     ... or right after the duration
    /rok-token 24h --registry prod                 ... or as a flag, anywhere (also --registry=prod)
    /rok-token 14d because training run X          above the user's limit: the reason goes to the approvers
    /rok-token 2h --break-glass "incident 4711"    an incident responder, at once, loudly
    /rok-token list | who                          subcommands (your live tokens; everyone's, for admins)

A word is a registry only when it is one of the configured names the caller passes: otherwise the words mean
exactly what they meant before registries existed, and a reason word is never taken for a registry. A caller
that passes no names at all (None, the default) gets the grammar from before registries, `--registry` included
as ordinary words, so that no command is read differently until the listener also acts on the registry. Which
registry a request then goes to is `bot.domain.routing`'s decision.

Pure parsing: no I/O, so the slash command's listener can answer a malformed command in its ack.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

import msgspec

from bot.domain.durations import leading_duration, spells_duration
from bot.domain.routing import listed, shown_name, typed_name
from bot.domain.text import clean_text

# Desktop clients turn "--" into an en or em dash as people type: all three spell a flag.
DASHES = ("--", "\u2014", "\u2013")
BREAK_GLASS_FLAGS = frozenset(dash + "break-glass" for dash in DASHES)
REGISTRY_FLAGS = frozenset(dash + "registry" for dash in DASHES)
HELP_WORDS = frozenset({"help", "-h", "--help", "?", "usage"})
# Whole commands that are no request: `/rok-token list` (your live tokens), `/rok-token who` (everyone's, for the
# policy's admins). No registry may take one of these names, so neither is ever read as a registry.
LIST_WORD = "list"
WHO_WORD = "who"
SUBCOMMANDS = frozenset({LIST_WORD, WHO_WORD})
NO_REGISTRY_NAME = "Name a registry after --registry, as in `--registry NAME`."


class CommandText(msgspec.Struct, frozen=True):
    """A command's text split into its parts; `duration` is "" when none was given.

    `registry` is the name given (canonical when configured, else `routing.typed_name`'s safe form), or None;
    `problem` is one sentence when the words cannot be a request (`--registry` with no name, two registries
    named), which the listener refuses in its ack as a `UsageError`.
    """

    duration: str
    reason: str
    break_glass: bool
    registry: str | None = None
    problem: str | None = None


def split_command(text: str, registries: Collection[str] | None = None) -> CommandText:
    """The registry, the duration, the reason (cleaned: one line, bounded) and whether `--break-glass` was given.

    The flag may come before the duration (`--break-glass 2h incident 4711`, as people type in a hurry):
    the duration is then the words right after it, so the one typed is the one minted, never the default.
    `registries` are the configured names: pass an empty collection when only the `default` registry exists
    (`--registry` is understood, and no other word changes meaning), None to ignore registries altogether.
    """
    names = {name.lower(): name for name in registries or ()}
    words, named, problem = text.split(), list[str](), None
    if registries is not None:
        words, named, problem = _pull_registry_flags(words, names)
    flags = [i for i, word in enumerate(words) if word.lower() in BREAK_GLASS_FLAGS]
    before, after = (words[: flags[0]], words[flags[0] + 1 :]) if flags else (words, [])
    after = [w for w in after if w.lower() not in BREAK_GLASS_FLAGS]
    if before:
        before = _take_names(before, names, named)
    else:
        after = _take_names(after, names, named)
    if before:
        duration, rest = leading_duration(" ".join(before))
    elif after and after[0][:1].isdigit():
        # A word starting with a digit right after the flag is meant as the duration: a typo is refused.
        duration, rest = leading_duration(" ".join(after))
        after = []
    else:
        duration, rest = "", ""
    if not named and rest:
        # Right after a duration, a configured name is the registry (`/rok-token 24h prod deploy`).
        rest = " ".join(_take_names(rest.split(), names, named, most=1))
    reason = clean_text(" ".join([rest, *after]))
    registry = named[0] if named else None
    if problem is None and len(set(named)) > 1:
        distinct = list(dict.fromkeys(named))
        problem = f"Name one registry, not {listed([shown_name(n) for n in distinct], conjunction='and')}."
    return CommandText(duration, reason, bool(flags), registry=registry, problem=problem)


def _pull_registry_flags(words: list[str], names: Mapping[str, str]) -> tuple[list[str], list[str], str | None]:
    """The words without `--registry NAME` / `--registry=NAME`, the names those gave, and a problem if one has none.

    A flag's value is missing when there is no next word, or it is another flag, or it spells a duration (no
    registry name may): `--registry 24h` forgot the name, it did not name a registry called 24h.
    """
    kept: list[str] = []
    named: list[str] = []
    problem = None
    i = 0
    while i < len(words):
        flag, equals, value = words[i].partition("=")
        if flag.lower() not in REGISTRY_FLAGS:
            kept.append(words[i])
            i += 1
            continue
        if not equals and i + 1 < len(words) and not _is_flag_or_duration(words[i + 1 : i + 3]):
            value, i = words[i + 1], i + 2
        else:
            i += 1
        if not value or _is_flag_or_duration([value, *words[i : i + 1]]):
            problem = NO_REGISTRY_NAME
        else:
            named.append(names.get(value.lower()) or typed_name(value))
    return kept, named, problem


def _is_flag_or_duration(words: list[str]) -> bool:
    """Whether the first word is a flag, or starts a duration (`24h`, or `2 days` with the word after it)."""
    first = words[0]
    return first.startswith(("-", *DASHES[1:])) or spells_duration(first) or spells_duration(" ".join(words[:2]))


def _take_names(words: list[str], names: Mapping[str, str], named: list[str], *, most: int = 0) -> list[str]:
    """The words after the configured names they start with (at most `most`, if given), which join `named`."""
    taken = 0
    while taken < len(words) and words[taken].lower() in names and (not most or taken < most):
        named.append(names[words[taken].lower()])
        taken += 1
    return words[taken:]


def wants_help(text: str, registries: Collection[str] | None = None) -> bool:
    """Whether a command's text asks for help: a help word, or text that starts with neither a duration nor a
    flag nor a configured registry name (so `/rok-token hello` explains itself; `—break-glass 2h ...` and
    `prod 24h` are no help requests). `/rok-token prod help` is a help request."""
    text = text.strip()
    if text.lower() in HELP_WORDS:
        return True
    words = text.split()
    names = {name.lower() for name in registries or ()}
    while words and words[0].lower() in names:
        words = words[1:]
        if len(words) == 1 and words[0].lower() in HELP_WORDS:
            return True
    if not words or words[0].lower() in BREAK_GLASS_FLAGS:
        return False
    if registries is not None and words[0].partition("=")[0].lower() in REGISTRY_FLAGS:
        return False
    return not (words[0][0].isdigit() or words[0][0] in "+-.")
