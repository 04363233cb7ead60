"""`rok-token-bot doctor`: one line per check, ok or fail, exit 1 on any failure."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.domain.errors import RokBotError
from bot.domain.urls import safe_url
from bot.runtime.logs import without_userinfo
from bot.settings import Settings

if TYPE_CHECKING:
    from bot.store import Store


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    detail: str
    warning: bool = False  # ok, but a risk the admin chose and should see


# Exactly what the bot does in the registry's namespace (mirrors the Helm chart's Role).
RBAC_NEEDS: tuple[tuple[str, str, str, bool], ...] = (
    ("get", "services", "", True),
    ("list", "pods", "", False),
    ("get", "pods", "", False),
    ("get", "pods", "exec", False),
    ("create", "pods", "exec", False),
)


def _run(name: str, fn: Callable[[], str]) -> Check:
    try:
        return Check(name, True, fn())
    except RokBotError as exc:
        return Check(name, False, f"{exc.user_message} {exc.detail}".strip())
    except Exception as exc:
        return Check(name, False, f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}")


def run_doctor(settings: Settings, *, out: Callable[[str], None] = print) -> int:
    """Check settings, the cluster connection, RBAC, pod resolution, account-list and the registry."""
    from bot.bootstrap import build_engine, system_clock
    from bot.domain.models import Verdict

    checks: list[Check] = [
        Check(
            "settings", True, f"registry {safe_url(settings.registry_url)}, {settings.namespace}/svc/{settings.service}"
        )
    ]
    if settings.registry_allow_http and settings.registry_url.lower().startswith("http://"):
        checks.append(
            Check(
                "settings",
                True,
                "ROK_REGISTRY_ALLOW_HTTP=true: Verify sends tokens to the registry over plain http, in clear text; "
                "keep it to an in-cluster Service URL, or use https",
                warning=True,
            )
        )
    try:
        engine = build_engine(settings, clock=system_clock())
    except RokBotError as exc:
        # Without a client configuration no other check can run: report that one line.
        checks.append(Check("cluster", False, f"{exc.user_message} {exc.detail}".strip()))
        return _report(checks, out)
    executor = engine.executor

    def connection() -> str:
        return f"Kubernetes API {safe_url(executor.api_host)} answers, version {executor.server_version()}"

    checks.append(_run("cluster", connection))

    def rbac(verb: str, resource: str, sub: str, named: bool) -> Callable[[], str]:
        def check() -> str:
            what = f"{verb} {resource}{'/' + sub if sub else ''} in {settings.namespace}"
            if not executor.can_i(verb, resource, subresource=sub, name=settings.service if named else None):
                raise RokBotError("denied:", detail=what)
            return f"allowed: {what}"

        return check

    for verb, resource, sub, named in RBAC_NEEDS:
        checks.append(_run("rbac", rbac(verb, resource, sub, named)))

    def pod() -> str:
        target = engine.executor.resolve(fresh=True)
        return f"svc/{settings.service} -> pod {target.pod}, container {target.container}"

    checks.append(_run("pod", pod))

    def accounts() -> str:
        table = engine.engine.account_table()
        return f"account-list ran and listed {len(table)} account(s)"

    checks.append(_run("accounts", accounts))

    def registry() -> str:
        result = engine.registry.probe()
        if result.verdict is Verdict.UNREACHABLE:
            raise RokBotError(result.message, detail=engine.registry.url)
        return f"{engine.registry.url} answers (a request without a token is refused, as it should be)"

    checks.append(_run("registry", registry))
    engine.close()
    checks.extend(_store_checks(settings))
    return _report(checks, out)


def _store_checks(settings: Settings) -> list[Check]:
    """The store answers and its schema is this version's; an empty or missing SQLite file is a warning (the
    bot creates it at start), an empty PostgreSQL database a failure (the replicas should have migrated it).
    Opened read-only: doctor never creates the file. Data open to other users is one more warning."""
    from bot.bootstrap import build_store
    from bot.store import data_exposure
    from bot.store.errors import StoreMissing

    checks: list[Check] = []
    try:
        store = build_store(settings, read_only=True)
    except StoreMissing as exc:
        checks.append(Check("store", True, f"{exc.detail}: the bot creates it at its first start", warning=True))
    except RokBotError as exc:
        checks.append(Check("store", False, f"{exc.user_message} {exc.detail}".strip()))
    else:
        checks.append(_schema_check(store))
    url = settings.database_url.get_secret_value() if settings.database_url is not None else None
    if (exposed := data_exposure(url=url, data_dir=settings.data_dir)) is not None:
        checks.append(Check("store", True, exposed, warning=True))
    return checks


def _schema_check(store: Store) -> Check:
    from bot.store.errors import SchemaNotMigrated

    try:
        return Check("store", True, f"{store.url}: {store.check()}")
    except SchemaNotMigrated as exc:
        if store.backend == "sqlite":
            return Check("store", True, f"{store.url}: empty; the bot creates the schema at start", warning=True)
        return Check("store", False, f"{exc.user_message} {exc.detail}".strip())
    except RokBotError as exc:
        return Check("store", False, f"{exc.user_message} {exc.detail}".strip())
    finally:
        store.close()


def _report(checks: list[Check], out: Callable[[str], None]) -> int:
    for check in checks:
        status = "WARN" if check.warning else "ok  " if check.ok else "FAIL"
        # Details quote error messages too, which may hold a URL with its userinfo.
        out(f"{status}  {check.name:<9} {without_userinfo(check.detail)}")
    failed = sum(not c.ok for c in checks)
    warnings = sum(c.warning for c in checks)
    summary = f"{len(checks) - failed - warnings} ok, {failed} failed"
    if warnings:
        summary += f", {warnings} warning{'s' if warnings > 1 else ''}"
    print(summary, file=sys.stderr)
    return 1 if failed else 0
