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
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from slack_bolt import App, BoltRequest, BoltResponse
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot import __version__
from bot.domain.identity import Workspace, workspace_of
from bot.runtime import metrics, tracing
from bot.runtime.http import Handler, HttpServer, Request, Response, json_response
from bot.runtime.jobs import Jobs
from bot.runtime.startup import resume
from bot.settings import Settings, SettingsError
from bot.slack.client import SlackClient

log = logging.getLogger(__name__)

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


class Assembled(Protocol):
    """What the server runs once Slack answered (`bot.bootstrap.SlackBot`): the app, its job pools, and what
    starts and stops with them (the store, the audit senders, the upkeep)."""

    @property
    def app(self) -> App: ...

    @property
    def jobs(self) -> Jobs: ...

    @property
    def ui_jobs(self) -> Jobs: ...

    def start(self, *, mode: str) -> None:
        """Prepare the state and start the background work, before the first request is taken."""
        ...

    def serving(self) -> None:
        """Requests are taken now: start what waited for it."""
        ...

    def health(self) -> tuple[bool, dict[str, Any]]:
        """Ready or not, and the checks /readyz shows."""
        ...

    def stop(self, *, drained: bool) -> None:
        """After the drain: stop the background work and close everything."""
        ...


B = TypeVar("B", bound=Assembled)
T = TypeVar("T")


@dataclass
class Health:
    """What /healthz and /readyz report: Slack's side here, the assembled bot's own checks beside it."""

    slack_auth: str = "pending"
    socket: Callable[[], bool] | None = None
    draining: bool = False
    bot: Assembled | None = None

    def ready(self) -> tuple[bool, dict[str, Any]]:
        checks: dict[str, Any] = {"settings": "ok", "slack_auth": self.slack_auth}
        ok = self.slack_auth == "ok" and not self.draining
        if self.bot is None:
            ok, checks["store"] = False, "pending"
        else:
            bot_ok, bot_checks = self.bot.health()
            ok = ok and bot_ok
            checks |= bot_checks
        if self.socket is not None:
            connected = self.socket()
            checks["socket_mode"] = "connected" if connected else "disconnected"
            ok = ok and connected
        if self.draining:
            checks["draining"] = True
        metrics.READY.set(1 if ok else 0)
        return ok, checks


