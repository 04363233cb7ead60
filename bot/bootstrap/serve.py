"""The composition root of `serve` (and the demo, the sandbox and the benchmark, which run the same bot).

`build_server` checks the settings now and gives `BotServer` two callables: `connect` (Slack's client) and
`assemble` (everything else, once auth.test has named the workspace). `SlackBot` is what `assemble` returns:
the Bolt app with its listeners, the post-ack job pools, the store, the audit senders and the upkeep loops,
started and stopped in the order that loses nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bot import __version__
from bot.bootstrap.core import build_engine, build_policy, build_ports, build_store, system_clock
from bot.domain.audit import AuditEvent, Outcome
from bot.domain.identity import Workspace
from bot.domain.ledger import QuotaRule
from bot.domain.lifecycle import ReminderPace, sweep_interval
from bot.domain.policy import Policy
from bot.runtime.clock import Clock
from bot.runtime.upkeep import Loop, Upkeep
from bot.settings import Settings, SettingsError

if TYPE_CHECKING:  # Slack, Bolt and the store are imported when the bot is built, not with this module
    from slack_bolt import App
    from slack_sdk import WebClient

    from bot.adapters.audit import OutboxAudit, OutboxSender
    from bot.adapters.retries import PendingWrites
    from bot.runtime.jobs import Jobs
    from bot.slack.app import SlackFrontEnd
    from bot.slack.server import BotServer
    from bot.store import Store
    from bot.usecases import Ports

log = logging.getLogger(__name__)

SLACK_TIMEOUT = 10
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

    def health(self) -> tuple[bool, dict[str, Any]]:
        """The store and the audit sinks, for /readyz: a failing sink is reported but does not stop tokens."""
        store = self.upkeep.failing(STORE_LOOP) or self.store_status
        checks: dict[str, Any] = {"store": store}
        for sender in self.senders:
            name = "audit_channel" if sender.sink == "slack" else f"audit_{sender.sink}"
            checks[name] = "ok" if sender.healthy else f"failing: {sender.last_error}"
            checks[f"{name}_backlog"] = sender.backlog
            checks[f"{name}_oldest_seconds"] = round(sender.oldest_seconds, 1)
        return store.startswith("ok"), checks

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


def build_upkeep(
    settings: Settings,
    *,
    clock: Clock,
    store: Store,
    ports: Ports,
    senders: list[OutboxSender],
    retries: PendingWrites | None = None,
) -> Upkeep:
    """The periodic rounds: the crash sweep and approval lapses, the retention, the expiry reminders, and the
    ledger writes a database blink refused after a mint."""
    from bot.usecases import lapse_due, send_reminders

    def maintain() -> None:
        if store.sweep(now=clock.now()):
            for sender in senders:
                sender.wake()
        lapse_due(ports)

    loops = [
        Loop(STORE_LOOP, MAINTENANCE_SECONDS, maintain),
        Loop("retention", RETENTION_SECONDS, lambda: store.prune(now=clock.now())),
    ]
    if retries is not None:
        loops.append(Loop(RETRY_LOOP, RETRY_SECONDS, retries.retry_due, at_start=False))
    # Every replica sweeps the ledger every few seconds; its claim lets one of them remind each token once.
    # The pace keeps this replica's rounds off Slack until a 429's Retry-After has passed.
    interval = sweep_interval(settings.remind_before, ports.policy.absolute_min)
    if interval > 0:
        pace = ReminderPace()
        loops.append(Loop("reminders", interval, lambda: send_reminders(ports, pace=pace)))
    return Upkeep(clock, loops)


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


def build_slack_bot(
    settings: Settings, *, client: WebClient, workspace: Workspace, clock: Clock, policy: Policy | None = None
) -> SlackBot:
    """The Slack app on real adapters: users.info, ephemeral replies, the store, the audit sinks, the cluster."""
    from slack_bolt import App
    from slack_sdk.webhook import WebhookClient

    from bot.adapters.audit import OutboxAudit, OutboxSender, replica_id
    from bot.adapters.quota import LedgerQuota
    from bot.adapters.retries import PendingWrites
    from bot.runtime.jobs import Capacity, Jobs
    from bot.slack.app import SlackFrontEnd, register
    from bot.slack.audit import SLOW_ERRORS, AuditChannel
    from bot.slack.dedupe import SeenRequests
    from bot.slack.directory import SlackDirectory
    from bot.slack.lifecycle import register_lifecycle
    from bot.slack.replies import SlackReplies
    from bot.slack.retry import retry_handlers
    from bot.slack.surfaces import SlackSurfaces
    from bot.usecases import report

    settings.require_slack()
    policy = policy or build_policy(settings)
    glass_channel = alarm_channel(policy, settings) if policy.break_glass is not None else None
    store = build_store(settings)
    engine = build_engine(settings, clock=clock)
    holder = replica_id()
    audit = OutboxAudit(store.outbox)
    senders: list[OutboxSender] = []
    sinks: dict[str, str] = {}
    if settings.audit_channel:
        sinks["slack"] = f"slack:{settings.audit_channel}"
        channel = AuditChannel(client, settings.audit_channel)
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
        hook = AuditWebhook(settings.audit_webhook_url, settings.audit_webhook_secret.get_secret_value(), clock=clock)
        senders.append(
            OutboxSender(outbox=store.outbox, sink="webhook", deliver=hook.deliver, worker=holder, clock=clock)
        )
    for sender in senders:
        audit.subscribe(sender.wake)
    replies = SlackReplies(
        client,
        webhook_factory=lambda url: WebhookClient(url, timeout=SLACK_TIMEOUT, retry_handlers=retry_handlers()),
        clock=clock,
    )
    rule = QuotaRule(per_hour=policy.per_hour, cooldown=policy.cooldown)
    retries = PendingWrites(clock=clock, on_written=audit.wake)
    board = None
    if policy.approvals is not None:
        from bot.slack.approvals import SlackApprovalBoard

        board = SlackApprovalBoard(client, rules=policy.approvals, replies=replies, minimum=policy.everyone.min)
    alarm = None
    if glass_channel is not None:
        from bot.slack.alarm import SlackBreakGlassAlarm

        alarm = SlackBreakGlassAlarm(client, channel=glass_channel)
    ports = build_ports(
        settings,
        engine=engine.engine,
        directory=SlackDirectory(client, clock=clock),
        replies=replies,
        audit=audit,
        workspace=workspace,
        clock=clock,
        policy=policy,
        quota=LedgerQuota(ledger=store.ledger, rule=rule, wake=audit.wake, clock=clock, retries=retries),
        once=store.once,
        holder=holder,
        ledger=store.ledger,
        surfaces=SlackSurfaces(client, replies=replies),
        pending=store.approvals,
        board=board,
        alarm=alarm,
    )

    # A job that escapes its use case (a bug) still reaches the one reporter.
    def on_error(exc: BaseException, job: Any) -> None:
        command, ctx = job
        report(ports, command=command, ctx=ctx, error=exc)

    jobs = Jobs(workers=settings.workers, on_error=on_error)
    ui_jobs = Jobs(workers=UI_WORKERS, on_error=on_error)
    capacity = Capacity(policy.max_concurrent_issues)
    front = SlackFrontEnd(
        ports=ports, jobs=jobs, capacity=capacity, ui=ui_jobs, seen=SeenRequests(clock=clock.monotonic)
    )
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
        jobs=jobs,
        ui_jobs=ui_jobs,
        clock=clock,
        store=store,
        audit=audit,
        senders=senders,
        upkeep=build_upkeep(settings, clock=clock, store=store, ports=ports, senders=senders, retries=retries),
        closers=[engine.close],
        sinks=sinks,
    )


def build_server(
    settings: Settings, *, clock: Clock | None = None, host: str | None = None, port: int | None = None
) -> BotServer[SlackBot]:
    """`serve`'s server: settings checked now, Slack's client and the bot built once auth.test answered."""
    from bot.slack.server import BotServer

    settings.require_slack()
    policy = build_policy(settings)  # an invalid policy stops the start before any wait on Slack
    the_clock = clock or system_clock()
    return BotServer(
        settings,
        connect=lambda: build_web_client(settings),
        assemble=lambda client, workspace: build_slack_bot(
            settings, client=client, workspace=workspace, clock=the_clock, policy=policy
        ),
        host=host,
        port=port,
    )
