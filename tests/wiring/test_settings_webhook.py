"""ROK_BOT_AUDIT_WEBHOOK_FORMAT: rok by default, jsonl or splunk_hec; anything else is one line naming it."""

from __future__ import annotations

import pytest

from bot.settings import load_settings
from tests.wiring.test_settings import URL, fails

HEC = "https://splunk.example.com:8088/services/collector/event"
GUID = "6d2f5a1c-8b3e-4f0a-9c7d-2e1b0a9f8c7d"  # a HEC token: 36 characters, past the 16 the secret needs


@pytest.fixture
def env(clean_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """A clean environment with only the one required variable set."""
    monkeypatch.setenv("ROK_REGISTRY_URL", URL)
    return monkeypatch


def test_the_format_is_rok_unless_set(env: pytest.MonkeyPatch) -> None:
    assert load_settings().audit_webhook_format == "rok"


@pytest.mark.parametrize(
    ("value", "fmt"), [("jsonl", "jsonl"), ("splunk_hec", "splunk_hec"), (" Splunk_HEC ", "splunk_hec")]
)
def test_jsonl_and_splunk_hec_are_read(env: pytest.MonkeyPatch, value: str, fmt: str) -> None:
    env.setenv("ROK_BOT_AUDIT_WEBHOOK_URL", HEC)
    env.setenv("ROK_BOT_AUDIT_WEBHOOK_SECRET", GUID)
    env.setenv("ROK_BOT_AUDIT_WEBHOOK_FORMAT", value)
    settings = load_settings()
    assert settings.audit_webhook_format == fmt
    assert GUID in settings.secrets()  # the HEC token is masked in every log line, as the signing secret was


@pytest.mark.parametrize("value", ["splunk", "json", "", "hec,rok"])
def test_an_unknown_format_is_one_line_naming_the_variable(env: pytest.MonkeyPatch, value: str) -> None:
    message = fails(env, ROK_BOT_AUDIT_WEBHOOK_FORMAT=value)
    assert message == "ROK_BOT_AUDIT_WEBHOOK_FORMAT: must be one of rok, jsonl, splunk_hec (rok is the default)"


@pytest.mark.parametrize("path", ["/services/collector/raw", "/services/collector/health"])
def test_splunk_hec_refuses_a_url_that_is_not_the_event_endpoint(env: pytest.MonkeyPatch, path: str) -> None:
    message = fails(
        env,
        ROK_BOT_AUDIT_WEBHOOK_URL=f"https://splunk.example.com:8088{path}?token={GUID}",
        ROK_BOT_AUDIT_WEBHOOK_SECRET=GUID,
        ROK_BOT_AUDIT_WEBHOOK_FORMAT="splunk_hec",
    )
    assert message.startswith("ROK_BOT_AUDIT_WEBHOOK_URL: https://splunk.example.com:8088" + path + " is not HEC")
    assert GUID not in message


def test_a_hec_token_shorter_than_16_characters_is_refused_as_any_secret(env: pytest.MonkeyPatch) -> None:
    message = fails(
        env,
        ROK_BOT_AUDIT_WEBHOOK_URL=HEC,
        ROK_BOT_AUDIT_WEBHOOK_SECRET="short",
        ROK_BOT_AUDIT_WEBHOOK_FORMAT="splunk_hec",
    )
    assert message.startswith("ROK_BOT_AUDIT_WEBHOOK_SECRET: required with ROK_BOT_AUDIT_WEBHOOK_URL")
