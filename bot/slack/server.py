"""`rok-token-bot serve`: one port for `/slack/events` (HTTP mode), `/healthz`, `/readyz` and `/metrics`.

Socket Mode when SLACK_APP_TOKEN is set (slack_sdk's built-in client, no public URL needed), HTTP mode
otherwise. SIGTERM stops taking requests, drains the post-ack work (bounded) and exits 0.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from slack_bolt import App, BoltRequest, BoltResponse
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot import __version__, metrics
from bot.aio import ServerThread
from bot.audit import OutboxAudit, OutboxSender
from bot.domain.audit import AuditEvent, Outcome
from bot.domain.identity import Workspace
from bot.domain.lifecycle import sweep_interval
from bot.jobs import Jobs
from bot.service import Ports, lapse_due
from bot.settings import Settings, SettingsError
from bot.slack.app import SlackFrontEnd
from bot.store import Store

log = logging.getLogger(__name__)

MAINTENANCE_SECONDS = 60.0
# How long the job gate's probe waits for the event loop before it counts the loop as busy.
LOOP_PROBE_SECONDS = 0.05


def dispatch_http(app: App, body: str, query: str, headers: dict[str, str | Sequence[str]]) -> BoltResponse:
    """Run one HTTP request through Bolt; a body Bolt cannot even parse is a 400, never a 500."""
    try:
        request = BoltRequest(body=body, query=query, headers=headers)
    except (ValueError, TypeError, AttributeError, KeyError):
        log.warning("malformed Slack request refused", extra={"bytes": len(body)})
        return BoltResponse(status=400, body='{"error": "malformed request"}')
    return app.dispatch(request)


@dataclass
class Health:
    """What /healthz and /readyz report."""

    slack_auth: str = "pending"
    socket: Callable[[], bool] | None = None
    draining: bool = False
    senders: list[OutboxSender] = field(default_factory=list)
    store: str = "pending"

    def ready(self) -> tuple[bool, dict[str, Any]]:
        checks: dict[str, Any] = {"settings": "ok", "slack_auth": self.slack_auth, "store": self.store}
        ok = self.slack_auth == "ok" and self.store.startswith("ok") and not self.draining
        if self.socket is not None:
            connected = self.socket()
            checks["socket_mode"] = "connected" if connected else "disconnected"
            ok = ok and connected
        if self.draining:
            checks["draining"] = True
        for sender in self.senders:
            # A failing sink is reported but does not stop tokens: its events wait in the outbox.
            name = "audit_channel" if sender.sink == "slack" else f"audit_{sender.sink}"
            checks[name] = "ok" if sender.healthy else f"failing: {sender.last_error}"
            checks[f"{name}_backlog"] = sender.backlog
            checks[f"{name}_oldest_seconds"] = round(sender.oldest_seconds, 1)
        return ok, checks


@dataclass
class SlackBot:
    """Everything `serve` runs: the Bolt app, its front end, the jobs, the store and its audit senders."""

    app: App
    front: SlackFrontEnd
    audit: OutboxAudit
    senders: list[OutboxSender]
    jobs: Jobs
    store: Store
    closers: list[Callable[[], None]]  # the engine's clients, closed at the end
    ui_jobs: Jobs | None = None  # the Home tab and the form: views that must not queue behind mints

    @property
    def ports(self) -> Ports:
        return self.front.ports

    def flush_audit(self, timeout: float = 10.0) -> bool:
        """Deliver every pending audit event now, lingering refusals included (the demo, tests); True if done."""
        self.store.outbox.expedite(now=datetime.now(UTC))
        return all(sender.flush(timeout) for sender in self.senders)

    def close(self) -> None:
        for close in self.closers:
            close()
        self.store.close()


class BotServer:
    """The running app: HTTP listener, Slack connection, jobs. `start()` returns once it is ready.

    The composition root (`bot.bootstrap.build_server`) gives it `connect` (Slack's client) and `assemble`
    (the bot on that client, for the workspace auth.test names): the server only runs the lifecycle.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        connect: Callable[[], WebClient],
        assemble: Callable[[WebClient, Workspace], SlackBot],
        host: str | None = None,
        port: int | None = None,
    ) -> None:
        self.settings = settings
        self._connect = connect
        self._assemble = assemble
        self.health = Health()
        # Set by SIGTERM: also ends a start() that is still waiting for Slack to answer auth.test.
        self.stopping = threading.Event()
        self._maintenance = threading.Event()
        self._store_ok = "ok"
        self.bot: SlackBot | None = None
        self._socket: Any = None
        web_app = web.Application(client_max_size=256 * 1024)
        web_app.router.add_get("/healthz", self._healthz)
        web_app.router.add_get("/readyz", self._readyz)
        web_app.router.add_get("/metrics", self._metrics)
        if not settings.socket_mode:
            web_app.router.add_post("/slack/events", self._slack_events)
        self._http = ServerThread(
            web_app, host=host or settings.bind, port=settings.port if port is None else port, name="bot-http"
        )

    @property
    def url(self) -> str:
        return self._http.url

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The HTTP listener's event loop: in HTTP mode, where every ack is answered."""
        return self._http.loop

    @property
    def socket_client(self) -> Any:
        """The Socket Mode client (None in HTTP mode or before start): its live socket, for tests and probes."""
        return self._socket.client if self._socket is not None else None

    def start(self, *, auth_attempts: int = 0) -> BotServer:
        """Serve probes at once; connect to Slack (retrying auth.test), then take requests."""
        self._http.start()
        client = self._connect()
        auth = self._auth_test(client, attempts=auth_attempts)
        workspace = Workspace(team_id=str(auth["team_id"]), enterprise_id=auth.get("enterprise_id") or None)
        self.bot = self._assemble(client, workspace)
        self._start_store(self.bot.store)
        self.health.senders = self.bot.senders
        self.bot.jobs.warm()
        if self.bot.ui_jobs is not None:
            self.bot.ui_jobs.warm()
        for sender in self.bot.senders:
            sender.start()
        mode = "Socket Mode" if self.settings.socket_mode else "HTTP mode"
        self.bot.audit.record(
            AuditEvent(outcome=Outcome.STARTED, request_id="startup", reason=f"rok-token-bot {__version__}, {mode}")
        )
        if self.settings.socket_mode:
            self._connect_socket(self.bot.app, client, self.bot.jobs)
        else:
            self.bot.jobs.watch(self.loop_backlog)
        self.health.slack_auth = "ok"
        log.info("ready", extra={"mode": "socket" if self.settings.socket_mode else "http", "url": self.url})
        return self

    def _start_store(self, store: Store) -> None:
        """Migrate under the store's lock (replicas starting together do not race), audit mints a crash left
        unfinished, and keep doing that, and the retention, in the background. A restart on a schema already
        at head costs one query and never imports Alembic (~8 MB that would stay resident)."""
        revision = store.ensure_schema()
        self._store_ok = self.health.store = f"ok: {store.backend} at {revision}"
        store.sweep(now=datetime.now(UTC))
        threading.Thread(target=self._maintain, args=(store,), name="store-upkeep", daemon=True).start()
        self._start_reminders()

    def _start_reminders(self) -> None:
        """Expiry reminders: a sweep of the ledger every few seconds, on a thread of its own (never the ack
        path); every replica sweeps, and the ledger's claim lets one of them remind each token once."""
        assert self.bot is not None
        interval = sweep_interval(self.settings.remind_before, self.bot.ports.policy.absolute_min)
        if interval > 0:
            threading.Thread(target=self._remind, args=(interval,), name="reminders", daemon=True).start()

    def _remind(self, interval: float) -> None:
        from bot.service import send_reminders

        while not self._maintenance.wait(interval):
            if self.bot is None or self.health.draining:
                continue
            try:
                send_reminders(self.bot.ports, now=datetime.now(UTC))
            except Exception as exc:  # the database is down: the upkeep loop reports it; try again next round
                log.warning("reminder sweep failed", extra={"error": type(exc).__name__})

    def _maintain(self, store: Store) -> None:
        """Every minute: the crash sweep and lapsed approvals; every hour: the retention. A failing database
        shows in /readyz."""
        rounds = 0
        while not self._maintenance.wait(MAINTENANCE_SECONDS):
            rounds += 1
            try:
                now = datetime.now(UTC)
                if store.sweep(now=now) and self.bot is not None:
                    for sender in self.bot.senders:
                        sender.wake()
                self.sweep_approvals(now)
                if rounds % 60 == 0:
                    store.prune(now=now)
                self.health.store = self._store_ok
            except Exception as exc:  # the database is down: say so, keep trying
                self.health.store = f"failing: {type(exc).__name__}"
                log.warning("store upkeep failed", extra={"error": type(exc).__name__})

    def sweep_approvals(self, now: datetime | None = None) -> int:
        """Approval requests past their expiry: each lapsed once across replicas (requester told, message
        edited, audited); how many. The maintenance thread calls it every round."""
        if self.bot is None:
            return 0
        return len(lapse_due(self.bot.ports, now=now))

    def _auth_test(self, client: WebClient, *, attempts: int) -> dict[str, Any]:
        """auth.test until it answers (attempts=0: forever, with capped backoff); /readyz stays 503 meanwhile."""
        delay, attempt = 1.0, 0
        while True:
            attempt += 1
            try:
                return dict(client.auth_test().data)  # type: ignore[arg-type]
            except SlackApiError as exc:
                error = str(exc.response.get("error", "unknown"))
                metrics.SLACK_API_ERRORS.labels("auth.test", error).inc()
                self.health.slack_auth = f"failing: {error}"
                if error in ("invalid_auth", "not_authed", "account_inactive", "token_revoked"):
                    raise SettingsError(f"SLACK_BOT_TOKEN: Slack refused it ({error})") from None
            except (SlackClientError, OSError) as exc:
                self.health.slack_auth = f"failing: {type(exc).__name__}"
            if attempts and attempt >= attempts:
                raise SettingsError(f"Slack auth.test failed: {self.health.slack_auth}")
            log.warning("Slack auth.test failed, retrying", extra={"error": self.health.slack_auth})
            if self.stopping.wait(delay):
                raise _Stopped
            delay = min(delay * 2, 30.0)

    def _connect_socket(self, app: App, client: WebClient, jobs: Jobs) -> None:
        from bot.slack.socket import SocketHandler

        assert self.settings.slack_app_token is not None
        handler = SocketHandler(
            app,
            app_token=self.settings.slack_app_token.get_secret_value(),
            web_client=client,
            jobs=jobs,
            concurrency=16,
        )
        handler.connect()  # type: ignore[no-untyped-call]
        jobs.watch(handler.client.backlog)
        self._socket = handler
        self.health.socket = handler.client.is_connected

    def loop_backlog(self) -> bool:
        """HTTP mode: whether the event loop has work queued ahead of a callback posted now (it runs after it).

        The job gate asks this once the acks have paused: a pause may only be the OS running another thread,
        with requests still queued on the loop. Slower than LOOP_PROBE_SECONDS counts as busy.
        """
        reached = threading.Event()
        try:
            self.loop.call_soon_threadsafe(reached.set)
        except RuntimeError:  # the loop is closed (shutting down): nothing can be queued on it
            return False
        return not reached.wait(LOOP_PROBE_SECONDS)

    # -- HTTP handlers ----------------------------------------------------------------------------

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "alive", "version": __version__})

    async def _readyz(self, request: web.Request) -> web.Response:
        ok, checks = self.health.ready()
        return web.json_response({"ready": ok, "checks": checks}, status=200 if ok else 503)

    async def _metrics(self, request: web.Request) -> web.Response:
        body = generate_latest()
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _slack_events(self, request: web.Request) -> web.Response:
        started = time.perf_counter()
        bot = self.bot
        if bot is None or self.health.draining:
            return web.json_response({"error": "not ready"}, status=503)
        body = (await request.read()).decode("utf-8", errors="replace")
        headers: dict[str, str | Sequence[str]] = {}
        for key, value in request.headers.items():
            previous = headers.get(key.lower())
            headers[key.lower()] = [*previous, value] if isinstance(previous, list) else [value]
        # The ack path never waits on I/O (the work after the ack goes to Jobs), so it runs right here on the
        # loop: a hop to a thread pool costs more under load (GIL hand-offs) than the dispatch itself. Marked as
        # an ack, so the work it queues waits until the loop has answered the requests queued behind it.
        with bot.jobs.acking():
            response = dispatch_http(bot.app, body, request.query_string, headers)
        metrics.ACK_SECONDS.labels("http").observe(time.perf_counter() - started)
        return web.Response(
            status=response.status,
            body=response.body.encode() if isinstance(response.body, str) else response.body,
            headers=response.first_headers_without_set_cookie(),
        )

    # -- shutdown ---------------------------------------------------------------------------------

    def _close_socket(self) -> None:
        try:
            self._socket.close()
        except Exception:  # closing a dead socket must not fail the shutdown
            log.warning("socket mode close failed", exc_info=True)

    def stop(self, *, drain_timeout: float | None = None) -> bool:
        """Stop taking requests, finish those in flight (bounded), close everything; True if all finished."""
        timeout = float(self.settings.drain_timeout if drain_timeout is None else drain_timeout)
        self.health.draining = True
        if self._socket is not None:
            # slack_sdk's client holds its receive lock through a 3 s socket timeout while closing: close
            # in the background so new events stop at once and the drain below is not delayed.
            closer = threading.Thread(target=self._close_socket, name="socket-close", daemon=True)
            closer.start()
            closer.join(timeout=0.5)
        finished = True
        if self.bot is not None:
            began = time.monotonic()
            finished = self.bot.jobs.drain(timeout)
            if self.bot.ui_jobs is not None:  # quick jobs: what is left of the timeout, a second at least
                left = max(timeout - (time.monotonic() - began), 1.0)
                finished = self.bot.ui_jobs.drain(left) and finished
            self.bot.audit.record(
                AuditEvent(
                    outcome=Outcome.STOPPED, request_id="shutdown", reason="drained" if finished else "drain timed out"
                )
            )
            for sender in self.bot.senders:
                sender.stop(timeout=5)  # what is left waits in the outbox for the next start or another replica
            self._maintenance.set()
            self.bot.close()
        self._http.stop()
        return finished


class _Stopped(Exception):
    """SIGTERM arrived before the bot was ready."""


def serve(server: BotServer) -> int:
    """Run until SIGTERM or SIGINT, then drain and exit 0."""
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: server.stopping.set())
    try:
        server.start()
    except _Stopped:
        log.info("stopped before Slack answered")
        server.stop(drain_timeout=0)
        return 0
    print(json.dumps({"listening": server.url}), flush=True)
    # A timed wait, not wait(): a signal delivered to another thread only runs its Python handler when the
    # main thread next executes bytecode, and an untimed lock wait would never return to do so.
    while not server.stopping.wait(0.2):
        pass
    log.info("stopping: draining in-flight requests")
    server.stop()
    return 0
