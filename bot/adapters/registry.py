"""Check a token against the Rok Registry: `GET {ROK_REGISTRY_URL}/auth/v1/token` with a Bearer header."""

from __future__ import annotations

import json
import logging
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.domain.models import Verdict, VerifyResult
from bot.domain.secret import Token
from bot.domain.urls import safe_url

if TYPE_CHECKING:
    import httpx

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
    """A small httpx client for the registry; TLS verification is always on.

    The httpx client is made on the first request: its TLS context (the CA bundle parsed, about 90 ms and
    2.6 MiB) is paid by a verification, not by every start (the CLI's `issue` never verifies; `serve` only when
    someone presses Verify).
    """

    def __init__(
        self,
        *,
        registry_url: str,
        ca_bundle: Path | None = None,
        timeout: float = 10.0,
    ) -> None:
        self._url = verify_url(registry_url)
        self._verify: Any = str(ca_bundle) if ca_bundle else True
        self._timeout = timeout
        self._lock = threading.Lock()
        self._made: httpx.Client | None = None

    @property
    def _client(self) -> httpx.Client:
        """The httpx client, made once, on first use (threads may verify at once)."""
        with self._lock:
            if self._made is None:
                import httpx

                self._made = httpx.Client(
                    timeout=httpx.Timeout(self._timeout, connect=min(self._timeout, 5.0)),
                    verify=self._verify,
                    follow_redirects=False,
                    headers={"User-Agent": "rok-token-bot"},
                )
            return self._made

    @property
    def url(self) -> str:
        """The verify URL as it may be shown: without any `user:password@`."""
        return safe_url(self._url)

    def close(self) -> None:
        with self._lock:
            if self._made is not None:
                self._made.close()

    def verify(self, token: Token) -> VerifyResult:
        """Ask the registry whether a token is valid; never raises for network or HTTP failures."""
        import httpx

        try:
            response = self._client.get(self._url, headers={"Authorization": f"Bearer {token.reveal()}"})
        except OSError as exc:  # the CA bundle, read with the first request (ssl.SSLError is one too)
            log.warning("registry CA bundle unusable", extra={"error": type(exc).__name__})
            return VerifyResult(Verdict.UNREACHABLE, "The Rok Registry's CA bundle could not be loaded.")
        except httpx.TimeoutException:
            return VerifyResult(Verdict.UNREACHABLE, "The Rok Registry did not answer in time.")
        except httpx.HTTPError as exc:
            log.warning("registry unreachable", extra={"error": type(exc).__name__})
            return VerifyResult(Verdict.UNREACHABLE, "The Rok Registry could not be reached.")
        return interpret(response.status_code, response.content)

    def probe(self) -> VerifyResult:
        """Reachability check without a token: a 401 envelope means the registry is up and answering."""
        import httpx

        try:
            response = self._client.get(self._url)
        except (OSError, httpx.HTTPError) as exc:
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
