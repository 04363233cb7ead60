"""The policy: pure code, no fakes."""

from __future__ import annotations

from pathlib import Path
from typing import TypedDict

import pytest
import yaml

from bot.domain.errors import AccessDenied, DurationError
from bot.domain.policy import PolicyError, build_policy, load_policy

H, D = 3600, 86400


class _Baseline(TypedDict):
    """The settings' keyword arguments to build_policy/load_policy, typed so that `**BASE` checks per key."""

    default: int
    minimum: int
    maximum: int
    allow_guests: bool


BASE: _Baseline = {"default": D, "minimum": 300, "maximum": 7 * D, "allow_guests": False}


def test_example_policy_file_is_valid() -> None:
    policy = load_policy(Path(__file__).parents[2] / "config" / "policy.example.yaml", **BASE)
    assert policy.limits_for(["S0123ADMINS"]).max == 30 * D
    assert policy.limits_for([]).max == 7 * D
    assert policy.per_hour == 10 and policy.cooldown == 30
    assert policy.absolute_max == 30 * D and policy.absolute_min == 300
    assert policy.approvals is not None and policy.break_glass is not None
    assert policy.approvals.channel == "C0123APPROVALS" and policy.approvals.max == 30 * D
    assert policy.approvals.users == {"U0123ABCD"} and policy.approvals.usergroups == {"S0123LEADS"}
    assert policy.approvals.expire_after == H
    assert policy.break_glass.usergroups == {"S0123ONCALL"} and policy.break_glass.max == 4 * H


def test_no_policy_file_uses_the_settings() -> None:
    policy = load_policy(None, **BASE)
    assert (policy.everyone.default, policy.everyone.min, policy.everyone.max) == (D, 300, 7 * D)
    assert policy.allow_users is None and not policy.group_ids


def test_most_generous_group_wins() -> None:
    policy = build_policy(
        {"groups": [{"usergroup": "S1AAA", "max": "14d"}, {"usergroup": "S2BBB", "max": "30d", "name": "admins"}]},
        **BASE,
    )
    limits = policy.limits_for(["S1AAA", "S2BBB"])
    assert limits.max == 30 * D and limits.source == "admins"


def test_over_limit_is_refused_with_the_limit_stated_never_clamped() -> None:
    limits = build_policy(None, **BASE).everyone
    with pytest.raises(DurationError, match="longer than your limit of 7d"):
        limits.check(8 * D)
    with pytest.raises(DurationError, match="shorter than the minimum of 5m"):
        limits.check(60)
    limits.check(7 * D)


def test_allowlist() -> None:
    policy = build_policy({"allow": {"users": ["U0JDOE"], "usergroups": ["S0MLENG"]}}, **BASE)
    policy.check_allowed("U0JDOE", [], "#help")
    policy.check_allowed("U0OTHER", ["S0MLENG"], "#help")
    with pytest.raises(AccessDenied, match="#help"):
        policy.check_allowed("U0OTHER", [], "#help")


