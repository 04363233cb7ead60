"""Who may get a token, for how long, how often: the admin's policy file, validated at start.

Limits come from the overall section, overridden by the most generous Slack user group the user is in.
An over-limit request is refused with the limit stated, never silently clamped, unless the policy has an
`approvals` section: then a request above the user's own limit and at most `approvals.max` waits for a
listed approver instead. `break_glass` lets members of its user groups mint at once, up to its own `max`,
with a reason, loudly. `admins` names who may see every live token (`/rok-token who`); it is process-wide, so
a registry's `policy:` override cannot set it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Annotated, Any

import msgspec
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from bot.domain.durations import config_seconds, format_duration, parse_duration
from bot.domain.errors import AccessDenied, DurationError
from bot.domain.patterns import SLACK_GROUP_REF, SLACK_USER_ID


class PolicyError(ValueError):
    """The policy file is unreadable or invalid; the message names the field."""


def _seconds_or_zero(value: object) -> int:
    return 0 if value in (0, "0") else config_seconds(value)


Seconds = Annotated[int, BeforeValidator(config_seconds)]
SecondsOrZero = Annotated[int, BeforeValidator(_seconds_or_zero)]
SlackUserId = Annotated[str, Field(pattern=f"^{SLACK_USER_ID.pattern}$")]
SlackGroupId = Annotated[str, Field(pattern=f"^{SLACK_GROUP_REF.pattern}$")]
# A public or private channel the bot is invited to (not a DM: approvers must see the requests together).
SlackChannelId = Annotated[str, Field(pattern=r"^[CG][A-Z0-9]{2,}$")]
EXPIRE_AFTER_MIN = 60
EXPIRE_AFTER_MAX = 7 * 86400


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Limits(_Strict):
    """Durations one population may ask for."""

    default: Seconds | None = Field(default=None, description="Token lifetime when the user gives none.")
    min: Seconds | None = Field(default=None, description="Shortest token.")
    max: Seconds | None = Field(default=None, description="Longest token.")


class GroupRule(Limits):
    """Limits for the members of one Slack user group (by ID: names can be edited)."""

    usergroup: SlackGroupId
    name: str = Field(default="", max_length=80, description="A label for messages and the audit channel.")


class Allow(_Strict):
    """If present, only these users and members of these groups may ask."""

    users: list[SlackUserId] = []
    usergroups: list[SlackGroupId] = []


class Quota(_Strict):
    per_hour: int = Field(default=10, ge=1, le=10_000, description="Tokens per user per rolling hour.")
    cooldown: SecondsOrZero = Field(default=30, description="Minimum time between two tokens of one user (0: none).")


class Approvers(_Strict):
    """Who may approve a request above a requester's limit: these users and the members of these groups."""

    users: list[SlackUserId] = []
    usergroups: list[SlackGroupId] = []

    @model_validator(mode="after")
    def _someone(self) -> Approvers:
        if not self.users and not self.usergroups:
            raise ValueError("name at least one approver (users or usergroups)")
        return self


class Approvals(_Strict):
    """Requests above the requester's own limit, up to `max`, go to the approvers in `channel`."""

    channel: SlackChannelId = Field(description="Channel ID where requests are posted; invite the bot to it.")
    approvers: Approvers
    max: Seconds = Field(description="The longest duration that can be approved.")
    expire_after: Seconds = Field(default=3600, description="A pending request lapses after this.")

    @model_validator(mode="after")
    def _expiry(self) -> Approvals:
        if not EXPIRE_AFTER_MIN <= self.expire_after <= EXPIRE_AFTER_MAX:
            raise ValueError(
                f"expire_after must be between {format_duration(EXPIRE_AFTER_MIN)} "
                f"and {format_duration(EXPIRE_AFTER_MAX)}"
            )
        return self


class BreakGlass(_Strict):
    """Members of these groups may mint at once in an incident, with a reason, up to `max`, loudly."""

    usergroups: list[SlackGroupId] = Field(min_length=1, description="Who may use break-glass.")
    max: Seconds = Field(description="The longest break-glass token.")


