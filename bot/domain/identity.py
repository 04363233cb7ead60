"""Who is who: Slack user IDs (immutable) to Rok usernames, never display names or handles.

A user is mapped by the admin's YAML file first, else by the local part of the Slack profile email when
its domain is one the admin listed. Bots, deleted users, guests (unless allowed) and users of other
workspaces are refused, each with a reason the user can act on.

Email mapping is a convenience under the user map, never a way around it:

- a username the user map gives to anyone is reserved: no email can yield it (Jane's `jdoe@example.com`
  does not get John's `jdoe`);
- the domain compares without case, but Rok usernames are case-sensitive, so a local part with an
  upper-case letter is refused rather than lower-cased into someone else's username;
- the Identity carries the profile email, so the token service can also require the Rok account's own
  email (when `account-list` shows one) to be the same address.

Case is folded for ASCII letters only: Unicode folding maps look-alikes onto them (U+212A KELVIN SIGN
lower-cases to `k`).
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import msgspec
from pydantic import AfterValidator

from bot.domain.errors import AccessDenied, EmailMappingRefused
from bot.domain.models import Account
from bot.domain.patterns import ROK_USERNAME, SLACK_TEAM_ID, SLACK_USER_ID

log = logging.getLogger(__name__)

_ASCII_UPPER = re.compile(r"[A-Z]")
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


class UserMapError(ValueError):
    """The user map file is unreadable or holds an invalid entry."""


class Identity(msgspec.Struct, frozen=True):
    """A Slack user mapped to a Rok username, and how the mapping was made (with the email, for "email")."""

    slack_user_id: str
    username: str
    source: str  # "map" or "email"
    email: str | None = None


def ascii_lower(text: str) -> str:
    """Lower-case ASCII letters only: Unicode folding would turn look-alikes (U+212A) into them."""
    return text.translate(_ASCII_LOWER)


def same_email(a: str, b: str) -> bool:
    """Whether two email addresses are the same, ignoring ASCII case and surrounding spaces."""
    left, right = ascii_lower(a.strip()), ascii_lower(b.strip())
    return bool(left) and left == right


class WorkspaceAccess:
    """Which workspaces of the organisation the org-wide app is in, as this replica knows it.

    Two sources: `auth.teams.list` (asked at start and every minute: the truth, but late) and the
    `team_access_granted`/`_revoked` events (at once, but Slack delivers each to one replica). An answer to a
    question asked before an event does not undo that event: the events heard since the question are kept and
    replayed over the answer. A workspace neither source has named yet is served (Slack sends requests only
    from workspaces the app is in).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._present: frozenset[str] | None = None  # auth.teams.list's last answer; None: never asked
        self._changes: list[tuple[int, str, bool]] = []  # (sequence, team, granted) since that question
        self._sequence = 0

    def allows(self, team_id: str) -> bool:
        with self._lock:
            state = None if self._present is None else team_id in self._present
            for _, team, granted in self._changes:
                if team == team_id:
                    state = granted
        return state is not False

    def change(self, team_ids: Iterable[str], *, granted: bool) -> None:
        with self._lock:
            for team in team_ids:
                self._sequence += 1
                self._changes.append((self._sequence, team, granted))

    def asking(self) -> int:
        """Call before asking auth.teams.list; pass the result to `learn` with its answer."""
        with self._lock:
            return self._sequence

    def learn(self, present: Iterable[str], *, asked_at: int) -> None:
        """auth.teams.list's answer to the question asked at `asked_at`: events heard after it still stand."""
        with self._lock:
            self._present = frozenset(present)
            self._changes = [change for change in self._changes if change[0] > asked_at]

    def present(self) -> frozenset[str] | None:
        with self._lock:
            return self._present


