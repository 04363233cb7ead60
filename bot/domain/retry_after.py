"""Retry-After, as a sink's answer to a rate limit: obeyed only within bounds.

A SIEM gateway with a daily quota answers `Retry-After: 86400`, a broken proxy `inf` or `-5`. Obeyed as given,
the first parks an `issued` event for a day and the second crashed the audit sender's round (a timedelta
overflow; slack_sdk sleeping a negative time). So both sinks, and the reminder sweep pacing itself after
Slack's 429, read the header here: RFC 9110's delay-seconds (digits only), clamped to 1..300 seconds. Anything
else (an HTTP date, a float, a sign, garbage) is ignored, and the sender's own backoff applies.
"""

from __future__ import annotations

import math

RETRY_AFTER_MIN = 1.0  # "retry now" still waits a second: no hot loop against a sink that said no
RETRY_AFTER_MAX = 300.0  # the outbox's longest backoff: an audit event is never parked longer by a header
_MAX_DIGITS = 12  # more than any sane wait; longer runs of digits count as "very long" without int() on them


def delay_seconds(value: object) -> int | None:
    """The header's delay-seconds as given (unbounded), or None when it is not one.

    Takes a header value as httpx gives it (a str) or as slack_sdk does (a list of str)."""
    if isinstance(value, list | tuple):
        value = value[0] if value else None
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not text or not text.isascii() or not text.isdigit():
        return None
    return int(text) if len(text) <= _MAX_DIGITS else 10**_MAX_DIGITS


def clamp_wait(seconds: float) -> float:
    """A wait asked for by a sink, within RETRY_AFTER_MIN..RETRY_AFTER_MAX (NaN counts as the longest)."""
    if math.isnan(seconds):
        return RETRY_AFTER_MAX
    return min(max(seconds, RETRY_AFTER_MIN), RETRY_AFTER_MAX)


def retry_after_wait(value: object) -> float | None:
    """Seconds to wait before retrying, from a Retry-After header value; None to use the usual backoff."""
    seconds = delay_seconds(value)
    return None if seconds is None else clamp_wait(float(seconds))