class Admins(_Strict):
    """Who may see every live token (`/rok-token who`, the Home tab's section): these users and the members of
    these groups. Read-only: an admin gets no other power from this list."""

    users: list[SlackUserId] = []
    usergroups: list[SlackGroupId] = []

    @model_validator(mode="after")
    def _someone(self) -> Admins:
        if not self.users and not self.usergroups:
            raise ValueError("name at least one admin (users or usergroups)")
        return self


class PolicyFile(_Strict):
    """The YAML document: every field optional; unset limits fall back to the ROK_BOT_* settings."""

    limits: Limits = Limits()
    groups: list[GroupRule] = []
    allow: Allow | None = None
    allow_guests: bool | None = None
    quota: Quota = Quota()
    max_concurrent_issues: int = Field(default=256, ge=1, le=100_000)
    approvals: Approvals | None = None
    break_glass: BreakGlass | None = None
    admins: Admins | None = None

    @model_validator(mode="after")
    def _unique_groups(self) -> PolicyFile:
        ids = [g.usergroup for g in self.groups]
        if len(ids) != len(set(ids)):
            raise ValueError("a user group appears twice in groups")
        return self


class UserLimits(msgspec.Struct, frozen=True):
    """The resolved limits of one user, and where they came from (for help and refusals)."""

    default: int
    min: int
    max: int
    source: str  # "everyone" or the group's label

    def check(self, seconds: int) -> None:
        """Refuse, with the limit stated, a duration outside this user's range."""
        if seconds > self.max:
            raise DurationError(
                f"{format_duration(seconds)} is longer than your limit of {format_duration(self.max)} "
                f"({self.source}): choose between {format_duration(self.min)} and {format_duration(self.max)}."
            )
        if seconds < self.min:
            raise DurationError(
                f"{format_duration(seconds)} is shorter than the minimum of {format_duration(self.min)}: "
                f"choose between {format_duration(self.min)} and {format_duration(self.max)}."
            )


class ApprovalRules(msgspec.Struct, frozen=True):
    """The resolved `approvals` section."""

    channel: str
    users: frozenset[str]
    usergroups: frozenset[str]
    max: int
    expire_after: int

    def may_decide(self, user_id: str, user_groups: Iterable[str]) -> bool:
        """Whether the user is a listed approver (by ID, or as a member of a listed group)."""
        return user_id in self.users or bool(self.usergroups & set(user_groups))


class BreakGlassRules(msgspec.Struct, frozen=True):
    """The resolved `break_glass` section."""

    usergroups: frozenset[str]
    max: int


class AdminRules(msgspec.Struct, frozen=True):
    """The resolved `admins` section: who may see who holds tokens."""

    users: frozenset[str]
    usergroups: frozenset[str]

    def may_see(self, user_id: str, user_groups: Iterable[str]) -> bool:
        """Whether the user is a listed admin (by ID, or as a member of a listed group)."""
        return user_id in self.users or bool(self.usergroups & set(user_groups))


