"""Fake Rok Registry: `GET {prefix}/auth/v1/token` answers for tokens held by a `FakeRok`."""

from __future__ import annotations

import asyncio
import time

from aiohttp import web

from sandbox.rok import FakeRok
from sandbox.server import FakeServer, ServerThread

FAULTS = frozenset({"http500", "hang", "drop"})
# Long enough for any client timeout under test, short enough that a forgotten request ends.
HANG_CAP_SECONDS = 60.0

UNAUTHORIZED_BODY = {
    "unauthorized": {
        "message": "Unauthorized",
        "code": 401,
        "details": ("This server could not verify that you are authorized to access the document you requested"),
    }
}


class FakeRegistry(FakeServer):
    """A fake Rok Registry on 127.0.0.1; `url` already includes the prefix."""

    def __init__(self, rok: FakeRok, *, prefix: str = "/registry") -> None:
        self.rok = rok
        self.prefix = "/" + prefix.strip("/") if prefix.strip("/") else ""
        self.fault: str | None = None
        self.requests = 0
        app = web.Application()
        app.router.add_get(f"{self.prefix}/auth/v1/token", self._token_info)
        self._server = ServerThread(app, name="fake-registry")

    @property
    def url(self) -> str:
        """Base URL including the prefix, e.g. `http://127.0.0.1:PORT/registry`."""
        return self._server.url + self.prefix

    async def _token_info(self, request: web.Request) -> web.StreamResponse:
        self.requests += 1
        fault = self.fault
        if fault == "http500":
            return web.json_response({"error": {"message": "Internal Server Error", "code": 500}}, status=500)
        if fault == "drop":
            transport = request.transport
            if transport is not None:
                transport.abort()
            # aiohttp treats a write to the aborted transport as a client disconnect and stays quiet.
            return web.Response(status=500)
        if fault == "hang":
            await _wait_until_client_leaves(request)
            return web.Response(status=504)
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        record = self.rok.lookup(token) if scheme.lower() == "bearer" and token else None
        if record is None:
            return web.json_response(UNAUTHORIZED_BODY, status=401)
        account = next((a for a in self.rok.accounts if a.uuid == record.account_uuid), None)
        return web.json_response(
            {
                "uuid": record.token_uuid,
                "created_at": record.created_at.isoformat(),
                "expires_at": record.expires_at.isoformat(),
                "user": {
                    "uuid": record.account_uuid,
                    "username": record.username,
                    "email": account.email if account else f"{record.username}@example.com",
                },
            }
        )


async def _wait_until_client_leaves(request: web.Request) -> None:
    # aiohttp does not cancel handlers when the peer disconnects, so poll the transport.
    deadline = time.monotonic() + HANG_CAP_SECONDS
    while time.monotonic() < deadline:
        transport = request.transport
        if transport is None or transport.is_closing():
            return
        await asyncio.sleep(0.02)
