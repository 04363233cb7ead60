"""Check a token against the Rok Registry: `GET {ROK_REGISTRY_URL}/auth/v1/token` with a Bearer header."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bot.domain.models import Verdict, VerifyResult
from bot.domain.secret import Token
from bot.domain.urls import safe_url

log = logging.getLogger(__name__)

VERIFY_PATH = "auth/v1/token"


def verify_url(registry_url: str) -> str:
    """Join the verify path onto the base URL, keeping any path prefix (`https://host/registry`)."""
    return registry_url.rstrip("/") + "/" + VERIFY_PATH


def _when(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class RegistryClient:
    """A small httpx client for the registry; TLS verification is always on."""

    def __init__(
        self,
        *,
        registry_url: str,
        ca_bundle: Path | None = None,
        timeout: float = 10.0,
    ) -> None:
        self._url = verify_url(registry_url)
        verify: Any = str(ca_bundle) if ca_bundle else True
        self._client = httpx.Client(
            timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
            verify=verify,
            follow_redirects=False,
            headers={"User-Agent": "rok-token-bot"},
        )

    @property
    def url(self) -> str:
        """The verify URL as it may be shown: without any `user:password@`."""
        return safe_url(self._url)

    def close(self) -> None:
        self._client.close()

    def verify(self, token: Token) -> VerifyResult:
        """Ask the registry whether a token is valid; never raises for network or HTTP failures."""
        try:
            response = self._client.get(self._url, headers={"Authorization": f"Bearer {token.reveal()}"})
        except httpx.TimeoutException:
            return VerifyResult(Verdict.UNREACHABLE, "The Rok Registry did not answer in time.")
        except httpx.HTTPError as exc:
            log.warning("registry unreachable", extra={"error": type(exc).__name__})
            return VerifyResult(Verdict.UNREACHABLE, "The Rok Registry could not be reached.")
        return interpret(response.status_code, response.content)

    def probe(self) -> VerifyResult:
        """Reachability check without a token: a 401 envelope means the registry is up and answering."""
        try:
            response = self._client.get(self._url)
        except httpx.HTTPError as exc:
            return VerifyResult(Verdict.UNREACHABLE, f"{type(exc).__name__} reaching {self.url}")
        return interpret(response.status_code, response.content)


def interpret(status: int, body: bytes) -> VerifyResult:
    """Turn the registry's answer into a verdict; the HTTP status decides, the body adds facts."""
    data: Any
    try:
        data = json.loads(body) if body else None
    except ValueError:
        data = None
    if status == 200:
        info = data if isinstance(data, dict) else {}
        uuid = info.get("uuid")
        return VerifyResult(
            Verdict.VALID,
            "The token is valid.",
            token_uuid=uuid if isinstance(uuid, str) else None,
            created_at=_when(info.get("created_at")),
            expires_at=_when(info.get("expires_at")),
            user=info.get("user"),
        )
    if status in (401, 403):
        # The envelope has a single top-level key (`unauthorized`, ...): read it generically.
        message = "The token is expired or malformed."
        if isinstance(data, dict) and len(data) == 1:
            inner = next(iter(data.values()))
            if isinstance(inner, dict) and isinstance(inner.get("message"), str):
                message = f"The registry answered {inner['message'][:80]}: the token is expired or malformed."
        return VerifyResult(Verdict.REJECTED, message)
    if status >= 500:
        return VerifyResult(Verdict.UNREACHABLE, f"The Rok Registry answered HTTP {status}.")
    return VerifyResult(Verdict.REJECTED, f"The Rok Registry refused the token (HTTP {status}).")
