"""The fake Slack as an Enterprise Grid org-wide install: one bot token for every workspace it was added to.

What Slack does differently for an org-wide app (docs: "Enterprise Grid: changes to APIs" and the org apps
reference payloads), and so does the fake in org mode:
- `auth.test` answers `is_enterprise_install: true`, the `enterprise_id`, and the enterprise's ID as `team_id`
  (the token belongs to the organisation, not to one workspace).
- `auth.teams.list` lists the workspaces the app was added to; an org install is added to none until an org
  admin adds it.
- Methods that act on one workspace need `team_id` with an org token (user groups among them).
- Payloads carry the enterprise and the user's workspace: a slash command's `is_enterprise_install` is the
  string "true", interactions have `team`, `enterprise` and `is_enterprise_install: true`, events carry
  `enterprise_id`, `team_id`, `context_team_id` and `authorizations[]` whose `team_id` is null.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any, Literal

PayloadKind = Literal["slash", "interactive", "event"]
ORG_NAME = "Rok Org Grid"


@dataclass(frozen=True, slots=True)
class OrgSpec:
    """An org-wide install: the organisation and the workspaces (team IDs) the app was added to."""

    enterprise_id: str = "E0ROKORG"
    teams: tuple[str, ...] = ("T0A", "T0B")
    name: str = ORG_NAME

    def __post_init__(self) -> None:
        if not self.teams:
            raise ValueError("an org install in the sandbox needs at least one workspace to serve")


def team_name(team_id: str) -> str:
    """A readable workspace name for a team ID (the fake's directory has no other)."""
    return f"Workspace {team_id}"


def auth_test_body(org: OrgSpec, *, bot_user_id: str, bot_id: str) -> dict[str, Any]:
    """`auth.test` for an org-level bot token: the enterprise answers as the team."""
    return {
        "ok": True,
        "url": f"https://{org.enterprise_id.lower()}.enterprise.slack.com/",
        "team": org.name,
        "user": "rok-token-bot",
        "team_id": org.enterprise_id,
        "user_id": bot_user_id,
        "bot_id": bot_id,
        "enterprise_id": org.enterprise_id,
        "is_enterprise_install": True,
    }


def teams_list_body(team_ids: list[str]) -> dict[str, Any]:
    """`auth.teams.list`: the workspaces the app is in (one page)."""
    teams = [{"id": t, "name": team_name(t), "icon": {"image_default": True}} for t in team_ids]
    return {"ok": True, "teams": teams, "response_metadata": {"next_cursor": ""}}


def stamp(
    kind: PayloadKind,
    payload: dict[str, Any],
    *,
    enterprise_id: str,
    team_id: str,
    bot_user_id: str = "UROKBOT",
    enterprise_name: str = ORG_NAME,
    null_team: bool = False,
) -> dict[str, Any]:
    """Turn a workspace-install payload (built by `slack_requests`) into what an org-wide install receives.

    `team_id` is the workspace of the user who acted; `enterprise_id` their organisation (another one than the
    install's for a user from elsewhere). `null_team`: an interaction's `team` is null, as Slack sends some
    to org-wide installs (slack_bolt reads `user.team_id` then). Changes and returns `payload`.
    """
    if kind == "slash":
        payload.update(
            team_id=team_id,
            enterprise_id=enterprise_id,
            enterprise_name=enterprise_name,
            is_enterprise_install="true",
        )
        return payload
    if kind == "interactive":
        payload["team"] = {
            "id": team_id,
            "domain": team_id.lower(),
            "enterprise_id": enterprise_id,
            "enterprise_name": enterprise_name,
        }
        if null_team:
            payload["team"] = None
        payload["enterprise"] = {"id": enterprise_id, "name": enterprise_name}
        payload["is_enterprise_install"] = True
        if isinstance(payload.get("user"), dict):
            payload["user"]["team_id"] = team_id
        if isinstance(payload.get("view"), dict):
            payload["view"]["team_id"] = team_id
        return payload
    payload.update(
        team_id=team_id,
        enterprise_id=enterprise_id,
        context_team_id=team_id,
        context_enterprise_id=enterprise_id,
        authorizations=[_authorization(enterprise_id, bot_user_id)],
    )
    return payload


def _authorization(enterprise_id: str, bot_user_id: str) -> dict[str, Any]:
    # An org-wide installation is the organisation's: no single workspace owns it.
    return {
        "enterprise_id": enterprise_id,
        "team_id": None,
        "user_id": bot_user_id,
        "is_bot": True,
        "is_enterprise_install": True,
    }


def team_access_event(
    granted: bool,
    team_ids: list[str],
    *,
    enterprise_id: str,
    bot_user_id: str = "UROKBOT",
    api_app_id: str = "A0ROKBOT",
) -> dict[str, Any]:
    """The `team_access_granted` / `team_access_revoked` event an org admin's change sends an org-wide app."""
    return {
        "token": "gIkuvaNzQIHg97ATvDxqgjtO",
        "enterprise_id": enterprise_id,
        "api_app_id": api_app_id,
        "event": {
            "type": "team_access_granted" if granted else "team_access_revoked",
            "team_ids": list(team_ids),
            "event_ts": f"{time.time():.6f}",
        },
        "type": "event_callback",
        "event_id": f"Ev{secrets.token_hex(5).upper()}",
        "event_time": int(time.time()),
        "authorizations": [_authorization(enterprise_id, bot_user_id)],
        "is_ext_shared_channel": False,
    }
