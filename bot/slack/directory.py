"""The user directory on Slack's Web API: users.info per user and usergroups.users.list per group.

Both are cached per replica for a few minutes (users.info is tier 4, usergroups.users.list tier 2): a
deactivated user, a new guest or a removed group member takes up to that long to be seen (docs/SECURITY.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.domain.patterns import group_part, group_team
from bot.runtime import metrics
from bot.runtime.cache import TtlMap
from bot.runtime.clock import Clock

PROFILE_TTL = 300.0


class SlackDirectory:
    """The `UserDirectory` port: profiles and user-group membership, cached."""

    def __init__(self, client: WebClient, *, clock: Clock, ttl: float = PROFILE_TTL, org_wide: bool = False) -> None:
        self._client = client
        # An org-wide install's token reads a user group only in a named workspace (`team_id`): Slack refuses
        # usergroups.users.list without one. A workspace install never sends it (today's calls, unchanged).
        self._org_wide = org_wide
        self._profiles: TtlMap[str, dict[str, Any] | None] = TtlMap(name="users_info", ttl=ttl, clock=clock.monotonic)
        self._groups: TtlMap[tuple[str | None, str], frozenset[str]] = TtlMap(
            name="usergroups", ttl=ttl, clock=clock.monotonic
        )

    def profile(self, user_id: str) -> Mapping[str, Any] | None:
        """users.info's user object; None when Slack does not know the user (or may not show it)."""
        return self._profiles.get(user_id, lambda: self._fetch_profile(user_id))

    def groups_of(self, user_id: str, groups: frozenset[str], *, team_id: str | None = None) -> frozenset[str]:
        """Which of `groups` the user is a member of; on an org install, each read in its own workspace
        (`T…:S…`) or the request's (`team_id`), else the user's home workspace (users.info)."""
        return frozenset(g for g in groups if user_id in self._members(g, self._team_for(g, user_id, team_id)))

    def _team_for(self, ref: str, user_id: str, team_id: str | None) -> str | None:
        if not self._org_wide:
            return None
        if named := group_team(ref) or team_id:
            return named
        return str((self.profile(user_id) or {}).get("team_id") or "") or None

    def _members(self, ref: str, team_id: str | None) -> frozenset[str]:
        group_id = group_part(ref)
        return self._groups.get((team_id, group_id), lambda: self._fetch_members(group_id, team_id))

    def _fetch_profile(self, user_id: str) -> dict[str, Any] | None:
        try:
            user = self._client.users_info(user=user_id).get("user")
        except SlackApiError as exc:
            error = str(exc.response.get("error", "unknown"))
            metrics.SLACK_API_ERRORS.labels("users.info", error).inc()
            if error not in ("user_not_found", "user_not_visible"):
                raise
            user = None
        return user if isinstance(user, dict) else None

    def _fetch_members(self, group_id: str, team_id: str | None) -> frozenset[str]:
        try:
            # slack_sdk leaves a None team_id out of the call: a workspace install's request is as before.
            users = self._client.usergroups_users_list(usergroup=group_id, team_id=team_id).get("users") or []
        except SlackApiError as exc:
            metrics.SLACK_API_ERRORS.labels("usergroups.users.list", str(exc.response.get("error", "unknown"))).inc()
            raise
        return frozenset(str(u) for u in users)
