"""Break-glass's loud notice (the `BreakGlassAlarm` port on Slack): an `@here` message in the approvals
channel, or in the audit channel when the policy has no approvals section, so a token taken without an
approval is seen by people at once, not only by whoever reads the audit lines later.

Slack errors are logged and counted, never raised: the token is delivered and audited already.
"""

from __future__ import annotations

import logging

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.domain.audit import AuditEvent
from bot.runtime import metrics
from bot.slack.blocks import break_glass_notice

log = logging.getLogger(__name__)


class SlackBreakGlassAlarm:
    """Posts the break-glass notice to one channel."""

    def __init__(self, client: WebClient, *, channel: str) -> None:
        self._client = client
        self.channel = channel

    def announce(self, event: AuditEvent) -> None:
        """An `@here` notice of a break-glass token: who, for whom, how long, why; never the token."""
        text, blocks = break_glass_notice(event)
        try:
            self._client.chat_postMessage(
                channel=self.channel, text=text, blocks=blocks, unfurl_links=False, unfurl_media=False
            )
        except SlackApiError as exc:
            error = str(exc.response.get("error", "unknown")) if exc.response is not None else "unknown"
            metrics.SLACK_API_ERRORS.labels("chat.postMessage", error).inc()
            log.warning("break-glass notice: Slack refused", extra={"channel": self.channel, "error": error})
        except (SlackClientError, OSError) as exc:
            metrics.SLACK_API_ERRORS.labels("chat.postMessage", type(exc).__name__).inc()
            log.warning(
                "break-glass notice: Slack unreachable", extra={"channel": self.channel, "error": type(exc).__name__}
            )
