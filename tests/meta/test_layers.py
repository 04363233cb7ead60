"""The shape of the package, checked: a request walks listener -> use case -> ports -> adapters, never back up.

    __main__ > cli > doctor | report > bootstrap > slack > settings > usecases | adapters | store > runtime > domain

Each layer imports only layers below it (and itself); the use cases and the domain import no client library;
Slack's front end sees the use cases through their package API only; one clock; no cycle anywhere. Imports
inside functions and under TYPE_CHECKING count: a careless one fails here instead of in review. The same
graph is what `python -m tests.meta.test_layers` prints, layer by layer.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BOT = ROOT / "bot"
CLIENTS = (
    "slack_sdk",
    "slack_bolt",
    "kubernetes",
    "websocket",
    "httpx",
    "aiohttp",
    "h11",
    "sqlalchemy",
    "alembic",
    "psycopg",
    "opentelemetry",
)
# Layers, lowest first; a module may import its own layer and those of a lower rank. Equal ranks are siblings
# that must not import each other (a use case never reaches an adapter or the store: it has ports).
RANKS: dict[str, int] = {
    "bot": 0,  # bot/__init__.py: the version, nothing else
    "domain": 1,
    "runtime": 2,
    "usecases": 3,
    "adapters": 3,
    "store": 3,
    "settings": 4,
    "slack": 5,
    "bootstrap": 6,
    "doctor": 7,
    # `rok-token-bot report` (bot/report.py): a CLI command in its own module (cli.py stays under the line limit),
    # below cli, which registers and runs it; a sibling of doctor, never importing it.
    "report": 7,
    "cli": 8,
    "__main__": 9,
}
ROOT_MODULES = {"__init__.py", "__main__.py", "cli.py", "doctor.py", "report.py"}
PACKAGES = {"domain", "runtime", "usecases", "adapters", "store", "settings", "slack", "bootstrap"}
# Where the wall clock may be read: the clock itself, and the entry points and wiring that create or use it.
WALL_CLOCK_ALLOWED = {"bot/runtime/clock.py", "bot/cli.py", "bot/__main__.py"}
WALL_CLOCK = re.compile(r"datetime\.now\(|\btime\.time\(\)|datetime\.utcnow\(")
MAX_LINES = 450


def _sources() -> list[Path]:
    return sorted(p for p in BOT.rglob("*.py") if "migrations" not in p.parts)


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every module `path` imports, anywhere in it; `from bot.x import y` also counts `bot.x.y` when y is one."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                if _path_of(candidate) is not None:
                    names.add(candidate)
    return names


def _path_of(module: str) -> Path | None:
    base = ROOT.joinpath(*module.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def _layer(module: str) -> str:
    """`bot.usecases.issue` -> usecases; `bot.cli` -> cli; `bot` -> bot."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "bot"


def _graph() -> dict[str, set[str]]:
    """bot's modules and the bot modules each imports."""
    return {
        _module(path): {name for name in _imports(path) if name == "bot" or name.startswith("bot.")}
        for path in _sources()
    }


def _top(name: str) -> str:
    return name.split(".", maxsplit=1)[0]


def test_the_root_of_the_package_holds_only_entry_points_and_wiring() -> None:
    modules = {p.name for p in BOT.glob("*.py")}
    packages = {p.name for p in BOT.iterdir() if p.is_dir() and (p / "__init__.py").is_file()}
    assert modules <= ROOT_MODULES and len(modules) <= 6, sorted(modules - ROOT_MODULES)
    assert packages == PACKAGES, packages ^ PACKAGES


def test_every_import_goes_down_the_layers_never_up_nor_sideways() -> None:
    wrong = []
    for module, imported in _graph().items():
        mine = _layer(module)
        for name in imported:
            theirs = _layer(name)
            if theirs == mine:
                continue
            if RANKS[theirs] >= RANKS[mine]:
                wrong.append(f"{module} -> {name}")
    assert not wrong, wrong


def test_there_is_no_cycle_between_modules() -> None:
    graph = _graph()
    cycles = [component for component in _strongly_connected(graph) if len(component) > 1]
    assert not cycles, cycles


def test_runtime_imports_only_the_domain() -> None:
    offenders = {
        module: sorted(n for n in imported if _layer(n) not in ("bot", "domain", "runtime"))
        for module, imported in _graph().items()
        if _layer(module) == "runtime"
    }
    assert not {m: n for m, n in offenders.items() if n}, offenders


def test_the_slack_front_end_sees_the_use_cases_through_their_api_only() -> None:
    offenders = {
        module: sorted(n for n in imported if n.startswith("bot.usecases."))
        for module, imported in _graph().items()
        if _layer(module) != "usecases"
    }
    assert not {m: n for m, n in offenders.items() if n}, offenders


