"""Private answers on Slack (the `Replies` port): the token message, notices, help and Verify verdicts.

The token goes as an ephemeral message in the user's DM with the bot (`conversations.open` +
`chat.postEphemeral`), with the request's `response_url` as the fallback. Short answers go to the
`response_url`. Slack errors are logged and counted, never raised: the use case decides what a failed
delivery means.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.models.blocks import Block
from slack_sdk.webhook import WebhookClient

from bot.domain.models import HelpInfo, IssuedToken, RequestContext, VerifyResult
from bot.domain.routing import RegistryOffer
from bot.domain.urls import is_http_url
from bot.runtime import metrics
from bot.runtime.clock import Clock
from bot.slack.blocks import help_message, notice, token_message, verify_message
from bot.slack.chooser import chooser_message

log = logging.getLogger(__name__)

COMMAND = "/rok-token"
# A `reply_to` handle for requests Slack gives no response_url (the Home tab, a modal): answer with an
# ephemeral message in the user's DM with the bot, as the token itself goes.
DM_PREFIX = "dm:"


def dm_reply(user_id: str) -> str:
    """The reply_to handle that answers a user in their DM with the bot."""
    return DM_PREFIX + user_id


class SlackReplies:
    """Ephemeral DMs with a response_url fallback, and response_url answers."""

    def __init__(
        self,
        client: WebClient,
        *,
        webhook_factory: Callable[[str], WebhookClient],
        clock: Clock,
    ) -> None:
        self._client = client
        self._webhook = webhook_factory
        self._clock = clock

    # -- the Replies port ---------------------------------------------------------------------------

    def token(self, ctx: RequestContext, issued: IssuedToken, *, verify_value: str) -> bool:
        text, blocks = token_message(
            issued, verify_value=verify_value, request_id=ctx.request_id, now=self._clock.now()
        )
        return self.dm_ephemeral(ctx.user_id, text, blocks) or (
            ctx.reply_to is not None and self.respond(ctx.reply_to, text, blocks)
        )

    def notice(self, ctx: RequestContext, text: str) -> None:
        if ctx.reply_to:
            self.respond(ctx.reply_to, *notice(text, request_id=ctx.request_id))
        elif ctx.notify_dm:
            self.direct(ctx.user_id, *notice(text, request_id=ctx.request_id))

    def undelivered(self, ctx: RequestContext, text: str) -> None:
        try:
            channel = self._client.conversations_open(users=ctx.user_id)["channel"]["id"]
            self._client.chat_postMessage(channel=channel, text=text)
        except (SlackClientError, OSError):
            log.warning("could not send the undelivered notice to the user")

    def help(self, ctx: RequestContext, info: HelpInfo) -> None:
        if ctx.reply_to:
            self.respond(ctx.reply_to, *help_message(info, command=COMMAND))

    def verified(self, ctx: RequestContext, result: VerifyResult, *, checked_ago: int | None) -> None:
        if ctx.reply_to:
            self.respond(ctx.reply_to, *verify_message(result, now=self._clock.now(), checked_ago=checked_ago))

    def chooser(self, ctx: RequestContext, offer: RegistryOffer) -> None:
        text, blocks = chooser_message(offer, request_id=ctx.request_id)
        if ctx.reply_to:
            self.respond(ctx.reply_to, text, blocks)
        else:
            self.dm_ephemeral(ctx.user_id, text, blocks)

    # -- transports ---------------------------------------------------------------------------------

    def respond(self, response_url: str, text: str, blocks: list[Block]) -> bool:
        """Post an ephemeral reply to a response_url (or a `dm_reply` handle); False when it failed (logged and
        counted)."""
        if response_url.startswith(DM_PREFIX):
            return self.dm_ephemeral(response_url.removeprefix(DM_PREFIX), text, blocks)
        if not is_http_url(response_url):  # a forged or mangled payload's: nowhere to answer, not a bug of ours
            metrics.SLACK_API_ERRORS.labels("response_url", "malformed").inc()
            log.warning("response_url post failed", extra={"error": "not an http(s) URL"})
            return False
        try:
            result = self._webhook(response_url).send(
                text=text, blocks=blocks, response_type="ephemeral", replace_original=False
            )
        except (SlackClientError, OSError) as exc:
            metrics.SLACK_API_ERRORS.labels("response_url", type(exc).__name__).inc()
            log.warning("response_url post failed", extra={"error": type(exc).__name__})
            return False
        if result.status_code != 200:
            metrics.SLACK_API_ERRORS.labels("response_url", str(result.status_code)).inc()
            log.warning("response_url post failed", extra={"status": result.status_code})
            return False
        return True

    def direct(self, user_id: str, text: str, blocks: list[Block]) -> bool:
        """A message that stays in the user's DM with the bot (never a secret: anyone at their screen sees it)."""
        method = "conversations.open"
        try:
            channel = self._client.conversations_open(users=user_id)["channel"]["id"]
            method = "chat.postMessage"
            self._client.chat_postMessage(channel=channel, text=text, blocks=blocks, unfurl_links=False)
        except (SlackClientError, OSError) as exc:
            error = str(exc.response.get("error", "unknown")) if isinstance(exc, SlackApiError) else type(exc).__name__
            metrics.SLACK_API_ERRORS.labels(method, error).inc()
            log.warning("direct message failed", extra={"method": method, "error": error})
            return False
        return True

    def dm_ephemeral(self, user_id: str, text: str, blocks: list[Block]) -> bool:
        """Post an ephemeral message in the user's DM with the bot; False when Slack refused."""
        method = "conversations.open"
        try:
            channel = self._client.conversations_open(users=user_id)["channel"]["id"]
            method = "chat.postEphemeral"
            self._client.chat_postEphemeral(channel=channel, user=user_id, text=text, blocks=blocks)
        except SlackApiError as exc:
            error = str(exc.response.get("error", "unknown"))
            metrics.SLACK_API_ERRORS.labels(method, error).inc()
            log.warning("private message failed", extra={"method": method, "error": error})
            return False
        except (SlackClientError, OSError) as exc:
            metrics.SLACK_API_ERRORS.labels(method, type(exc).__name__).inc()
            log.warning("private message failed", extra={"method": method, "error": type(exc).__name__})
            return False
        return True
