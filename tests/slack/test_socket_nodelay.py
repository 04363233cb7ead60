"""Socket Mode acks leave at once: TCP_NODELAY is set on the live socket after every connect and reconnect.

slack_sdk's built-in client sets TCP_NODELAY only on its proxy path; without it each small ack frame waits for
the peer's delayed ACK (Nagle), ~40 ms. The option is read back with getsockopt on the client's own socket,
after the first connect and after each way Slack makes it reconnect (a server-side close, a `disconnect`).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from sandbox.world import Sandbox


@pytest.fixture(scope="module")
def socket_world() -> Iterator[Sandbox]:
    with Sandbox(socket_mode=True) as box:
        yield box


def _live_socket(client: Any) -> socket.socket:
    session = client.current_session
    assert session is not None and session.sock is not None, "the Socket Mode client is not connected"
    sock: socket.socket = session.sock
    return sock


def _nodelay(client: Any) -> int:
    return _live_socket(client).getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)


def _wait_for_new_session(box: Sandbox, client: Any, old: str) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if client.session_id() != old and client.is_connected() and box.slack.socket_connections == 1:
            return
        time.sleep(0.02)
    raise AssertionError("the Socket Mode client did not reconnect")


def _ack_still_works(box: Sandbox) -> None:
    ack = box.slash("U0JDOE", "5x")[1]  # refused in the ack itself: the answer comes back on this socket
    assert "not a duration" in str(ack)


def test_the_socket_has_tcp_nodelay_after_the_first_connect(socket_world: Sandbox) -> None:
    client = socket_world.server.socket_client
    assert _nodelay(client) != 0
    _ack_still_works(socket_world)


@pytest.mark.parametrize("how", ["slack closes the connection", "slack asks for a reconnect"])
def test_the_socket_has_tcp_nodelay_after_every_reconnect(socket_world: Sandbox, how: str) -> None:
    client = socket_world.server.socket_client
    old = client.session_id()
    if how == "slack closes the connection":
        socket_world.slack.close_connections()
    else:
        socket_world.slack.send_disconnect()
    _wait_for_new_session(socket_world, client, old)
    assert _nodelay(client) != 0
    _ack_still_works(socket_world)


def test_the_socket_mode_threads_say_what_they_are(socket_world: Sandbox) -> None:
    _ack_still_works(socket_world)  # an envelope has been handled: the ack pool has a thread
    names = {t.name.rsplit("_", 1)[0] for t in threading.enumerate()}
    assert {"socket-receive", "socket-dispatch", "socket-monitor", "socket-ack", "bot-http", "job"} <= names


def test_envelopes_still_in_the_kernels_buffer_count_as_a_backlog() -> None:
    """Under a burst the receive thread lags: bytes Slack sent and nobody read yet must hold the job gate."""
    from bot.slack.socket import unread_bytes

    ours, peer = socket.socketpair()
    with ours, peer:
        assert unread_bytes(ours) == 0
        peer.sendall(b"x" * 300)
        deadline = time.monotonic() + 5
        while unread_bytes(ours) < 300 and time.monotonic() < deadline:
            time.sleep(0.001)
        assert unread_bytes(ours) == 300
        ours.recv(300)
        assert unread_bytes(ours) == 0
    assert unread_bytes(ours) == 0  # closed: no backlog, no error
