"""What `doctor` says about the Slack install: a workspace install, or an org-wide one and its workspaces.

An org-wide install (Enterprise Grid) is in no workspace until an org admin adds it to some: the step people
miss. `auth.teams.list` names the workspaces the app is in, so doctor shows them and fails when there are
none, or when ROK_BOT_SLACK_TEAMS lists one the app is not in (its people would be refused).
"""

from __future__ import annotations

from typing import Any

from slack_sdk import WebClient

from bot.domain.errors import RokBotError
from bot.domain.identity import parse_team_ids, workspace_of


class InstallProblem(RokBotError):
    """The org-wide install cannot serve the workspaces it should."""


def describe_install(client: WebClient, *, teams: str | None = None) -> str:
    """One line: the install's kind, and on an org install the workspaces it is in; InstallProblem if unusable."""
    auth: dict[str, Any] = dict(client.auth_test().data)  # type: ignore[arg-type]
    workspace = workspace_of(auth, teams=teams)
    if not workspace.org_wide:
        where = f" of enterprise {workspace.enterprise_id}" if workspace.enterprise_id else ""
        return f"workspace install: team {workspace.team_id}{where} (is_enterprise_install: false)"
    found = teams_of(client)
    if not found:
        raise InstallProblem(
            "The org-wide install is in no workspace yet: an org admin must add the app to workspaces.",
            detail=f"auth.teams.list is empty for enterprise {workspace.enterprise_id}",
        )
    missing = sorted((parse_team_ids(teams) or frozenset()) - set(found))
    if missing:
        raise InstallProblem(
            f"ROK_BOT_SLACK_TEAMS lists workspaces the app is not in: {', '.join(missing)}; add it there.",
        )
    names = ", ".join(f"{team_id} ({name})" if name else team_id for team_id, name in sorted(found.items()))
    return f"org-wide install of {workspace.enterprise_id} (is_enterprise_install: true); in {len(found)}: {names}"


def teams_of(client: WebClient) -> dict[str, str]:
    """Every workspace the org-wide app is in, `{team_id: name}`, following the cursor."""
    found: dict[str, str] = {}
    cursor: str | None = None
    while True:
        page = client.auth_teams_list(cursor=cursor, limit=100)
        for team in page.get("teams") or []:
            found[str(team.get("id"))] = str(team.get("name") or "")
        cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
        if not cursor:
            return found
