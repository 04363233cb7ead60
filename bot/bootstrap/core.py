"""The composition root's core: the token engine, the policy, the sealer, the store, the use cases' ports.

Everything that reads time gets the clock given here: `bootstrap` makes one per process (`system_clock`), the
sandbox and the tests pass a `ManualClock`. Heavy clients (kubernetes, SQLAlchemy) are imported inside the
builders, so the CLI's `issue` path pays only for what it uses.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache, partial
from typing import TYPE_CHECKING, Any

from bot.domain.errors import ClusterError
from bot.domain.identity import IdentityResolver, Workspace, load_user_map
from bot.domain.ledger import QuotaRule
from bot.domain.patterns import DEFAULT_REGISTRY
from bot.domain.policy import Policy, PolicyError, load_policy
from bot.domain.ports import (
    ApprovalBoard,
    AuditLog,
    BreakGlassAlarm,
    Ledger,
    Minter,
    OnceClaims,
    PendingRequests,
    Quota,
    Replies,
    Sealer,
    Surfaces,
    UserDirectory,
)
from bot.domain.registries import Registry, RegistryError, load_user_maps
from bot.domain.registry_policy import Policies, load_policies
from bot.domain.report import LiveTokens
from bot.domain.secret import Token
from bot.runtime import logs
from bot.runtime.clock import Clock, SystemClock
from bot.runtime.registry_health import RegistryHealth
from bot.settings import Settings, SettingsError, StoreSettings

if TYPE_CHECKING:  # the adapters import heavy clients: load them only when they are built
    from slack_sdk import WebClient

    from bot.adapters.kube import KubeExecutor
    from bot.adapters.registry import RegistryClient
    from bot.store import Store
    from bot.usecases import Ports, TokenEngine

# Masked a while past its expiry too: the registry's clock and ours may differ.
PROTECT_GRACE_SECONDS = 600
SLACK_TIMEOUT = 10


def system_clock() -> Clock:
    """The process's one clock: the machine's."""
    return SystemClock()


def protect_token(token: Token, until: datetime) -> None:
    """Mask this token in every log line of the process until shortly after `until`."""
    logs.protect(token.reveal(), until=until.timestamp() + PROTECT_GRACE_SECONDS)


# -- the token engine (CLI, doctor, serve) ---------------------------------------------------------------


@dataclass
class Engine:
    """One registry's token engine and the adapters behind it: its own Kubernetes client, account cache and exec
    slots, so a slow registry never starves another."""

    engine: TokenEngine
    executor: KubeExecutor
    registry: RegistryClient
    name: str = DEFAULT_REGISTRY

    def close(self) -> None:
        self.registry.close()


class Engines(dict[str, "Engine"]):
    """Every registry's engine, by name, in the catalogue's order; `close()` closes them all."""

    def close(self) -> None:
        for engine in self.values():
            engine.close()


def build_engine(settings: Settings, registry: Registry | None = None, *, clock: Clock) -> Engine:
    """One registry's Kubernetes executor, registry client and token engine. `registry` None: the only one the
    settings name (several: a SettingsError, never silently the first)."""
    from bot.adapters.kube import KubeExecutor
    from bot.adapters.registry import RegistryClient
    from bot.usecases import TokenEngine

    registry = registry or only_registry(settings)
    executor = KubeExecutor(
        configure=partial(kube_configuration, settings, registry),
        namespace=registry.namespace,
        service=registry.service,
        container=registry.container,
        timeout=float(settings.exec_timeout),
        output_limit=settings.exec_output_limit,
        clock=clock.monotonic,
    )
    client = RegistryClient(registry_url=registry.url, ca_bundle=registry.ca_bundle)
    engine = TokenEngine(
        runner=executor,
        verifier=client,
        account_list_argv=settings.account_list_command,
        token_create_argv=settings.token_create_command,
        cache_ttl=float(settings.account_cache_ttl),
        max_concurrent_execs=registry.max_concurrent_execs,
        protect=protect_token,
        clock=clock,
        registry=registry.name,
    )
    return Engine(engine=engine, executor=executor, registry=client, name=registry.name)


def build_engines(settings: Settings, *, clock: Clock) -> Engines:
    """An engine for every registry of `settings.registries()`, in its order. A registry whose client cannot be
    configured stops the build with its ClusterError naming it; those already built are closed."""
    engines = Engines()
    try:
        for registry in settings.registries():
            engines[registry.name] = build_engine(settings, registry, clock=clock)
    except BaseException:
        engines.close()
        raise
    return engines


def registry_health(engines: Mapping[str, Engine]) -> RegistryHealth:
    """The registries' health for /readyz and `rok_bot_registry_up`: each probed by its API server's /version
    (no exec) on an upkeep loop of its own (`RegistryHealth.loops()`)."""
    return RegistryHealth({name: engine.executor.server_version for name, engine in engines.items()})


def only_registry(settings: Settings) -> Registry:
    """The one registry the settings name; with several, the caller must say which."""
    registries = settings.registries()
    if not registries.single:
        raise SettingsError(f"several registries are configured ({', '.join(registries.names())}): name one")
    return next(iter(registries))


def kube_configuration(settings: Settings, registry: Registry) -> Any:
    """The registry's Kubernetes client configuration: its kubeconfig (else KUBECONFIG, else in-cluster) at its
    context. A failure is a ClusterError whose detail names the registry when the registries file is used."""
    from bot.adapters.kubeconfig import build_configuration

    kubeconfig = str(registry.kubeconfig) if registry.kubeconfig is not None else settings.kubeconfig
    try:
        return build_configuration(kubeconfig, context=registry.context)
    except ClusterError as exc:
        if settings.registries_file is not None:
            exc.detail = f"registry {registry.name}: {exc.detail}"
        raise


def alarm_channel(policy: Policy, settings: Settings) -> str:
    """Where break-glass is announced: the approvals channel, else the audit channel; neither refuses to start,
    since a break-glass token nobody is told about at once defeats the point of making it loud."""
    if policy.approvals is not None:
        return policy.approvals.channel
    if settings.audit_channel:
        return settings.audit_channel
    raise SettingsError(
        "ROK_BOT_POLICY: break_glass needs a channel for its loud notice: "
        "set ROK_BOT_AUDIT_CHANNEL or add an approvals section (or remove break_glass)"
    )


def build_web_client(settings: Settings) -> WebClient:
    from bot.slack.client import SlackClient
    from bot.slack.retry import retry_handlers

    if settings.slack_bot_token is None:
        raise SettingsError("SLACK_BOT_TOKEN: required to run the Slack app (xoxb-...)")
    return SlackClient(
        token=settings.slack_bot_token.get_secret_value(),
        base_url=settings.slack_api_url,
        timeout=SLACK_TIMEOUT,
        retry_handlers=retry_handlers(),
        # One TLS context for every call (the Socket Mode client and the response_url posts take it from here):
        # without one, urllib builds a default context, reading the system's CA store, for each call (~25 ms
        # of CPU). Plain HTTP (the sandbox's Slack) needs none.
        ssl=tls_context() if settings.slack_api_url.startswith("https:") else None,
    )


@cache
def tls_context() -> ssl.SSLContext:
    """The process's one default TLS context for Slack (verifying, the system's CA store)."""
    return ssl.create_default_context()


def build_policy(settings: Settings) -> Policy:
    """The policy file (ROK_BOT_POLICY) over the settings' durations; invalid: one line naming the field."""
    try:
        return load_policy(
            settings.policy,
            default=settings.default_duration,
            minimum=settings.min_duration,
            maximum=settings.max_duration,
            allow_guests=settings.allow_guests,
        )
    except PolicyError as exc:
        raise SettingsError(f"ROK_BOT_POLICY: {exc}") from None


