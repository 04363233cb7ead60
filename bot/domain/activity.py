"""What happened between two instants: counts per outcome and per user, from the audit events (pure).

The audit events, not the ledger: the ledger holds a row only for a place taken in a quota (a token minted, or
one being minted), while the events also say who was refused and why, every approval asked, decided or
lapsed, and the possibly minted and undelivered tokens, under one vocabulary (`Outcome`). So the events are
the one source that has every outcome the report counts. Refusals and failures are counted by their kind, the
stable name before the colon of their `reason` (`limit_exceeded: You have had 5 tokens...`). The bot's own
start and stop are not requests and are left out.

An event counts in the window when it occurred at or after `start` and before `end`. Events older than the
retention are pruned (refusals after ROK_BOT_REFUSAL_RETENTION, a week by default): a window reaching back
further counts only what is left, which `rok-token-bot report` says.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Final

import msgspec

from bot.domain.audit import Outcome
from bot.domain.export import Record, to_table, utc_iso

NOT_COUNTED: Final = frozenset({Outcome.STARTED, Outcome.STOPPED})
BY_REASON: Final = frozenset({Outcome.REFUSED, Outcome.FAILED})
ACTIVITY_FIELDS: Final = ("scope", "slack_user", "outcome", "reason", "count")
_KIND = re.compile(r"([a-z][a-z0-9_]{0,63}):")
_ORDER: Final = {str(o): n for n, o in enumerate(Outcome)}


class Activity(msgspec.Struct, frozen=True):
    """Counts of the audit events that occurred in [start, end)."""

    start: datetime
    end: datetime
    totals: Counter[tuple[str, str]] = msgspec.field(default_factory=Counter)  # (outcome, reason kind or "") -> events
    # Slack user (the requester) -> outcome -> events
    per_user: dict[str, Counter[str]] = msgspec.field(default_factory=dict)

    @property
    def outcomes(self) -> list[str]:
        """The outcomes counted, in the vocabulary's order (an outcome this code does not know: last)."""
        return sorted({o for o, _ in self.totals}, key=lambda o: (_ORDER.get(o, len(_ORDER)), o))


def reason_kind(reason: object) -> str:
    """The kind a refusal or failure names before its colon (`limit_exceeded`); `other` when it names none."""
    found = _KIND.match(reason) if isinstance(reason, str) else None
    return found.group(1) if found else "other"


def tally(records: Iterable[Mapping[str, Any]], *, start: datetime, end: datetime) -> Activity:
    """Count the audit records (`AuditEvent.as_record()` shapes) the caller selected for [start, end)."""
    activity = Activity(start=start, end=end)
    for record in records:
        outcome = str(record.get("outcome") or "")
        if not outcome or outcome in NOT_COUNTED:
            continue
        reason = reason_kind(record.get("reason")) if outcome in BY_REASON else ""
        activity.totals[(outcome, reason)] += 1
        user = record.get("slack_user")
        if isinstance(user, str) and user:
            activity.per_user.setdefault(user, Counter())[outcome] += 1
    return activity


def _totals(activity: Activity) -> list[tuple[str, str, int]]:
    """(outcome, reason, count), outcomes in order, each outcome's reasons most frequent first."""
    rows = [(o, r, n) for (o, r), n in activity.totals.items()]
    return sorted(rows, key=lambda row: (_ORDER.get(row[0], len(_ORDER)), row[0], -row[2], row[1]))


def activity_records(activity: Activity) -> list[Record]:
    """The counts as records with `ACTIVITY_FIELDS`: scope `all` per outcome (and reason), then scope `user`
    per user and outcome (users sorted)."""
    records: list[Record] = [
        {"scope": "all", "slack_user": None, "outcome": o, "reason": r or None, "count": n}
        for o, r, n in _totals(activity)
    ]
    for user in sorted(activity.per_user):
        counts = activity.per_user[user]
        records += [
            {"scope": "user", "slack_user": user, "outcome": o, "reason": None, "count": counts[o]}
            for o in activity.outcomes
            if counts[o]
        ]
    return records


def activity_table(activity: Activity) -> str:
    """Two aligned tables for a terminal: the counts per outcome (refusals and failures per reason), then one
    row per user with a column per outcome."""
    title = f"audit events from {utc_iso(activity.start)} to {utc_iso(activity.end)}"
    if not activity.totals:
        return f"{title}: none"
    totals = to_table(("OUTCOME", "REASON", "COUNT"), [(o, r or "-", str(n)) for o, r, n in _totals(activity)])
    outcomes = activity.outcomes
    users = [
        (user, *(str(activity.per_user[user][o]) for o in outcomes), str(sum(activity.per_user[user].values())))
        for user in sorted(activity.per_user)
    ]
    per_user = to_table(("SLACK USER", *(o.upper() for o in outcomes), "TOTAL"), users)
    return f"{title}\n\n{totals}\n\n{per_user}"
