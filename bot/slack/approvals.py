"""The approvals channel on Slack (the `ApprovalBoard` port): requests with Approve and Deny, their outcome
edited into the same message with `chat.update`, and what the requester is told about their request.

The channel never sees a token: the token goes to the requester's own private message, through the issue
use case, like any other. What the requester is told after the fact goes to their DM with the bot as an
ordinary (persistent) message: an approval may come hours after the slash command, when its response_url
has long expired and the requester may be away. Slack errors are logged and counted, never raised.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.models.blocks import Block

from bot.domain.approvals import PendingRequest
from bot.domain.models import RequestContext
from bot.domain.policy import ApprovalRules
from bot.runtime import metrics
from bot.slack.blocks import (
    approval_decided_message,
    approval_outcome_notice,
    approval_request_message,
    approval_submitted_notice,
)
from bot.slack.replies import SlackReplies

log = logging.getLogger(__name__)


class SlackApprovalBoard:
    """Posts requests to the approvals channel, edits them once decided, and tells the requester."""

    def __init__(self, client: WebClient, *, rules: ApprovalRules, replies: SlackReplies, minimum: int) -> None:
        self._client = client
        self._rules = rules
        self._replies = replies
        self._minimum = minimum  # the shortest duration an approver may pick

    def post(self, request: PendingRequest) -> tuple[str, str] | None:
        """The request, with Approve and Deny, in the approvals channel: (channel, ts), None when Slack refused."""
        text, blocks = approval_request_message(request, rules=self._rules, minimum=self._minimum)
        answer = self._call("chat.postMessage", lambda: self._post(text, blocks))
        if answer is None:
            return None
        return str(answer["channel"]), str(answer["ts"])

    def submitted(self, ctx: RequestContext, request: PendingRequest) -> None:
        """Tell the requester privately that the request went to approval, and to whom."""
        text, blocks = approval_submitted_notice(request, rules=self._rules)
        if not (ctx.reply_to and self._replies.respond(ctx.reply_to, text, blocks)):
            self._replies.direct(request.user_id, text, blocks)

    def decided(self, request: PendingRequest, *, issued: bool | None) -> None:
        """Edit the request's message to its outcome (no buttons left) and tell the requester in their DM."""
        if request.channel and request.message_ts:
            text, blocks = approval_decided_message(request, issued=issued)
            channel, ts = request.channel, request.message_ts
            self._call(
                "chat.update",
                lambda: self._client.chat_update(channel=channel, ts=ts, text=text, blocks=blocks),
            )
        self._replies.direct(request.user_id, *approval_outcome_notice(request, issued=issued))

    def _post(self, text: str, blocks: list[Block]) -> dict[str, object]:
        answer = self._client.chat_postMessage(
            channel=self._rules.channel, text=text, blocks=blocks, unfurl_links=False
        )
        return dict(answer.data) if isinstance(answer.data, dict) else {}

    def _call(self, method: str, call: Callable[[], object]) -> dict[str, object] | None:
        try:
            answer = call()
        except SlackApiError as exc:
            error = str(exc.response.get("error", "unknown")) if exc.response is not None else "unknown"
            metrics.SLACK_API_ERRORS.labels(method, error).inc()
            log.warning("approvals channel: Slack refused", extra={"method": method, "error": error})
            return None
        except (SlackClientError, OSError) as exc:
            metrics.SLACK_API_ERRORS.labels(method, type(exc).__name__).inc()
            log.warning("approvals channel: Slack unreachable", extra={"method": method, "error": type(exc).__name__})
            return None
        return answer if isinstance(answer, dict) else {}
