"""The approvals channel on Slack (the `ApprovalBoard` port): requests with Approve and Deny, their outcome
edited into the same message with `chat.update`, and what the requester is told about their request.

The channel never sees a token: the token goes to the requester's own private message, through the issue
use case, like any other. What the requester is told after the fact goes to their DM with the bot as an
ordinary (persistent) message: an approval may come hours after the slash command, when its response_url
has long expired and the requester may be away, and Slack silently drops an ephemeral message to a user who
is not there. So an approval is a persistent DM with a Show my token button; the token is minted and shown
ephemerally when they click it, and that DM is edited once shown or lapsed (never with the token). Slack
errors are logged and counted, never raised.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.models.blocks import Block
from slack_sdk.web import SlackResponse

from bot.domain.approvals import PendingRequest, RequestStatus
from bot.domain.lifecycle import Posted
from bot.domain.models import RequestContext
from bot.domain.policy import ApprovalRules
from bot.runtime import metrics
from bot.slack.blocks import (
    approval_decided_message,
    approval_outcome_notice,
    approval_request_message,
    approval_shown_notice,
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

    def decided(self, request: PendingRequest) -> Posted | None:
        """Edit the request's message to its outcome (no buttons left) and tell the requester in their DM: an
        approval as a new message with Show my token (where it is, None when Slack refused), a lapsed approval
        by editing that message, anything else as a new message."""
        if request.channel and request.message_ts:
            self._update(request.channel, request.message_ts, *approval_decided_message(request))
        text, blocks = approval_outcome_notice(request)
        if request.status is RequestStatus.APPROVED:
            return self._post_dm(request.user_id, text, blocks)
        if request.status is RequestStatus.LAPSED and request.dm_channel and request.dm_ts:
            self._update(request.dm_channel, request.dm_ts, text, blocks)
            return None
        self._replies.direct(request.user_id, text, blocks)
        return None

    def shown(self, request: PendingRequest) -> None:
        """Edit the requester's Show-my-token message once its token was shown: no button left, never the token."""
        if request.dm_channel and request.dm_ts:
            self._update(request.dm_channel, request.dm_ts, *approval_shown_notice(request))

    def _update(self, channel: str, ts: str, text: str, blocks: list[Block]) -> None:
        self._call("chat.update", lambda: self._client.chat_update(channel=channel, ts=ts, text=text, blocks=blocks))

    def _post_dm(self, user_id: str, text: str, blocks: list[Block]) -> Posted | None:
        """A persistent message in the user's DM with the bot: where it is, None when Slack refused."""
        opened = self._call("conversations.open", lambda: _data(self._client.conversations_open(users=user_id)))
        where = (opened or {}).get("channel")
        channel = str(where.get("id") or "") if isinstance(where, dict) else ""
        if not channel:
            return None
        answer = self._call(
            "chat.postMessage",
            lambda: _data(self._client.chat_postMessage(channel=channel, text=text, blocks=blocks, unfurl_links=False)),
        )
        return Posted(str(answer.get("channel") or channel), str(answer["ts"])) if answer and "ts" in answer else None

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


def _data(response: SlackResponse) -> dict[str, object]:
    """A Web API answer's JSON object ({} when Slack sent something else)."""
    return dict(response.data) if isinstance(response.data, dict) else {}
