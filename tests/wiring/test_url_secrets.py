"""Credentials written in the SIEM webhook URL and the database URL reach the log redactor as exact secrets, and
no settings error shows them (issue 21, findings 4 and 6).

A GUID-shaped key (Splunk HEC's `?token=`) looks like the UUIDs the redactor keeps visible on purpose, so only
its exact value, registered at start, masks it.
"""

from __future__ import annotations

import pytest

from bot.runtime.logs import MASK, Redactor
from bot.settings import SettingsError, settings_from

GUID = "8c5b3a52-7f0e-4d1c-9a6b-2e4f1d3c5a7b"
BASIC = "siem-pass-42"
WEBHOOK = f"http://collector:{BASIC}@127.0.0.1:8088/services/collector?token={GUID}&channel=rok-audit-events"
DB_PASSWORD = "Zq7-hunter2-Secret"
BASE = {"ROK_REGISTRY_URL": "https://rok.example.com/registry", "ROK_BOT_SECRETS_DIR": "/nonexistent"}


def test_a_guid_shaped_key_in_the_webhook_url_is_masked_in_every_log_line() -> None:
    settings = settings_from(
        {**BASE, "ROK_BOT_AUDIT_WEBHOOK_URL": WEBHOOK, "ROK_BOT_AUDIT_WEBHOOK_SECRET": "siem-webhook-secret-0123"}
    )
    assert GUID not in repr(settings) and BASIC not in repr(settings)
    redact = Redactor(settings.secrets())
    httpx_line = f'HTTP Request: POST {WEBHOOK.replace("collector:" + BASIC + "@", "")} "HTTP/1.1 200 OK"'
    for line in (
        httpx_line,
        f"ConnectError: all connection attempts failed for token={GUID}",
        f"url={WEBHOOK!r}",
        f"delivery key {GUID}, channel rok-audit-events",
    ):
        masked = redact(line)
        assert GUID not in masked, masked
        assert BASIC not in masked and "rok-audit-events" not in masked
        assert MASK in masked
    # Other UUIDs stay visible: admins need the token UUIDs in the logs.
    assert redact("revoked 0f8e2c1a-1111-4222-8333-444455556666") == "revoked 0f8e2c1a-1111-4222-8333-444455556666"


def test_a_database_password_given_as_a_query_parameter_is_masked_in_every_log_line() -> None:
    url = f"postgresql+psycopg://bot@db.example.com/rok?sslmode=require&password={DB_PASSWORD}"
    settings = settings_from({**BASE, "ROK_BOT_DATABASE_URL": url})
    assert DB_PASSWORD in settings.store_secrets()
    masked = Redactor(settings.secrets())(f'psycopg.OperationalError: invalid dsn: "password={DB_PASSWORD}"')
    assert DB_PASSWORD not in masked


def test_a_refused_webhook_url_is_named_by_its_endpoint_only() -> None:
    with pytest.raises(SettingsError) as refused:
        settings_from(
            {
                **BASE,
                "ROK_BOT_AUDIT_WEBHOOK_URL": f"http://collector:{BASIC}@siem.example/services/collector?token={GUID}",
                "ROK_BOT_AUDIT_WEBHOOK_SECRET": "siem-webhook-secret-0123",
            }
        )
    assert "http://siem.example/services/collector must be an https:// URL" in str(refused.value)
    assert GUID not in str(refused.value) and BASIC not in str(refused.value)
