"""Seal a token into a Verify button value: AES-256-GCM, bound to the Slack user, expiring with the token.

The value is `v1.` + base64url(nonce ‖ ciphertext ‖ tag). The Slack user ID is the associated data, so a
value copied into another user's click fails authentication; the expiry is inside the ciphertext. Any
replica with the same ROK_BOT_SEAL_KEY can open it, also after a restart: nothing is kept server-side.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import time
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from bot.domain.errors import RokBotError
from bot.domain.secret import Token

VERSION = "v1."
MIN_KEY_CHARS = 32
_MAX_VALUE_CHARS = 2000  # Slack's limit for a button value


class SealError(RokBotError):
    """A Verify value that is forged, tampered with, someone else's, or expired."""

    user_message = "This Verify button is not valid for you; run /rok-token again."


class SealExpired(SealError):
    user_message = "This token has expired; run /rok-token again for a new one."


@dataclass(frozen=True, slots=True)
class Sealed:
    """What a Verify value carries once opened."""

    token: Token
    user_id: str
    expires_at: int
    token_uuid: str | None
    username: str | None


class Sealer:
    """Seals and opens Verify button values with a key derived from ROK_BOT_SEAL_KEY."""

    def __init__(self, secret: str) -> None:
        if len(secret) < MIN_KEY_CHARS:
            raise ValueError(f"ROK_BOT_SEAL_KEY must be at least {MIN_KEY_CHARS} characters of random data")
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"rok-token-bot verify button v1").derive(
            secret.encode()
        )
        self._aead = AESGCM(key)

    def seal(
        self, *, token: Token, user_id: str, expires_at: int, token_uuid: str | None, username: str | None = None
    ) -> str:
        """A button value that only `user_id` can open, until `expires_at` (epoch seconds)."""
        body = json.dumps(
            {"t": token.reveal(), "x": int(expires_at), "i": token_uuid, "n": username}, separators=(",", ":")
        )
        nonce = os.urandom(12)
        blob = nonce + self._aead.encrypt(nonce, body.encode(), user_id.encode())
        value = VERSION + base64.urlsafe_b64encode(blob).decode().rstrip("=")
        if len(value) > _MAX_VALUE_CHARS:
            raise ValueError("sealed value exceeds Slack's button value limit")
        return value

    def open(self, value: str, *, user_id: str, now: float | None = None) -> Sealed:
        """The token behind a value, if the value is authentic, `user_id`'s, and not expired."""
        if not isinstance(value, str) or not value.startswith(VERSION) or len(value) > _MAX_VALUE_CHARS:
            raise SealError(detail="not a sealed value")
        encoded = value[len(VERSION) :]
        try:
            blob = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
        except (binascii.Error, ValueError):
            raise SealError(detail="bad encoding") from None
        if len(blob) < 12 + 16:
            raise SealError(detail="too short")
        try:
            body = self._aead.decrypt(blob[:12], blob[12:], user_id.encode())
        except InvalidTag:
            raise SealError(detail="authentication failed (forged, tampered, or another user's)") from None
        data = json.loads(body)
        expires_at = int(data["x"])
        if (time.time() if now is None else now) >= expires_at:
            raise SealExpired(detail="sealed token expired")
        return Sealed(Token(str(data["t"])), user_id, expires_at, data.get("i"), data.get("n"))