@pytest.mark.parametrize(
    ("doc", "where"),
    [
        ({"limits": {"max": "3x"}}, "limits.max"),
        ({"limits": {"min": "2d", "max": "1d"}}, "limits: min"),
        ({"limits": {"default": "30d"}}, "limits: default"),
        ({"groups": [{"usergroup": "admins"}]}, "groups.0.usergroup"),
        ({"groups": [{"usergroup": "S1AAA"}, {"usergroup": "S1AAA"}]}, "appears twice"),
        ({"quota": {"per_hour": 0}}, "quota.per_hour"),
        ({"unknown": 1}, "unknown"),
        ({"allow": {"users": ["jdoe"]}}, "allow.users.0"),
        ({"approvals": {"approvers": {"users": ["U1AAA"]}, "max": "30d"}}, "approvals.channel: Field required"),
        (
            {"approvals": {"channel": "#approvals", "approvers": {"users": ["U1AAA"]}, "max": "30d"}},
            "approvals.channel",
        ),
        ({"approvals": {"channel": "D0DM", "approvers": {"users": ["U1AAA"]}, "max": "30d"}}, "approvals.channel"),
        ({"approvals": {"channel": "C0A", "approvers": {}, "max": "30d"}}, "approvals.approvers: name at least one"),
        (
            {"approvals": {"channel": "C0A", "approvers": {"users": ["bob"]}, "max": "30d"}},
            "approvals.approvers.users.0",
        ),
        (
            {"approvals": {"channel": "C0A", "approvers": {"usergroups": ["U1"]}, "max": "30d"}},
            "approvers.usergroups.0",
        ),
        ({"approvals": {"channel": "C0A", "approvers": {"users": ["U1AAA"]}}}, "approvals.max: Field required"),
        ({"approvals": {"channel": "C0A", "approvers": {"users": ["U1AAA"]}, "max": "soon"}}, "approvals.max"),
        ({"approvals": {"channel": "C0A", "approvers": {"users": ["U1AAA"]}, "max": "7d"}}, "approvals.max .7d. must"),
        (
            {"approvals": {"channel": "C0A", "approvers": {"users": ["U1AAA"]}, "max": "30d", "expire_after": "10s"}},
            "approvals: expire_after must be between 1m and 7d",
        ),
        ({"approvals": {"channel": "C0A", "approvers": {"users": ["U1AAA"]}, "max": "30d", "who": 1}}, "approvals.who"),
        ({"break_glass": {"usergroups": [], "max": "4h"}}, "break_glass.usergroups"),
        ({"break_glass": {"usergroups": ["S0ONCALL"]}}, "break_glass.max: Field required"),
        ({"break_glass": {"usergroups": ["S0ONCALL"], "max": "1m"}}, "break_glass.max .1m. is shorter than limits.min"),
        ({"break_glass": {"users": ["U1AAA"], "usergroups": ["S0ONCALL"], "max": "4h"}}, "break_glass.users"),
        ({"admins": {}}, "admins: name at least one admin"),
        ({"admins": {"users": ["alice"]}}, "admins.users.0"),
        ({"admins": {"users": ["U1AAA\n"]}}, "admins.users.0"),
        ({"admins": {"usergroups": ["U1AAA"]}}, "admins.usergroups.0"),
        ({"admins": {"usergroups": ["T0A:U1AAA"]}}, "admins.usergroups.0"),
        ({"admins": {"users": ["U1AAA"], "channels": ["C0A"]}}, "admins.channels"),
        ({"admins": ["U1AAA"]}, "admins"),
    ],
)
def test_invalid_policy_names_the_field(doc: dict[str, object], where: str) -> None:
    with pytest.raises(PolicyError, match=where):
        build_policy(doc, **BASE)


def test_policy_file_must_be_a_mapping(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(["a"]))
    with pytest.raises(PolicyError, match="mapping"):
        load_policy(path, **BASE)


APPROVALS = {
    "approvals": {"channel": "C0APPROVALS", "approvers": {"users": ["U0BOB"]}, "max": "30d"},
    "break_glass": {"usergroups": ["S0ONCALL"], "max": "4h"},
}


def test_above_the_users_limit_and_within_approvals_max_needs_an_approval() -> None:
    policy = build_policy(APPROVALS, **BASE)
    limits = policy.everyone
    assert policy.needs_approval(limits, 7 * D) is False
    assert policy.needs_approval(limits, 14 * D) is True
    assert policy.needs_approval(limits, 30 * D) is True
    with pytest.raises(DurationError, match=r"60d is longer than anyone can approve \(30d\); your own limit is 7d"):
        policy.needs_approval(limits, 60 * D)
    with pytest.raises(DurationError, match="shorter than the minimum"):
        policy.needs_approval(limits, 60)
    assert policy.approvals is not None and policy.approvals.expire_after == H  # the default


def test_without_approvals_above_the_limit_is_refused_as_before() -> None:
    policy = build_policy(None, **BASE)
    with pytest.raises(DurationError, match="longer than your limit of 7d"):
        policy.needs_approval(policy.everyone, 14 * D)
    assert policy.widest_max == policy.absolute_max == 7 * D