@dataclass(frozen=True, slots=True)
class Workspace:
    """Where requests may come from (auth.test at start): one workspace, or the workspaces of one organisation.

    A workspace install serves its own team only. An org-wide install on Enterprise Grid
    (`is_enterprise_install`) serves the workspaces of its enterprise the app is in, or only those `teams`
    lists (ROK_BOT_SLACK_TEAMS), and never one whose access Slack revoked: `access` is the one mutable part,
    shared by every registry's resolver (see WorkspaceAccess).
    """

    team_id: str
    enterprise_id: str | None = None
    is_enterprise_install: bool = False
    teams: frozenset[str] | None = None
    access: WorkspaceAccess = field(default_factory=WorkspaceAccess, compare=False, repr=False)

    @property
    def org_wide(self) -> bool:
        """An org-wide install (requests name the enterprise and one of its workspaces)."""
        return self.is_enterprise_install and bool(self.enterprise_id)

    def owns(self, *, team_id: str | None, enterprise_id: str | None) -> bool:
        """True when a request comes from a workspace this install serves."""
        if self.org_wide:
            return enterprise_id == self.enterprise_id and self.allows_team(team_id)
        if self.enterprise_id:
            # A workspace install on a Grid workspace: its enterprise's shared channels reach it too.
            return enterprise_id == self.enterprise_id
        return team_id == self.team_id

    def allows_team(self, team_id: str | None) -> bool:
        """In org mode: a workspace that is listed (or any, with no list), the app is in, and not revoked."""
        if not team_id or (self.teams is not None and team_id not in self.teams):
            return False
        return self.access.allows(team_id)

    def revoke(self, team_ids: Iterable[str]) -> None:
        """Slack removed the app from these workspaces: refuse their requests from now on."""
        self.access.change(team_ids, granted=False)

    def grant(self, team_ids: Iterable[str]) -> None:
        """Slack added the app to these workspaces: serve them again (ROK_BOT_SLACK_TEAMS still narrows)."""
        self.access.change(team_ids, granted=True)


def workspace_of(auth: Mapping[str, Any], *, teams: str | None = None) -> Workspace:
    """The Workspace an auth.test answer describes; `teams` (ROK_BOT_SLACK_TEAMS) narrows an org-wide install."""
    flag = auth.get("is_enterprise_install")
    return Workspace(
        team_id=str(auth.get("team_id") or ""),
        enterprise_id=auth.get("enterprise_id") or None,
        is_enterprise_install=flag is True or str(flag).lower() == "true",
        teams=parse_team_ids(teams),
    )


def parse_team_ids(text: str | None) -> frozenset[str] | None:
    """ROK_BOT_SLACK_TEAMS (`T0A,T0B`) as a set; None (unset or blank) means every workspace of the org."""
    if text is None or not text.strip():
        return None
    ids = [item.strip() for item in text.split(",") if item.strip()]
    for team_id in ids:
        if not SLACK_TEAM_ID.fullmatch(team_id):
            raise ValueError(f"{team_id[:30]!r} is not a Slack workspace ID (T…)")
    return frozenset(ids)


def checked_team_ids(text: str | None) -> str | None:
    """A settings validator: the value stays text, checked now so a typo stops the bot at start."""
    parse_team_ids(text)
    return text


# ROK_BOT_SLACK_TEAMS: the workspaces an org-wide install serves (`T0A,T0B`); unset: every one of the org.
SlackTeams = Annotated[str | None, AfterValidator(checked_team_ids)]


def parse_user_map(data: Any) -> dict[str, str]:
    """Validate a loaded YAML mapping `{U0123ABCD: jdoe}`; raise UserMapError naming the bad entry."""
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise UserMapError("the user map must be a YAML mapping of Slack user IDs to Rok usernames")
    mapping: dict[str, str] = {}
    for key, value in data.items():
        user_id = str(key).strip()
        if not SLACK_USER_ID.fullmatch(user_id):
            raise UserMapError(f"{user_id[:30]!r} is not a Slack user ID (U… or W…, not a name)")
        if user_id in mapping:
            raise UserMapError(f"the Slack user ID {user_id} appears twice; keep one entry")
        if not isinstance(value, str) or not ROK_USERNAME.fullmatch(value.strip()):
            raise UserMapError(f"the username for {user_id} is not a valid Rok username")
        mapping[user_id] = value.strip()
    return mapping


