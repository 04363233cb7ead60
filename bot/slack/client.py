"""The bot's Slack Web API client: slack_sdk's `WebClient`, which answers the auth.test Bolt's App makes when it
is built with the one the server made a moment before.

Bolt verifies its token with auth.test as the App is built (`token_verification_enabled`; without it, the first
request would call auth.test inside the ack path). The server has just called auth.test itself, first thing,
with retries, to learn the workspace (`BotServer._auth_test`): a second round trip to Slack at every start (0.1
to 0.3 s from a cluster) says nothing new. `verified(answer)` hands that answer to the next auth.test asked with
this client's own token, once; every other call goes to Slack.
"""

from __future__ import annotations

from typing import Any

from slack_sdk import WebClient
from slack_sdk.web import SlackResponse


class SlackClient(WebClient):
    _verified: SlackResponse | None = None

    def verified(self, answer: SlackResponse) -> None:
        """`answer`, Slack's auth.test of this client's token just now, serves the next auth.test of that token."""
        self._verified = answer

    def auth_test(self, **kwargs: Any) -> SlackResponse:
        answer, self._verified = self._verified, None
        if answer is not None and set(kwargs) <= {"token"} and kwargs.get("token", self.token) == self.token:
            return answer
        return super().auth_test(**kwargs)
