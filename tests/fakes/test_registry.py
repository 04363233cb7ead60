"""FakeRegistry answers `/auth/v1/token` like the Rok Registry: checked with httpx."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest

from sandbox.registry import UNAUTHORIZED_BODY, FakeRegistry
from sandbox.rok import FakeRok


@pytest.fixture
def rok() -> FakeRok:
    return FakeRok()


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    # One client for the module: building an SSL context per request costs more than the test.
    with httpx.Client(trust_env=False) as c:
        yield c


@pytest.fixture
def registry(rok: FakeRok) -> Iterator[FakeRegistry]:
    with FakeRegistry(rok) as r:
        yield r


def token_info(http: httpx.Client, registry: FakeRegistry, token: str | None, timeout: float = 2) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return http.get(f"{registry.url}/auth/v1/token", headers=headers, timeout=timeout)


def test_url_includes_the_prefix(registry: FakeRegistry) -> None:
    assert registry.url.startswith("http://127.0.0.1:")
    assert registry.url.endswith("/registry")


def test_live_token_is_described(http: httpx.Client, registry: FakeRegistry, rok: FakeRok) -> None:
    jdoe = rok.account("jdoe")
    token = rok.mint(jdoe.uuid, 3600)
    answer = token_info(http, registry, token)
    assert answer.status_code == 200
    body = answer.json()
    record = rok.minted[0]
    assert body["uuid"] == record.token_uuid
    assert body["user"] == {"uuid": jdoe.uuid, "username": "jdoe", "email": "jdoe@example.com"}
    created = datetime.fromisoformat(body["created_at"])
    expires = datetime.fromisoformat(body["expires_at"])
    assert body["expires_at"].endswith("+00:00")
    assert created.tzinfo == UTC
    assert (expires - created).total_seconds() == 3600
    assert registry.requests == 1


@pytest.mark.parametrize("token", [None, "not-a-token"])
def test_unknown_or_missing_token_is_401(http: httpx.Client, registry: FakeRegistry, token: str | None) -> None:
    answer = token_info(http, registry, token)
    assert answer.status_code == 401
    assert answer.json() == UNAUTHORIZED_BODY


def test_expired_token_is_401(http: httpx.Client, registry: FakeRegistry, rok: FakeRok) -> None:
    token = rok.mint(rok.account("bob").uuid, 3600)
    assert token_info(http, registry, token).status_code == 200
    rok.expire(token)
    answer = token_info(http, registry, token)
    assert answer.status_code == 401
    assert answer.json()["unauthorized"]["code"] == 401


def test_wrong_scheme_is_401(http: httpx.Client, registry: FakeRegistry, rok: FakeRok) -> None:
    token = rok.mint(rok.account("bob").uuid, 60)
    answer = http.get(f"{registry.url}/auth/v1/token", headers={"Authorization": f"Basic {token}"})
    assert answer.status_code == 401


def test_fault_http500(http: httpx.Client, registry: FakeRegistry, rok: FakeRok) -> None:
    registry.fault = "http500"
    assert token_info(http, registry, rok.mint(rok.account("bob").uuid, 60)).status_code == 500


def test_fault_hang_times_the_client_out(http: httpx.Client, registry: FakeRegistry) -> None:
    registry.fault = "hang"
    with pytest.raises(httpx.ReadTimeout):
        token_info(http, registry, "anything", timeout=0.2)
    registry.fault = None
    assert token_info(http, registry, "anything").status_code == 401


def test_fault_drop_closes_without_an_answer(http: httpx.Client, registry: FakeRegistry) -> None:
    registry.fault = "drop"
    with pytest.raises(httpx.RemoteProtocolError):
        token_info(http, registry, "anything")
    assert registry.requests == 1


def test_empty_prefix(http: httpx.Client, rok: FakeRok) -> None:
    with FakeRegistry(rok, prefix="") as registry:
        assert not registry.url.endswith("/")
        assert token_info(http, registry, "x").status_code == 401
