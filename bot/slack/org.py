"""Enterprise Grid, org-wide install: the workspaces the app is in change while the bot runs.

An org admin adds the app to workspaces, or removes it; Slack tells the bot with `team_access_granted` and
`team_access_revoked` (`event.team_ids`). Each is audited (which workspaces) and updates the served set at
once, so a request from a workspace the app just left is refused at the ack like any other-workspace request.
The set is per replica: another replica learns of the change from its own copy of the event or, after a
restart, from Slack no longer sending that workspace's requests.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import App

from bot.domain.audit import AuditEvent, Outcome
from bot.domain.patterns import SLACK_TEAM_ID
from bot.slack.app import SlackFrontEnd

log = logging.getLogger(__name__)


def team_ids_of(event: dict[str, Any]) -> list[str]:
    """The well-formed workspace IDs an access event names, sorted, each once."""
    return sorted({str(t) for t in event.get("team_ids") or [] if SLACK_TEAM_ID.fullmatch(str(t))})


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
