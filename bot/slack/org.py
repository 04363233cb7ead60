"""Enterprise Grid, org-wide install: the workspaces the app is in change while the bot runs.

An org admin adds the app to workspaces, or removes it; Slack tells the bot with `team_access_granted` and
`team_access_revoked` (`event.team_ids`). Each is audited (which workspaces) and updates the served set at
once, so a request from a workspace the app just left is refused at the ack like any other-workspace request.
Slack delivers each event to one replica (one Socket Mode connection, or one pod behind the Service), so
every replica also asks `auth.teams.list` at start and every minute (`refresh_teams`): a replica that missed
the event refuses the workspace within a minute, and one that starts later never serves it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import App
from slack_sdk import WebClient

from bot.domain.audit import AuditEvent, Outcome
from bot.domain.identity import Workspace
from bot.domain.patterns import SLACK_TEAM_ID
from bot.runtime.upkeep import Loop
from bot.slack.app import SlackFrontEnd
from bot.slack.install import teams_of

TEAMS_SECONDS = 60.0  # how often each replica asks auth.teams.list which workspaces the app is in

log = logging.getLogger(__name__)


def team_ids_of(event: dict[str, Any]) -> list[str]:
    """The well-formed workspace IDs an access event names, sorted, each once."""
    return sorted({str(t) for t in event.get("team_ids") or [] if SLACK_TEAM_ID.fullmatch(str(t))})


def refresh_teams(client: WebClient, workspace: Workspace) -> None:
    """Ask `auth.teams.list` which workspaces the org-wide app is in, and serve those (an access event heard
    meanwhile still stands). A failure leaves what this replica knew; the upkeep loop asks again."""
    asked_at = workspace.access.asking()
    found = teams_of(client)
    before = workspace.access.present()
    workspace.access.learn(found, asked_at=asked_at)
    if before is not None and before != frozenset(found):
        log.info(
            "workspaces the app is in changed",
            extra={"added": sorted(set(found) - before), "removed": sorted(before - set(found))},
        )


def org_loops(client: WebClient, workspace: Workspace) -> list[Loop]:
    """The upkeep's rounds on an org-wide install: ask Slack every minute which workspaces the app is in."""
    if not workspace.org_wide:
        return []
    return [Loop("slack-teams", TEAMS_SECONDS, lambda: refresh_teams(client, workspace), at_start=False)]


def register_org(app: App, bot: SlackFrontEnd) -> None:
    """Attach the workspace-access listeners (harmless on a workspace install: Slack never sends them)."""

    def on_change(granted: bool, ack: Callable[..., None], body: dict[str, Any], context: dict[str, Any]) -> None:
        ack()
        event = body.get("event") or {}
        teams = team_ids_of(event)
        workspace = bot.ports.identity.workspace
        if granted:
            workspace.grant(teams)
        else:
            workspace.revoke(teams)
        log.info("workspace access changed", extra={"granted": granted, "teams": teams})
        record = AuditEvent(
            outcome=Outcome.ACCESS_GRANTED if granted else Outcome.ACCESS_REVOKED,
            request_id=str(context.get("request_id") or "org"),
            reason="workspaces: " + (", ".join(teams) or "none named"),
            enterprise_id=body.get("enterprise_id") or workspace.enterprise_id,
            occurred_at=bot.ports.clock.now(),
        )
        # The audit is I/O: after the ack, on the job runner.
        bot.jobs.submit(lambda: bot.ports.audit.record(record), context=None)

    @app.event("team_access_granted")
    def on_granted(ack: Callable[..., None], body: dict[str, Any], context: dict[str, Any]) -> None:
        on_change(True, ack, body, context)

    @app.event("team_access_revoked")
    def on_revoked(ack: Callable[..., None], body: dict[str, Any], context: dict[str, Any]) -> None:
        on_change(False, ack, body, context)
