"""The words of `/rok-token` with registries: a configured name before or right after the duration, or
`--registry NAME` anywhere; with no names configured, every command means what it meant before."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.domain.command import BREAK_GLASS_FLAGS, HELP_WORDS, NO_REGISTRY_NAME, split_command, wants_help
from bot.domain.durations import leading_duration
from bot.domain.text import clean_text

NAMES = frozenset({"prod", "staging", "eu-west"})
EM, EN = "\u2014", "\u2013"


@pytest.mark.parametrize(
    ("text", "registry", "duration", "reason", "glass"),
    [
        ("prod 24h", "prod", "24h", "", False),
        ("prod", "prod", "", "", False),  # the default duration, in prod
        ("PROD 24h deploy", "prod", "24h", "deploy", False),  # names are matched case-insensitively
        ("24h prod", "prod", "24h", "", False),
        ("24h prod deploy the model", "prod", "24h", "deploy the model", False),
        ("2 days staging training run", "staging", "2 days", "training run", False),
        ("1h 30m eu-west", "eu-west", "1h 30m", "", False),
        ("--registry prod 24h", "prod", "24h", "", False),
        ("24h --registry prod because", "prod", "24h", "because", False),
        ("24h because --registry prod", "prod", "24h", "because", False),
        ("--registry=staging 24h", "staging", "24h", "", False),
        (f"{EM}registry prod 24h", "prod", "24h", "", False),  # Slack's and macOS's em dash
        (f"24h {EN}registry=prod", "prod", "24h", "", False),  # an en dash
        ("--REGISTRY Prod 24h", "prod", "24h", "", False),
        ("--registry nowhere 24h", "nowhere", "24h", "", False),  # unknown: kept for routing to refuse
        # Once a registry is named, a name later in the text is the reason's word, never a second registry.
        ("prod 24h staging is down", "prod", "24h", "staging is down", False),
        ("24h staging prod", "staging", "24h", "prod", False),
        ("--registry prod 24h staging", "prod", "24h", "staging", False),
        ("24h prod --registry eu-west", "eu-west", "24h", "prod", False),  # the flag names it, wherever it is
        # Only the word right after the duration: a name deeper in the reason stays in it.
        ("24h deploy to prod", None, "24h", "deploy to prod", False),
        # Break-glass, with the registry before the flag, right after it, or after the duration.
        ("prod --break-glass 2h incident 4711", "prod", "2h", "incident 4711", True),
        ("--break-glass prod 2h incident 4711", "prod", "2h", "incident 4711", True),
        (f"{EM}break-glass 2h prod db down", "prod", "2h", "db down", True),
        ("2h prod --break-glass db down", "prod", "2h", "db down", True),
        ("--break-glass prod db down", "prod", "", "db down", True),
        ("--break-glass --registry prod 2h db down", "prod", "2h", "db down", True),
        # Not a name: today's meaning, and the refusal names the whole text.
        ("production 24h", None, "production 24h", "", False),
        ("3x prod", None, "3x prod", "", False),
    ],
)
def test_a_registry_is_a_configured_name_or_the_flags_value(
    text: str, registry: str | None, duration: str, reason: str, glass: bool
) -> None:
    parsed = split_command(text, NAMES)
    assert (parsed.registry, parsed.duration, parsed.reason, parsed.break_glass) == (registry, duration, reason, glass)
    assert parsed.problem is None


@pytest.mark.parametrize(
    "text",
    [
        "--registry",
        "24h --registry",
        "--registry= 24h",
        "--registry --break-glass 2h incident",
        "--registry 24h because",  # the name was forgotten: no registry is called 24h
        "--registry 2 days",
        f"24h {EM}registry",
    ],
)
def test_the_registry_flag_without_a_name_is_one_sentence(text: str) -> None:
    assert split_command(text, NAMES).problem == NO_REGISTRY_NAME


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("prod staging 24h", 'Name one registry, not "prod" and "staging".'),
        ("--registry prod --registry staging 24h", 'Name one registry, not "prod" and "staging".'),
        ("staging 24h --registry prod", 'Name one registry, not "prod" and "staging".'),
    ],
)
def test_two_registries_are_refused(text: str, problem: str) -> None:
    assert split_command(text, NAMES).problem == problem


def test_the_same_registry_twice_is_one() -> None:
    parsed = split_command("prod --registry prod 24h", NAMES)
    assert (parsed.registry, parsed.duration, parsed.problem) == ("prod", "24h", None)


def test_an_unknown_flag_value_is_kept_only_in_a_safe_form() -> None:
    parsed = split_command("--registry=<!channel>`*x*`" + "y" * 100 + " 24h", NAMES)
    assert parsed.registry is not None
    assert set(parsed.registry) <= set("abcdefghijklmnopqrstuvwxyz0123456789-?…")
    assert len(parsed.registry) <= 25
    assert parsed.duration == "24h"


@pytest.mark.parametrize(
    "text",
    [
        "prod 24h",
        "24h prod deploy",
        "production 24h because",
        "24h --break-glass incident",
        "--break-glass staging db down",
        "hello",
        "",
        "1.5 hours",
    ],
)
def test_without_names_no_word_is_a_registry(text: str) -> None:
    parsed = split_command(text, ())
    assert parsed.registry is None
    assert parsed == split_command(text)


def _split_before_registries(text: str) -> tuple[str, str, bool]:
    """`split_command` as it was before registries (commit 0bb6d9e), the oracle for the property below."""
    words = text.split()
    flags = [i for i, word in enumerate(words) if word.lower() in BREAK_GLASS_FLAGS]
    before, after = (words[: flags[0]], words[flags[0] + 1 :]) if flags else (words, [])
    after = [w for w in after if w.lower() not in BREAK_GLASS_FLAGS]
    if before:
        duration, rest = leading_duration(" ".join(before))
    elif after and after[0][:1].isdigit():
        duration, rest = leading_duration(" ".join(after))
        after = []
    else:
        duration, rest = "", ""
    return duration, clean_text(" ".join([rest, *after])), bool(flags)


def _wants_help_before_registries(text: str) -> bool:
    text = text.strip()
    if text.lower() in HELP_WORDS:
        return True
    if not text or text.split()[0].lower() in BREAK_GLASS_FLAGS:
        return False
    return not (text[0].isdigit() or text[0] in "+-.")


WORDISH = st.lists(
    st.sampled_from(["24h", "2", "days", "1h", "30m", "prod", "--break-glass", EM + "break-glass", "x", "3x", "help"])
    | st.text(max_size=8),
    max_size=6,
).map(" ".join)


@given(st.one_of(st.text(max_size=80), WORDISH))
def test_ignoring_registries_a_command_means_exactly_what_it_meant(text: str) -> None:
    # What the listener gets until it acts on the registry: `--registry prod 24h` stays a refused duration.
    parsed = split_command(text)
    assert (parsed.duration, parsed.reason, parsed.break_glass) == _split_before_registries(text)
    assert parsed.registry is None and parsed.problem is None
    assert wants_help(text) is _wants_help_before_registries(text)


@given(st.one_of(st.text(max_size=80), WORDISH))
def test_with_no_names_only_the_flag_is_new(text: str) -> None:
    # One registry (`default`): `--registry NAME` is understood, and no other word changes meaning.
    if "registry" in text.lower():
        return
    parsed = split_command(text, ())
    assert (parsed.duration, parsed.reason, parsed.break_glass) == _split_before_registries(text)
    assert parsed.registry is None and parsed.problem is None
    assert wants_help(text, ()) is _wants_help_before_registries(text)


def test_with_no_names_the_flag_still_names_a_registry() -> None:
    parsed = split_command("--registry default 24h", ())
    assert (parsed.registry, parsed.duration) == ("default", "24h")
    assert split_command("--registry prod 24h").duration == "--registry prod 24h"  # registries ignored: as today
    assert wants_help("--registry default", ()) is False


@given(st.text(max_size=80), st.sets(st.sampled_from(sorted(NAMES))))
def test_any_text_splits_without_error_and_names_only_safe_registries(text: str, names: set[str]) -> None:
    parsed = split_command(text, names)
    if parsed.registry is not None:
        assert set(parsed.registry) <= set("abcdefghijklmnopqrstuvwxyz0123456789-?…")
    assert parsed.problem is None or parsed.problem.endswith(".")


@pytest.mark.parametrize(
    ("text", "help_"),
    [
        ("prod 24h", False),
        ("prod", False),
        ("24h prod", False),
        ("--registry prod 24h", False),
        (f"{EM}registry=prod", False),
        ("prod help", True),
        ("prod hello", True),
        ("production 24h", True),  # not a configured name: explained, as today
        ("help", True),
    ],
)
def test_a_leading_name_is_no_help_request(text: str, help_: bool) -> None:
    assert wants_help(text, NAMES) is help_


def test_without_names_a_leading_name_is_help_as_today() -> None:
    assert wants_help("prod 24h") is True
