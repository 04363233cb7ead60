"""requirements.lock is the runtime set the image and CI install: every pin hashed, pyproject's ranges held.

The lock is made by `scripts/lock` (uv, universal: environment markers kept). A dependency added to pyproject, a
range moved past its pin, or a new transitive dependency of a locked release fails here until the lock is
refreshed. The transitive closure is walked through the installed distributions' metadata, evaluated for this
interpreter (CPython 3.11 on Linux, the image's): a pin without a hash, or a marker the image would skip, fails too.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


@dataclass(frozen=True)
class Pin:
    name: str
    version: str
    marker: str | None
    hashes: tuple[str, ...]


# The runtime set: the dependencies and the `otel` extra, which the image installs (tracing stays off until
# OTEL_* variables turn it on).
RUNTIME = [*PROJECT["dependencies"], *PROJECT["optional-dependencies"]["otel"]]


def parse_lock(text: str) -> dict[str, Pin]:
    """`name==version ; marker \\` lines, each followed by its `--hash=` lines; comments ignored."""
    pins: dict[str, Pin] = {}
    entry: list[str] = []

    def close() -> None:
        if not entry:
            return
        head, *rest = entry
        req = Requirement(head)
        [spec] = req.specifier
        assert spec.operator == "==", f"not an exact pin: {head}"
        hashes = tuple(h.removeprefix("--hash=") for h in rest)
        name = canonicalize_name(req.name)
        pins[name] = Pin(name, spec.version, str(req.marker) if req.marker else None, hashes)
        entry.clear()

    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].strip().removesuffix("\\").strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("--hash="):
            assert entry, f"a hash before any pin: {raw}"
            entry.append(line)
        else:
            close()
            entry.append(line)
    close()
    return pins


def installed_requires(name: str) -> list[str]:
    """The requirements a distribution declares, as installed here."""
    try:
        return list(distribution(name).requires or [])
    except PackageNotFoundError:
        return []


def lock_problems(
    pins: dict[str, Pin], roots: Iterable[str], requires: Callable[[str], list[str]] = installed_requires
) -> list[str]:
    """What is wrong with `pins` for the requirement strings `roots` and everything they pull in (for this
    interpreter's markers): a missing pin, a pin outside a range, a pin without a hash or one the marker skips."""
    problems = [f"{p.name}=={p.version} has no --hash" for p in pins.values() if not p.hashes]
    seen: set[tuple[str, frozenset[str]]] = set()
    todo = [(Requirement(r), "pyproject.toml") for r in roots]
    while todo:
        req, wanted_by = todo.pop()
        name = canonicalize_name(req.name)
        pin = pins.get(name)
        if pin is None:
            problems.append(f"{req} (wanted by {wanted_by}) is not in the lock")
            continue
        if not req.specifier.contains(pin.version, prereleases=True):
            problems.append(f"{name}=={pin.version} does not satisfy {req} (wanted by {wanted_by})")
        if pin.marker is not None and not Requirement(f"x ; {pin.marker}").marker.evaluate():  # type: ignore[union-attr]
            problems.append(f"{name}'s marker `{pin.marker}` skips it here, yet {wanted_by} needs it")
        key = (name, frozenset(req.extras))
        if key in seen:
            continue
        seen.add(key)
        for text in requires(name):
            sub = Requirement(text)
            if sub.marker is None or any(sub.marker.evaluate({"extra": e}) for e in req.extras or {""}):
                todo.append((sub, name))
    return problems


def test_the_lock_pins_every_runtime_dependency_with_hashes_within_pyprojects_ranges() -> None:
    pins = parse_lock((ROOT / "requirements.lock").read_text(encoding="utf-8"))
    assert len(pins) > len(RUNTIME)
    assert lock_problems(pins, RUNTIME) == []


def test_the_lock_holds_nothing_but_the_runtime_set() -> None:
    """No test tool, no stale pin: every locked distribution is pulled in by a runtime dependency (on some
    platform: a pin whose marker skips this one is not walked, so it is only required to be marked)."""
    pins = parse_lock((ROOT / "requirements.lock").read_text(encoding="utf-8"))
    reached: set[str] = set()
    todo = [Requirement(r) for r in RUNTIME]
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        if name in reached:
            continue
        reached.add(name)
        todo += [Requirement(t) for t in installed_requires(name) if "extra ==" not in t or _extra_of(t, req)]
    extra = sorted(n for n, p in pins.items() if n not in reached and p.marker is None)
    assert extra == [], "pins nothing needs: run scripts/lock"


def _extra_of(text: str, parent: Requirement) -> bool:
    marker = Requirement(text).marker
    return marker is not None and any(marker.evaluate({"extra": e}) for e in parent.extras)


def test_the_build_lock_pins_the_image_build_tools_with_hashes() -> None:
    roots = [
        line
        for line in (ROOT / "requirements-build.in").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    pins = parse_lock((ROOT / "requirements-build.lock").read_text(encoding="utf-8"))
    assert {"setuptools", "cyclonedx-bom"} <= pins.keys()
    assert all(p.hashes for p in pins.values())
    for root in map(Requirement, roots):
        assert root.specifier.contains(pins[canonicalize_name(root.name)].version), root
    # The project builds with the locked setuptools: pyproject's build requirement holds it.
    [build] = [Requirement(r) for r in tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]["requires"]]
    assert build.specifier.contains(pins["setuptools"].version)


LOCK = """\
alpha==1.2.0 \\
    --hash=sha256:aa
    # via rok-token-bot (pyproject.toml)
beta==2.0.0 ; python_version >= '3' \\
    --hash=sha256:bb \\
    --hash=sha256:cc
"""


def _requires(graph: dict[str, list[str]]) -> Callable[[str], list[str]]:
    return lambda name: graph.get(name, [])


def test_the_check_parses_pins_markers_and_hashes() -> None:
    pins = parse_lock(LOCK)
    assert pins["alpha"] == Pin("alpha", "1.2.0", None, ("sha256:aa",))
    assert pins["beta"].hashes == ("sha256:bb", "sha256:cc") and pins["beta"].marker == 'python_version >= "3"'


@pytest.mark.parametrize(
    ("roots", "graph", "lock", "problem"),
    [
        (["alpha>=1,<2", "gamma>=1"], {}, LOCK, "gamma>=1 (wanted by pyproject.toml) is not in the lock"),
        (["alpha>=1.3"], {}, LOCK, "alpha==1.2.0 does not satisfy alpha>=1.3"),
        (["alpha"], {"alpha": ["delta>=1"]}, LOCK, "delta>=1 (wanted by alpha) is not in the lock"),
        (["alpha"], {"alpha": ["beta<2"]}, LOCK, "beta==2.0.0 does not satisfy beta<2 (wanted by alpha)"),
        (["alpha"], {}, LOCK.replace("    --hash=sha256:aa\n", ""), "alpha==1.2.0 has no --hash"),
        (["beta"], {}, LOCK.replace(">= '3'", "< '3'"), "beta's marker"),
    ],
    ids=["missing-direct", "outside-range", "missing-transitive", "transitive-range", "no-hash", "marker-skips"],
)
def test_the_check_fails_a_lock_that_no_longer_fits(
    roots: list[str], graph: dict[str, list[str]], lock: str, problem: str
) -> None:
    problems = lock_problems(parse_lock(lock), roots, _requires(graph))
    assert any(problem in p for p in problems), problems


def test_the_check_follows_extras_and_skips_other_platforms() -> None:
    graph = {"alpha": ["beta ; extra == 'fast'", "zeta ; sys_platform == 'win32'", "eta ; extra == 'other'"]}
    assert lock_problems(parse_lock(LOCK), ["alpha[fast]"], _requires(graph)) == []
    assert lock_problems(parse_lock(LOCK.replace("beta", "theta")), ["alpha[fast]"], _requires(graph))
