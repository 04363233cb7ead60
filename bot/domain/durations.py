"""Durations as people type them (`30m`, `24h`, `1d12h`), parsed to whole seconds and formatted back.

The grammar is deliberately small: one or more `<digits><unit>` parts, units `s m h d w` in strictly
descending order, optional spaces between parts (and between a number and its unit), case-insensitive.
A unit may also be a word (`24 hours`, `2 days`, `90 mins`, `1 wk`): people type those, and each word names
exactly one unit, so nothing is guessed. Fractions (`1.5h`) and clock times (`4:13`) stay refused.
The parser is a hand-written scanner over input capped at `_MAX_INPUT` characters, so no input can make
it slow, and numbers are capped at `_MAX_DIGITS` digits, so none can overflow anything downstream.

Every refusal is a `DurationError` whose message quotes at most a short, sanitised prefix of the input,
because the message is echoed into Slack.
"""

from __future__ import annotations

import functools
from fractions import Fraction
from typing import Final

import msgspec

from bot.domain.errors import DurationError

_UNIT_SECONDS: Final[dict[str, int]] = {"w": 604_800, "d": 86_400, "h": 3_600, "m": 60, "s": 1}
# Rank = position in descending order; parts must have strictly increasing ranks.
_UNIT_RANK: Final[dict[str, int]] = {unit: rank for rank, unit in enumerate(_UNIT_SECONDS)}
# Every spelling of a unit, letter or word, singular or plural; a word not listed here is refused whole.
_UNIT_WORDS: Final[dict[str, str]] = {
    spelling: unit
    for unit, spellings in {
        "w": ("w", "wk", "wks", "week", "weeks"),
        "d": ("d", "day", "days"),
        "h": ("h", "hr", "hrs", "hour", "hours"),
        "m": ("m", "min", "mins", "minute", "minutes"),
        "s": ("s", "sec", "secs", "second", "seconds"),
    }.items()
    for spelling in spellings
}
_LETTERS: Final = frozenset("abcdefghijklmnopqrstuvwxyz")
# Weeks are accepted but never produced: "14d" reads more clearly than "2w".
_FORMAT_UNITS: Final[tuple[tuple[str, int], ...]] = (("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1))

_DIGITS: Final = frozenset("0123456789")  # not str.isdigit(): it accepts "²", which int() rejects
_BLANKS: Final = frozenset(" \t")
_MAX_DIGITS: Final = 12
_MAX_INPUT: Final = 96  # "12 weeks 6 days 23 hours 59 minutes 59 seconds" and room to spare
_MAX_WORDS: Final = 10  # "1 w 2 d 3 h 4 m 5 s": the most words a duration can take that is still worth trying
_QUOTE_LEN: Final = 40
# Characters that are harmless when echoed into Slack mrkdwn; anything else is shown as "?".
_QUOTABLE: Final = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,:;+-/()'")

_JUNK: Final = "is not a duration like 30m, 24h or 1d12h"
_UNITS_HINT: Final = " (units are s, m, h, d and w, or words such as hours and days)"


class _Refusal(msgspec.Struct, frozen=True):
    """Why a text is not a duration: `problem` completes the sentence `"<text>" ...`."""

    problem: str
    bare_number: int | None = None


def format_duration(seconds: int) -> str:
    """The compact canonical form of a number of seconds: 5400 -> "1h30m", 604800 -> "7d"."""
    if seconds < 0:
        raise ValueError("a duration is never negative")
    if seconds == 0:
        return "0s"
    parts: list[str] = []
    rest = seconds
    for unit, size in _FORMAT_UNITS:
        count, rest = divmod(rest, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


def parse_duration(text: str, *, minimum: int = 1, maximum: int | None = None) -> int:
    """Whole seconds from a user's duration, refused with a `DurationError` outside [minimum, maximum].

    Front ends parse the syntax alone (no bounds); a user's range is checked once, by the use case.
    """
    if maximum is None:
        result = _scan(text)
        if isinstance(result, _Refusal):
            if not text.strip():
                raise DurationError("Give a duration like 30m, 24h or 1d12h.")
            raise DurationError(f"{_quote(text)} {result.problem}.")
        return result
    if not 1 <= minimum <= maximum:
        raise ValueError(f"need 1 <= minimum <= maximum, got {minimum} and {maximum}")
    bounds = f"choose between {format_duration(minimum)} and {format_duration(maximum)}"
    result = _scan(text)
    if isinstance(result, _Refusal):
        if not text.strip():
            raise DurationError(f"Give a duration like 30m, 24h or 1d12h: {bounds}.")
        raise DurationError(f"{_quote(text)} {result.problem}: {bounds}.")
    if result < minimum:
        raise DurationError(f"{_quote(text)} is shorter than the minimum of {format_duration(minimum)}: {bounds}.")
    if result > maximum:
        raise DurationError(f"{_quote(text)} is longer than the maximum of {format_duration(maximum)}: {bounds}.")
    return result


def spells_duration(text: str) -> bool:
    """Whether `text` is a duration by the grammar alone (no range): no registry name may be one."""
    return not isinstance(_scan(text), _Refusal)


def leading_duration(text: str) -> tuple[str, str]:
    """Split a command's text into its duration and the words after it (a reason): the longest leading run
    of words that is a duration. When none is, the whole text is the "duration", so its error names it."""
    words = text.split()
    for count in range(min(len(words), _MAX_WORDS), 0, -1):
        head = " ".join(words[:count])
        if not isinstance(_scan(head), _Refusal):
            return head, " ".join(words[count:])
    return text.strip(), ""


def parse_setting_duration(text: str) -> int:
    """Whole seconds from a setting such as `30s` or `5m`; a bare integer means seconds here."""
    result = _scan(text)
    if isinstance(result, _Refusal):
        # Settings are written by admins, who expect `ROK_BOT_EXEC_TIMEOUT=30` to mean seconds.
        if result.bare_number is not None and result.bare_number > 0:
            return result.bare_number
        if not text.strip():
            raise DurationError("Give a positive duration like 30s, 5m or 1h, or a number of seconds.")
        raise DurationError(f"{_quote(text)} {result.problem}: give a positive duration or a number of seconds.")
    return result


def config_seconds(value: object) -> int:
    """A duration in a config file or setting (an int of seconds or text like `5m`), as a validator wants it.

    Raises ValueError (what pydantic reports) with the grammar's explanation.
    """
    if isinstance(value, bool):
        raise ValueError("must be a duration such as 30s, 5m, 24h or 7d")
    if isinstance(value, int):
        if value <= 0:
            raise ValueError("must be positive")
        return value
    if isinstance(value, str):
        try:
            return parse_setting_duration(value)
        except DurationError as exc:
            raise ValueError(exc.user_message) from None
    raise ValueError("must be a duration such as 30s, 5m, 24h or 7d")


def _scan(text: str) -> int | _Refusal:
    """The total in seconds, or why `text` is not a duration; never raises, linear in a capped input.

    Pure, so short texts are remembered: the slash command's ack parses its text twice (the words, then the
    range), and the same few durations ("24h", "1d") come back all day. Bounded by entries and by length.
    """
    if len(text) <= _CACHED_LENGTH:
        return _scan_cached(text)
    return _scan_text(text)


# Longer texts (a duration followed by a reason) are scanned each time: no key worth keeping.
_CACHED_LENGTH: Final = 32


@functools.lru_cache(maxsize=1024)
def _scan_cached(text: str) -> int | _Refusal:
    return _scan_text(text)


def _scan_text(text: str) -> int | _Refusal:
    s = text.strip().lower()
    if not s:
        return _Refusal("is empty")
    if len(s) > _MAX_INPUT:
        return _Refusal("is too long to be a duration")
    if s[0] == "-" and len(s) > 1 and s[1] in _DIGITS:
        return _Refusal("is negative")
    parts: list[tuple[Fraction, str]] = []
    fractional = False
    i, n = 0, len(s)
    while i < n:
        number = _read_number(s, i)
        if isinstance(number, _Refusal):
            return number
        value, i, fraction = number
        fractional = fractional or fraction
        i = _skip_blanks(s, i)
        if i == n and not parts and not fractional:
            return _unitless(int(value))
        word_end = _skip_letters(s, i)
        unit = _UNIT_WORDS.get(s[i:word_end])
        # The whole word names the unit: "30minx" or "1hourly" is refused, never read as "30m" plus junk.
        if unit is None or (word_end < n and s[word_end] not in _BLANKS and s[word_end] not in _DIGITS):
            return _Refusal(_JUNK + _UNITS_HINT)
        i = word_end
        parts.append((value, unit))
        i = _skip_blanks(s, i)
    return _total(parts, fractional=fractional)


def _read_number(s: str, i: int) -> tuple[Fraction, int, bool] | _Refusal:
    """The number at `s[i:]` (digits, then an optional `.`/`,` fraction): (value, where it ends, fractional)."""
    n, start = len(s), i
    while i < n and s[i] in _DIGITS:
        i += 1
    if i == start:
        return _Refusal(_JUNK)
    if i - start > _MAX_DIGITS:
        return _Refusal("is far too long")
    value = Fraction(int(s[start:i]))
    if not (i + 1 < n and s[i] in ".," and s[i + 1] in _DIGITS):
        return value, i, False
    i += 1
    frac_start = i
    while i < n and s[i] in _DIGITS:
        i += 1
    if i - frac_start > _MAX_DIGITS:
        return _Refusal("is far too long")
    return value + Fraction(int(s[frac_start:i]), 10 ** (i - frac_start)), i, True


def _skip_letters(s: str, i: int) -> int:
    while i < len(s) and s[i] in _LETTERS:
        i += 1
    return i


def _skip_blanks(s: str, i: int) -> int:
    while i < len(s) and s[i] in _BLANKS:
        i += 1
    return i


def _unitless(number: int) -> _Refusal:
    """A number alone: refused, with a guess at what it meant."""
    if number == 0:
        return _Refusal("is zero", bare_number=0)
    return _Refusal(f"has no unit (did you mean {_bare_number_hint(number)}?)", bare_number=number)


def _total(parts: list[tuple[Fraction, str]], *, fractional: bool) -> int | _Refusal:
    """The seconds the parts add up to, unless they are written in a way the bot refuses."""
    total = sum((value * _UNIT_SECONDS[unit] for value, unit in parts), Fraction(0))
    if fractional:
        return _Refusal("has a fraction" + _suggestion(total))
    units = [unit for _, unit in parts]
    if len(set(units)) < len(units):
        return _Refusal("repeats a unit" + _suggestion(total))
    ranks = [_UNIT_RANK[unit] for unit in units]
    if ranks != sorted(ranks):
        return _Refusal("has its units out of order, largest first" + _suggestion(total))
    if total == 0:
        return _Refusal("is zero")
    return int(total)


def _suggestion(total: Fraction) -> str:
    """` (did you mean 1h30m?)` when `total` is a positive whole number of seconds, else nothing."""
    if total > 0 and total.denominator == 1:
        return f" (did you mean {format_duration(int(total))}?)"
    return ""


def _bare_number_hint(number: int) -> str:
    """A guess at what a unitless number meant: hours if small, seconds if round, else minutes."""
    if number <= 72:
        return f"{number}h"
    if number >= 3_600 and number % 60 == 0:
        return format_duration(number)
    if number < 3_600:
        return f"{number}m"
    return format_duration(number)


def _quote(text: str) -> str:
    """A bounded, sanitised, double-quoted prefix of user input, safe to echo into Slack."""
    cleaned = " ".join(text[: _QUOTE_LEN * 4].split())
    shown = "".join(c if c in _QUOTABLE else "?" for c in cleaned[:_QUOTE_LEN])
    return f'"{shown}…"' if len(cleaned) > _QUOTE_LEN else f'"{shown}"'