class Policy(msgspec.Struct, frozen=True):
    """The effective policy: the file's rules with the settings' durations as the baseline."""

    everyone: UserLimits
    groups: tuple[tuple[str, UserLimits], ...]
    allow_users: frozenset[str] | None
    allow_groups: frozenset[str]
    allow_guests: bool
    per_hour: int
    cooldown: int
    max_concurrent_issues: int
    approvals: ApprovalRules | None = None
    break_glass: BreakGlassRules | None = None
    admins: AdminRules | None = None

    @property
    def group_ids(self) -> frozenset[str]:
        """Every user group whose membership matters (limits or allowlist)."""
        return frozenset(g for g, _ in self.groups) | self.allow_groups

    @property
    def absolute_min(self) -> int:
        return min([self.everyone.min, *(lim.min for _, lim in self.groups)])

    @property
    def absolute_max(self) -> int:
        return max([self.everyone.max, *(lim.max for _, lim in self.groups)])

    @property
    def widest_max(self) -> int:
        """The longest duration any path allows: a user's own limit, an approval or break-glass."""
        extra = [r.max for r in (self.approvals, self.break_glass) if r is not None]
        return max([self.absolute_max, *extra])

    def ack_duration(self, text: str) -> int:
        """A command's duration, refused at once outside the widest range any path allows: the slash command's
        ack, with no I/O (the caller's own limits need their user groups: the use case checks those)."""
        try:
            return parse_duration(text, minimum=self.absolute_min, maximum=self.widest_max)
        except DurationError:
            if self.approvals is None:
                raise
            try:
                seconds = parse_duration(text)
            except DurationError:
                seconds = 0
            if seconds <= self.widest_max:
                raise
        # Above what anyone can approve: say so, with the usual limit (the user's own may be a group's).
        usual = format_duration(self.everyone.max)
        own = f"the usual limit is {usual} (/rok-token help shows yours)" if self.groups else f"your limit is {usual}"
        raise DurationError(
            f"{format_duration(seconds)} is longer than anyone can approve ({format_duration(self.approvals.max)}); "
            f"{own}: ask for at most that, or up to {format_duration(self.approvals.max)} with an approver's OK."
        )

    def needs_approval(self, limits: UserLimits, seconds: int) -> bool:
        """False: within the user's own limits (mint now); True: above them but approvable; else DurationError
        with the limits stated."""
        if seconds <= limits.max or self.approvals is None:
            limits.check(seconds)
            return False
        if seconds > self.approvals.max:
            approvable = format_duration(self.approvals.max)
            raise DurationError(
                f"{format_duration(seconds)} is longer than anyone can approve ({approvable}); your own limit is "
                f"{format_duration(limits.max)} ({limits.source}): ask for at most {format_duration(limits.max)}, "
                f"or up to {approvable} with an approver's OK."
            )
        return True

    def check_approved(self, limits: UserLimits, seconds: int) -> None:
        """Re-check an approved duration when it is minted: the policy may have changed since the request."""
        if self.approvals is None:
            raise AccessDenied("Approvals are no longer enabled here; ask again.", detail="approvals removed")
        _within(seconds, limits.min, self.approvals.max, "the longest an approver can grant")

    def check_break_glass(self, limits: UserLimits, seconds: int) -> None:
        """A break-glass duration: at least the user's minimum, at most `break_glass.max`."""
        if self.break_glass is None:
            raise AccessDenied("Break-glass is not enabled here.", detail="break_glass not configured")
        _within(seconds, limits.min, self.break_glass.max, "the break-glass limit")

    def limits_for(self, user_groups: Iterable[str]) -> UserLimits:
        """The most generous limits among the user's groups, else everyone's."""
        mine = set(user_groups)
        candidates = [lim for gid, lim in self.groups if gid in mine]
        if not candidates:
            return self.everyone
        return max(candidates, key=lambda lim: (lim.max, lim.default))

    def check_allowed(self, user_id: str, user_groups: Iterable[str], contact: str) -> None:
        """Refuse a user outside the allowlist, when there is one."""
        if self.allow_users is None:
            return
        if user_id in self.allow_users or self.allow_groups & set(user_groups):
            return
        raise AccessDenied(
            f"You are not on the list of people who may get Rok Registry tokens; ask {contact}.",
            detail="not in the allowlist",
        )


def _within(seconds: int, low: int, high: int, what: str) -> None:
    bounds = f"choose between {format_duration(low)} and {format_duration(high)}"
    if seconds > high:
        raise DurationError(f"{format_duration(seconds)} is longer than {what} of {format_duration(high)}: {bounds}.")
    if seconds < low:
        raise DurationError(
            f"{format_duration(seconds)} is shorter than the minimum of {format_duration(low)}: {bounds}."
        )


