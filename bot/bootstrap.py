"""The composition root: the one place that builds the real adapters from settings and wires them together.

`serve`, the CLI, `doctor`, the demo and the benchmark all build through here; tests wire in-memory fakes
through `build_ports`, the same function the Slack bot uses. Heavy clients (kubernetes, slack_sdk, Bolt) are
imported inside the builders, so the CLI's `issue` path never pays for Slack.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from bot import logs
from bot.domain.identity import IdentityResolver, Workspace, load_user_map
from bot.domain.ledger import QuotaRule
from bot.domain.policy import Policy, PolicyError, load_policy
from bot.domain.ports import (
    ApprovalBoard,
    AuditLog,
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
from bot.domain.secret import Token
from bot.settings import Settings, SettingsError, StoreSettings

if TYPE_CHECKING:  # the adapters import heavy clients: load them only when they are built
    from slack_sdk import WebClient

    from bot.adapters.kube import KubeExecutor
    from bot.adapters.registry import RegistryClient
    from bot.audit import OutboxSender
    from bot.engine import TokenEngine
    from bot.service import Ports
    from bot.slack.server import BotServer, SlackBot
    from bot.store import Store

# Masked a while past its expiry too: the registry's clock and ours may differ.
PROTECT_GRACE_SECONDS = 600
SLACK_TIMEOUT = 10
# Threads for the Home tab and opening the form: quick Slack calls that must not queue behind token requests.
UI_WORKERS = 4


def protect_token(token: Token, until: datetime) -> None:
    """Mask this token in every log line of the process until shortly after `until`."""
    logs.protect(token.reveal(), until=until.timestamp() + PROTECT_GRACE_SECONDS)


# -- the token engine (CLI, doctor, serve) ---------------------------------------------------------------


@dataclass
class Engine:
    """The token engine and the adapters behind it."""

    engine: TokenEngine
    executor: KubeExecutor
    registry: RegistryClient

    def close(self) -> None:
        self.registry.close()


def build_engine(settings: Settings) -> Engine:
    """Wire the Kubernetes executor, the registry client and the token engine from settings."""
    from bot.adapters.kube import KubeExecutor, build_configuration
    from bot.adapters.registry import RegistryClient
    from bot.engine import TokenEngine

    executor = KubeExecutor(
        configuration=build_configuration(settings.kubeconfig),
        namespace=settings.namespace,
        service=settings.service,
        container=settings.container,
        timeout=float(settings.exec_timeout),
        output_limit=settings.exec_output_limit,
    )
    registry = RegistryClient(registry_url=settings.registry_url, ca_bundle=settings.ca_bundle)
    engine = TokenEngine(
        runner=executor,
        verifier=registry,
        account_list_argv=settings.account_list_command,
        token_create_argv=settings.token_create_command,
        cache_ttl=float(settings.account_cache_ttl),
        max_concurrent_execs=settings.max_concurrent_execs,
        protect=protect_token,
    )
    return Engine(engine=engine, executor=executor, registry=registry)


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
    policy: Policy | None = None,
    quota: Quota | None = None,
    sealer: Sealer | None = None,
    once: OnceClaims | None = None,
    holder: str = "local",
    ledger: Ledger | None = None,
    surfaces: Surfaces | None = None,
    pending: PendingRequests | None = None,
    board: ApprovalBoard | None = None,
) -> Ports:
    """The use cases' ports: identity and policy from settings, around the given adapters (real or fake)."""
    from bot.limits import MemoryQuota
    from bot.service import Ports, new_checks

    policy = policy or build_policy(settings)
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
        quota=quota or MemoryQuota(rule=rule, audit=audit),
        replies=replies,
        audit=audit,
        sealer=sealer or build_sealer(settings),
        checks=new_checks(),
        contact=settings.support_contact,
        once=once,
        holder=holder,
        ledger=ledger,
        surfaces=surfaces,
        remind_before=settings.remind_before,
        pending=pending,
        board=board,
    )


# -- the Slack bot (serve, demo, benchmark) --------------------------------------------------------------


def build_web_client(settings: Settings) -> WebClient:
    from slack_sdk import WebClient

    from bot.slack.retry import retry_handlers

    if settings.slack_bot_token is None:
        raise SettingsError("SLACK_BOT_TOKEN: required to run the Slack app (xoxb-...)")
    return WebClient(
        token=settings.slack_bot_token.get_secret_value(),
        base_url=settings.slack_api_url,
        timeout=SLACK_TIMEOUT,
        retry_handlers=retry_handlers(),
    )