class BotServer(Generic[B]):
    """The running app: HTTP listener, Slack connection, jobs. `start()` returns once it is ready.

    The composition root (`bot.bootstrap.build_server`) gives it `connect` (Slack's client) and `assemble`
    (the bot on that client, for the workspace auth.test names): the server only runs the Slack lifecycle.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        connect: Callable[[], WebClient],
        assemble: Callable[[WebClient, Workspace], B],
        prepare: Callable[[], object] | None = None,
        host: str | None = None,
        port: int | None = None,
    ) -> None:
        self.settings = settings
        self._connect = connect
        self._assemble = assemble
        self._prepare = prepare
        self.health = Health()
        # Set by SIGTERM: also ends a start() that is still waiting for Slack to answer auth.test.
        self.stopping = threading.Event()
        self.bot: B | None = None
        self._socket: Any = None
        self._traced = False  # this server started tracing: it stops it
        routes: dict[str, dict[str, Handler]] = {
            "/healthz": {"GET": self._healthz},
            "/readyz": {"GET": self._readyz},
            "/metrics": {"GET": self._metrics},
        }
        if not settings.socket_mode:
            routes["/slack/events"] = {"POST": self._slack_events}
        self._http = HttpServer(
            routes, host=host or settings.bind, port=settings.port if port is None else port, name="bot-http"
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

    def start(self, *, auth_attempts: int = 0) -> BotServer[B]:
        """Serve probes at once; connect to Slack (retrying auth.test), then take requests."""
        self._http.start()
        client = self._connect()
        auth = self._while_waiting(lambda: self._auth_test(client, attempts=auth_attempts))
        workspace = workspace_of(auth, teams=self.settings.slack_teams)
        if workspace.org_wide:
            self._learn_teams(client, workspace)
        self.bot = self._assemble(client, workspace)
        mode = "Socket Mode" if self.settings.socket_mode else "HTTP mode"
        self._traced = tracing.start()  # the OTEL_* variables decide; off, nothing of OpenTelemetry is imported
        self.bot.start(mode=mode)
        self.health.bot = self.bot
        if self.settings.socket_mode:
            self._connect_socket(self.bot.app, client, self.bot.jobs)
        else:
            self.bot.jobs.watch(self.loop_backlog)
        self.health.slack_auth = "ok"
        self.bot.serving()
        log.info("ready", extra={"mode": "socket" if self.settings.socket_mode else "http", "url": self.url})
        # Once /readyz answers 200: the workers' threads (a first request meanwhile starts its own).
        self.bot.jobs.warm()
        self.bot.ui_jobs.warm()
        return self

    def _while_waiting(self, wait: Callable[[], T]) -> T:
        """`wait()` (auth.test: a round trip to Slack, ~0.1 to 0.3 s from a cluster) with `prepare` beside it on a
        thread: the assembly's imports (~0.25 s of CPU) run while this thread waits on the network. Joined before
        the assembly imports anything, so two threads never import at once."""
        if self._prepare is None:
            return wait()
        preparing = threading.Thread(target=self._prepare, name="prepare", daemon=True)
        preparing.start()
        try:
            return wait()
        finally:
            preparing.join()

    def _learn_teams(self, client: WebClient, workspace: Workspace) -> None:
        """An org-wide install serves the workspaces it is in from its first request: ask Slack which they are.
        If Slack does not answer, start anyway (it routes requests only from those workspaces) and let the
        upkeep ask again."""
        from bot.slack.org import refresh_teams

        try:
            refresh_teams(client, workspace)
        except (SlackApiError, SlackClientError, OSError) as exc:
            log.warning("auth.teams.list failed at start; asking again soon", extra={"error": type(exc).__name__})

    def _auth_test(self, client: WebClient, *, attempts: int) -> dict[str, Any]:
        """auth.test until it answers (attempts=0: forever, with capped backoff); /readyz stays 503 meanwhile."""
        delay, attempt = 1.0, 0
        while True:
            attempt += 1
            try:
                answer = client.auth_test()
                if isinstance(client, SlackClient):
                    client.verified(answer)  # Bolt's App, built next, asks the same: it gets this answer
                return dict(answer.data)  # type: ignore[arg-type]
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

    async def _healthz(self, request: Request) -> Response:
        return json_response({"status": "alive", "version": __version__})

    async def _readyz(self, request: Request) -> Response:
        ok, checks = self.health.ready()
        return json_response({"ready": ok, "checks": checks}, status=200 if ok else 503)

    async def _metrics(self, request: Request) -> Response:
        self.health.ready()  # rok_bot_ready as of this scrape, not of the last probe
        return Response(200, generate_latest(), {"content-type": CONTENT_TYPE_LATEST})

    async def _slack_events(self, request: Request) -> Response:
        started = time.perf_counter()
        bot = self.bot
        if bot is None or self.health.draining:
            return json_response({"error": "not ready"}, status=503)
        body = request.body.decode("utf-8", errors="replace")
        headers: dict[str, str | Sequence[str]] = {}
        for key, value in request.headers:  # lowercased by the server
            previous = headers.get(key)
            headers[key] = [*previous, value] if isinstance(previous, list) else [value]
        # The ack path never waits on I/O (the work after the ack goes to Jobs), so it runs right here on the
        # loop: a hop to a thread pool costs more under load (GIL hand-offs) than the dispatch itself. Marked as
        # an ack, so the work it queues waits until the loop has answered the requests queued behind it.
        with bot.jobs.acking():
            response = dispatch_http(bot.app, body, request.query, headers)
        metrics.ACK_SECONDS.labels("http").observe(time.perf_counter() - started)
        return Response(
            response.status,
            response.body.encode() if isinstance(response.body, str) else response.body,
            {k.lower(): v for k, v in response.first_headers_without_set_cookie().items()},
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
            # Quick jobs: what is left of the timeout, a second at least.
            left = max(timeout - (time.monotonic() - began), 1.0)
            finished = self.bot.ui_jobs.drain(left) and finished
            self.bot.stop(drained=finished)
        if self._traced:
            self._traced = False
            tracing.stop()  # after the senders' last round: its spans are exported too
        self._http.stop()
        return finished


class _Stopped(Exception):
    """SIGTERM arrived before the bot was ready."""


def serve(server: BotServer[Any]) -> int:
    """Run until SIGTERM or SIGINT, then drain and exit 0."""
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: server.stopping.set())
    try:
        server.start()
    except _Stopped:
        log.info("stopped before Slack answered")
        server.stop(drain_timeout=0)
        return 0
    resume()  # ready: the collector runs again (bot.runtime.startup)
    print(json.dumps({"listening": server.url}), flush=True)
    # A timed wait, not wait(): a signal delivered to another thread only runs its Python handler when the
    # main thread next executes bytecode, and an untimed lock wait would never return to do so.
    while not server.stopping.wait(0.2):
        pass
    log.info("stopping: draining in-flight requests")
    server.stop()
    return 0
