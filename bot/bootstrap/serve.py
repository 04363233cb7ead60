"""The composition root of `serve` (and the demo, the sandbox and the benchmark, which run the same bot).

`build_server` checks the settings now and gives `BotServer` two callables: `connect` (Slack's client) and
`assemble` (everything else, once auth.test has named the workspace). `SlackBot` is what `assemble` returns:
the Bolt app with its listeners, the post-ack job pools, the store, the audit senders and the upkeep loops,
started and stopped in the order that loses nothing.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bot import __version__
from bot.bootstrap.core import (
    SLACK_TIMEOUT,
    Engine,
    alarm_channel,
    build_engines,
    build_policies,
    build_ports,
    build_store,
    build_user_maps,
    build_web_client,
    registry_health,
    system_clock,
)
from bot.domain.audit import AuditEvent, Outcome
from bot.domain.identity import Workspace
from bot.domain.ledger import QuotaRule
from bot.domain.lifecycle import ReminderPace, sweep_interval
from bot.domain.policy import Policy
from bot.domain.registry_policy import Policies
from bot.runtime.clock import Clock
from bot.runtime.upkeep import Loop, Upkeep
from bot.settings import Settings

if TYPE_CHECKING:  # Slack, Bolt and the store are imported when the bot is built, not with this module
    from slack_bolt import App
    from slack_sdk import WebClient

    from bot.adapters.audit import OutboxAudit, OutboxSender
    from bot.adapters.retries import PendingWrites
    from bot.runtime.jobs import Jobs
    from bot.runtime.registry_health import RegistryHealth
    from bot.slack.app import SlackFrontEnd
    from bot.slack.server import BotServer
    from bot.store import Store
    from bot.usecases import Fleet, Ports

log = logging.getLogger(__name__)

# Threads for the Home tab and opening the form: quick Slack calls that must not queue behind token requests.
UI_WORKERS = 4
# The crash sweep and approval lapses: every minute; the retention: every hour (and once at start).
MAINTENANCE_SECONDS = 60.0
RETENTION_SECONDS = 3600.0
# The loop whose failing round /readyz reports as the store's health.
STORE_LOOP = "store-upkeep"
# Ledger writes after a mint that the database refused (a blink) are tried again every second of the clock,
# each on its own backoff (bot.adapters.retries).
RETRY_LOOP = "ledger-retries"
RETRY_SECONDS = 1.0


@dataclass
class SlackBot:
    """Everything `serve` runs besides the listener: the Bolt app and its front end, the job pools, the store,
    the audit senders and the upkeep loops."""

    app: App
    front: SlackFrontEnd
    jobs: Jobs
    ui_jobs: Jobs
    clock: Clock
    store: Store
    audit: OutboxAudit
    senders: list[OutboxSender]
    upkeep: Upkeep
    closers: list[Callable[[], None]] = field(default_factory=list)  # the engine's clients, closed at the end
    # The sinks the senders deliver to (name: description without secrets), recorded in the store at start.
    sinks: dict[str, str] = field(default_factory=dict)
    store_status: str = "pending"
    # Which registries answer their probe (the upkeep's registry-probe loops): ready while one does.
    registries: RegistryHealth | None = None

    @property
    def ports(self) -> Ports:
        return self.front.ports

    def start(self, *, mode: str) -> None:
        """Migrate the store under its lock (replicas starting together do not race: a schema at head costs one
        query and never imports Alembic), record the sinks this bot delivers to (so that events other writers
        append, the admin CLI's, reach them too), then start the senders and the upkeep, and audit the start.

        A store the bot cannot use (a newer schema, read-only, a missing privilege) raises its one-line
        StoreError here, before anything runs; data open to other users is one warning."""
        revision = self.store.ensure_schema()
        if (exposed := self.store.exposure()) is not None:
            log.warning(exposed)
        self.store.outbox.record_sinks(self.sinks, holder=self.ports.holder, now=self.clock.now())
        self.store_status = f"ok: {self.store.backend} at {revision}"
        for sender in self.senders:
            sender.start()
        self.upkeep.start()
        reason = f"rok-token-bot {__version__}, {mode}"
        self.audit.record(
            AuditEvent(outcome=Outcome.STARTED, request_id="startup", reason=reason, occurred_at=self.clock.now())
        )

    def serving(self) -> None:
        """The server takes requests: the upkeep's `after_ready` loops begin (the registries' first probe)."""
        self.upkeep.ready()

    def health(self) -> tuple[bool, dict[str, Any]]:
        """The store and the audit sinks, for /readyz: a failing sink is reported but does not stop tokens."""
        store = self.upkeep.failing(STORE_LOOP) or self.store_status
        checks: dict[str, Any] = {"store": store}
        for sender in self.senders:
            name = "audit_channel" if sender.sink == "slack" else f"audit_{sender.sink}"
            checks[name] = sender.state
            checks[f"{name}_backlog"] = sender.backlog
            checks[f"{name}_oldest_seconds"] = round(sender.oldest_seconds, 1)
        ready = store.startswith("ok")
        if self.registries is not None:
            any_up, more = self.registries.report()
            ready, checks = ready and any_up, checks | more
        return ready, checks

    def flush_audit(self, timeout: float = 10.0) -> bool:
        """Deliver every pending audit event now, lingering refusals included (the demo, tests); True if done."""
        self.store.outbox.expedite(now=self.clock.now())
        return all(sender.flush(timeout) for sender in self.senders)

    def stop(self, *, drained: bool) -> None:
        """After the drain: the upkeep ends, the stop is audited, the senders deliver what is due (bounded; the
        rest waits in the outbox for the next start or another replica), and every client closes."""
        self.upkeep.stop()
        reason = "drained" if drained else "drain timed out"
        self.audit.record(
            AuditEvent(outcome=Outcome.STOPPED, request_id="shutdown", reason=reason, occurred_at=self.clock.now())
        )
        for sender in self.senders:
            sender.stop(timeout=5)
        for close in self.closers:
            close()
        self.store.close()


def build_upkeep(
    settings: Settings,
    *,
    clock: Clock,
    store: Store,
    ports: Ports,
    senders: list[OutboxSender],
    retries: PendingWrites | None = None,
    registries: RegistryHealth | None = None,
    extra: Sequence[Loop] = (),
) -> Upkeep:
    """The periodic rounds: the crash sweep and approval lapses, the retention, the expiry reminders, and the
    ledger writes a database blink refused after a mint; all `after_ready` (the start needs none of them)."""
    from bot.usecases import lapse_due, send_reminders

    def maintain() -> None:
        if store.sweep(now=clock.now()):
            for sender in senders:
                sender.wake()
        lapse_due(ports)

    loops = [
        Loop(STORE_LOOP, MAINTENANCE_SECONDS, maintain, after_ready=True),
        Loop("retention", RETENTION_SECONDS, lambda: store.prune(now=clock.now()), after_ready=True),
    ]
    if retries is not None:
        loops.append(Loop(RETRY_LOOP, RETRY_SECONDS, retries.retry_due, at_start=False, after_ready=True))
    if registries is not None:  # one loop per registry: a hanging API server delays only its own probe
        loops.extend(registries.loops())
    # Every replica sweeps the ledger every few seconds; its claim lets one of them remind each token once.
    # The pace keeps this replica's rounds off Slack until a 429's Retry-After has passed.
    shortest = min(peer.policy.absolute_min for peer in (ports.peers or {ports.registry: ports}).values())
    interval = sweep_interval(settings.remind_before, shortest)
    if interval > 0:
        pace = ReminderPace()
        loops.append(Loop("reminders", interval, lambda: send_reminders(ports, pace=pace), after_ready=True))
    return Upkeep(clock, [*loops, *extra])


def build_slack_bot(
    settings: Settings,
    *,
    client: WebClient,
    workspace: Workspace,
    clock: Clock,
    policies: Policies | None = None,
    user_maps: dict[str, dict[str, str]] | None = None,
) -> SlackBot:
    """The Slack app on real adapters: users.info, ephemeral replies, the store, the audit sinks, and one engine
    (cluster and registry clients), policy, identity and quota per registry. `policies` and `user_maps` as
    `build_server` read them (else read here)."""
    from slack_bolt import App

    from bot.adapters.audit import OutboxAudit, OutboxSender, replica_id
    from bot.adapters.retries import PendingWrites
    from bot.runtime.jobs import Capacity, Jobs
    from bot.slack.app import SlackFrontEnd, register
    from bot.slack.audit import SLOW_ERRORS, AuditChannel
    from bot.slack.dedupe import SeenRequests
    from bot.slack.lifecycle import register_lifecycle
    from bot.slack.org import org_loops, register_org
    from bot.usecases import report

    settings.require_slack()
    policies = policies or build_policies(settings)
    registries = settings.registries()
    for registry in registries:
        policy = policies.policy_for(registry.name)
        if policy.break_glass is not None:
            alarm_channel(policy, settings)  # refused at start, before anything is built
    store = build_store(settings)
    holder = replica_id()
    audit = OutboxAudit(store.outbox)
    senders: list[OutboxSender] = []
    sinks: dict[str, str] = {}
    if settings.audit_channel:
        sinks["slack"] = f"slack:{settings.audit_channel}"
        # With several registries every line names its registry.
        channel = AuditChannel(client, settings.audit_channel, show_registry=not registries.single)
        senders.append(
            OutboxSender(
                outbox=store.outbox,
                sink="slack",
                deliver=channel.deliver,
                worker=holder,
                clock=clock,
                slow_errors=SLOW_ERRORS,
            )
        )
    if settings.audit_webhook_url and settings.audit_webhook_secret:
        from bot.adapters.webhook import AuditWebhook

        sinks["webhook"] = "webhook"  # not its URL: that may hold a key
        secret, fmt = settings.audit_webhook_secret.get_secret_value(), settings.audit_webhook_format
        hook = AuditWebhook(settings.audit_webhook_url, secret, clock=clock, fmt=fmt, host=socket.gethostname())
        senders.append(
            OutboxSender(outbox=store.outbox, sink="webhook", deliver=hook.deliver, worker=holder, clock=clock)
        )
    for sender in senders:
        audit.subscribe(sender.wake)
    retries = PendingWrites(clock=clock, on_written=audit.wake)
    engines = build_engines(settings, clock=clock)
    health = registry_health(engines)
    fleet = build_fleet(
        settings,
        client=client,
        workspace=workspace,
        clock=clock,
        policies=policies,
        shared=_Shared(store=store, audit=audit, retries=retries, holder=holder, engines=engines),
        user_maps=build_user_maps(settings) if user_maps is None else user_maps,
    )
    ports = fleet.shared

    # A job that escapes its use case (a bug) still reaches the one reporter.
    def on_error(exc: BaseException, job: Any) -> None:
        command, ctx = job
        report(ports, command=command, ctx=ctx, error=exc)

    jobs = Jobs(workers=settings.workers, on_error=on_error)
    ui_jobs = Jobs(workers=UI_WORKERS, on_error=on_error)
    capacity = Capacity(policies.everywhere.max_concurrent_issues)
    front = SlackFrontEnd(
        ports=ports,
        jobs=jobs,
        capacity=capacity,
        ui=ui_jobs,
        seen=SeenRequests(clock=clock.monotonic),
        fleet=fleet,
    )
    app = App(
        # Named: unnamed, Bolt derives a name from inspect.stack() (0.1 to 0.2 s of the start).
        name="rok-token-bot",
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
    register_org(app, front)
    return SlackBot(
        app=app,
        front=front,
        jobs=jobs,
        ui_jobs=ui_jobs,
        clock=clock,
        store=store,
        audit=audit,
        senders=senders,
        upkeep=build_upkeep(
            settings,
            clock=clock,
            store=store,
            ports=ports,
            senders=senders,
            retries=retries,
            registries=health,
            extra=org_loops(client, workspace),
        ),
        closers=[engines.close],
        registries=health,
        sinks=sinks,
    )


def build_server(
    settings: Settings, *, clock: Clock | None = None, host: str | None = None, port: int | None = None
) -> BotServer[SlackBot]:
    """`serve`'s server: settings checked now, Slack's client and the bot built once auth.test answered."""
    from bot.slack.server import BotServer

    settings.require_slack()
    # An invalid policy or user map stops the start before any wait on Slack; both are read once.
    policies, user_maps = build_policies(settings), build_user_maps(settings)
    the_clock = clock or system_clock()
    return BotServer(
        settings,
        connect=lambda: build_web_client(settings),
        prepare=prepare_imports,
        assemble=lambda client, workspace: build_slack_bot(
            settings, client=client, workspace=workspace, clock=the_clock, policies=policies, user_maps=user_maps
        ),
        host=host,
        port=port,
    )


def prepare_imports() -> None:
    """Import what `build_slack_bot` builds with (SQLAlchemy and the store, Bolt's app, the use cases, the
    listeners), while auth.test waits on Slack (`BotServer`)."""
    import bot.adapters.audit
    import bot.slack.app
    import bot.store
    import bot.usecases  # noqa: F401


@dataclass
class _Shared:
    """What every registry's Ports share that `build_fleet` does not build itself."""

    store: Store
    audit: OutboxAudit
    retries: PendingWrites
    holder: str
    engines: dict[str, Engine]