def build_policies(settings: Settings) -> Policies:
    """The global policy and each registry's (its `policy:` overrides over it); invalid: one line naming the
    field, and the registry when it is one's override."""
    try:
        return load_policies(
            settings.policy,
            settings.registries().overrides(),
            default=settings.default_duration,
            minimum=settings.min_duration,
            maximum=settings.max_duration,
            allow_guests=settings.allow_guests,
        )
    except PolicyError as exc:
        where = "ROK_BOT_REGISTRIES" if str(exc).startswith("registry ") else "ROK_BOT_POLICY"
        raise SettingsError(f"{where}: {exc}") from None


def build_user_maps(settings: Settings) -> dict[str, dict[str, str]]:
    """Each registry's own user map (those that have one), read at start."""
    try:
        return load_user_maps(settings.registries())
    except RegistryError as exc:
        raise SettingsError(f"ROK_BOT_REGISTRIES: {exc}") from None


def build_sealer(settings: Settings) -> Sealer:
    from bot.adapters.seal import Sealer as AesSealer

    if settings.seal_key is None:
        raise SettingsError("ROK_BOT_SEAL_KEY: required to seal Verify buttons (32+ random bytes, base64)")
    try:
        return AesSealer(settings.seal_key.get_secret_value())
    except ValueError as exc:
        raise SettingsError(str(exc)) from None


