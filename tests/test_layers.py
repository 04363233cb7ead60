"""The shape of the package, checked: the use cases and the domain import no client library, and only the
Kubernetes adapter imports `kubernetes`. A careless import fails here instead of in review."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BOT = ROOT / "bot"
CLIENTS = ("slack_sdk", "slack_bolt", "kubernetes", "websocket", "httpx", "aiohttp", "sqlalchemy", "alembic", "psycopg")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _top(name: str) -> str:
    return name.split(".", maxsplit=1)[0]


def test_the_domain_and_the_use_cases_import_no_client_library() -> None:
    files = [*sorted((BOT / "domain").glob("*.py")), BOT / "service.py", BOT / "engine.py"]
    offenders = {str(f.relative_to(ROOT)): sorted(n for n in _imports(f) if _top(n) in CLIENTS) for f in files}
    assert not {f: n for f, n in offenders.items() if n}, offenders


def test_the_domain_imports_nothing_outside_the_domain_of_the_bot() -> None:
    for path in sorted((BOT / "domain").glob("*.py")):
        outside = [n for n in _imports(path) if n.startswith("bot.") and not n.startswith("bot.domain")]
        assert not outside, f"{path.relative_to(ROOT)} imports {outside}"


def test_kubernetes_is_imported_in_the_kube_adapter_only() -> None:
    users = sorted(
        str(p.relative_to(ROOT)) for p in BOT.rglob("*.py") if any(_top(n) == "kubernetes" for n in _imports(p))
    )
    assert users == ["bot/adapters/kube.py"]


def test_the_product_package_holds_no_fakes() -> None:
    assert not (BOT / "sandbox").exists()
    users = sorted(
        str(p.relative_to(ROOT)) for p in BOT.rglob("*.py") if any(_top(n) == "sandbox" for n in _imports(p))
    )
    assert users == ["bot/cli.py"]  # the demo entry point, which says so in one line when sandbox is absent