def _limits(raw: Limits, base: UserLimits, source: str, where: str) -> UserLimits:
    lo = raw.min if raw.min is not None else base.min
    hi = raw.max if raw.max is not None else base.max
    default = raw.default if raw.default is not None else min(max(base.default, lo), hi)
    if lo > hi:
        raise PolicyError(f"{where}: min ({format_duration(lo)}) is above max ({format_duration(hi)})")
    if not lo <= default <= hi:
        raise PolicyError(
            f"{where}: default ({format_duration(default)}) is outside {format_duration(lo)}..{format_duration(hi)}"
        )
    return UserLimits(default=default, min=lo, max=hi, source=source)


def build_policy(
    data: Mapping[str, Any] | None, *, default: int, minimum: int, maximum: int, allow_guests: bool
) -> Policy:
    """Validate a loaded policy document against the settings' baseline; PolicyError names the field."""
    try:
        doc = PolicyFile.model_validate(data or {})
    except ValidationError as exc:
        error = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(p) for p in error["loc"]) or "policy"
        raise PolicyError(f"{where}: {str(error['msg']).removeprefix('Value error, ')}") from None
    base = UserLimits(default=default, min=minimum, max=maximum, source="everyone")
    everyone = _limits(doc.limits, base, "everyone", "limits")
    groups = tuple(
        (g.usergroup, _limits(g, everyone, g.name or g.usergroup, f"groups[{i}]")) for i, g in enumerate(doc.groups)
    )
    approvals = None
    if doc.approvals is not None:
        if doc.approvals.max <= everyone.max:
            raise PolicyError(
                f"approvals.max ({format_duration(doc.approvals.max)}) must be longer than limits.max "
                f"({format_duration(everyone.max)}): no request could need an approval"
            )
        approvals = ApprovalRules(
            channel=doc.approvals.channel,
            users=frozenset(doc.approvals.approvers.users),
            usergroups=frozenset(doc.approvals.approvers.usergroups),
            max=doc.approvals.max,
            expire_after=doc.approvals.expire_after,
        )
    break_glass = None
    if doc.break_glass is not None:
        if doc.break_glass.max < everyone.min:
            raise PolicyError(
                f"break_glass.max ({format_duration(doc.break_glass.max)}) is shorter than limits.min "
                f"({format_duration(everyone.min)})"
            )
        break_glass = BreakGlassRules(usergroups=frozenset(doc.break_glass.usergroups), max=doc.break_glass.max)
    return Policy(
        everyone=everyone,
        groups=groups,
        allow_users=frozenset(doc.allow.users) if doc.allow is not None else None,
        allow_groups=frozenset(doc.allow.usergroups) if doc.allow is not None else frozenset(),
        allow_guests=allow_guests if doc.allow_guests is None else doc.allow_guests,
        per_hour=doc.quota.per_hour,
        cooldown=doc.quota.cooldown,
        max_concurrent_issues=doc.max_concurrent_issues,
        approvals=approvals,
        break_glass=break_glass,
        admins=_admins(doc.admins),
    )


def _admins(raw: Admins | None) -> AdminRules | None:
    return None if raw is None else AdminRules(users=frozenset(raw.users), usergroups=frozenset(raw.usergroups))


def read_policy_file(path: Path | None) -> Mapping[str, Any] | None:
    """The ROK_BOT_POLICY document as loaded from YAML, not yet validated (None when unset or empty)."""
    if path is None:
        return None
    import yaml

    from bot.domain.yamlfile import safe_load

    try:
        data = safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise PolicyError(f"cannot read {path}: {type(exc).__name__}") from None
    if data is not None and not isinstance(data, Mapping):
        raise PolicyError("the policy must be a YAML mapping")
    return data


def load_policy(path: Path | None, *, default: int, minimum: int, maximum: int, allow_guests: bool) -> Policy:
    """Read ROK_BOT_POLICY (or use the settings alone when it is unset)."""
    data = read_policy_file(path)
    return build_policy(data, default=default, minimum=minimum, maximum=maximum, allow_guests=allow_guests)
