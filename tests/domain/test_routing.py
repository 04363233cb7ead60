"""Which registry a request goes to: named, else the channel's, else the user's only one, else a chooser of
the registries the user may use; never silently the first, and a refusal never lists the others."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.domain.routing import (
    NO_REGISTRY,
    CatalogueView,
    Choose,
    Chosen,
    Refused,
    choose_registry,
    listed,
    resolution_help,
    shown_name,
)

THREE = CatalogueView(("prod", "staging", "dev"), {"C0PRODOPS": "prod", "C0STAGING": "staging"})
DEFAULT_ONLY = CatalogueView(("default",))
ALL = frozenset(THREE.names)


def choose(
    named: str | None = None,
    channel: str | None = None,
    eligible: frozenset[str] = ALL,
    catalogue: CatalogueView = THREE,
) -> Chosen | Choose | Refused:
    return choose_registry(named=named, channel_id=channel, eligible=eligible, catalogue=catalogue)


def test_the_named_registry_wins_over_the_channels() -> None:
    assert choose("staging", "C0PRODOPS") == Chosen("staging", "named")
    assert choose("Prod ", "C0STAGING") == Chosen("prod", "named")


def test_else_the_channels_default() -> None:
    assert choose(None, "C0PRODOPS") == Chosen("prod", "channel")
    assert choose(None, "C0STAGING", frozenset({"staging", "dev"})) == Chosen("staging", "channel")


def test_else_the_users_only_eligible_registry() -> None:
    assert choose(None, "C0RANDOM", frozenset({"dev"})) == Chosen("dev", "only")
    assert choose(None, None, frozenset({"staging"})) == Chosen("staging", "only")


def test_else_a_chooser_of_exactly_the_eligible_ones_in_catalogue_order() -> None:
    assert choose(None, "C0RANDOM") == Choose(("prod", "staging", "dev"))
    assert choose(None, None, frozenset({"dev", "prod"})) == Choose(("prod", "dev"))  # never staging


def test_never_silently_the_first() -> None:
    for channel in (None, "C0RANDOM", "D0DIRECTMESSAGE"):
        assert isinstance(choose(None, channel), Choose)


def test_a_channel_default_the_user_may_not_use_asks_even_with_one_left() -> None:
    # Minting in dev because prod is closed to this user would be a silent surprise in the prod channel.
    result = choose(None, "C0PRODOPS", frozenset({"dev"}))
    note = "This channel's registry is prod, which you may not use; choose one you may."
    assert result == Choose(("dev",), note=note)


@pytest.mark.parametrize(
    ("named", "detail"),
    [("nowhere", "unknown"), ("prod", "not_eligible"), ("PROD", "not_eligible")],
)
def test_unknown_and_forbidden_names_read_the_same_and_list_only_what_the_user_may_use(named: str, detail: str) -> None:
    result = choose(named, "C0STAGING", frozenset({"staging", "dev"}))
    assert result == Refused(
        f"{shown_name(named)} is not a registry you may use; you may use staging or dev.",
        detail,  # type: ignore[arg-type]
    )
    assert isinstance(result, Refused) and "prod" not in result.message.replace(shown_name(named), "")


def test_no_eligible_registry_is_refused_whatever_was_named() -> None:
    for named in (None, "prod", "nowhere"):
        assert choose(named, "C0PRODOPS", frozenset()) == Refused(NO_REGISTRY, "none_eligible")


def test_eligible_names_that_are_not_configured_are_ignored() -> None:
    assert choose(None, None, frozenset({"dev", "gone"})) == Chosen("dev", "only")
    assert isinstance(choose("gone", None, frozenset({"dev", "gone"})), Refused)


def test_one_registry_is_chosen_on_every_path() -> None:
    for named in (None, "default", "DEFAULT"):
        for channel in (None, "C0ANY"):
            assert choose(named, channel, frozenset({"default"}), DEFAULT_ONLY) == Chosen(
                "default", "named" if named else "only"
            )


def test_one_registry_refuses_another_name_and_names_itself() -> None:
    result = choose("prod", None, frozenset({"default"}), DEFAULT_ONLY)
    assert result == Refused('"prod" is not a registry you may use; you may use default.', "unknown")


def test_a_typed_name_is_shown_bounded_and_without_markup() -> None:
    assert shown_name("Prod") == '"prod"'
    assert shown_name("<!channel>") == '"??channel?"'
    assert shown_name("x" * 200) == '"' + "x" * 24 + '…"'
    result = choose("<@U0BOSS> *now*", None)
    assert isinstance(result, Refused)
    assert not set("<>@*`&") & set(result.message)


@given(
    named=st.none() | st.text(max_size=30) | st.sampled_from(["prod", "staging", "dev"]),
    channel=st.none() | st.sampled_from(["C0PRODOPS", "C0STAGING", "C0RANDOM"]),
    eligible=st.frozensets(st.sampled_from(["prod", "staging", "dev", "gone"])),
)
def test_only_ever_an_eligible_registry_and_only_eligible_choices(
    named: str | None, channel: str | None, eligible: frozenset[str]
) -> None:
    result = choose(named, channel, eligible)
    if isinstance(result, Chosen):
        assert result.name in eligible and result.name in THREE.names
        assert named is None or result.name == named.strip().lower()
    elif isinstance(result, Choose):
        assert named is None
        assert result.names and set(result.names) <= eligible
        assert list(result.names) == [n for n in THREE.names if n in eligible]
    else:
        assert result.message.endswith(".") and len(result.message) < 200
        assert not set("<>@*`&\n") & set(result.message)


def test_names_in_a_sentence() -> None:
    assert listed(["prod"]) == "prod"
    assert listed(["prod", "dev"]) == "prod or dev"
    assert listed(["prod", "staging", "dev"], conjunction="and") == "prod, staging and dev"


def test_the_help_paragraph_states_the_order_and_only_usable_names() -> None:
    text = resolution_help(usable=["staging", "dev"], channel_default="dev")
    assert text == (
        "Registries you may use: staging and dev. Name one (`/rok-token staging 24h`, `/rok-token 24h staging` or "
        "`--registry staging`); else the bot takes this channel's (dev); else your only one; else it asks you to "
        "choose, and mints nothing until you do."
    )
    for default in (None, "prod"):  # none here, or one this user may not use: never named as what the bot takes
        text = resolution_help(usable=["staging", "dev"], channel_default=default)
        assert "this channel's, if you may use it;" in text and "prod" not in text


def test_no_help_paragraph_with_one_registry() -> None:
    assert resolution_help(usable=["default"], channel_default=None) == ""
