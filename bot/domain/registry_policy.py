"""Each registry's policy: the global policy file with the registry's `policy:` overrides merged over it.

The overrides use the policy file's own models, so a registry's bad limit is refused with the same words as the
global file's, naming the registry. The merge is key by key:

- `limits` and `quota` merge field by field: `limits: {max: 30d}` keeps the global `min` and `default`;
- `groups`, `allow`, `approvals` and `break_glass` replace the global section whole (who may approve a
  production token is decided in one place); `null` turns `allow`, `approvals` or `break_glass` off for the
  registry;
- `allow` decides who may use the registry at all: with one, everyone else is refused and never offered it.

`allow_guests` and `max_concurrent_issues` are process-wide and cannot be overridden. Every registry's policy is
built once, at start (`build_policies`), so a merge that makes no sense (an override's `min` above the global
`max`) stops the start too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import msgspec
from pydantic import BaseModel, ConfigDict

from bot.domain.policy import (
    Allow,
    Approvals,
    BreakGlass,
    GroupRule,
    Limits,
    Policy,
    PolicyError,
    Quota,
    build_policy,
    read_policy_file,
)

# Sections merged field by field; every other override replaces the global section whole.
_FIELD_BY_FIELD = ("limits", "quota")


class PolicyOverrides(BaseModel):
    """A registry's `policy:` mapping: only the sections it sets are applied (see the module's docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    limits: Limits = Limits()
    groups: tuple[GroupRule, ...] = ()
    allow: Allow | None = None
    quota: Quota = Quota()
    approvals: Approvals | None = None
    break_glass: BreakGlass | None = None

    @property
    def empty(self) -> bool:
        """Whether the registry simply takes the global policy."""
        return not self.model_fields_set

    def over(self, data: Mapping[str, Any] | None) -> dict[str, Any]:
        """The global policy document `data` (as loaded from YAML) with these overrides merged over it."""
        merged: dict[str, Any] = dict(data or {})
        for key in sorted(self.model_fields_set):
            value = getattr(self, key)
            if key in _FIELD_BY_FIELD:
                base = merged.get(key)
                merged[key] = {**(base if isinstance(base, Mapping) else {}), **value.model_dump(exclude_unset=True)}
            elif isinstance(value, BaseModel):
                merged[key] = value.model_dump(exclude_unset=True)
            elif isinstance(value, tuple):
                merged[key] = [item.model_dump(exclude_unset=True) for item in value]
            else:
                merged[key] = value
        return merged


class Policies(msgspec.Struct, frozen=True):
    """The global policy and each registry's, by registry name (a registry with no overrides shares the global)."""

    everywhere: Policy
    by_registry: Mapping[str, Policy] = msgspec.field(default_factory=dict)

    def policy_for(self, registry: str) -> Policy:
        """The policy that decides requests for `registry` (by name)."""
        return self.by_registry.get(registry, self.everywhere)

    def may_use(self, registry: str, user_id: str, user_groups: Iterable[str]) -> bool:
        """Whether the user passes the registry's allowlist (everyone does when it has none): the chooser offers
        only these registries, and a request for another is refused."""
        policy = self.policy_for(registry)
        if policy.allow_users is None:
            return True
        return user_id in policy.allow_users or bool(policy.allow_groups & set(user_groups))

    @property
    def group_ids(self) -> frozenset[str]:
        """Every user group whose membership matters to any registry's policy."""
        found = set(self.everywhere.group_ids)
        for policy in self.by_registry.values():
            found |= policy.group_ids
        return frozenset(found)


def build_policies(
    data: Mapping[str, Any] | None,
    overrides: Mapping[str, PolicyOverrides],
    *,
    default: int,
    minimum: int,
    maximum: int,
    allow_guests: bool,
) -> Policies:
    """The global policy from `data` (the policy file as loaded) and one per registry with overrides.

    PolicyError names the field; for a registry, `registry NAME: policy.FIELD: ...`.
    """

    def build(document: Mapping[str, Any] | None) -> Policy:
        return build_policy(document, default=default, minimum=minimum, maximum=maximum, allow_guests=allow_guests)

    everywhere = build(data)
    by_registry: dict[str, Policy] = {}
    for name, override in overrides.items():
        if override.empty:
            continue
        try:
            by_registry[name] = build(override.over(data))
        except PolicyError as exc:
            raise PolicyError(f"registry {name}: policy.{exc}") from None
    return Policies(everywhere=everywhere, by_registry=by_registry)


def load_policies(
    path: Path | None,
    overrides: Mapping[str, PolicyOverrides],
    *,
    default: int,
    minimum: int,
    maximum: int,
    allow_guests: bool,
) -> Policies:
    """Read ROK_BOT_POLICY (or use the settings alone when it is unset) and build every registry's policy."""
    return build_policies(
        read_policy_file(path),
        overrides,
        default=default,
        minimum=minimum,
        maximum=maximum,
        allow_guests=allow_guests,
    )
