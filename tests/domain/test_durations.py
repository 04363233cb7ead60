"""Durations: the grammar users type into Slack, its refusals, and the canonical form."""

from __future__ import annotations

import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.domain.durations import format_duration, parse_duration, parse_setting_duration
from bot.domain.errors import DurationError

MIN, MAX = 300, 2 * 86_400  # 5m .. 2d, the range the messages below mention
HUGE = 10**18
UNIT_SECONDS = {"w": 604_800, "d": 86_400, "h": 3_600, "m": 60, "s": 1}
UNIT_SPELLINGS = {
    "w": ["w", "wk", "wks", "week", "weeks"],
    "d": ["d", "day", "days"],
    "h": ["h", "hr", "hrs", "hour", "hours"],
    "m": ["m", "min", "mins", "minute", "minutes"],
    "s": ["s", "sec", "secs", "second", "seconds"],
}
# Characters that must never reach Slack from user input (mrkdwn, mentions, code spans).
UNSAFE_IN_MESSAGE = set("<>&`*~|\n\r\t\x1b")


def refusal(text: str, *, minimum: int = MIN, maximum: int = MAX) -> str:
    with pytest.raises(DurationError) as info:
        parse_duration(text, minimum=minimum, maximum=maximum)
    return info.value.user_message


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30m", 1_800),
        ("24h", 86_400),
        ("2d", 172_800),
        ("1h30m", 5_400),
        ("90m", 5_400),
        ("1d12h", 129_600),
        ("2h 30m", 9_000),
        ("2h   30m", 9_000),
        ("2 h 30 m", 9_000),
        ("  1H30M\t", 5_400),
        ("1D", 86_400),
        ("300s", 300),
        ("1h0m", 3_600),
        ("0d1h", 3_600),
    ],
)
def test_parses_the_grammar(text: str, seconds: int) -> None:
    assert parse_duration(text, minimum=MIN, maximum=MAX) == seconds


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("24 hours", 86_400),
        ("2 days", 172_800),
        ("90 minutes", 5_400),
        ("30 mins", 1_800),
        ("1 hr", 3_600),
        ("5 HRS", 18_000),
        ("1 Day 12 Hours", 129_600),
        ("1 day 12h", 129_600),
        ("24hours", 86_400),
        ("30min", 1_800),
        ("1hour 30min", 5_400),
        ("300 secs", 300),
        ("301 seconds", 301),
        ("1 minute 30 s", 90),
    ],
)
def test_units_may_be_words(text: str, seconds: int) -> None:
    assert parse_duration(text, minimum=1, maximum=HUGE) == seconds


def test_weeks_as_words() -> None:
    for text in ("1 week", "1 weeks", "1 wk", "1 wks", "1w"):
        assert parse_duration(text, minimum=1, maximum=HUGE) == 604_800
    assert parse_duration("1 week 2 days 3 hours 4 minutes 5 seconds", minimum=1, maximum=HUGE) == 788_645


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1.5 hours", '"1.5 hours" has a fraction (did you mean 1h30m?)'),
        ("1,5 days", '"1,5 days" has a fraction (did you mean 1d12h?)'),
        ("2 hours 2 hours", '"2 hours 2 hours" repeats a unit (did you mean 4h?)'),
        ("30 minutes 1 hour", '"30 minutes 1 hour" has its units out of order, largest first (did you mean 1h30m?)'),
        ("1 min", '"1 min" is shorter than the minimum of 5m'),
        ("4:13", '"4:13" is not a duration like 30m, 24h or 1d12h (units are s, m, h, d and w, or words such as'),
        ("2 fortnights", '"2 fortnights" is not a duration like 30m, 24h or 1d12h (units are s, m, h, d and w,'),
    ],
)
def test_word_units_are_refused_like_letters(text: str, expected: str) -> None:
    message = refusal(text)
    assert message.startswith(expected)
    assert message.endswith(": choose between 5m and 2d.")


def test_weeks_and_seconds_parse_when_in_range() -> None:
    assert parse_duration("1w", minimum=1, maximum=HUGE) == 604_800
    assert parse_duration("2w1d", minimum=1, maximum=HUGE) == 15 * 86_400
    assert parse_duration("45s", minimum=1, maximum=HUGE) == 45


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("24", '"24" has no unit (did you mean 24h?): choose between 5m and 2d.'),
        ("86400", '"86400" has no unit (did you mean 1d?): choose between 5m and 2d.'),
        ("3d", '"3d" is longer than the maximum of 2d: choose between 5m and 2d.'),
        ("1m", '"1m" is shorter than the minimum of 5m: choose between 5m and 2d.'),
        ("0", '"0" is zero: choose between 5m and 2d.'),
        ("0h0m", '"0h0m" is zero: choose between 5m and 2d.'),
        ("-1h", '"-1h" is negative: choose between 5m and 2d.'),
        ("1.5h", '"1.5h" has a fraction (did you mean 1h30m?): choose between 5m and 2d.'),
        ("0,5d", '"0,5d" has a fraction (did you mean 12h?): choose between 5m and 2d.'),
        (
            "30m1h",
            '"30m1h" has its units out of order, largest first (did you mean 1h30m?): choose between 5m and 2d.',
        ),
        ("1h1h", '"1h1h" repeats a unit (did you mean 2h?): choose between 5m and 2d.'),
        ("", "Give a duration like 30m, 24h or 1d12h: choose between 5m and 2d."),
        ("   ", "Give a duration like 30m, 24h or 1d12h: choose between 5m and 2d."),
        ("soon", '"soon" is not a duration like 30m, 24h or 1d12h: choose between 5m and 2d.'),
    ],
)
def test_refusals_explain_and_state_the_range(text: str, expected: str) -> None:
    assert refusal(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "30minx",  # a unit word is read whole: never "30m" followed by junk skipped silently
        "1hourly",
        "2 dayz",
        "1 month",
        "4:13",
        "1h30",
        "h",
        "1x",
        "1 30m",
        "1h 2",
        "+1h",
        "1e3s",
        "0x10m",
        "1h-30m",
        "½h",
        "²h",
        "٣h",
    ],
)
def test_junk_is_refused_with_the_range(text: str) -> None:
    assert refusal(text).endswith(": choose between 5m and 2d.")


