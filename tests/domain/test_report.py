"""What is live at an instant, how the report reads an instant, and how it shows a live token (pure)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import msgspec
import pytest

from bot.domain.audit import Origin
from bot.domain.errors import UsageError
from bot.domain.export import to_csv
from bot.domain.ledger import LedgerEntry, TokenStatus
from bot.domain.report import (
    LIVE_FIELDS,
    is_live_at,
    live_records,
    live_table,
    live_tokens,
    origin_label,
    parse_instant,
)

NOW = datetime(2026, 12, 7, 6, 0, tzinfo=UTC)
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def _entry(n: int, *, at: datetime = T0, lives: timedelta = HOUR, **changes: object) -> LedgerEntry:
    entry = LedgerEntry(
        id=n,
        request_id=f"r{n}",
        slack_team="T1",
        slack_user=f"U{n}",
        rok_user=f"rok{n}",
        account_uuid="acc",
        token_uuid=f"00000000-0000-4000-8000-{n:012d}",
        duration_seconds=int(lives.total_seconds()),
        reserved_at=at,
        issued_at=at,
        expires_at=at + lives,
        origin=Origin.COMMAND,
        status=TokenStatus.ISSUED,
    )
    return msgspec.structs.replace(entry, **changes)


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("2026-12-01T09:00:00Z", T0),
        ("2026-12-01T09:00:00+00:00", T0),
        ("2026-12-01T10:00:00+01:00", T0),
        ("2026-12-01T09:00:00", T0),  # no offset: UTC
        ("2026-12-01 09:00", T0),
        ("2026-12-01", T0 - timedelta(hours=9)),
        ("now", NOW),
        (" NOW ", NOW),
        ("-2h", NOW - 2 * HOUR),
        ("-30m", NOW - timedelta(minutes=30)),
        ("-1d", NOW - timedelta(days=1)),
        ("-1d12h", NOW - timedelta(hours=36)),
    ],
)
def test_an_instant_is_iso_8601_now_or_relative_and_always_utc(typed: str, expected: datetime) -> None:
    parsed = parse_instant(typed, now=NOW)
    assert parsed == expected and parsed.tzinfo is UTC


@pytest.mark.parametrize(
    "typed",
    ["yesterday", "", "-", "-2x", "+2h", "2026-13-01", "12/01/2026", "-99999d", "0001-01-01T00:00+01:00"],
)
def test_anything_else_is_one_line_naming_the_option_and_the_accepted_forms(typed: str) -> None:
    with pytest.raises(UsageError) as raised:
        parse_instant(typed, now=NOW, option="--from")
    message = raised.value.user_message
    assert message.startswith("--from: ") and "\n" not in message
    assert "ISO 8601" in message and "-2h" in message


def test_a_token_pasted_as_a_time_is_not_echoed() -> None:
    token = "A" * 20 + "b" * 23
    with pytest.raises(UsageError) as raised:
        parse_instant(token, now=NOW)
    assert token[:16] not in raised.value.user_message


def test_live_from_its_issue_up_to_but_not_at_its_expiry() -> None:
    entry = _entry(1)
    assert not is_live_at(entry, T0 - timedelta(seconds=1))
    assert is_live_at(entry, T0) and is_live_at(entry, T0 + HOUR - timedelta(microseconds=1))
    assert not is_live_at(entry, T0 + HOUR)


@pytest.mark.parametrize(
    ("status", "live"),
    [
        (TokenStatus.ISSUED, True),
        (TokenStatus.MINTED, True),
        (TokenStatus.UNCONFIRMED, True),
        (TokenStatus.UNDELIVERED, True),
        (TokenStatus.RESERVED, False),
        (TokenStatus.POSSIBLY_MINTED, False),
    ],
)
def test_a_token_that_exists_is_live_and_nothing_else(status: TokenStatus, live: bool) -> None:
    assert is_live_at(_entry(1, status=status), T0) is live


def test_live_tokens_oldest_first_of_a_registry_with_a_limit_and_the_total() -> None:
    rows = [
        _entry(3, at=T0 + timedelta(minutes=5)),
        _entry(1),
        _entry(2, registry="staging"),
        _entry(4, at=T0 - 2 * HOUR),  # expired
    ]
    tokens, total = live_tokens(rows, T0 + timedelta(minutes=10))
    assert [t.ledger_id for t in tokens] == [1, 2, 3] and total == 3
    tokens, total = live_tokens(rows, T0 + timedelta(minutes=10), registry="default", limit=1)
    assert [t.ledger_id for t in tokens] == [1] and total == 2


def test_how_a_token_was_granted_in_a_few_words() -> None:
    def label(**changes: object) -> str:
        (token,), _ = live_tokens([msgspec.structs.replace(_entry(1), **changes)], T0)
        return origin_label(token)

    assert label(origin=Origin.APPROVAL, approved_by="U0BOSS") == "approval by U0BOSS"
    assert label(origin=Origin.APPROVAL) == "approval by unknown"  # a row whose approver was pruned before 0009
    assert label(origin=Origin.BREAK_GLASS, reason="incident 4711") == "break_glass: incident 4711"
    assert label(origin=Origin.BREAK_GLASS, reason="x" * 200).endswith("…")
    assert label(origin=Origin.CLI) == "cli" and label(origin=Origin.MODAL) == "form"
    assert label(origin=Origin.RENEW) == "renew" and label(origin=Origin.COMMAND) == "command"


def test_the_table_names_the_registry_and_the_status_only_when_they_tell_something() -> None:
    one, _ = live_tokens([_entry(1), _entry(2)], T0)
    header = live_table(one).splitlines()[0].split("  ")
    assert [h.strip() for h in header if h.strip()] == [
        "TOKEN UUID", "SLACK USER", "ROK USER", "ISSUED", "EXPIRES", "ORIGIN",
    ]  # fmt: skip
    several, _ = live_tokens([_entry(1, registry="prod"), _entry(2, status=TokenStatus.UNDELIVERED)], T0)
    table = live_table(several)
    assert table.startswith("REGISTRY") and "STATUS" in table and "undelivered" in table
    assert "2026-12-01T09:00:00Z" in table and "2026-12-01T10:00:00Z" in table


def test_every_record_has_the_same_fields_and_a_break_glass_reason_is_text_in_the_csv() -> None:
    tokens, _ = live_tokens([_entry(1, origin=Origin.BREAK_GLASS, reason='=HYPERLINK("http://x","y")'), _entry(2)], T0)
    records = live_records(tokens)
    assert all(tuple(r) == LIVE_FIELDS for r in records)
    rows = list(csv.DictReader(io.StringIO(to_csv(LIVE_FIELDS, records), newline="")))
    assert rows[0]["reason"] == '\'=HYPERLINK("http://x","y")' and rows[0]["origin"] == "break_glass"
    assert rows[0]["issued_at"] == "2026-12-01T09:00:00Z" and rows[1]["reason"] == ""
