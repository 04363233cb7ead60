"""Retry-After, read by the audit sinks and the reminder sweep: delay-seconds, clamped to 1..300 s; nothing else."""

from __future__ import annotations

import pytest

from bot.domain.retry_after import RETRY_AFTER_MAX, RETRY_AFTER_MIN, delay_seconds, retry_after_wait


@pytest.mark.parametrize(
    ("header", "wait"),
    [
        ("30", 30.0),
        (" 7 ", 7.0),
        (["12"], 12.0),  # slack_sdk gives header values as lists
        ("0", RETRY_AFTER_MIN),  # "now" still waits a second: no hot loop against a sink that said no
        ("86400", RETRY_AFTER_MAX),  # a gateway's daily quota parks nothing for a day
        ("99999999999999999999999", RETRY_AFTER_MAX),
        ("9" * 5000, RETRY_AFTER_MAX),  # longer than int() takes
    ],
)
def test_delay_seconds_are_clamped_to_one_to_three_hundred(header: object, wait: float) -> None:
    assert retry_after_wait(header) == wait


@pytest.mark.parametrize(
    "header",
    ["inf", "-inf", "nan", "-5", "1e12", "1.5", "", "soon", "Wed, 21 Oct 2015 07:28:00 GMT", None, [], 30, "٣"],
)
def test_what_is_not_delay_seconds_is_ignored_for_the_usual_backoff(header: object) -> None:
    assert delay_seconds(header) is None
    assert retry_after_wait(header) is None