def shared_usernames(user_map: Mapping[str, str]) -> dict[str, list[str]]:
    """Rok usernames that several Slack user IDs map to, each with those IDs (sorted)."""
    by_username: dict[str, list[str]] = {}
    for user_id, username in user_map.items():
        by_username.setdefault(username, []).append(user_id)
    return {username: sorted(ids) for username, ids in by_username.items() if len(ids) > 1}


def load_user_map(path: Path | None) -> dict[str, str]:
    """Read and validate the user map file; an absent setting means an empty map.

    A Slack user ID given twice is refused: YAML would silently keep the last entry, so the admin's file
    would not say what the bot does. Several IDs for one username are allowed (an admin's second
    account) but logged, as that is also what a typo looks like.
    """
    if path is None:
        return {}
    import yaml

    try:
        # A safe loader: safe_load's constructors, plus the duplicate-key check.
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_unique_key_loader())  # noqa: S506  # nosec B506
    except (OSError, yaml.YAMLError) as exc:
        raise UserMapError(f"cannot read {path}: {type(exc).__name__}") from None
    mapping = parse_user_map(data)
    for username, user_ids in shared_usernames(mapping).items():
        log.warning(
            "the user map gives the Rok username %r to %d Slack user IDs (%s); allowed, but check it is meant",
            username,
            len(user_ids),
            ", ".join(user_ids),
            extra={"username": username, "slack_users": user_ids},
        )
    return mapping


