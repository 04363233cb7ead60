"""Socket Mode: slack_sdk's built-in client with TCP_NODELAY on every connection it opens, and Bolt behind it.

Why: the built-in client sets TCP_NODELAY only on its proxy path (`_establish_new_socket_connection`), so on a
direct connection each small ack frame waits for the peer's delayed ACK (Nagle). Profiled under a burst of
200 commands: one ack left the bot at 35 ms and reached the peer at 78 ms with nothing in between; with the
option set, burst ack p99 went from 95 to 60 ms. The client is otherwise slack_sdk's own (same reconnect,
ping and receive code): `connect()` is where every connection is made, the first one and each reconnect
(a server close, a `disconnect` message, a stale link found by the monitor), so the option is set there.

The handler is Bolt's built-in Socket Mode handler on that client, with its threads named for what they do
(`socket-receive`, `socket-dispatch`, `socket-monitor`, `socket-ack_N`) so a thread profile reads right, and
each ack marked with `Jobs.acking()`: the work it queues waits until the acks pause (see bot/runtime/jobs.py). The
client's `backlog()` tells the job gate whether envelopes are still waiting for their ack.
"""

from __future__ import annotations

import array
import fcntl
import logging
import socket
import termios
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, ParamSpec, TypeVar

from slack_bolt import App, BoltResponse
from slack_bolt.adapter.socket_mode.base_handler import BaseSocketModeHandler
from slack_bolt.adapter.socket_mode.internals import run_bolt_app, send_response
from slack_sdk import WebClient
from slack_sdk.socket_mode.builtin import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest

from bot.runtime.jobs import Jobs

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

# Bolt's built-in handler's default (slack_sdk's client alone uses 5): keeps reconnect and stale-link
# behaviour as it was.
PING_INTERVAL_SECONDS = 10


def set_nodelay(sock: socket.socket) -> bool:
    """Send small frames at once (no Nagle); False when the socket is already gone (the reconnect sets it)."""
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except OSError:
        return False
    return True


def unread_bytes(sock: socket.socket) -> int:
    """Bytes the peer sent that are not read yet (FIONREAD); 0 when the socket is gone."""
    buffer = array.array("i", [0])
    try:
        fcntl.ioctl(sock.fileno(), termios.FIONREAD, buffer)
    except (OSError, ValueError):  # closed meanwhile (fileno() is -1, or the ioctl fails)
        return 0
    return buffer[0]


class CountingPool(ThreadPoolExecutor):
    """A thread pool that knows how many of the tasks it was given have not finished (queued or running)."""

    def __init__(self, *, max_workers: int, thread_name_prefix: str) -> None:
        super().__init__(max_workers=max_workers, thread_name_prefix=thread_name_prefix)
        self._count_lock = threading.Lock()
        self._unfinished = 0

    @property
    def unfinished(self) -> int:
        return self._unfinished

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        with self._count_lock:
            self._unfinished += 1
        try:
            future = super().submit(fn, *args, **kwargs)
        except BaseException:
            self._finished()
            raise
        future.add_done_callback(lambda _: self._finished())
        return future

    def _finished(self) -> None:
        with self._count_lock:
            self._unfinished -= 1


class NoDelaySocketModeClient(SocketModeClient):
    """slack_sdk's built-in Socket Mode client; every connection it opens has TCP_NODELAY set."""

    message_workers: CountingPool

    def __init__(self, *, concurrency: int = 10, **kwargs: Any) -> None:
        super().__init__(concurrency=concurrency, **kwargs)
        self.current_session_runner.thread.name = "socket-receive"
        self.message_processor.thread.name = "socket-dispatch"
        self.current_app_monitor.thread.name = "socket-monitor"
        # The pool the client made has started no thread yet: replace it with one whose threads say what they
        # do and that counts the envelopes it has not finished (the backlog the job gate asks about).
        unnamed, self.message_workers = (
            self.message_workers,
            CountingPool(max_workers=concurrency, thread_name_prefix="socket-ack"),
        )
        unnamed.shutdown(wait=False)

    def backlog(self) -> bool:
        """Whether envelopes wait for their ack: still in the kernel's receive buffer, read and queued, or
        being answered. (Under a burst the receive thread lags behind the peer: envelopes Slack has already
        sent sit unread in the socket while the queue behind it is momentarily empty.)"""
        if self.message_queue.qsize() > 0 or self.message_workers.unfinished > 0:
            return True
        session = self.current_session
        sock = session.sock if session is not None else None
        return sock is not None and unread_bytes(sock) > 0

    def connect(self) -> None:
        """Connect (first time or again) as slack_sdk does, then turn Nagle off on the new socket."""
        super().connect()
        session = self.current_session
        sock = session.sock if session is not None else None
        if sock is not None and not set_nodelay(sock):
            log.info("Socket Mode connection closed before TCP_NODELAY could be set")


class SocketHandler(BaseSocketModeHandler):
    """Bolt's built-in Socket Mode handler, on `NoDelaySocketModeClient`; each ack is marked for the job gate."""

    client: NoDelaySocketModeClient

    def __init__(self, app: App, *, app_token: str, web_client: WebClient, jobs: Jobs, concurrency: int) -> None:
        self.app = app
        self.app_token = app_token
        self.jobs = jobs
        self.client = NoDelaySocketModeClient(
            app_token=app_token,
            logger=app.logger,
            web_client=web_client,
            proxy=web_client.proxy,
            ping_interval=PING_INTERVAL_SECONDS,
            concurrency=concurrency,
        )
        self.client.socket_mode_request_listeners.append(self.handle)  # type: ignore[arg-type]

    def handle(self, client: SocketModeClient, req: SocketModeRequest) -> None:  # type: ignore[override]
        """Run one envelope through Bolt and send its ack, as Bolt's own handler does, marked as an ack."""
        start = time.time()  # wall clock: Bolt's send_response logs the ack's latency from it
        with self.jobs.acking():
            response: BoltResponse = run_bolt_app(self.app, req)
            send_response(client, req, response, start)
