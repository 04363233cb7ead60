"""The counts of a window: per outcome (refusals and failures per kind), per user, from audit records (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from bot.domain.activity import activity_records, activity_table, reason_kind, tally

START = datetime(2026, 12, 1, tzinfo=UTC)
END = START + timedelta(days=7)


def _records() -> list[dict[str, Any]]:
    def rec(outcome: str, user: str | None, reason: str | None = None) -> dict[str, Any]:
        return {"outcome": outcome, "slack_user": user, "reason": reason, "request_id": "r"}

    return [
        rec("started", None),
        rec("issued", "U1"),
        rec("issued", "U1"),
        rec("break_glass", "U2", "incident 4711"),
        rec("refused", "U1", "limit_exceeded: You have had 5 tokens"),
        rec("refused", "U3", "limit_exceeded: wait 2m"),
        rec("refused", "U3", "access_denied: not in the workspace"),
        rec("failed", "U2", "exec_timeout: the cluster did not answer"),
        rec("approval_requested", "U1", "asked for 7d: training"),
        rec("approved", "U1", "asked for 7d: training"),
        rec("denied", "U3"),
        rec("lapsed", "U3"),
        rec("undelivered", "U2", "delivery_error: ..."),
        rec("possibly_minted", "U2", "exec_timeout: ..."),
        rec("some_future_outcome", "U9"),
        rec("stopped", None),
    ]


def test_a_refusal_is_counted_by_the_kind_before_its_colon() -> None:
    assert reason_kind("limit_exceeded: You have had 5 tokens") == "limit_exceeded"
    assert reason_kind("quota") == "other" and reason_kind(None) == "other"
    assert reason_kind("Not a kind: x") == "other"


def test_counts_per_outcome_and_reason_and_per_user_without_the_bots_own_start_and_stop() -> None:
    activity = tally(_records(), start=START, end=END)
    assert activity.totals[("refused", "limit_exceeded")] == 2
    assert activity.totals[("refused", "access_denied")] == 1
    assert activity.totals[("failed", "exec_timeout")] == 1
    assert activity.totals[("issued", "")] == 2 and activity.totals[("break_glass", "")] == 1
    assert ("started", "") not in activity.totals and ("stopped", "") not in activity.totals
    assert activity.outcomes[:2] == ["issued", "refused"] and activity.outcomes[-1] == "some_future_outcome"
    assert dict(activity.per_user["U1"]) == {"issued": 2, "refused": 1, "approval_requested": 1, "approved": 1}
    assert dict(activity.per_user["U3"]) == {"refused": 2, "denied": 1, "lapsed": 1}


def test_records_all_then_per_user_and_a_table_with_both() -> None:
    activity = tally(_records(), start=START, end=END)
    records = activity_records(activity)
    first = records[0]
    assert first == {"scope": "all", "slack_user": None, "outcome": "issued", "reason": None, "count": 2}
    refused = [r for r in records if r["scope"] == "all" and r["outcome"] == "refused"]
    assert [(r["reason"], r["count"]) for r in refused] == [("limit_exceeded", 2), ("access_denied", 1)]
    users = [r for r in records if r["scope"] == "user"]
    assert {"scope": "user", "slack_user": "U2", "outcome": "break_glass", "reason": None, "count": 1} in users
    assert [r["slack_user"] for r in users] == sorted(r["slack_user"] for r in users)  # type: ignore[type-var]
    table = activity_table(activity)
    assert table.startswith("audit events from 2026-12-01T00:00:00Z to 2026-12-08T00:00:00Z")
    assert "OUTCOME" in table and "limit_exceeded" in table and "SLACK USER" in table and "TOTAL" in table
    assert activity_table(tally([], start=START, end=END)).endswith(": none")