def build_store(settings: StoreSettings) -> Store:
    """The durable store the settings name (PostgreSQL, or the SQLite file in the data dir)."""
    from bot.store import open_store

    sinks = settings.audit_sinks if isinstance(settings, Settings) else ()
    return open_store(settings, sinks=sinks)


def build_slack_bot(
    settings: Settings, *, client: WebClient, workspace: Workspace, policy: Policy | None = None
) -> SlackBot:
    """The Slack app on real adapters: users.info, ephemeral replies, the store, the audit sinks, the cluster."""
    from slack_bolt import App
    from slack_sdk.webhook import WebhookClient

    from bot.audit import OutboxAudit, OutboxSender, replica_id
    from bot.jobs import Jobs
    from bot.limits import Capacity, LedgerQuota
    from bot.service import report_failure
    from bot.slack.app import SlackFrontEnd, register
    from bot.slack.audit import SLOW_ERRORS, AuditChannel
    from bot.slack.directory import SlackDirectory
    from bot.slack.lifecycle import register_lifecycle
    from bot.slack.replies import SlackReplies
    from bot.slack.retry import retry_handlers
    from bot.slack.server import SlackBot
    from bot.slack.surfaces import SlackSurfaces

    settings.require_slack()
    policy = policy or build_policy(settings)
    store = build_store(settings)
    engine = build_engine(settings)
    holder = replica_id()
    audit = OutboxAudit(store.outbox)
    senders: list[OutboxSender] = []
    if settings.audit_channel:
        channel = AuditChannel(client, settings.audit_channel)
        senders.append(
            OutboxSender(
                outbox=store.outbox, sink="slack", deliver=channel.deliver, worker=holder, slow_errors=SLOW_ERRORS
            )
        )
    if settings.audit_webhook_url and settings.audit_webhook_secret:
        from bot.adapters.webhook import AuditWebhook

        hook = AuditWebhook(settings.audit_webhook_url, settings.audit_webhook_secret.get_secret_value())
        senders.append(OutboxSender(outbox=store.outbox, sink="webhook", deliver=hook.deliver, worker=holder))
    for sender in senders:
        audit.subscribe(sender.wake)
    replies = SlackReplies(
        client, webhook_factory=lambda url: WebhookClient(url, timeout=SLACK_TIMEOUT, retry_handlers=retry_handlers())
    )
    rule = QuotaRule(per_hour=policy.per_hour, cooldown=policy.cooldown)
    board = None
    if policy.approvals is not None:
        from bot.slack.approvals import SlackApprovalBoard

        board = SlackApprovalBoard(client, rules=policy.approvals, replies=replies, minimum=policy.everyone.min)
    ports = build_ports(
        settings,
        engine=engine.engine,
        directory=SlackDirectory(client),
        replies=replies,
        audit=audit,
        workspace=workspace,
        policy=policy,
        quota=LedgerQuota(ledger=store.ledger, rule=rule, wake=audit.wake),
        once=store.once,
        holder=holder,
        ledger=store.ledger,
        surfaces=SlackSurfaces(client, replies=replies),
        pending=store.approvals,
        board=board,
    )
    # A job that escapes its use case (a bug) still reaches the one reporter.
    jobs = Jobs(workers=settings.workers, on_error=lambda exc, facts: report_failure(ports, facts, exc))
    ui_jobs = Jobs(workers=UI_WORKERS, on_error=lambda exc, facts: report_failure(ports, facts, exc))
    front = SlackFrontEnd(ports=ports, jobs=jobs, capacity=Capacity(policy.max_concurrent_issues), ui=ui_jobs)
    app = App(
        client=client,
        signing_secret=settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else None,
        request_verification_enabled=not settings.socket_mode,
        # auth.test once more, now: otherwise Bolt calls it on the first request, inside the ack path.
        token_verification_enabled=True,
        process_before_response=True,
        ignoring_self_events_enabled=True,
        logger=logging.getLogger("slack_bolt.App"),
    )
    register(app, front)
    register_lifecycle(app, front)
    return SlackBot(
        app=app,
        front=front,
        audit=audit,
        senders=senders,
        jobs=jobs,
        store=store,
        closers=[engine.close],
        ui_jobs=ui_jobs,
    )


def build_server(settings: Settings, *, host: str | None = None, port: int | None = None) -> BotServer:
    """`serve`'s server: settings checked now, Slack's client and the bot built once auth.test answered."""
    from bot.slack.server import BotServer

    settings.require_slack()
    policy = build_policy(settings)  # an invalid policy stops the start before any wait on Slack
    return BotServer(
        settings,
        connect=lambda: build_web_client(settings),
        assemble=lambda client, workspace: build_slack_bot(settings, client=client, workspace=workspace, policy=policy),
        host=host,
        port=port,
    )
