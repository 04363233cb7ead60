"""The report's formats: RFC 4180 CSV with a formula guard, JSON lines, an aligned table, UTC instants with a Z."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from bot.domain.export import Record, csv_safe, shorten, to_csv, to_jsonl, to_table, utc_iso

HYPERLINK = '=HYPERLINK("http://x","y")'


def _parse(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


@pytest.mark.parametrize(
    "typed", [HYPERLINK, "+1+1", "-2+3", "@SUM(A1)", "\tleading tab", "\rcarriage", "=cmd|' /C calc'!A0"]
)
def test_a_cell_a_spreadsheet_would_run_is_prefixed_so_it_reads_as_text(typed: str) -> None:
    assert csv_safe(typed) == "'" + typed
    (header, row) = _parse(to_csv(("reason",), [{"reason": typed}]))
    assert header == ["reason"] and row == ["'" + typed]
    assert not row[0].startswith(("=", "+", "-", "@", "\t", "\r"))


def test_ordinary_cells_numbers_and_empty_values_are_left_alone() -> None:
    assert csv_safe("incident 4711") == "incident 4711"
    assert csv_safe("a=b") == "a=b"  # only the first character makes a formula
    assert csv_safe(None) == "" and csv_safe(3) == "3" and csv_safe(True) == "True"
    assert csv_safe(datetime(2026, 12, 1, 9, 0, tzinfo=UTC)) == "2026-12-01T09:00:00Z"


def test_the_csv_is_rfc_4180_and_reads_back_with_the_csv_module() -> None:
    records: list[Record] = [
        {"who": "U1", "reason": 'says "hi", then\nleaves', "n": 2},
        {"who": "U2", "reason": None, "n": 0},
    ]
    text = to_csv(("who", "reason", "n"), records)
    assert text.startswith("who,reason,n\r\n") and text.endswith("\r\n")
    assert '"says ""hi"", then\nleaves"' in text  # quoted, its quotes doubled
    assert _parse(text) == [["who", "reason", "n"], ["U1", 'says "hi", then\nleaves', "2"], ["U2", "", "0"]]


def test_a_header_row_alone_when_there_is_nothing_to_list() -> None:
    assert to_csv(("a", "b"), []) == "a,b\r\n"


def test_json_lines_read_back_one_object_per_line_instants_in_utc_with_a_z() -> None:
    paris = timezone(timedelta(hours=1))
    records: list[Record] = [
        {"at": datetime(2026, 12, 1, 10, 0, tzinfo=paris), "reason": HYPERLINK, "n": 1},
        {"at": None, "reason": "é", "n": 2},
    ]
    text = to_jsonl(records)
    lines = text.splitlines()
    assert len(lines) == 2 and text.endswith("\n")
    assert [json.loads(line) for line in lines] == [
        {"at": "2026-12-01T09:00:00Z", "reason": HYPERLINK, "n": 1},  # as typed: nothing evaluates JSON
        {"at": None, "reason": "é", "n": 2},
    ]
    assert to_jsonl([]) == ""


def test_utc_iso_drops_the_fraction_and_names_utc_with_a_z() -> None:
    assert utc_iso(datetime(2026, 12, 1, 9, 0, 5, 999_000, tzinfo=UTC)) == "2026-12-01T09:00:05Z"
    assert utc_iso(datetime(2026, 12, 1, 3, 0, tzinfo=timezone(timedelta(hours=-6)))) == "2026-12-01T09:00:00Z"


def test_an_aligned_table_and_a_shortened_cell() -> None:
    assert to_table(("A", "LONGER"), [("xyz", "1"), ("x", "")]) == "A    LONGER\nxyz  1\nx"
    assert shorten("abcdef", 4) == "abc…" and shorten("abc", 4) == "abc"
