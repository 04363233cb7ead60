"""The bot's frozen records are `msgspec.Struct` classes, not frozen dataclasses (issue 26).

Python 3.11 makes each dataclass by compiling its generated methods one by one (`__init__`, `__repr__`,
`__eq__`, `__hash__`, and for a frozen one `__setattr__` and `__delattr__`): ~0.9 ms a class at import, and the 55
records the start imports cost ~60 ms of every `serve` and CLI start. A Struct class is made in C (~0.02 ms).
A dataclass stays where a Struct cannot say the same: a field left out of equality or the repr, `init=False`,
`__post_init__`, a generic record, a mutable holder of collaborators. This test finds a new frozen dataclass
that could be a Struct; `msgspec.structs.replace` stands in for `dataclasses.replace` on one.
"""

from __future__ import annotations

import ast
from pathlib import Path

BOT = Path(__file__).resolve().parents[2] / "bot"


def _struct_can_say_it(node: ast.ClassDef) -> bool:
    """No `__post_init__`, no cached property, and every `field()` only a default or a default factory."""
    body = ast.unparse(node)
    if "__post_init__" in body or "cached_property" in body:
        return False
    calls = [n for n in ast.walk(node) if isinstance(n, ast.Call) and getattr(n.func, "id", None) == "field"]
    return all({k.arg for k in call.keywords} <= {"default", "default_factory"} for call in calls)


def _plain_frozen_dataclasses() -> list[str]:
    found: list[str] = []
    for path in sorted(BOT.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.ClassDef) or node.bases:
                continue
            for decorator in node.decorator_list:
                if not (isinstance(decorator, ast.Call) and getattr(decorator.func, "id", None) == "dataclass"):
                    continue
                frozen = any(k.arg == "frozen" and ast.literal_eval(k.value) for k in decorator.keywords)
                if frozen and _struct_can_say_it(node):
                    found.append(f"{path.relative_to(BOT.parent)}:{node.lineno} {node.name}")
    return found


def test_a_frozen_record_with_plain_fields_is_a_struct() -> None:
    assert _plain_frozen_dataclasses() == [], "make these `class X(msgspec.Struct, frozen=True)`"
