"""`rok-token-bot doctor`: one line per check, ok or fail, exit 1 on any failure; the summary names the version."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import msgspec

from bot import __version__
from bot.domain.errors import RokBotError
from bot.domain.urls import endpoint, safe_url
from bot.runtime import tracing
from bot.runtime.logs import without_userinfo
from bot.settings import Settings

if TYPE_CHECKING:
    from bot.bootstrap import Engine
    from bot.domain.registries import Registry
    from bot.runtime.clock import Clock
    from bot.store import Store


class Check(msgspec.Struct, frozen=True):
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
    """Check settings, then for every registry its cluster connection, RBAC, pod resolution, account-list and
    registry URL, then the store. Exit 1 when any check fails: one failing registry fails doctor, and with the
    registries file every line of a registry names it, and the summary lists the failing ones."""
    from bot.bootstrap import system_clock

    clock = system_clock()
    named = settings.registries_file is not None
    checks: list[Check] = []
    failing: list[str] = []
    configured = False  # whether any registry's Kubernetes client could be configured
    for registry in settings.registries():
        found, has_client = _registry_checks(settings, registry, clock=clock)
        configured = configured or has_client
        if named:
            found = [msgspec.structs.replace(c, detail=f"registry {registry.name}: {c.detail}") for c in found]
        if not all(c.ok for c in found):
            failing.append(registry.name)
        checks.extend(found)
    if configured:  # else nothing could run but the settings: that one line says what to fix (as with one)
        checks.extend(_store_checks(settings))
    if settings.audit_webhook_url and settings.audit_webhook_secret:
        checks.extend(_webhook_checks(settings, clock=clock))
    if settings.slack_bot_token is not None:
        checks.append(_run("slack install", lambda: _slack_install(settings)))
    if (traces := tracing.doctor_line(os.environ)) is not None:  # only when OTEL_* variables ask for traces
        usable, detail = traces
        checks.append(Check("tracing", True, detail, warning=not usable))
    return _report(checks, out, failing=failing if named else [])


def _slack_install(settings: Settings) -> str:
    """auth.test (and on an org-wide install, the workspaces it is in: auth.teams.list)."""
    from slack_sdk import WebClient

    from bot.slack.install import describe_install

    assert settings.slack_bot_token is not None  # checked by the caller
    client = WebClient(token=settings.slack_bot_token.get_secret_value(), base_url=settings.slack_api_url, timeout=10)
    return describe_install(client, teams=settings.slack_teams)


def _registry_checks(settings: Settings, registry: Registry, *, clock: Clock) -> tuple[list[Check], bool]:
    """One registry: where it is, its cluster, RBAC in its namespace, its pod, account-list, its URL; and whether
    its Kubernetes client could be configured at all."""
    from bot.bootstrap import build_engine
    from bot.domain.models import Verdict

    checks = [
        Check("settings", True, f"registry {safe_url(registry.url)}, {registry.namespace}/svc/{registry.service}")
    ]
    if registry.allow_http and registry.url.lower().startswith("http://"):
        setting = "allow_http: true" if settings.registries_file is not None else "ROK_REGISTRY_ALLOW_HTTP=true"
        checks.append(
            Check(
                "settings",
                True,
                f"{setting}: Verify sends tokens to the registry over plain http, in clear text; "
                "keep it to an in-cluster Service URL, or use https",
                warning=True,
            )
        )
    try:
        engine = build_engine(settings, registry, clock=clock)
        engine.executor.connect()
    except RokBotError as exc:
        # Without a client configuration no other check of this registry can run: report that one line.
        detail = f"{exc.user_message} {exc.detail.removeprefix(f'registry {registry.name}: ')}".strip()
        checks.append(Check("cluster", False, detail))
        return checks, False

    def url() -> str:
        result = engine.registry.probe()
        if result.verdict is Verdict.UNREACHABLE:
            raise RokBotError(result.message, detail=engine.registry.url)
        return f"{engine.registry.url} answers (a request without a token is refused, as it should be)"

    try:
        checks.extend(_cluster_checks(engine, registry))
        checks.append(_run("registry", url))
    finally:
        engine.close()
    return checks, True


def _cluster_checks(engine: Engine, registry: Registry) -> list[Check]:
    executor = engine.executor

    def connection() -> str:
        return f"Kubernetes API {safe_url(executor.api_host)} answers, version {executor.server_version()}"

    checks = [_run("cluster", connection)]
    if not checks[0].ok:
        # The API server does not answer: RBAC, the pod and account-list would each wait for it again (a hanging
        # one for minutes, holding up the other registries' checks); the one line says what to fix.
        return checks

    def rbac(verb: str, resource: str, sub: str, named: bool) -> Callable[[], str]:
        def check() -> str:
            what = f"{verb} {resource}{'/' + sub if sub else ''} in {registry.namespace}"
            if not executor.can_i(verb, resource, subresource=sub, name=registry.service if named else None):
                raise RokBotError("denied:", detail=what)
            return f"allowed: {what}"

        return check

    for verb, resource, sub, named in RBAC_NEEDS:
        checks.append(_run("rbac", rbac(verb, resource, sub, named)))

    def pod() -> str:
        target = executor.resolve(fresh=True)
        return f"svc/{registry.service} -> pod {target.pod}, container {target.container}"

    checks.append(_run("pod", pod))

    def accounts() -> str:
        table = engine.engine.account_table()
        return f"account-list ran and listed {len(table)} account(s)"

    checks.append(_run("accounts", accounts))
    return checks


def _webhook_checks(settings: Settings, *, clock: Clock) -> list[Check]:
    """The SIEM webhook: for Splunk HEC, whether the collector takes the URL and token (an empty POST, which
    indexes nothing: `AuditWebhook.probe`); for every format, what waits for it in the outbox and the error
    the replicas last met there (a parked sink fails doctor until someone fixes it)."""
    from bot.adapters.webhook import AuditWebhook

    assert settings.audit_webhook_url is not None and settings.audit_webhook_secret is not None  # by the caller
    fmt = settings.audit_webhook_format
    where = f"webhook ({fmt}) {endpoint(settings.audit_webhook_url)}"
    checks: list[Check] = []
    hook = AuditWebhook(
        settings.audit_webhook_url, settings.audit_webhook_secret.get_secret_value(), clock=clock, fmt=fmt
    )
    try:
        answer = hook.probe()
    finally:
        hook.close()
    if answer is not None and answer.delivered:
        checks.append(Check("audit", True, f"{where}: HEC takes the token (an empty POST: no data, nothing indexed)"))
    elif answer is not None:
        checks.append(Check("audit", False, f"{where}: HEC refused an empty POST: {answer.error}"))
    checks.extend(_outbox_check(settings, where=where, clock=clock))
    return checks


def _outbox_check(settings: Settings, *, where: str, clock: Clock) -> list[Check]:
    """What waits for the webhook in the outbox (nothing when there is no store yet)."""
    from bot.bootstrap import build_store

    try:
        store = build_store(settings, read_only=True)
    except RokBotError:  # the store's own check says why
        return []
    try:
        waiting, oldest = store.outbox.backlog(sink="webhook", now=clock.now())
        error = store.outbox.last_error(sink="webhook") if waiting else None
    except Exception:  # no schema yet, or the database failed: the store's own line says so
        return []
    finally:
        store.close()
    if not waiting:
        return [Check("audit", True, f"{where}: every event delivered")]
    summary = f"{where}: {waiting} event{'s' if waiting > 1 else ''} waiting, the oldest {_age(oldest)}"
    if error is None:
        return [Check("audit", True, f"{summary} (not yet tried)")]
    return [Check("audit", False, f"{summary}; last answer: {error} (see /readyz: audit_webhook)")]


def _age(seconds: float) -> str:
    minutes = int(seconds // 60)
    return f"{minutes // 60}h {minutes % 60}m" if minutes >= 60 else f"{minutes}m" if minutes else f"{int(seconds)}s"


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


def _report(checks: list[Check], out: Callable[[str], None], *, failing: Sequence[str] = ()) -> int:
    for check in checks:
        status = "WARN" if check.warning else "ok  " if check.ok else "FAIL"
        # Details quote error messages too, which may hold a URL with its userinfo.
        out(f"{status}  {check.name:<9} {without_userinfo(check.detail)}")
    failed = sum(not c.ok for c in checks)
    warnings = sum(c.warning for c in checks)
    # The version first: a report pasted into a ticket says which build it describes.
    summary = f"rok-token-bot {__version__}: {len(checks) - failed - warnings} ok, {failed} failed"
    if warnings:
        summary += f", {warnings} warning{'s' if warnings > 1 else ''}"
    if failing:
        summary += f"; failing registr{'ies' if len(failing) > 1 else 'y'}: {', '.join(failing)}"
    print(summary, file=sys.stderr)
    return 1 if failed else 0
