"""Seal a token into a Verify button value: AES-256-GCM, bound to the Slack user, expiring with the token.

The value is `v2.<key id>.` + base64url(nonce ‖ ciphertext ‖ tag). The Slack user ID and the `v2.<key id>.`
prefix are the associated data, so a value copied into another user's click, or moved to another key ID, fails
authentication; the expiry is inside the ciphertext. Any replica with the same ROK_BOT_SEAL_KEY can open it,
also after a restart: nothing is kept server-side.

ROK_BOT_SEAL_KEY holds one or more keys, newest first, separated by commas or whitespace (neither occurs in
base64). Each is at least 32 random bytes in base64 or base64url. Only the newest seals; every listed key
opens, found by the key ID in the value, so a key can be rotated without breaking the buttons in users' DMs:
prepend the new key, and drop the old one once the tokens it sealed have expired. Values sealed before key IDs
existed (`v1.`, the key derived from the key's text) open with whichever listed key authenticates them.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bot.domain.errors import SealError, SealExpired, SealKeyRetired
from bot.domain.models import Sealed
from bot.domain.patterns import DEFAULT_REGISTRY
from bot.domain.secret import Token

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

VERSION = "v2."
LEGACY_VERSION = "v1."
MIN_KEY_BYTES = 32
# 32 random bytes show about 30 distinct values; fewer than 16 happens by chance with odds below 1e-20, so it
# means a pattern (a repeated character, a short cycle), not randomness.
MIN_DISTINCT_BYTES = 16
HOW_TO_GENERATE = 'generate a key with: python3 -c "import secrets; print(secrets.token_urlsafe(32))"'
_SEPARATORS = re.compile(r"[\s,]+")
_BASE64 = re.compile(r"[A-Za-z0-9+/]+={0,2}")
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+={0,2}")
_KEY_ID_BYTES = 6  # 8 characters in the value; IDs of the listed keys are checked to differ
_MAX_VALUE_CHARS = 2000  # Slack's limit for a button value


@dataclass(frozen=True, slots=True)
class SealKey:
    """One key of ROK_BOT_SEAL_KEY: its text (v1 derived its AES key from it) and its bytes."""

    text: str = field(repr=False)
    raw: bytes = field(repr=False)


def _derive(material: bytes, info: bytes, length: int = 32) -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=info).derive(material)


def _decode(text: str) -> bytes | None:
    """The bytes of a base64 or base64url key, or None if it is neither."""
    alphabet = _BASE64 if _BASE64.fullmatch(text) else _BASE64URL if _BASE64URL.fullmatch(text) else None
    if alphabet is None:
        return None
    bare = text.rstrip("=")
    try:
        return base64.b64decode(bare + "=" * (-len(bare) % 4), altchars=b"-_" if alphabet is _BASE64URL else None)
    except (binascii.Error, ValueError):
        return None


def parse_seal_keys(value: str) -> list[SealKey]:
    """The keys of ROK_BOT_SEAL_KEY, newest first; ValueError (one line, no key material) if one is weak."""
    texts = [text for text in _SEPARATORS.split(value.strip()) if text]
    if not texts:
        raise ValueError(f"ROK_BOT_SEAL_KEY: no key in it; {HOW_TO_GENERATE}")
    keys: list[SealKey] = []
    for number, text in enumerate(texts, 1):
        which = f"key {number} of {len(texts)}" if len(texts) > 1 else "the key"
        raw = _decode(text)
        if raw is None:
            problem = "is not base64"
        elif len(raw) < MIN_KEY_BYTES:
            problem = f"holds {len(raw)} bytes, fewer than {MIN_KEY_BYTES}"
        elif len(set(raw)) < MIN_DISTINCT_BYTES:
            problem = f"is not random ({len(set(raw))} distinct byte values in {len(raw)})"
        elif any(key.raw == raw for key in keys):
            problem = "is listed more than once"
        else:
            keys.append(SealKey(text, raw))
            continue
        raise ValueError(
            f"ROK_BOT_SEAL_KEY: {which} {problem}; each key must be {MIN_KEY_BYTES}+ random bytes in base64; "
            f"{HOW_TO_GENERATE}"
        )
    return keys


class _Opener:
    """The AEADs of one key: v2 from its bytes, v1 (legacy) from its text."""

    def __init__(self, key: SealKey) -> None:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        self.key_id = base64.urlsafe_b64encode(_derive(key.raw, b"rok-token-bot seal key id", _KEY_ID_BYTES)).decode()
        self.v2 = AESGCM(_derive(key.raw, b"rok-token-bot verify button v2"))
        self.v1 = AESGCM(_derive(key.text.encode(), b"rok-token-bot verify button v1"))


class Sealer:
    """Seals with the newest key of ROK_BOT_SEAL_KEY; opens with any of its keys.

    The keys are checked at once; their AES keys are derived on the first seal or open, so that an idle bot never
    loads cryptography (its OpenSSL alone is ~7 MiB of resident memory).
    """

    def __init__(self, secret: str) -> None:
        self._keys = parse_seal_keys(secret)
        self._lock = threading.Lock()
        self._derived: tuple[list[_Opener], dict[str, _Opener]] | None = None

    def _openers(self) -> tuple[list[_Opener], dict[str, _Opener]]:
        with self._lock:
            if self._derived is None:
                openers = [_Opener(key) for key in self._keys]
                by_id = {opener.key_id: opener for opener in openers}
                if len(by_id) != len(openers):  # 48-bit IDs of distinct keys: never in practice
                    raise ValueError(f"ROK_BOT_SEAL_KEY: two keys share a key ID; replace one; {HOW_TO_GENERATE}")
                self._derived = (openers, by_id)
            return self._derived

    @property
    def key_id(self) -> str:
        """The ID of the key that seals (the first listed); not secret."""
        return self._openers()[0][0].key_id

    def seal(
        self,
        *,
        token: Token,
        user_id: str,
        expires_at: int,
        token_uuid: str | None,
        username: str | None = None,
        registry: str = DEFAULT_REGISTRY,
    ) -> str:
        """A button value that only `user_id` can open, until `expires_at` (epoch seconds); it names the
        registry that minted the token, so Verify asks that one (inside the ciphertext: not forgeable)."""
        fields = {"t": token.reveal(), "x": int(expires_at), "i": token_uuid, "n": username}
        if registry != DEFAULT_REGISTRY:  # with one registry a value is what it was before registries had names
            fields["r"] = registry
        body = json.dumps(fields, separators=(",", ":"))
        opener = self._openers()[0][0]
        header = f"{VERSION}{opener.key_id}."
        nonce = os.urandom(12)
        blob = nonce + opener.v2.encrypt(nonce, body.encode(), (header + user_id).encode())
        value = header + base64.urlsafe_b64encode(blob).decode().rstrip("=")
        if len(value) > _MAX_VALUE_CHARS:
            raise ValueError("sealed value exceeds Slack's button value limit")
        return value

    def open(self, value: str, *, user_id: str, now: float) -> Sealed:
        """The token behind a value, if the value is authentic, `user_id`'s, and not expired."""
        if not isinstance(value, str) or len(value) > _MAX_VALUE_CHARS:
            raise SealError(detail="not a sealed value")
        if value.startswith(VERSION):
            key_id, dot, encoded = value[len(VERSION) :].partition(".")
            if not dot:
                raise SealError(detail="not a sealed value")
            opener = self._openers()[1].get(key_id)
            if opener is None:
                raise SealKeyRetired(detail=f"sealed with key ID {key_id[:16]!r}, not in ROK_BOT_SEAL_KEY")
            body = self._decrypt([opener.v2], encoded, (VERSION + key_id + "." + user_id).encode())
        elif value.startswith(LEGACY_VERSION):
            encoded = value[len(LEGACY_VERSION) :]
            body = self._decrypt([opener.v1 for opener in self._openers()[0]], encoded, user_id.encode())
        else:
            raise SealError(detail="not a sealed value")
        data = json.loads(body)
        expires_at = int(data["x"])
        if now >= expires_at:
            raise SealExpired(detail="sealed token expired")
        registry = data.get("r") or DEFAULT_REGISTRY  # sealed before registries had names: the default one
        return Sealed(Token(str(data["t"])), user_id, expires_at, data.get("i"), data.get("n"), str(registry))

    @staticmethod
    def _decrypt(aeads: list[AESGCM], encoded: str, associated: bytes) -> bytes:
        from cryptography.exceptions import InvalidTag

        try:
            blob = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
        except (binascii.Error, ValueError):
            raise SealError(detail="bad encoding") from None
        # Base64 leaves some bits of the last character unused: only the one spelling we produce is accepted.
        if base64.urlsafe_b64encode(blob).decode().rstrip("=") != encoded:
            raise SealError(detail="non-canonical encoding")
        if len(blob) < 12 + 16:
            raise SealError(detail="too short")
        for aead in aeads:
            try:
                return aead.decrypt(blob[:12], blob[12:], associated)
            except InvalidTag:
                continue
        raise SealError(detail="authentication failed (forged, tampered, or another user's)")