def test_absurd_numbers_are_refused_quickly_without_overflow() -> None:
    started = time.perf_counter()
    for text in [
        "9" * 13 + "h",
        "1" * 10_000 + "d",
        "1" * 1_000_000,
        "1." + "5" * 5_000 + "h",
        "9" * 12 + "w",
    ]:
        message = refusal(text)
        assert "choose between 5m and 2d" in message
    assert parse_duration("9" * 12 + "w", minimum=1, maximum=HUGE) == 10**12 * 604_800 - 604_800
    assert time.perf_counter() - started < 1


def test_messages_quote_a_bounded_sanitised_prefix() -> None:
    message = refusal("<!channel> `rm -rf` *bold* " + "x" * 500)
    assert not UNSAFE_IN_MESSAGE & set(message)
    assert "x" * 41 not in message
    assert "…" in message
    assert len(message) < 200


def test_bounds_must_make_sense() -> None:
    with pytest.raises(ValueError, match="minimum"):
        parse_duration("1h", minimum=0, maximum=10)
    with pytest.raises(ValueError, match="minimum"):
        parse_duration("1h", minimum=10, maximum=5)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (45, "45s"),
        (60, "1m"),
        (5_400, "1h30m"),
        (86_400, "1d"),
        (604_800, "7d"),
        (1_209_600, "14d"),
        (90_061, "1d1h1m1s"),
    ],
)
def test_format_duration(seconds: int, text: str) -> None:
    assert format_duration(seconds) == text


def test_format_duration_refuses_negative() -> None:
    with pytest.raises(ValueError, match="negative"):
        format_duration(-1)


@pytest.mark.parametrize(("text", "seconds"), [("30s", 30), ("30", 30), (" 5m ", 300), ("1h", 3_600)])
def test_setting_durations(text: str, seconds: int) -> None:
    assert parse_setting_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "0", "0s", "-5", "-5s", "soon", "1.5", "30m1h", "9" * 13])
def test_setting_durations_are_positive_and_well_formed(text: str) -> None:
    with pytest.raises(DurationError, match="positive duration"):
        parse_setting_duration(text)


# Days stay under 12 digits up to here, the limit of one number.
@given(st.integers(min_value=1, max_value=10**16))
def test_format_then_parse_round_trips(seconds: int) -> None:
    assert parse_duration(format_duration(seconds), minimum=1, maximum=HUGE) == seconds
    assert parse_setting_duration(format_duration(seconds)) == seconds


@st.composite
def spelled_durations(draw: st.DrawFn) -> tuple[str, int]:
    """A valid spelling (units descending, as letters or words, random case and spacing) and its value in seconds."""
    units = draw(st.lists(st.sampled_from("wdhms"), min_size=1, max_size=5, unique=True))
    units.sort(key="wdhms".index)
    counts = [draw(st.integers(min_value=0, max_value=10**6)) for _ in units]
    parts = []
    for unit, count in zip(units, counts, strict=True):
        inner = draw(st.sampled_from(["", " "]))
        spelling = draw(st.sampled_from(UNIT_SPELLINGS[unit]))
        parts.append(f"{count}{inner}{draw(st.sampled_from([spelling, spelling.upper(), spelling.title()]))}")
    text = ""
    for part in parts:
        text += part + draw(st.sampled_from(["", " ", "  ", "\t"]))
    return draw(st.sampled_from(["", " ", "\n"])) + text, sum(
        count * UNIT_SECONDS[unit] for unit, count in zip(units, counts, strict=True)
    )


@given(spelled_durations())
def test_every_spelling_parses_to_its_value(spelled: tuple[str, int]) -> None:
    text, seconds = spelled
    if seconds == 0:
        assert "is zero" in refusal(text, minimum=1, maximum=HUGE)
    else:
        assert parse_duration(text, minimum=1, maximum=HUGE) == seconds


DURATIONISH = st.text(alphabet=st.sampled_from("0123456789smhdwSMHDW .,-+\t\nx<>`*é²"), max_size=30)


@given(st.one_of(st.text(max_size=80), DURATIONISH), st.integers(1, 10**6), st.integers(0, 10**6))
def test_junk_never_parses_silently(text: str, minimum: int, extra: int) -> None:
    maximum = minimum + extra
    try:
        seconds = parse_duration(text, minimum=minimum, maximum=maximum)
    except DurationError as error:
        message = error.user_message
        assert f"choose between {format_duration(minimum)} and {format_duration(maximum)}." in message
        assert not UNSAFE_IN_MESSAGE & set(message)
        assert len(message) < 250
    else:
        assert minimum <= seconds <= maximum


@given(st.one_of(st.text(max_size=80), DURATIONISH))
def test_setting_junk_never_parses_silently(text: str) -> None:
    try:
        seconds = parse_setting_duration(text)
    except DurationError as error:
        assert not UNSAFE_IN_MESSAGE & set(error.user_message)
    else:
        assert seconds > 0