# -- the use cases' ports ------------------------------------------------------------------------------


def build_ports(
    settings: Settings,
    *,
    engine: Minter,
    directory: UserDirectory,
    replies: Replies,
    audit: AuditLog,
    workspace: Workspace,
    clock: Clock,
    policy: Policy | None = None,
    quota: Quota | None = None,
    sealer: Sealer | None = None,
    once: OnceClaims | None = None,
    holder: str = "local",
    ledger: Ledger | None = None,
    surfaces: Surfaces | None = None,
    pending: PendingRequests | None = None,
    board: ApprovalBoard | None = None,
    alarm: BreakGlassAlarm | None = None,
    registry: str = DEFAULT_REGISTRY,
    user_map: dict[str, str] | None = None,
    holders: LiveTokens | None = None,
) -> Ports:
    """One registry's use case ports: identity and policy from settings, around the given adapters (real or
    fake). `user_map`: the registry's own map, else ROK_BOT_USER_MAP."""
    from bot.adapters.quota import MemoryQuota
    from bot.usecases import Ports, new_checks

    policy = policy or build_policy(settings)
    if user_map is None:
        try:
            user_map = load_user_map(settings.user_map)
        except ValueError as exc:
            raise SettingsError(f"ROK_BOT_USER_MAP: {exc}") from None
    identity = IdentityResolver(
        user_map=user_map,
        email_domains=settings.email_domains,
        allow_guests=policy.allow_guests,
        workspace=workspace,
        support_contact=settings.support_contact,
    )
    rule = QuotaRule(per_hour=policy.per_hour, cooldown=policy.cooldown)
    return Ports(
        engine=engine,
        directory=directory,
        identity=identity,
        policy=policy,
        quota=quota or MemoryQuota(rule=rule, audit=audit, clock=clock, registry=registry),
        replies=replies,
        audit=audit,
        sealer=sealer or build_sealer(settings),
        checks=new_checks(clock),
        contact=settings.support_contact,
        clock=clock,
        once=once,
        holder=holder,
        ledger=ledger,
        surfaces=surfaces,
        remind_before=settings.remind_before,
        pending=pending,
        board=board,
        alarm=alarm,
        registry=registry,
        holders=holders,
    )


def build_store(settings: StoreSettings, *, read_only: bool = False) -> Store:
    """The durable store the settings name (PostgreSQL, or the SQLite file in the data dir); connects lazily.
    `read_only` for the commands that only look: they never create the SQLite file nor write."""
    from bot.store import open_store

    url = settings.database_url.get_secret_value() if settings.database_url is not None else None
    sinks = settings.audit_sinks if isinstance(settings, Settings) else ()
    return open_store(
        url=url,
        data_dir=settings.data_dir,
        retention_seconds=settings.retention,
        refusal_retention_seconds=settings.refusal_retention,
        sinks=sinks,
        read_only=read_only,
    )
