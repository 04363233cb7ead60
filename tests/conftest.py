"""Shared fixtures: the fake cluster and registry on loopback, a clean environment, settings and an engine.

Every test runs with the ROK_*, SLACK_* and KUBECONFIG variables of the developer's shell cleared
(`core_env`), so no real token or cluster is ever reached.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bot.bootstrap import Engine, build_engine
from bot.runtime.clock import SystemClock
from bot.settings import Settings, load_settings
from tests.fakes import FakeKube, FakeRegistry, FakeRok
from tests.store.pgserver import PostgresServer, fresh_databases

# Variables that would point a test at a real cluster even though none is named ROK_* or SLACK_*.
_CLUSTER_VARIABLES = ("KUBECONFIG", "KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT")


@pytest.fixture(autouse=True)
def _restore_root_logger() -> Iterator[None]:
    """`main()` run in-process installs its own handler on the root logger, bound to the stream pytest captured
    for that test: put the root logger back afterwards, or every later log line goes to a closed stream."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def rok() -> FakeRok:
    """The fake `rok-fort-manage` and token store, with the default accounts (jdoe, jdoe2, ajdoe, ...)."""
    return FakeRok()


@pytest.fixture
def kube(rok: FakeRok) -> Iterator[FakeKube]:
    """A started fake Kubernetes API server whose pod runs commands in `rok`."""
    server = FakeKube(rok).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def registry(rok: FakeRok) -> Iterator[FakeRegistry]:
    """A started fake Rok Registry (with a `/registry` path prefix) that knows `rok`'s tokens."""
    server = FakeRegistry(rok).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def kubeconfig(kube: FakeKube, tmp_path: Path) -> Path:
    """A kubeconfig file for the fake cluster."""
    return kube.write_kubeconfig(tmp_path / "kubeconfig")


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    """No ROK_*/SLACK_*/OTEL_*/cluster variables, no secrets directory, and a cwd without a stray `.env`."""
    for name in list(os.environ):
        if name.startswith(("ROK_", "SLACK_", "OTEL_")) or name in _CLUSTER_VARIABLES:
            monkeypatch.delenv(name)
    secrets_dir = str(tmp_path / "no-secrets-here")
    monkeypatch.setenv("ROK_BOT_SECRETS_DIR", secrets_dir)
    # The CLI records admin tokens in the store: a fresh SQLite file per test, never the developer's own.
    data_dir = str(tmp_path / "state")
    monkeypatch.setenv("ROK_BOT_DATA_DIR", data_dir)
    monkeypatch.chdir(tmp_path)
    return {"ROK_BOT_SECRETS_DIR": secrets_dir, "ROK_BOT_DATA_DIR": data_dir}


@pytest.fixture
def core_env(
    clean_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, kubeconfig: Path, registry: FakeRegistry
) -> dict[str, str]:
    """A clean environment pointing at the fake cluster and registry; returns every variable it set."""
    values = {"KUBECONFIG": str(kubeconfig), "ROK_REGISTRY_URL": registry.url}
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return {**clean_env, **values}


@pytest.fixture
def settings(core_env: dict[str, str]) -> Settings:
    """Settings loaded from `core_env`, exactly as the CLI loads them."""
    return load_settings()


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    """The real engine (KubeExecutor, RegistryClient, TokenService) wired to the fakes."""
    built = build_engine(settings, clock=SystemClock())
    try:
        yield built
    finally:
        built.close()


@pytest.fixture
def make_engine(core_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Engine]]:
    """Build an engine after setting extra variables, e.g. `make_engine(ROK_BOT_EXEC_TIMEOUT="1s")`."""
    built: list[Engine] = []

    def make(**variables: str) -> Engine:
        for name, value in variables.items():
            monkeypatch.setenv(name, value)
        built.append(build_engine(load_settings(), clock=SystemClock()))
        return built[-1]

    try:
        yield make
    finally:
        for one in built:
            one.close()


@pytest.fixture(scope="session")
def postgres_admin_url() -> Iterator[str]:
    """A superuser URL of a running PostgreSQL server, for the whole session."""
    url = os.environ.get("ROK_BOT_TEST_POSTGRES_URL", "").strip()
    if url:
        yield url
        return
    try:
        server = PostgresServer.start()
    except RuntimeError as exc:
        server = None
        reason = str(exc)
    else:
        reason = "no PostgreSQL server binaries (initdb, pg_ctl): apt-get install postgresql"
    if server is None:
        reason = f"PostgreSQL tests need ROK_BOT_TEST_POSTGRES_URL or a local server: {reason}"
        if os.environ.get("ROK_BOT_REQUIRE_POSTGRES") == "1":
            pytest.fail(reason + " (ROK_BOT_REQUIRE_POSTGRES=1: not skipping)")
        pytest.skip(reason)
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def new_postgres_url(postgres_admin_url: str) -> Iterator[Callable[[], str]]:
    """Make fresh, empty databases on the server; all are dropped after the test."""
    with fresh_databases(postgres_admin_url, prefix="rok_test") as make:
        yield make
