"""Slack's clients share one TLS context (bot.bootstrap.core.tls_context): without one, urllib under slack_sdk
builds a default context, reading the system's CA store, for every Web API call. A real HTTPS server on
127.0.0.1 shows that the shared context still verifies: a certificate from the trusted CA is accepted, one from
another CA refused."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from slack_sdk.errors import SlackClientError

from bot.bootstrap import build_web_client
from bot.bootstrap.core import tls_context
from bot.settings import load_settings
from sandbox.tls import https_server, issue_certificate


@pytest.fixture
def trusted_ca(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, Path]]:
    """A CA the default context trusts (SSL_CERT_FILE), and a fresh shared context that reads it."""
    ca, cert, key = issue_certificate(tmp_path, "trusted")
    monkeypatch.setenv("SSL_CERT_FILE", str(ca))
    tls_context.cache_clear()
    yield cert, key
    tls_context.cache_clear()


def test_every_slack_client_shares_one_tls_context_and_it_verifies_the_server(
    clean_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, trusted_ca: tuple[Path, Path]
) -> None:
    good, good_url = https_server(*trusted_ca)
    _, other_cert, other_key = issue_certificate(tmp_path, "other")
    bad, bad_url = https_server(other_cert, other_key)
    try:
        monkeypatch.setenv("ROK_REGISTRY_URL", "https://rok.example")
        monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test-tls")
        monkeypatch.setenv("SLACK_API_URL", good_url)
        first, second = build_web_client(load_settings()), build_web_client(load_settings())
        assert first.ssl is second.ssl is tls_context()
        assert first.auth_test()["team_id"] == "T0TLS"
        assert second.auth_test()["ok"] is True

        monkeypatch.setenv("SLACK_API_URL", bad_url)
        refused = build_web_client(load_settings())
        refused.retry_handlers = []  # a connection error is retried with backoff: seconds this test need not wait
        with pytest.raises((SlackClientError, OSError), match="CERTIFICATE_VERIFY_FAILED"):
            refused.auth_test()
    finally:
        good.shutdown()
        bad.shutdown()


def test_plain_http_needs_no_tls_context(clean_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROK_REGISTRY_URL", "https://rok.example")
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test-tls")
    monkeypatch.setenv("SLACK_API_URL", "http://127.0.0.1:9/api/")
    assert build_web_client(load_settings()).ssl is None
