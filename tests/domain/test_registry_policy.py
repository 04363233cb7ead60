"""Each registry's policy: the global policy with its overrides merged key by key; pure code, no fakes."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypedDict

import pytest
import yaml

from bot.domain.errors import AccessDenied
from bot.domain.policy import PolicyError
from bot.domain.registries import parse_registries
from bot.domain.registry_policy import Policies, PolicyOverrides, build_policies, load_policies

H, D = 3600, 86400
GLOBAL: dict[str, Any] = {
    "limits": {"default": "1d", "min": "1h", "max": "7d"},
    "groups": [{"usergroup": "S0ADMINS", "name": "admins", "max": "30d"}],
    "quota": {"per_hour": 10, "cooldown": "30s"},
    "approvals": {"channel": "C0APPROVE", "approvers": {"users": ["U0LEAD"]}, "max": "60d"},
}


class _Baseline(TypedDict):
    default: int
    minimum: int
    maximum: int
    allow_guests: bool


BASE: _Baseline = {"default": D, "minimum": 300, "maximum": 7 * D, "allow_guests": False}


def policies(overrides: dict[str, dict[str, Any]], data: dict[str, Any] | None = None) -> Policies:
    """The policies of registries `prod` and `staging` (and any named in `overrides`) over `data`."""
    entries = [
        {"name": n, "url": f"https://{n}.example.com", "policy": overrides.get(n, {})} for n in ("prod", "staging")
    ]
    registries = parse_registries({"registries": entries})
    return build_policies(GLOBAL if data is None else data, registries.overrides(), **BASE)


def test_a_registry_without_overrides_shares_the_global_policy() -> None:
    built = policies({})
    assert built.policy_for("prod") is built.everywhere and built.policy_for("staging") is built.everywhere
    assert built.policy_for("unknown") is built.everywhere


def test_an_override_of_limits_max_applies_to_that_registry_only() -> None:
    built = policies({"prod": {"limits": {"max": "2d"}}})
    prod, staging = built.policy_for("prod"), built.policy_for("staging")
    assert (prod.everyone.min, prod.everyone.default, prod.everyone.max) == (H, D, 2 * D)  # min, default kept
    assert (staging.everyone.min, staging.everyone.default, staging.everyone.max) == (H, D, 7 * D)
    assert prod.limits_for(["S0ADMINS"]).max == 30 * D  # the groups stay the global ones
    assert prod.approvals == staging.approvals and prod.per_hour == 10


def test_quota_merges_field_by_field() -> None:
    prod = policies({"prod": {"quota": {"per_hour": 2}}}).policy_for("prod")
    assert (prod.per_hour, prod.cooldown) == (2, 30)


def test_groups_approvals_and_break_glass_replace_the_global_sections() -> None:
    override = {
        "groups": [{"usergroup": "S0PRODOPS", "max": "14d"}],
        "approvals": {"channel": "C0PRODAPPROVE", "approvers": {"usergroups": ["S0PRODLEADS"]}, "max": "30d"},
        "break_glass": {"usergroups": ["S0ONCALL"], "max": "4h"},
    }
    prod = policies({"prod": override}).policy_for("prod")
    assert [g for g, _ in prod.groups] == ["S0PRODOPS"] and prod.limits_for(["S0ADMINS"]).max == 7 * D
    assert prod.approvals is not None and prod.approvals.channel == "C0PRODAPPROVE"
    assert prod.approvals.users == frozenset() and prod.approvals.usergroups == {"S0PRODLEADS"}
    assert prod.break_glass is not None and prod.break_glass.max == 4 * H


def test_null_turns_a_section_off_for_one_registry() -> None:
    built = policies({"prod": {"approvals": None}})
    assert built.policy_for("prod").approvals is None and built.policy_for("staging").approvals is not None


def test_allow_decides_who_may_use_a_registry() -> None:
    built = policies({"prod": {"allow": {"users": ["U0ALICE"], "usergroups": ["S0PRODOPS"]}}})
    assert built.may_use("prod", "U0ALICE", []) and built.may_use("prod", "U0BOB", ["S0PRODOPS"])
    assert not built.may_use("prod", "U0BOB", ["S0ADMINS"])
    assert built.may_use("staging", "U0BOB", [])  # no allowlist there: everyone
    with pytest.raises(AccessDenied):
        built.policy_for("prod").check_allowed("U0BOB", [], "the platform team")
    built.policy_for("staging").check_allowed("U0BOB", [], "the platform team")
    assert {"S0PRODOPS", "S0ADMINS"} <= built.group_ids


def test_a_global_allowlist_can_be_lifted_or_narrowed_per_registry() -> None:
    data = {**GLOBAL, "allow": {"users": ["U0ALICE", "U0BOB"]}}
    built = policies({"prod": {"allow": {"users": ["U0ALICE"]}}, "staging": {"allow": None}}, data)
    assert built.may_use("prod", "U0ALICE", []) and not built.may_use("prod", "U0BOB", [])
    assert built.may_use("staging", "U0CAROL", [])


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ({"limits": {"min": "10d"}}, "registry prod: policy.limits: min (10d) is above max (7d)"),
        ({"limits": {"max": "90d"}}, "registry prod: policy.approvals.max (60d) must be longer than limits.max (90d)"),
        ({"break_glass": {"usergroups": ["S0ONCALL"], "max": "30m"}}, "registry prod: policy.break_glass.max (30m)"),
    ],
)
def test_a_merge_that_makes_no_sense_is_refused_naming_the_registry(override: dict[str, Any], expected: str) -> None:
    with pytest.raises(PolicyError) as err:
        policies({"prod": override})
    assert str(err.value).startswith(expected) and "\n" not in str(err.value)


def test_the_global_file_is_refused_as_before() -> None:
    with pytest.raises(PolicyError, match=r"^limits\.max: "):
        policies({}, {"limits": {"max": "forever"}})


def test_without_a_policy_file_overrides_apply_over_the_settings(tmp_path: Path) -> None:
    built = load_policies(None, {"prod": PolicyOverrides.model_validate({"limits": {"max": "2d"}})}, **BASE)
    assert built.policy_for("prod").everyone.max == 2 * D and built.everywhere.everyone.max == 7 * D
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(GLOBAL), encoding="utf-8")
    from_file = load_policies(path, {"prod": PolicyOverrides.model_validate({"quota": {"per_hour": 1}})}, **BASE)
    assert from_file.policy_for("prod").per_hour == 1 and from_file.policy_for("prod").everyone.min == H


def test_admins_are_one_list_for_the_whole_bot() -> None:
    data = {**GLOBAL, "admins": {"users": ["U0SEC"]}}
    built = policies({"prod": {"limits": {"max": "2d"}}}, data)
    assert built.policy_for("prod").admins == built.everywhere.admins
    assert built.everywhere.admins is not None and built.everywhere.admins.users == {"U0SEC"}


def test_a_registry_cannot_name_its_own_admins() -> None:
    from bot.domain.registries import RegistryError

    entry = {"name": "prod", "url": "https://prod.example.com", "policy": {"admins": {"users": ["U0SEC"]}}}
    with pytest.raises(RegistryError) as err:
        parse_registries({"registries": [entry]})
    assert "registry prod: policy.admins" in str(err.value) and "\n" not in str(err.value)
