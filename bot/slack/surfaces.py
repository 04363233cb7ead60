"""The `Surfaces` port on Slack: the Home tab (views.publish), the get-token form (views.open), the token
list and `/rok-token who` (private replies), and the expiry reminder (a persistent DM: conversations.open +
chat.postMessage, edited with chat.update after a renewal or a dismissal).

Slack errors are logged and counted, never raised (as in `bot.slack.replies`): the use case decides what a
failure means. Nothing here ever carries a token.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.domain.holders import Holdings, WhoRefusal
from bot.domain.lifecycle import Deferred, HomeView, Posted, Reminder, TokenForm, TokenList
from bot.domain.models import RequestContext
from bot.domain.retry_after import retry_after_wait
from bot.runtime import metrics
from bot.slack.holders import who_message, who_refused_message
from bot.slack.replies import SlackReplies
from bot.slack.views import dismissed_message, form_view, home_view, list_message, reminder_message, renewed_message

log = logging.getLogger(__name__)


class SlackSurfaces:
    """The Home tab, the form, the list and the reminder, on Slack's Web API."""

    def __init__(self, client: WebClient, *, replies: SlackReplies) -> None:
        self._client = client
        self._replies = replies

    def publish_home(self, home: HomeView) -> bool:
        return self._call(
            "views.publish", lambda: self._client.views_publish(user_id=home.user_id, view=home_view(home))
        )

    def open_form(self, *, trigger: str, form: TokenForm) -> bool:
        return self._call("views.open", lambda: self._client.views_open(trigger_id=trigger, view=form_view(form)))

    def token_list(self, ctx: RequestContext, tokens: TokenList) -> None:
        if ctx.reply_to:
            self._replies.respond(ctx.reply_to, *list_message(tokens))

    def who(self, ctx: RequestContext, answer: Holdings | WhoRefusal) -> None:
        if isinstance(answer, WhoRefusal):
            text, blocks = who_refused_message(answer, request_id=ctx.request_id)
        else:
            text, blocks = who_message(answer)
        if ctx.reply_to:
            self._replies.respond(ctx.reply_to, text, blocks)

    def remind(self, reminder: Reminder) -> Posted | Deferred | None:
        """Post the reminder; `Deferred` when Slack could not take it now (429, 5xx, unreachable: slack_sdk's
        retries are spent and nothing was posted), None when Slack refused it (logged and counted)."""
        method = "conversations.open"
        try:
            channel = self._client.conversations_open(users=reminder.user_id)["channel"]["id"]
            text, blocks = reminder_message(reminder)
            method = "chat.postMessage"
            answer = self._client.chat_postMessage(channel=channel, text=text, blocks=blocks)
        except SlackApiError as exc:
            status = int(getattr(exc.response, "status_code", 200) or 200)
            deferred = status == 429 or status >= 500
            self._failed(method, str(exc.response.get("error", "unknown")), deferred=deferred)
            return Deferred(_retry_after(exc.response.headers)) if deferred else None
        except (SlackClientError, OSError) as exc:
            self._failed(method, type(exc).__name__, deferred=True)
            return Deferred()
        return Posted(str(answer["channel"]), str(answer["ts"]))

    def renewed(self, posted: Posted, *, old: Reminder, new_uuid: str | None, new_expires_at: datetime) -> None:
        text, blocks = renewed_message(old, new_uuid=new_uuid, new_expires_at=new_expires_at)
        self._call(
            "chat.update",
            lambda: self._client.chat_update(channel=posted.channel, ts=posted.ts, text=text, blocks=blocks),
        )

    def dismissed(self, posted: Posted, *, reminder: Reminder) -> None:
        text, blocks = dismissed_message(reminder)
        self._call(
            "chat.update",
            lambda: self._client.chat_update(channel=posted.channel, ts=posted.ts, text=text, blocks=blocks),
        )

    @staticmethod
    def _failed(method: str, error: str, *, deferred: bool) -> None:
        metrics.SLACK_API_ERRORS.labels(method, error).inc()
        said = "Slack could not take a reminder now" if deferred else "Slack refused a call"
        log.warning(said, extra={"method": method, "error": error})

    @staticmethod
    def _call(method: str, call: Callable[[], Any]) -> bool:
        """Run one Slack call; False (logged and counted by method and error) when Slack or the network failed."""
        try:
            call()
        except SlackApiError as exc:
            error = str(exc.response.get("error", "unknown"))
            metrics.SLACK_API_ERRORS.labels(method, error).inc()
            log.warning("Slack refused a call", extra={"method": method, "error": error})
            return False
        except (SlackClientError, OSError) as exc:
            metrics.SLACK_API_ERRORS.labels(method, type(exc).__name__).inc()
            log.warning("Slack call failed", extra={"method": method, "error": type(exc).__name__})
            return False
        return True


def _retry_after(headers: Any) -> float | None:
    """The Retry-After of a Slack answer, in seconds within bounds; None when it has none that parses."""
    for key, value in dict(headers or {}).items():
        if str(key).lower() == "retry-after":
            return retry_after_wait(value)  # within 1..300 s, the same rule as the audit sinks'
    return None
