"""docs/AUDIT.md is the audit record's published schema: it and the code name the same things.

Each side is read from its source: the document's tables (`## Fields`, `## Event types`, `## Origins`,
`## Commands`, `## Failure kinds`: one row per name, the name in backticks in the first cell), and the code
itself (the `AuditEvent` dataclass and the record `as_record` builds from it, the `Outcome` and `Origin` enums,
the `Command` literal, `priority_of`, every `RokBotError` class in `bot` and its `kind`). A name on one side
only fails, in either direction, with the name.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import re
import typing
from dataclasses import MISSING, fields
from datetime import UTC, datetime
from pathlib import Path
from types import NoneType, UnionType

import bot
from bot.domain.audit import AUDIT_SCHEMA_VERSION, AuditEvent, Origin, Outcome, priority_of
from bot.domain.errors import RokBotError
from bot.slack.audit import facts_line, ids_line
from bot.usecases.context import Command

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "AUDIT.md").read_text(encoding="utf-8")
T0 = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)
JSON_TYPES = {str: "string", int: "integer", datetime: "date-time"}


def section(title: str) -> str:
    """The text under a `## title` heading, up to the next `## ` heading."""
    parts = re.split(r"^## (.+)\n", DOC, flags=re.M)
    titles = dict(zip(parts[1::2], parts[2::2], strict=True))
    assert title in titles, f"docs/AUDIT.md has no '## {title}' section"
    return titles[title]


def table(title: str) -> dict[str, dict[str, str]]:
    """The first table of a section: {name (the first cell, unquoted): {column: cell}}."""
    text = section(title)
    first = re.search(r"^\|.*(?:\n\|.*)*", text, flags=re.M)  # consecutive lines that start with `|`
    assert first, f"'{title}' has no table"
    lines = [line.strip() for line in first.group(0).splitlines()]
    header, rule, *rows = ([cell.strip() for cell in line.strip("|").split("|")] for line in lines)
    assert set("".join(rule)) <= set("-: "), f"'{title}': the table's second line must be its rule"
    found: dict[str, dict[str, str]] = {}
    for cells in rows:
        assert len(cells) == len(header), f"'{title}': a row has {len(cells)} cells, not {len(header)}: {cells}"
        name = re.fullmatch(r"`([a-z_]+)`", cells[0])
        assert name, f"'{title}': the first cell must be one `name`, not {cells[0]!r}"
        assert name.group(1) not in found, f"'{title}': `{name.group(1)}` is listed twice"
        found[name.group(1)] = dict(zip(header, cells, strict=True))
    return found


def record_types() -> dict[str, type]:
    """Each field of the record, with its Python type (None taken out of an optional one)."""
    hints = typing.get_type_hints(AuditEvent)
    types: dict[str, type] = {}
    for f in fields(AuditEvent):
        hint = hints[f.name]
        if isinstance(hint, UnionType):
            (hint,) = [t for t in typing.get_args(hint) if t is not NoneType]
        types[f.name] = hint
    return types


def full_event() -> AuditEvent:
    """An event with every field the constructor takes set, each to a value its name makes recognisable."""
    types = record_types()
    samples: dict[type, object] = {int: 4242, datetime: T0}
    values = {f.name: samples.get(types[f.name], f"v_{f.name}") for f in fields(AuditEvent) if f.init}
    return AuditEvent(**values)  # type: ignore[arg-type]


def test_every_field_of_the_record_is_documented_and_every_documented_field_exists() -> None:
    in_code = set(full_event().as_record())
    assert in_code == {f.name for f in fields(AuditEvent)}, "as_record must render every field"
    documented = set(table("Fields"))
    assert not in_code - documented, f"fields in the record but not in docs/AUDIT.md: {sorted(in_code - documented)}"
    assert not documented - in_code, f"fields in docs/AUDIT.md but not in the record: {sorted(documented - in_code)}"


def test_each_documented_field_has_its_type_and_the_required_ones_say_always() -> None:
    rows = table("Fields")
    for name, typ in record_types().items():
        assert rows[name]["Type"] == JSON_TYPES[typ], f"`{name}` is a {JSON_TYPES[typ]}, not {rows[name]['Type']}"
    for f in fields(AuditEvent):
        if f.default is not None or f.default is MISSING:  # never absent from a record
            assert rows[f.name]["Present"].startswith("always"), f"`{f.name}` is in every record: say 'always'"


def test_the_channel_column_says_which_fields_the_audit_channel_shows() -> None:
    event = full_event()
    line = facts_line(event) + " " + ids_line(event)
    for name, row in table("Fields").items():
        value = getattr(event, name)
        if not isinstance(value, str) or row["Channel"] not in ("yes", "no"):
            continue  # shown in another form (a duration, a date), or only sometimes: the column says when
        assert (value in line) == (row["Channel"] == "yes"), f"`{name}`: the audit channel's line is {line!r}"


def test_every_event_type_is_documented_with_its_urgency_and_no_other() -> None:
    rows = table("Event types")
    in_code = {str(o) for o in Outcome}
    assert not in_code - set(rows), f"outcomes not in docs/AUDIT.md: {sorted(in_code - set(rows))}"
    assert not set(rows) - in_code, f"outcomes in docs/AUDIT.md but not in Outcome: {sorted(set(rows) - in_code)}"
    for outcome, row in rows.items():
        assert row["Urgency"] == priority_of(outcome).name.lower(), f"`{outcome}` is {priority_of(outcome).name}"


def test_every_origin_and_command_is_documented_and_no_other() -> None:
    for title, in_code in (("Origins", {str(o) for o in Origin}), ("Commands", set(typing.get_args(Command)))):
        documented = set(table(title))
        assert not in_code - documented, f"{title} not in docs/AUDIT.md: {sorted(in_code - documented)}"
        assert not documented - in_code, f"{title} in docs/AUDIT.md but not in the code: {sorted(documented - in_code)}"


def test_the_documented_version_is_the_code_s() -> None:
    assert f"Current version: `{AUDIT_SCHEMA_VERSION}`" in section("Schema version")
    rows = re.findall(r"^\| (\d+) \|", section("Schema version"), flags=re.M)
    assert rows and int(rows[-1]) == AUDIT_SCHEMA_VERSION, "the changes table must end with the current version"


def test_the_worked_example_is_what_the_bot_renders() -> None:
    block = re.search(r"```json\n(.*?)```", section("A worked example"), flags=re.S)
    assert block, "the worked example is a json block"
    events = json.loads(block.group(1))["events"]
    assert len(events) >= 2
    documented = set(table("Fields"))
    for record in events:
        assert set(record) <= documented
        assert record["schema_version"] == AUDIT_SCHEMA_VERSION
        assert record["outcome"] in set(Outcome)
        # Rendered back from the event it describes, field for field and in the same order.
        assert list(AuditEvent.from_record(record).as_record().items()) == list(record.items())


def error_classes() -> list[type[RokBotError]]:
    """Every `RokBotError` class the bot defines (every module imported, so none is missed; not the migrations,
    which need Alembic's context, nor `__main__`)."""
    for module in pkgutil.walk_packages(bot.__path__, "bot."):
        parts = module.name.split(".")
        if "migrations" not in parts and parts[-1] != "__main__":
            importlib.import_module(module.name)
    found: list[type[RokBotError]] = []
    todo = [RokBotError]
    while todo:
        found.append(todo.pop())
        todo += found[-1].__subclasses__()
    return found


def test_every_failure_kind_is_documented_with_its_outcome_and_no_other() -> None:
    # `kind` and `outcome` read only the class: an instance without __init__ (some need arguments) is enough.
    bare = [cls.__new__(cls) for cls in error_classes() if cls is not RokBotError]
    in_code = {error.kind: str(error.outcome) for error in bare}
    rows = table("Failure kinds")
    missing, extra = sorted(set(in_code) - set(rows)), sorted(set(rows) - set(in_code))
    assert not missing, f"failure kinds not in docs/AUDIT.md: {missing}"
    assert not extra, f"failure kinds in docs/AUDIT.md, not in the code: {extra}"
    for kind, row in rows.items():
        assert row["Outcome"] == in_code[kind], f"`{kind}` gives `{in_code[kind]}`"