def build_fleet(
    settings: Settings,
    *,
    client: WebClient,
    workspace: Workspace,
    clock: Clock,
    policies: Policies,
    shared: _Shared,
    user_maps: dict[str, dict[str, str]],
) -> Fleet:
    """One Ports per registry: its engine, identity (its user map, else the global one), policy, quota, and
    approvals board and break-glass alarm (under its policy's rules); everything else one shared object."""
    from slack_sdk.webhook import WebhookClient

    from bot.adapters.quota import LedgerQuota
    from bot.slack.directory import SlackDirectory
    from bot.slack.replies import SlackReplies
    from bot.slack.retry import retry_handlers
    from bot.slack.surfaces import SlackSurfaces
    from bot.usecases import Fleet, worker_share

    registries = settings.registries()
    replies = SlackReplies(
        client,
        webhook_factory=lambda url: WebhookClient(
            url, timeout=SLACK_TIMEOUT, retry_handlers=retry_handlers(), ssl=client.ssl
        ),
        clock=clock,
    )
    directory = SlackDirectory(client, clock=clock, org_wide=workspace.org_wide)
    surfaces = SlackSurfaces(client, replies=replies)
    boards: dict[int, tuple[Any, Any]] = {}  # by policy: registries sharing one policy share its board
    ports: dict[str, Ports] = {}
    for registry in registries:
        policy = policies.policy_for(registry.name)
        if id(policy) not in boards:
            boards[id(policy)] = _board_and_alarm(settings, client, policy, replies)
        board, alarm = boards[id(policy)]
        rule = QuotaRule(per_hour=policy.per_hour, cooldown=policy.cooldown)
        quota = LedgerQuota(
            ledger=shared.store.ledger,
            rule=rule,
            wake=shared.audit.wake,
            clock=clock,
            retries=shared.retries,
            registry=registry.name,
        )
        ports[registry.name] = build_ports(
            settings,
            engine=shared.engines[registry.name].engine,
            directory=directory,
            replies=replies,
            audit=shared.audit,
            workspace=workspace,
            clock=clock,
            policy=policy,
            quota=quota,
            once=shared.store.once,
            holder=shared.holder,
            ledger=shared.store.ledger,
            surfaces=surfaces,
            pending=shared.store.approvals,
            board=board,
            alarm=alarm,
            registry=registry.name,
            user_map=user_maps.get(registry.name),
            holders=shared.store.live,  # every registry's live tokens, for the policy's admins
        )
    channels = {channel: r.name for r in registries for channel in r.channels}
    share = worker_share(settings.workers, len(registries))
    return Fleet.of(ports, channels=channels, titles={r.name: r.title for r in registries}, share=share)


def _board_and_alarm(settings: Settings, client: WebClient, policy: Policy, replies: Any) -> tuple[Any, Any]:
    """A policy's approvals board (its channel and approvers) and break-glass alarm, when it has them."""
    board = alarm = None
    if policy.approvals is not None:
        from bot.slack.approvals import SlackApprovalBoard

        board = SlackApprovalBoard(client, rules=policy.approvals, replies=replies, minimum=policy.everyone.min)
    if policy.break_glass is not None:
        from bot.slack.alarm import SlackBreakGlassAlarm

        alarm = SlackBreakGlassAlarm(client, channel=alarm_channel(policy, settings))
    return board, alarm
