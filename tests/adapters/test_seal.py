"""The seal key: strength, rotation with key IDs, and values sealed before rotation existed. Pure code."""

from __future__ import annotations

import base64
import os
import secrets
import time

import pytest

from bot.adapters.seal import Sealer
from bot.domain.errors import SealError, SealKeyRetired
from bot.domain.secret import Token

HOWTO = 'python3 -c "import secrets; print(secrets.token_urlsafe(32))"'
NOW = float(int(time.time()))  # when the tests open what they sealed
LATER = int(NOW) + 3600

# Sealed by the v1 code (before key IDs and rotation), kept to prove a deploy does not break the Verify
# buttons already in users' DMs. The key is a test key made for this fixture only.
LEGACY_KEY = "0JPlDrvf6g-a2K-ZtgNRkllq87wrv5HvwzgvMhV9llk"
LEGACY_TOKEN = "legacy-XMcCyvtCBFbPK0PORksqq0hbMj_hZmtf"
LEGACY_VALUE = (
    "v1.EkL3o3YoCtmmIn2qedwTVozIOd9nW6B473NFsvWPBHs2t3bLX1p4o0mePe6RmZ0lQFJwYB2PjMgX3XiTJBDM1KR1znylfnND4CJMqWaUBb"
    "V5oTPXIm4pWcREld0RFCYy0EfhGHzOzNc_eyIiNobT3u8jjC85OZEcEZEkJZjzCPk8OlAPmPMLL-eTzYVyxO3P"
)


def seal(sealer: Sealer, token: str = "t" * 20, user_id: str = "U1") -> str:
    return sealer.seal(token=Token(token), user_id=user_id, expires_at=LATER, token_uuid=None, username="jdoe")


@pytest.mark.parametrize(
    "key",
    [
        "a" * 32,  # the length was all v1 checked
        "a" * 44,  # 33 bytes, three distinct values
        "k" * 40,
        "abcd" * 11,
        "short",
        "correct horse battery staple",  # words, and only 21 bytes
        base64.b64encode(bytes(range(24))).decode(),  # random-looking but 24 bytes
        base64.b64encode(b"\x00" * 32).decode(),
        base64.b64encode(b"\x01\x02" * 16).decode(),
        "not base64 at all: !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!",
        pytest.param(secrets.token_urlsafe(32) + "," + "a" * 44, id="a weak key among good ones"),
        " , ",
    ],
)
def test_weak_or_malformed_seal_keys_are_refused_with_how_to_generate_one(key: str) -> None:
    with pytest.raises(ValueError) as err:
        Sealer(key)
    message = str(err.value)
    assert message.startswith("ROK_BOT_SEAL_KEY: ") and HOWTO in message and "\n" not in message
    for part in key.replace(",", " ").split():
        if len(part) >= 8:
            assert part not in message


@pytest.mark.parametrize(
    "make",
    [
        lambda: secrets.token_urlsafe(32),  # what the README and config/example.env suggest
        lambda: base64.b64encode(os.urandom(32)).decode(),  # openssl rand -base64 32
        lambda: base64.urlsafe_b64encode(os.urandom(32)).decode(),  # a Fernet key
        lambda: secrets.token_hex(32),  # openssl rand -hex 32
        lambda: base64.b64encode(os.urandom(64)).decode(),
        lambda: f"  {secrets.token_urlsafe(32)}\n",  # a secret file's trailing newline
    ],
    ids=["token_urlsafe", "base64", "fernet", "hex", "long", "padded"],
)
def test_generated_keys_are_accepted(make: object) -> None:
    assert callable(make)
    sealer = Sealer(make())
    assert sealer.open(seal(sealer), user_id="U1", now=NOW).token == Token("t" * 20)


def test_only_the_newest_key_seals_and_every_configured_key_opens() -> None:
    old_key, new_key = secrets.token_urlsafe(32), base64.b64encode(os.urandom(32)).decode()
    old = Sealer(old_key)
    sealed_before = seal(old, "before-rotation-token")
    for separator in (",", ", ", " ", "\n"):
        rotated = Sealer(new_key + separator + old_key)
        assert rotated.open(sealed_before, user_id="U1", now=NOW).token == Token("before-rotation-token")
        sealed_after = seal(rotated, "after-rotation-token")
        assert sealed_after.startswith(f"v2.{Sealer(new_key).key_id}.")
        assert sealed_before.startswith(f"v2.{old.key_id}.")
        assert Sealer(new_key).open(sealed_after, user_id="U1", now=NOW).token == Token("after-rotation-token")
    with pytest.raises(SealKeyRetired):
        old.open(sealed_after, user_id="U1", now=NOW)  # the old key alone cannot open what the new one sealed
    with pytest.raises(SealKeyRetired):
        Sealer(new_key).open(sealed_before, user_id="U1", now=NOW)  # the old key dropped: its buttons stop working


def test_values_sealed_before_key_ids_still_open_with_any_configured_key() -> None:
    for keys in (LEGACY_KEY, f"{secrets.token_urlsafe(32)},{LEGACY_KEY}", f"{LEGACY_KEY} {secrets.token_urlsafe(32)}"):
        opened = Sealer(keys).open(LEGACY_VALUE, user_id="U0LEGACY", now=NOW)
        assert opened.token == Token(LEGACY_TOKEN) and opened.username == "jdoe"
        with pytest.raises(SealError):
            Sealer(keys).open(LEGACY_VALUE, user_id="U0OTHER", now=NOW)
    with pytest.raises(SealError):
        Sealer(secrets.token_urlsafe(32)).open(LEGACY_VALUE, user_id="U0LEGACY", now=NOW)


def test_a_value_cannot_be_moved_to_another_key_id() -> None:
    one, two = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    both = Sealer(f"{one},{two}")
    value = seal(both)
    kid_one, kid_two = Sealer(one).key_id, Sealer(two).key_id
    moved = value.replace(f"v2.{kid_one}.", f"v2.{kid_two}.", 1)
    with pytest.raises(SealError):
        both.open(moved, user_id="U1", now=NOW)
    assert both.open(value, user_id="U1", now=NOW).token == Token("t" * 20)


def test_the_same_key_twice_is_refused() -> None:
    key = secrets.token_urlsafe(32)
    with pytest.raises(ValueError, match="more than once"):
        Sealer(f"{key},{key}")


def test_a_value_whose_last_character_differs_only_in_unused_bits_is_refused() -> None:
    sealer = Sealer(secrets.token_urlsafe(32))
    value = seal(sealer)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    same_bytes = [value[:-1] + c for c in alphabet if c != value[-1]]
    same_bytes = [
        v
        for v in same_bytes
        if base64.urlsafe_b64decode(v.split(".")[-1] + "==") == base64.urlsafe_b64decode(value.split(".")[-1] + "==")
    ]
    assert same_bytes  # base64 leaves a few bits of the last character unused
    for variant in same_bytes:
        with pytest.raises(SealError):
            sealer.open(variant, user_id="U1", now=NOW)


def test_the_sealed_value_names_its_registry_inside_the_ciphertext() -> None:
    sealer = Sealer(secrets.token_urlsafe(32))
    value = sealer.seal(token=Token("t" * 20), user_id="U1", expires_at=LATER, token_uuid=None, registry="staging")
    assert "staging" not in value
    assert sealer.open(value, user_id="U1", now=NOW).registry == "staging"


def test_a_value_sealed_before_registries_had_names_is_the_default_registrys() -> None:
    opened = Sealer(LEGACY_KEY).open(LEGACY_VALUE, user_id="U0LEGACY", now=NOW)
    assert opened.registry == "default"
