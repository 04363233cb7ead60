"""The fake Slack's checks of the table block, as documented (docs.slack.dev, "Table block"): slack_sdk's own
validator only checks that `rows` is not empty.

- `rows`: 1 to 100 rows, each an array of 1 to 20 cells; a cell is `raw_text` (with a non-empty `text`) or
  `rich_text` (with `elements`);
- `column_settings`: at most 20 items, each null or `{align: left|center|right, is_wrapped: bool}`;
- one table per message (Slack answers `only_one_table_allowed`), and messages only: a view (modal, Home tab)
  takes no table.
"""

from __future__ import annotations

from typing import Any

MAX_ROWS = 100
MAX_CELLS = 20
MAX_COLUMN_SETTINGS = 20
_ALIGN = frozenset({"left", "center", "right"})


def table_problem(node: dict[str, Any], pointer: str) -> str | None:
    """Why Slack would refuse this table block, or None."""
    rows = node.get("rows")
    if not isinstance(rows, list) or not 1 <= len(rows) <= MAX_ROWS:
        return f"rows must be an array of 1 to {MAX_ROWS} rows [json-pointer:{pointer}/rows]"
    for r, row in enumerate(rows):
        if not isinstance(row, list) or not 1 <= len(row) <= MAX_CELLS:
            return f"a row must be an array of 1 to {MAX_CELLS} cells [json-pointer:{pointer}/rows/{r}]"
        for c, cell in enumerate(row):
            problem = _cell_problem(cell)
            if problem is not None:
                return f"{problem} [json-pointer:{pointer}/rows/{r}/{c}]"
    return _settings_problem(node.get("column_settings"), f"{pointer}/column_settings")


def one_table_problem(blocks: list[Any]) -> str | None:
    """A message with more than one table block."""
    tables = [i for i, block in enumerate(blocks) if isinstance(block, dict) and block.get("type") == "table"]
    if len(tables) > 1:
        return f"only_one_table_allowed [json-pointer:/blocks/{tables[1]}]"
    return None


def view_table_problem(blocks: list[Any]) -> str | None:
    """A view (modal, Home tab) with a table block: tables are for messages only."""
    for i, block in enumerate(blocks):
        if isinstance(block, dict) and block.get("type") == "table":
            return f"unsupported type: table [json-pointer:/view/blocks/{i}/type]"
    return None


def _cell_problem(cell: Any) -> str | None:
    if not isinstance(cell, dict):
        return "a cell must be an object"
    kind = cell.get("type")
    if kind == "raw_text":
        text = cell.get("text")
        return None if isinstance(text, str) and text else "a raw_text cell needs a non-empty text"
    if kind == "rich_text":
        elements = cell.get("elements")
        return None if isinstance(elements, list) and elements else "a rich_text cell needs elements"
    return f"unsupported cell type: {kind!r}"


def _settings_problem(settings: Any, pointer: str) -> str | None:
    if settings is None:
        return None
    if not isinstance(settings, list) or len(settings) > MAX_COLUMN_SETTINGS:
        return f"column_settings must be an array of at most {MAX_COLUMN_SETTINGS} items [json-pointer:{pointer}]"
    for i, item in enumerate(settings):
        if item is None:
            continue
        if not isinstance(item, dict) or set(item) - {"align", "is_wrapped"}:
            return f"a column setting has only align and is_wrapped [json-pointer:{pointer}/{i}]"
        if "align" in item and item["align"] not in _ALIGN:
            return f"align must be left, center or right [json-pointer:{pointer}/{i}/align]"
        if "is_wrapped" in item and not isinstance(item["is_wrapped"], bool):
            return f"is_wrapped must be a boolean [json-pointer:{pointer}/{i}/is_wrapped]"
    return None
