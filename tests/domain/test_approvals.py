"""The pure rules of approvals: who may decide, what an Approve may grant, what the command's words mean."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.domain.approvals import (
    PendingRequest,
    approved_seconds,
    check_decider,
    duration_choices,
    new_request_id,
)
from bot.domain.command import split_command, wants_help
from bot.domain.durations import leading_duration
from bot.domain.errors import NotAnApprover, UsageError
from bot.domain.policy import ApprovalRules

H, D = 3600, 86400
RULES = ApprovalRules(
    channel="C0APPROVALS", users=frozenset({"U0BOB", "U0JDOE"}), usergroups=frozenset({"S0LEADS"}), max=30 * D,
    expire_after=H,
)  # fmt: skip
T0 = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
REQUEST = PendingRequest(
    id="a1", request_id="r1", team_id="T0", user_id="U0JDOE", rok_user="jdoe", seconds=14 * D, usual_max=7 * D,
    usual_source="everyone", reason="training", requested_at=T0, expires_at=T0 + timedelta(hours=1),
)  # fmt: skip


def _check(decider: str, *, groups: frozenset[str] = frozenset(), rok_users: frozenset[str] = frozenset()) -> None:
    check_decider(RULES, decider=decider, request=REQUEST, decider_groups=groups, decider_rok_users=rok_users)


def test_the_requester_never_decides_even_when_listed_and_others_only_when_listed() -> None:
    with pytest.raises(NotAnApprover, match="your own request"):
        _check(REQUEST.user_id)
    with pytest.raises(NotAnApprover, match="only the listed approvers"):
        _check("U0MALLORY", groups=frozenset({"S0OTHER"}))
    _check("U0BOB")
    _check("U0ALICE", groups=frozenset({"S0LEADS"}))


def test_nobody_decides_for_their_own_rok_user_from_another_slack_account() -> None:
    # U0BOB is a listed approver; the request is for Rok user jdoe. When U0BOB stands for jdoe too (a second
    # account in the user map, or a profile email jdoe@ in a listed domain), U0BOB may not decide.
    for rok_users in ({REQUEST.rok_user}, {"other", REQUEST.rok_user}, {REQUEST.rok_user.upper()}):
        with pytest.raises(NotAnApprover, match="Rok user jdoe is yours"):
            _check("U0BOB", rok_users=frozenset(rok_users))
    _check("U0BOB", rok_users=frozenset({"bob", "jdoe2"}))


def test_an_approve_grants_what_was_asked_or_less_never_more_never_junk() -> None:
    assert approved_seconds(REQUEST, None) == 14 * D
    assert approved_seconds(REQUEST, "") == 14 * D
    assert approved_seconds(REQUEST, str(7 * D)) == 7 * D
    with pytest.raises(UsageError, match="at most the 14d asked for, not 60d"):
        approved_seconds(REQUEST, str(60 * D))
    for forged in ("-1", "0", "1e9", "１２", "3600 ", "99999999999999", "1209600.0"):
        with pytest.raises(UsageError):
            approved_seconds(REQUEST, forged)


def test_the_choices_run_from_the_request_down_to_the_minimum() -> None:
    choices = duration_choices(REQUEST, minimum=5 * 60)
    assert choices[0] == 14 * D and 7 * D in choices and choices == sorted(choices, reverse=True)
    assert min(choices) == H
    assert duration_choices(REQUEST, minimum=2 * D)[-1] == 2 * D


def test_ids_are_random() -> None:
    assert len({new_request_id() for _ in range(100)}) == 100


@pytest.mark.parametrize(
    ("text", "duration", "reason", "glass"),
    [
        ("24h", "24h", "", False),
        ("", "", "", False),
        ("14d because training run X", "14d", "because training run X", False),
        ("1h 30m for a demo", "1h 30m", "for a demo", False),
        ('2h --break-glass "incident 4711"', "2h", "incident 4711", True),
        ("2h \u2014break-glass \u201cincident 4711\u201d", "2h", "incident 4711", True),
        ("2h --BREAK-GLASS", "2h", "", True),
        ("2h db down --break-glass incident 4711", "2h", "db down incident 4711", True),
        ("3x please", "3x please", "", False),  # not a duration: the whole text is named in the refusal
        # The flag first (as people type in an incident): the duration after it is still the duration.
        ("--break-glass 2h incident 4711", "2h", "incident 4711", True),
        ("\u2014break-glass 2h incident 4711", "2h", "incident 4711", True),  # macOS/Slack's em dash
        ("\u2013break-glass 1h 30m db down", "1h 30m", "db down", True),  # an en dash
        ("--break-glass incident 4711", "", "incident 4711", True),  # no duration: the default
        ("--break-glass 3x incident", "3x incident", "", True),  # a typo is refused, not taken as a reason
    ],
)
def test_the_command_splits_into_duration_reason_and_break_glass(
    text: str, duration: str, reason: str, glass: bool
) -> None:
    parsed = split_command(text)
    assert (parsed.duration, parsed.reason, parsed.break_glass) == (duration, reason, glass)


@pytest.mark.parametrize(
    ("text", "help_"),
    [
        ("help", True),
        ("?", True),
        ("hello there", True),
        ("", False),
        ("24h", False),
        ("-1h", False),  # refused as a duration, not explained
        ("--break-glass 2h incident", False),
        ("\u2014break-glass 2h incident", False),  # Slack's autocorrected flag is no help request
        ("\u2013Break-Glass 2h incident", False),
    ],
)
def test_help_is_a_help_word_or_text_starting_with_neither_a_duration_nor_the_flag(text: str, help_: bool) -> None:
    assert wants_help(text) is help_


def test_the_leading_duration_is_the_longest_run_of_words_that_parses() -> None:
    assert leading_duration("1 d 2 h 3 m later") == ("1 d 2 h 3 m", "later")
    assert leading_duration("7d 7d") == ("7d", "7d")  # a repeated unit is not one duration
    assert leading_duration("soon") == ("soon", "")
