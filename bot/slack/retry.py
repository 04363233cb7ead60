"""Retries for Slack calls: 429 after Retry-After, 5xx and connection errors with backoff, all bounded.

slack_sdk's rate-limit handler sleeps whatever Retry-After says; a delivery that would wait longer than
`max_wait` (or is not a whole number of seconds) fails instead, so a job never hangs for minutes and the user
hears back.
"""

from __future__ import annotations

from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.http_retry.handler import RetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

from bot.domain.retry_after import delay_seconds

MAX_RETRY_AFTER = 10.0
MAX_RETRIES = 2


class BoundedRateLimitRetryHandler(RateLimitErrorRetryHandler):
    """Retry a 429 after Retry-After, unless Slack asks for a wait longer than `max_wait` seconds."""

    def __init__(self, *, max_retry_count: int = MAX_RETRIES, max_wait: float = MAX_RETRY_AFTER) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self.max_wait = max_wait

    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if response is None or response.status_code != 429:
            return False
        for key, values in response.headers.items():
            if key.lower() == "retry-after" and values:
                # Digits only: slack_sdk sleeps int(value), which raises on "1.5" and on a negative sleep.
                seconds = delay_seconds(values)
                return seconds is not None and seconds <= self.max_wait
        return True


def retry_handlers() -> list[RetryHandler]:
    """The handlers every Slack client of the bot uses; worst case about 2 retries of 10 s plus backoff."""
    return [
        BoundedRateLimitRetryHandler(),
        ServerErrorRetryHandler(max_retry_count=MAX_RETRIES),
        ConnectionErrorRetryHandler(max_retry_count=MAX_RETRIES),
    ]
