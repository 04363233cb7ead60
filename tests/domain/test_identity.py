"""Who is who, as pure code: the user map first, then the email domain, and what email mapping may never yield."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from bot.domain.errors import AccessDenied, EmailMappingRefused
from bot.domain.identity import (
    Identity,
    IdentityResolver,
    UserMapError,
    Workspace,
    load_user_map,
    parse_user_map,
    same_email,
    shared_usernames,
)

CONTACT = "#platform-help"


def resolver(user_map: dict[str, str] | None = None, domains: tuple[str, ...] = ("example.com",)) -> IdentityResolver:
    return IdentityResolver(
        user_map=user_map if user_map is not None else {"U0JOHN": "jdoe"},
        email_domains=list(domains),
        allow_guests=False,
        workspace=Workspace("T0ROKDEMO"),
        support_contact=CONTACT,
    )


def profile(email: str | None) -> dict[str, Any]:
    return {"id": "U0X", "team_id": "T0ROKDEMO", "deleted": False, "is_bot": False, "profile": {"email": email}}


def test_the_user_map_wins_and_carries_no_email() -> None:
    assert resolver().resolve("U0JOHN", profile("john.doe@example.com")) == Identity("U0JOHN", "jdoe", "map")


def test_email_mapping_takes_the_local_part_and_carries_the_profile_email() -> None:
    identity = resolver().resolve("U0BOB", profile("bob@example.com"))
    assert identity == Identity("U0BOB", "bob", "email", email="bob@example.com")


def test_email_mapping_never_yields_a_username_the_user_map_gives_to_someone_else() -> None:
    with pytest.raises(EmailMappingRefused) as refused:
        resolver().resolve("U0JANE", profile("jdoe@example.com"))
    assert isinstance(refused.value, AccessDenied)  # the reporter audits it as "refused"
    assert "user map" in refused.value.user_message and "U0JANE" in refused.value.user_message
    assert CONTACT in refused.value.user_message
    assert "jdoe" in refused.value.detail


def test_a_reserved_username_is_matched_exactly() -> None:
    # jdoe is reserved; jdoe2 and ajdoe are other Rok accounts and stay available by email.
    assert resolver().resolve("U0J2", profile("jdoe2@example.com")).username == "jdoe2"
    assert resolver().resolve("U0AJ", profile("ajdoe@example.com")).username == "ajdoe"


def test_the_domain_compares_without_case_but_an_upper_case_local_part_is_refused() -> None:
    assert resolver().resolve("U0ALICE", profile("alice@EXAMPLE.COM")).username == "alice"
    for email in ("Alice@EXAMPLE.COM", "ALICE@example.com", "aLice@example.com"):
        with pytest.raises(EmailMappingRefused) as refused:
            resolver().resolve("U0UPPER", profile(email))
        assert "user map" in refused.value.user_message and "U0UPPER" in refused.value.user_message
        assert "upper-case" in refused.value.user_message


def test_look_alike_domains_are_not_listed_domains() -> None:
    # U+212A KELVIN SIGN lower-cases to "k" in Unicode: only ASCII letters are folded.
    kube = resolver(user_map={}, domains=("kube.io",))
    assert kube.resolve("U0K", profile("bob@KUBE.io")).username == "bob"
    for email in ("bob@\u212aube.io", "bob@sub.kube.io", "bob@kube.io.evil.test", "bob@kube.iO "):
        with pytest.raises(AccessDenied, match="not mapped"):
            kube.resolve("U0K", profile(email))


@pytest.mark.parametrize("email", [None, "", "jd\u043ee@example.com", "@example.com", "bob@elsewhere.test"])
def test_no_usable_email_is_not_mapped(email: str | None) -> None:
    with pytest.raises(AccessDenied, match="not mapped") as refused:
        resolver().resolve("U0NOBODY", profile(email))
    assert not isinstance(refused.value, EmailMappingRefused)


def test_without_email_domains_only_the_map_counts() -> None:
    with pytest.raises(AccessDenied, match="not mapped"):
        resolver(domains=()).resolve("U0BOB", profile("bob@example.com"))


def test_same_email_ignores_ascii_case_and_surrounding_spaces_only() -> None:
    assert same_email("Bob@Example.COM", " bob@example.com ")
    assert not same_email("bob@example.com", "bob@example.co")
    assert not same_email("bob@\u212aube.io", "bob@kube.io")
    assert not same_email("", "bob@example.com")


# --- the user map file ---------------------------------------------------------------------------


def test_a_slack_user_id_twice_in_the_user_map_is_refused_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "map.yaml"
    path.write_text("U0JDOE: jdoe\nU0ALICE: alice\nU0JDOE: alice\n")
    with pytest.raises(UserMapError) as error:
        load_user_map(path)
    message = str(error.value)
    assert "U0JDOE" in message and "lines 1 and 3" in message and "\n" not in message


def test_keys_that_differ_only_by_spaces_are_the_same_slack_user_id() -> None:
    with pytest.raises(UserMapError, match="U0JDOE"):
        parse_user_map({"U0JDOE": "jdoe", "U0JDOE ": "alice"})


def test_several_slack_ids_for_one_username_are_allowed_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "map.yaml"
    path.write_text("U0ALICE: alice\nU0ALICEADM: alice\nU0JDOE: jdoe\n")
    with caplog.at_level(logging.WARNING, logger="bot.domain.identity"):
        assert load_user_map(path) == {"U0ALICE": "alice", "U0ALICEADM": "alice", "U0JDOE": "jdoe"}
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "'alice'" in warnings[0] and "U0ALICE" in warnings[0] and "U0ALICEADM" in warnings[0]
    assert shared_usernames({"U0A": "alice", "U0B": "alice", "U0C": "bob"}) == {"alice": ["U0A", "U0B"]}


def test_the_rok_users_an_account_stands_for_are_its_map_entry_and_its_listed_email_local_part() -> None:
    r = resolver({"U0JOHN": "jdoe", "U0JOHN2": "jdoe"})
    assert r.rok_users_of("U0JOHN2", profile("john@example.com")) == {"jdoe", "john"}
    # Wider than resolve: a local part email mapping refuses (reserved, upper case) still names the person.
    assert r.rok_users_of("U0OTHER", profile("jdoe@example.com")) == {"jdoe"}
    assert r.rok_users_of("U0OTHER", profile("JDoe@EXAMPLE.com")) == {"JDoe"}
    assert r.rok_users_of("U0OTHER", profile("jdoe@elsewhere.test")) == frozenset()
    assert r.rok_users_of("U0JOHN", None) == {"jdoe"}