def test_adapters_and_the_store_never_import_the_use_cases_or_slack() -> None:
    offenders = {
        module: sorted(n for n in imported if _layer(n) in ("usecases", "slack"))
        for module, imported in _graph().items()
        if _layer(module) in ("adapters", "store")
    }
    assert not {m: n for m, n in offenders.items() if n}, offenders


def test_the_domain_and_the_use_cases_import_no_client_library() -> None:
    files = [p for p in _sources() if _layer(_module(p)) in ("domain", "usecases")]
    offenders = {str(f.relative_to(ROOT)): sorted(n for n in _imports(f) if _top(n) in CLIENTS) for f in files}
    assert not {f: n for f, n in offenders.items() if n}, offenders


def test_kubernetes_is_imported_in_the_kube_adapters_only() -> None:
    """The executor and its configuration (bot/adapters/kubeconfig.py, made on the executor's first use)."""
    users = sorted(
        str(p.relative_to(ROOT)) for p in BOT.rglob("*.py") if any(_top(n) == "kubernetes" for n in _imports(p))
    )
    assert users == ["bot/adapters/kube.py", "bot/adapters/kubeconfig.py"]


def test_the_bot_serves_http_through_its_own_listener_and_only_the_fakes_use_aiohttp() -> None:
    """bot/runtime/http.py is the one HTTP server of the product (issue 26: aiohttp's import is ~0.1 s of every
    start and ~10 MiB of the idle process); the sandbox's fakes and the demo page keep aiohttp."""
    users = {
        top: sorted(str(p.relative_to(ROOT)) for p in BOT.rglob("*.py") if any(_top(n) == top for n in _imports(p)))
        for top in ("aiohttp", "h11")
    }
    assert users == {"aiohttp": [], "h11": ["bot/runtime/http.py"]}


def test_opentelemetry_is_imported_in_the_tracing_port_only() -> None:
    """Use cases and adapters trace through `bot.runtime.tracing`; only it knows the SDK (and imports it lazily)."""
    users = sorted(
        str(p.relative_to(ROOT)) for p in BOT.rglob("*.py") if any(_top(n) == "opentelemetry" for n in _imports(p))
    )
    assert users == ["bot/runtime/tracing.py"]


def test_time_comes_from_the_one_clock() -> None:
    """No module reads the wall clock but the clock and the entry points; a line that must (a library's API
    wants a timestamp) says why with `# wall clock:`."""
    readers = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in _sources()
        if str(path.relative_to(ROOT)) not in WALL_CLOCK_ALLOWED
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if WALL_CLOCK.search(line) and "# wall clock:" not in line
    ]
    assert not readers, readers


def test_no_module_is_over_450_lines() -> None:
    big = {str(p.relative_to(ROOT)): n for p in _sources() if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not big, big


def test_the_product_package_holds_no_fakes() -> None:
    assert not (BOT / "sandbox").exists()
    users = sorted(
        str(p.relative_to(ROOT)) for p in BOT.rglob("*.py") if any(_top(n) == "sandbox" for n in _imports(p))
    )
    assert users == ["bot/cli.py"]  # the demo entry point, which says so in one line when sandbox is absent


MOVED = ("service", "engine", "jobs", "limits", "audit", "aio", "cache", "logs", "metrics")


@pytest.mark.parametrize("old", MOVED)
def test_nothing_names_a_module_where_it_was_before_the_use_cases_got_their_package(old: str) -> None:
    pattern = re.compile(rf"bot/{old}\.py|`bot\.{old}\b|\bimport bot\.{old}\b|\bfrom bot\.{old}\b")
    docs = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    places = [*_sources(), *docs, *sorted(ROOT.glob("sandbox/*.py"))]
    users = [str(p.relative_to(ROOT)) for p in places if pattern.search(p.read_text(encoding="utf-8"))]
    assert not users, users


def _strongly_connected(graph: dict[str, set[str]]) -> Iterator[list[str]]:
    """Tarjan's components of `graph` (edges to modules outside it ignored)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    counter = [0]

    def visit(node: str) -> Iterator[list[str]]:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in graph:
                continue
            if nxt not in index:
                yield from visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            yield component

    for node in sorted(graph):
        if node not in index:
            yield from visit(node)


if __name__ == "__main__":  # the layers as the tests see them: `python -m tests.meta.test_layers`
    by_layer: dict[str, list[str]] = {}
    for name in _graph():
        by_layer.setdefault(_layer(name), []).append(name)
    for layer in sorted(by_layer, key=lambda name: (RANKS[name], name), reverse=True):
        print(f"{layer:<10} {', '.join(sorted(by_layer[layer]))}")