def _unique_key_loader() -> type[Any]:
    """A safe loader (on libyaml's C parser when PyYAML has it) that refuses a mapping with the same key twice,
    naming the key and its lines."""
    import yaml

    from bot.domain.yamlfile import safe_loader

    base = safe_loader()

    def construct_mapping(self: Any, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        lines: dict[str, int] = {}
        for key_node, _ in node.value:
            key = str(self.construct_object(key_node, deep=deep)).strip()
            line = key_node.start_mark.line + 1
            if key in lines:
                raise UserMapError(
                    f"the Slack user ID {key[:30]!r} appears twice (lines {lines[key]} and {line}); "
                    "YAML would keep only the last: keep one entry"
                )
            lines[key] = line
        return base.construct_mapping(self, node, deep=deep)  # type: ignore[no-any-return]

    return type("UniqueKeyLoader", (base,), {"construct_mapping": construct_mapping})


class IdentityResolver:
    """Maps a Slack user to a Rok username from immutable facts only."""

    def __init__(
        self,
        *,
        user_map: Mapping[str, str],
        email_domains: list[str],
        allow_guests: bool,
        workspace: Workspace,
        support_contact: str,
    ) -> None:
        self._map = dict(user_map)
        # Usernames the admin gave to named Slack users: email mapping must never yield one of them.
        self._reserved = frozenset(self._map.values())
        self._domains = {ascii_lower(d.strip()) for d in email_domains}
        self._allow_guests = allow_guests
        self.workspace = workspace
        self._contact = support_contact

    def check_request(self, *, team_id: str | None, enterprise_id: str | None, org_event: bool = False) -> None:
        """Refuse a request that did not come from a workspace this install serves. `org_event`: a
        workspace-access event of an org install, which only has to come from its organisation."""
        if org_event and self.workspace.org_wide and enterprise_id == self.workspace.enterprise_id:
            return
        if not self.workspace.owns(team_id=team_id, enterprise_id=enterprise_id):
            raise AccessDenied(
                f"This bot only serves its own Slack workspace; ask {self._contact} for access.",
                detail=f"request from team {team_id} / enterprise {enterprise_id}",
            )

    def resolve(self, user_id: str, profile: Mapping[str, Any] | None) -> Identity:
        """The Rok username for a Slack user, given its users.info object; AccessDenied says why not."""
        if not SLACK_USER_ID.fullmatch(user_id):
            raise AccessDenied(detail="malformed Slack user ID")
        if profile is None:
            raise AccessDenied(
                f"Your Slack profile could not be read; try again, or ask {self._contact}.",
                detail="users.info gave no user",
            )
        if profile.get("is_bot") or profile.get("is_app_user") or user_id == "USLACKBOT":
            raise AccessDenied("Bots cannot get Rok Registry tokens.", detail="bot user")
        if profile.get("deleted"):
            raise AccessDenied(f"Your Slack account is deactivated; ask {self._contact}.", detail="deleted user")
        user_team = profile.get("team_id")
        if user_team and not self.workspace.enterprise_id and user_team != self.workspace.team_id:
            raise AccessDenied(
                f"Users from other workspaces cannot get tokens here; ask {self._contact}.",
                detail=f"user of team {user_team}",
            )
        if (profile.get("is_restricted") or profile.get("is_ultra_restricted")) and not self._allow_guests:
            raise AccessDenied(
                f"Guest accounts cannot get Rok Registry tokens; ask {self._contact}.", detail="guest user"
            )
        if username := self._map.get(user_id):
            return Identity(user_id, username, "map")
        email = str((profile.get("profile") or {}).get("email") or "")
        local, _, domain = email.rpartition("@")
        if self._domains and local and ascii_lower(domain) in self._domains and ROK_USERNAME.fullmatch(local):
            return self._by_email(user_id, local, email)
        raise AccessDenied(
            f"Your Slack account is not mapped to a Rok Registry username; ask {self._contact} to add "
            f"your Slack user ID ({user_id}) to the bot's user map.",
            detail="unmapped user",
        )

    def rok_users_of(self, user_id: str, profile: Mapping[str, Any] | None) -> frozenset[str]:
        """Every Rok username a Slack account stands for, for telling one person's accounts apart.

        Wider than `resolve`: the user map's entry, and the local part of a profile email in a listed domain
        even when email mapping would refuse it (a username the map reserves for the same person's other
        account, upper-case letters). Nothing here grants a token; it only says who someone may be.
        """
        names = {self._map[user_id]} if user_id in self._map else set()
        email = str(((profile or {}).get("profile") or {}).get("email") or "")
        local, _, domain = email.rpartition("@")
        if local and ascii_lower(domain) in self._domains:
            names.add(local)
        return frozenset(names)

    def check_account(self, identity: Identity, account: Account) -> None:
        """For an email-mapped user, the Rok account's own email (when account-list shows one) must match."""
        if identity.email is None or account.email is None or same_email(account.email, identity.email):
            return
        raise EmailMappingRefused(
            f"Your Slack email is not the email of the Rok Registry account {account.username}; ask "
            f"{self._contact} to add your Slack user ID ({identity.slack_user_id}) to the bot's user map.",
            detail=f"the account {account.username!r} has another email than the requester's Slack profile",
        )

    def _by_email(self, user_id: str, local: str, email: str) -> Identity:
        """The Identity for an email of a listed domain, unless the user map must decide instead."""
        ask = f"ask {self._contact} to add your Slack user ID ({user_id}) to the bot's user map."
        if _ASCII_UPPER.search(local):
            # Rok usernames are case-sensitive: `Alice` is not `alice`, and guessing could pick someone else.
            raise EmailMappingRefused(
                f"Your Slack email has upper-case letters before the @ and Rok usernames are case-sensitive; {ask}",
                detail="email local part has upper-case letters",
            )
        if local in self._reserved:
            raise EmailMappingRefused(
                f"The Rok username of your Slack email belongs to another Slack user in the bot's user map; {ask}",
                detail=f"email local part {local!r} is a username the user map gives to another Slack user",
            )
        return Identity(user_id, local, "email", email=email)