def test_the_widest_range_includes_approvals_and_break_glass() -> None:
    assert build_policy(APPROVALS, **BASE).widest_max == 30 * D
    only_glass = build_policy({"break_glass": {"usergroups": ["S0ONCALL"], "max": "10d"}}, **BASE)
    assert only_glass.widest_max == 10 * D


def test_an_approved_or_break_glass_duration_is_checked_again_when_minted() -> None:
    policy = build_policy(APPROVALS, **BASE)
    policy.check_approved(policy.everyone, 30 * D)
    with pytest.raises(DurationError, match="longer than the longest an approver can grant of 30d"):
        policy.check_approved(policy.everyone, 31 * D)
    policy.check_break_glass(policy.everyone, 4 * H)
    with pytest.raises(DurationError, match="longer than the break-glass limit of 4h"):
        policy.check_break_glass(policy.everyone, 5 * H)
    bare = build_policy(None, **BASE)
    with pytest.raises(AccessDenied, match="no longer enabled"):
        bare.check_approved(bare.everyone, D)
    with pytest.raises(AccessDenied, match="not enabled"):
        bare.check_break_glass(bare.everyone, H)


def test_approvers_are_listed_users_or_members_of_listed_groups() -> None:
    policy = build_policy(
        {
            "approvals": {
                "channel": "G0PRIVATE",
                "approvers": {"users": ["U0BOB"], "usergroups": ["S0LEADS"]},
                "max": "30d",
            }
        },
        **BASE,
    )
    rules = policy.approvals
    assert rules is not None
    assert rules.may_decide("U0BOB", [])
    assert rules.may_decide("U0ALICE", ["S0LEADS"])
    assert not rules.may_decide("U0ALICE", ["S0OTHER"])
    assert not rules.may_decide("U0bob", [])  # IDs match exactly


def test_the_ack_refuses_what_nobody_can_approve_with_both_limits_and_junk_as_before() -> None:
    policy = build_policy(APPROVALS, **BASE)
    assert policy.ack_duration("14d") == 14 * D
    with pytest.raises(DurationError) as refused:
        policy.ack_duration("60d")
    assert refused.value.user_message == (
        "60d is longer than anyone can approve (30d); your limit is 7d: ask for at most that, "
        "or up to 30d with an approver's OK."
    )
    for junk, message in (("0m", "is zero"), ("1m", "shorter than the minimum of 5m"), ("3x", "not a duration")):
        with pytest.raises(DurationError, match=message):
            policy.ack_duration(junk)
    plain = build_policy(None, **BASE)
    with pytest.raises(DurationError, match="longer than the maximum of 7d: choose between 5m and 7d"):
        plain.ack_duration("14d")


def test_the_charts_all_on_policy_is_valid_for_the_app() -> None:
    values = yaml.safe_load((Path(__file__).parents[2] / "helm" / "ci-values-all-on.yaml").read_text())
    policy = build_policy(values["policy"], **BASE)
    assert policy.approvals is not None and policy.approvals.max == 30 * D
    assert policy.break_glass is not None and policy.break_glass.max == 4 * H


def test_admins_are_listed_users_or_members_of_listed_groups_on_any_workspace() -> None:
    policy = build_policy({"admins": {"users": ["U0ALICE", "W0GRID"], "usergroups": ["S0SEC", "T0A:S0AUDIT"]}}, **BASE)
    admins = policy.admins
    assert admins is not None
    assert admins.users == {"U0ALICE", "W0GRID"} and admins.usergroups == {"S0SEC", "T0A:S0AUDIT"}
    assert admins.may_see("U0ALICE", []) and admins.may_see("W0GRID", [])
    assert admins.may_see("U0BOB", ["T0A:S0AUDIT"])
    assert not admins.may_see("U0BOB", ["S0AUDIT"])  # the directory answers with the policy's own references
    assert not admins.may_see("U0alice", [])
    assert build_policy(None, **BASE).admins is None
