"""Settings: defaults, every variable, one-line errors that name the variable, secrets files, URL joining."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.adapters.registry import verify_url
from bot.settings import ACCOUNT_LIST_COMMAND, TOKEN_CREATE_COMMAND, Settings, SettingsError, load_settings

URL = "https://rok.example.com/registry"
# Test keys only, made with secrets.token_urlsafe(32) and base64.b64encode(os.urandom(32)).
NEW_SEAL_KEY = "XyXgORprnoxYvCvR4du8qJN2Ss_X5WK_iSK8W-dUCCc"
OLD_SEAL_KEY = "cywUcXJ92xf9C1TgdxieMizyYW8D/r3Hrftanm8pl8k="


@pytest.fixture
def env(clean_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """A clean environment with only the one required variable set."""
    monkeypatch.setenv("ROK_REGISTRY_URL", URL)
    return monkeypatch


def fails(monkeypatch: pytest.MonkeyPatch, **variables: str) -> str:
    """Set variables, load settings, and return the one-line error (asserting its shape)."""
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as err:
        load_settings()
    message = str(err.value)
    assert "\n" not in message
    assert len(message) < 300
    return message


def test_defaults(env: pytest.MonkeyPatch) -> None:
    s = load_settings()
    assert s.registry_url == URL
    assert (s.namespace, s.service, s.container, s.ca_bundle, s.kubeconfig) == (
        "rok-registry",
        "rok-registry",
        None,
        None,
        None,
    )
    assert (s.default_duration, s.max_duration, s.min_duration) == (86400, 7 * 86400, 300)
    assert (s.exec_timeout, s.account_cache_ttl, s.max_concurrent_execs) == (30, 300, 4)
    assert s.exec_output_limit == 1 << 20
    assert s.account_list_command == ACCOUNT_LIST_COMMAND == ["rok-fort-manage", "account-list"]
    assert s.token_create_command == TOKEN_CREATE_COMMAND
    assert s.token_create_command == [
        "rok-fort-manage",
        "token-create",
        "--user",
        "{uuid}",
        "--duration",
        "{seconds}",
        "--no-borders",
    ]
    assert (s.log_level, s.log_format, s.log_stream) == ("INFO", "json", "stderr")
    assert (s.slack_bot_token, s.slack_signing_secret, s.slack_app_token, s.seal_key) == (None,) * 4
    assert not s.registry_allow_http
    assert s.secrets() == []
    assert not s.socket_mode
    # The defaults are copies: changing one Settings object cannot leak into the next.
    s.account_list_command.append("--oops")
    assert load_settings().account_list_command == ["rok-fort-manage", "account-list"]


def test_every_variable_is_read(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\nnot really a certificate\n-----END CERTIFICATE-----\n")
    user_map = tmp_path / "users.yaml"
    user_map.write_text("U0123ABCD: jdoe\n")
    policy = tmp_path / "policy.yaml"
    policy.write_text("{}\n")
    values = {
        "ROK_REGISTRY_URL": "http://registry.local:8080/",
        "ROK_REGISTRY_NAMESPACE": "rok-system",
        "ROK_REGISTRY_SERVICE": "registry-api",
        "ROK_REGISTRY_CONTAINER": "api",
        "ROK_REGISTRY_CA_BUNDLE": str(ca),
        "ROK_REGISTRY_ALLOW_HTTP": "true",
        "KUBECONFIG": "/somewhere/kubeconfig",
        "ROK_BOT_DEFAULT_DURATION": "1h30m",
        "ROK_BOT_MAX_DURATION": "2w",
        "ROK_BOT_MIN_DURATION": "10m",
        "ROK_BOT_EXEC_TIMEOUT": "45",  # a bare number is seconds in settings
        "ROK_BOT_ACCOUNT_CACHE_TTL": "1m",
        "ROK_BOT_MAX_CONCURRENT_EXECS": "8",
        "ROK_BOT_EXEC_OUTPUT_LIMIT": "65536",
        "ROK_BOT_ACCOUNT_LIST_COMMAND": '["rok-fort-manage", "account-list", "--all"]',
        "ROK_BOT_TOKEN_CREATE_COMMAND": "rok-fort-manage token-create --user={uuid} --duration {seconds}",
        "ROK_BOT_LOG_LEVEL": "DEBUG",
        "ROK_BOT_LOG_FORMAT": "text",
        "ROK_BOT_LOG_STREAM": "stdout",
        "SLACK_BOT_TOKEN": "xoxb-test-not-a-real-token",
        "SLACK_SIGNING_SECRET": "test-signing-secret",
        "SLACK_APP_TOKEN": "xapp-test-not-a-real-token",
        "SLACK_API_URL": "http://127.0.0.1:9/api/",
        "ROK_BOT_AUDIT_CHANNEL": "C0123ABCD",
        "ROK_BOT_USER_MAP": str(user_map),
        "ROK_BOT_EMAIL_DOMAINS": "Example.com, @corp.example.org",
        "ROK_BOT_SEAL_KEY": f"{NEW_SEAL_KEY}, {OLD_SEAL_KEY}",
        "ROK_BOT_SUPPORT_CONTACT": "#platform-help",
        "ROK_BOT_PORT": "8080",
        "ROK_BOT_BIND": "127.0.0.1",
        "ROK_BOT_ALLOW_GUESTS": "true",
        "ROK_BOT_POLICY": str(policy),
        "ROK_BOT_WORKERS": "16",
        "ROK_BOT_DRAIN_TIMEOUT": "10s",
        "ROK_BOT_REMIND_BEFORE": "30m",
    }
    for name, value in values.items():
        env.setenv(name, value)
    s = load_settings()
    assert s.registry_url == "http://registry.local:8080/" and s.registry_allow_http
    assert (s.namespace, s.service, s.container) == ("rok-system", "registry-api", "api")
    assert (s.ca_bundle, s.kubeconfig) == (ca, "/somewhere/kubeconfig")
    assert (s.default_duration, s.max_duration, s.min_duration) == (5400, 14 * 86400, 600)
    assert (s.exec_timeout, s.account_cache_ttl, s.max_concurrent_execs, s.exec_output_limit) == (45, 60, 8, 65536)
    assert s.account_list_command == ["rok-fort-manage", "account-list", "--all"]
    assert s.token_create_command == [
        "rok-fort-manage",
        "token-create",
        "--user={uuid}",
        "--duration",
        "{seconds}",
    ]
    assert (s.log_level, s.log_format, s.log_stream) == ("DEBUG", "text", "stdout")
    assert s.remind_before == 1800
    assert s.slack_bot_token is not None and s.slack_bot_token.get_secret_value() == values["SLACK_BOT_TOKEN"]
    assert s.slack_signing_secret is not None
    assert s.slack_app_token is not None and s.socket_mode
    assert s.seal_key is not None
    assert s.slack_api_url == "http://127.0.0.1:9/api/"
    assert s.audit_channel == "C0123ABCD"
    assert (s.user_map, s.policy) == (user_map, policy)
    assert s.email_domains == ["example.com", "corp.example.org"]
    assert (s.support_contact, s.port, s.bind, s.allow_guests, s.workers, s.drain_timeout) == (
        "#platform-help",
        8080,
        "127.0.0.1",
        True,
        16,
        10,
    )
    assert sorted(s.secrets()) == sorted(
        [
            *(values[n] for n in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN", "ROK_BOT_SEAL_KEY")),
            NEW_SEAL_KEY,  # each key of the rotation list on its own, too
            OLD_SEAL_KEY,
        ]
    )
    # Secrets never show in a repr.
    for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN", "ROK_BOT_SEAL_KEY"):
        assert values[name] not in repr(s)


@pytest.mark.parametrize(
    ("variables", "name", "needle"),
    [
        ({"ROK_BOT_MAX_DURATION": "3x"}, "ROK_BOT_MAX_DURATION", "3x"),
        ({"ROK_BOT_MIN_DURATION": "junk"}, "ROK_BOT_MIN_DURATION", "junk"),
        ({"ROK_BOT_DEFAULT_DURATION": "0"}, "ROK_BOT_DEFAULT_DURATION", ""),
        ({"ROK_BOT_EXEC_TIMEOUT": "-5s"}, "ROK_BOT_EXEC_TIMEOUT", ""),
        ({"ROK_REGISTRY_URL": "ftp://rok.example.com/"}, "ROK_REGISTRY_URL", "http"),
        ({"ROK_REGISTRY_URL": "rok.example.com"}, "ROK_REGISTRY_URL", "http"),
        (
            {"ROK_BOT_MIN_DURATION": "2d", "ROK_BOT_MAX_DURATION": "1d", "ROK_BOT_DEFAULT_DURATION": "1d"},
            "ROK_BOT_MIN_DURATION",
            "ROK_BOT_MAX_DURATION",
        ),
        ({"ROK_BOT_DEFAULT_DURATION": "30d"}, "ROK_BOT_DEFAULT_DURATION", "5m..7d"),
        ({"ROK_BOT_DEFAULT_DURATION": "1m"}, "ROK_BOT_DEFAULT_DURATION", "5m..7d"),
        ({"ROK_REGISTRY_NAMESPACE": "Rok_Registry"}, "ROK_REGISTRY_NAMESPACE", "DNS"),
        ({"ROK_REGISTRY_SERVICE": "-svc"}, "ROK_REGISTRY_SERVICE", "DNS"),
        ({"ROK_BOT_MAX_CONCURRENT_EXECS": "0"}, "ROK_BOT_MAX_CONCURRENT_EXECS", ""),
        ({"ROK_BOT_MAX_CONCURRENT_EXECS": "many"}, "ROK_BOT_MAX_CONCURRENT_EXECS", ""),
        ({"ROK_BOT_EXEC_OUTPUT_LIMIT": "10"}, "ROK_BOT_EXEC_OUTPUT_LIMIT", ""),
        (
            {"ROK_BOT_TOKEN_CREATE_COMMAND": "rok-fort-manage token-create --user {user} --duration {seconds}"},
            "ROK_BOT_TOKEN_CREATE_COMMAND",
            "unknown placeholder",
        ),
        (
            {"ROK_BOT_TOKEN_CREATE_COMMAND": '["rok-fort-manage", "token-create", "--duration", "{seconds}"]'},
            "ROK_BOT_TOKEN_CREATE_COMMAND",
            "{uuid}",
        ),
        (
            {"ROK_BOT_TOKEN_CREATE_COMMAND": '["rok-fort-manage", "token-create", "--user", "{uuid}"]'},
            "ROK_BOT_TOKEN_CREATE_COMMAND",
            "{seconds}",
        ),
        ({"ROK_BOT_TOKEN_CREATE_COMMAND": "[]"}, "ROK_BOT_TOKEN_CREATE_COMMAND", ""),
        ({"ROK_BOT_TOKEN_CREATE_COMMAND": '{"argv": 1}'}, "ROK_BOT_TOKEN_CREATE_COMMAND", ""),
        ({"ROK_BOT_TOKEN_CREATE_COMMAND": '["rok", 3]'}, "ROK_BOT_TOKEN_CREATE_COMMAND", ""),
        ({"ROK_BOT_TOKEN_CREATE_COMMAND": '["unterminated'}, "ROK_BOT_TOKEN_CREATE_COMMAND", ""),
        ({"ROK_BOT_TOKEN_CREATE_COMMAND": "rok 'unterminated"}, "ROK_BOT_TOKEN_CREATE_COMMAND", ""),
        (
            {"ROK_BOT_ACCOUNT_LIST_COMMAND": "rok-fort-manage account-list {uuid}"},
            "ROK_BOT_ACCOUNT_LIST_COMMAND",
            "placeholder",
        ),
        ({"ROK_BOT_ACCOUNT_LIST_COMMAND": ""}, "ROK_BOT_ACCOUNT_LIST_COMMAND", ""),
        ({"ROK_BOT_LOG_LEVEL": "LOUD"}, "ROK_BOT_LOG_LEVEL", ""),
        ({"ROK_BOT_LOG_STREAM": "syslog"}, "ROK_BOT_LOG_STREAM", "stdout"),
        ({"ROK_BOT_AUDIT_CHANNEL": "#audit"}, "ROK_BOT_AUDIT_CHANNEL", "channel ID"),
        ({"SLACK_APP_TOKEN": "xoxb-wrong-kind"}, "SLACK_APP_TOKEN", "xapp"),
        ({"ROK_BOT_EMAIL_DOMAINS": "example.com, not a domain"}, "ROK_BOT_EMAIL_DOMAINS", "domain"),
        ({"ROK_REGISTRY_CA_BUNDLE": "/nonexistent/ca.pem"}, "ROK_REGISTRY_CA_BUNDLE", "/nonexistent/ca.pem"),
        ({"ROK_BOT_PORT": "70000"}, "ROK_BOT_PORT", ""),
        ({"ROK_BOT_REMIND_BEFORE": "-1h"}, "ROK_BOT_REMIND_BEFORE", "negative"),
        ({"ROK_BOT_REMIND_BEFORE": "soon"}, "ROK_BOT_REMIND_BEFORE", "duration"),
    ],
)
def test_invalid_values_fail_with_one_line_naming_the_variable(
    env: pytest.MonkeyPatch, variables: dict[str, str], name: str, needle: str
) -> None:
    message = fails(env, **variables)
    assert message.startswith(f"{name}: "), message
    assert needle in message


@pytest.mark.parametrize(("value", "seconds"), [("1h", 3600), ("50s", 50), ("0", 0), ("0s", 0), ("off", 0)])
def test_reminders_come_an_hour_ahead_by_default_and_0_turns_them_off(
    env: pytest.MonkeyPatch, value: str, seconds: int
) -> None:
    assert load_settings().remind_before == 3600
    env.setenv("ROK_BOT_REMIND_BEFORE", value)
    assert load_settings().remind_before == seconds


def test_app_token_error_does_not_echo_the_value(env: pytest.MonkeyPatch) -> None:
    message = fails(env, SLACK_APP_TOKEN="xoxb-secret-looking-value-12345")
    assert "secret-looking" not in message


def test_a_url_error_does_not_echo_credentials(env: pytest.MonkeyPatch) -> None:
    message = fails(env, ROK_REGISTRY_URL="ftp://admin:S3cretPassw0rd@rok.example.com/registry")
    assert message.startswith("ROK_REGISTRY_URL: ") and "rok.example.com" in message
    assert "S3cret" not in message and "admin" not in message


@pytest.mark.parametrize(
    "url",
    [
        "http://rok.example.com/registry",
        "http://10.0.0.5:8080",
        "http://rok-registry.rok-registry.svc.cluster.local:8080",
        "http://localhost.example.com",
        "http://127.0.0.1.nip.io",
        "http://[::2]:8080",
        "http://admin:S3cretPassw0rd@rok.example.com",
    ],
)
def test_plain_http_registry_urls_are_refused_unless_loopback_or_allowed(env: pytest.MonkeyPatch, url: str) -> None:
    message = fails(env, ROK_REGISTRY_URL=url)
    assert message.startswith("ROK_REGISTRY_URL: ") and "https://" in message and "ROK_REGISTRY_ALLOW_HTTP" in message
    assert "S3cret" not in message
    env.setenv("ROK_REGISTRY_ALLOW_HTTP", "true")
    settings = load_settings()
    assert settings.registry_url == url and settings.registry_allow_http


@pytest.mark.parametrize(
    "url",
    [
        "https://rok.example.com/registry",
        "http://127.0.0.1:8080/registry",
        "http://127.3.2.1",
        "http://localhost:8080",
        "http://LOCALHOST",
        "http://[::1]:8080/registry",
    ],
)
def test_https_and_loopback_registry_urls_need_no_exception(env: pytest.MonkeyPatch, url: str) -> None:
    env.setenv("ROK_REGISTRY_URL", url)
    settings = load_settings()
    assert settings.registry_url == url and not settings.registry_allow_http


@pytest.mark.parametrize("key", ["a" * 32, "k" * 40, "test-seal-key-material", f"{NEW_SEAL_KEY},short"])
def test_a_weak_seal_key_fails_with_one_line_that_says_how_to_make_one(env: pytest.MonkeyPatch, key: str) -> None:
    message = fails(env, ROK_BOT_SEAL_KEY=key)
    assert message.startswith("ROK_BOT_SEAL_KEY: ") and "secrets.token_urlsafe(32)" in message
    assert message.count("ROK_BOT_SEAL_KEY") == 1 and key not in message and NEW_SEAL_KEY not in message


def test_missing_registry_url(clean_env: dict[str, str]) -> None:
    with pytest.raises(SettingsError) as err:
        load_settings()
    assert str(err.value) == "ROK_REGISTRY_URL: required but not set"


def test_argv_templates_keep_items_whole(env: pytest.MonkeyPatch) -> None:
    template = ["/opt/rok/bin/rok fort", "token-create", "--user", "{uuid}", "--duration={seconds}"]
    env.setenv("ROK_BOT_TOKEN_CREATE_COMMAND", json.dumps(template))
    env.setenv("ROK_BOT_ACCOUNT_LIST_COMMAND", "'/opt/rok/bin/rok fort' account-list")
    s = load_settings()
    assert s.token_create_command == template
    assert s.account_list_command == ["/opt/rok/bin/rok fort", "account-list"]


def test_secrets_are_read_from_files(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "SLACK_BOT_TOKEN").write_text("xoxb-from-a-file\n")
    (secrets / "SLACK_SIGNING_SECRET").write_text("signing-from-a-file")
    (secrets / "ROK_BOT_SEAL_KEY").write_text(NEW_SEAL_KEY + "\n")
    (secrets / "ROK_BOT_MAX_DURATION").write_text("3d")
    env.setenv("ROK_BOT_SECRETS_DIR", str(secrets))
    s = load_settings()
    assert s.slack_bot_token is not None and s.slack_bot_token.get_secret_value() == "xoxb-from-a-file"
    assert s.slack_signing_secret is not None
    assert s.slack_signing_secret.get_secret_value() == "signing-from-a-file"
    assert s.seal_key is not None and s.seal_key.get_secret_value() == NEW_SEAL_KEY
    assert s.max_duration == 3 * 86400
    s.require_slack()
    # The environment wins over a mounted file.
    env.setenv("SLACK_BOT_TOKEN", "xoxb-from-the-environment")
    s = load_settings()
    assert s.slack_bot_token is not None
    assert s.slack_bot_token.get_secret_value() == "xoxb-from-the-environment"


def _plain(value: object) -> object:
    """A setting's clear value, whether the model keeps it as a SecretStr or a str."""
    reveal = getattr(value, "get_secret_value", None)
    return reveal() if callable(reveal) else value


def test_the_webhook_url_and_signing_secret_are_read_from_files(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The chart mounts audit.webhook's Secret keys as files in the secrets dir, never env vars (issue 21, #9):
    the URL with its key (Splunk's `?token=`) and the signing secret both come from there; a plain URL may
    come from the environment (audit.webhook.url) while the secret stays a file."""
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    url = "https://splunk.example.com:8088/services/collector/raw?token=0b7c1ad4-5b0e-4a8e-9d7e-3c1f2a4b5c6d"
    signing = "webhook-signing-secret-from-a-file"
    (secrets / "ROK_BOT_AUDIT_WEBHOOK_URL").write_text(url + "\n")
    (secrets / "ROK_BOT_AUDIT_WEBHOOK_SECRET").write_text(signing + "\n")
    env.setenv("ROK_BOT_SECRETS_DIR", str(secrets))
    s = load_settings()
    assert _plain(s.audit_webhook_url) == url
    assert s.audit_webhook_secret is not None and s.audit_webhook_secret.get_secret_value() == signing
    assert s.audit_sinks == ("webhook",)
    assert signing in s.secrets()
    env.setenv("ROK_BOT_AUDIT_WEBHOOK_URL", "https://siem.example.com/rok-bot")
    s = load_settings()
    assert _plain(s.audit_webhook_url) == "https://siem.example.com/rok-bot"
    assert s.audit_webhook_secret is not None and s.audit_webhook_secret.get_secret_value() == signing


def test_a_missing_secrets_dir_is_not_an_error(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    env.setenv("ROK_BOT_SECRETS_DIR", str(tmp_path / "absent"))
    assert load_settings().slack_bot_token is None


def test_dotenv_in_the_working_directory_is_read(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("ROK_REGISTRY_SERVICE=from-dotenv\nROK_BOT_MIN_DURATION=1m\n")
    s = load_settings()
    assert (s.service, s.min_duration) == ("from-dotenv", 60)
    env.setenv("ROK_REGISTRY_SERVICE", "from-env")
    assert load_settings().service == "from-env"
    assert load_settings(env_file=None).min_duration == 300


@pytest.mark.parametrize(
    ("missing", "name"),
    [
        ("SLACK_BOT_TOKEN", "SLACK_BOT_TOKEN"),
        ("SLACK_SIGNING_SECRET", "SLACK_SIGNING_SECRET"),
        ("ROK_BOT_SEAL_KEY", "ROK_BOT_SEAL_KEY"),
    ],
)
def test_require_slack_names_the_missing_variable(env: pytest.MonkeyPatch, missing: str, name: str) -> None:
    for variable, value in {
        "SLACK_BOT_TOKEN": "xoxb-test",
        "SLACK_SIGNING_SECRET": "test",
        "ROK_BOT_SEAL_KEY": NEW_SEAL_KEY,
    }.items():
        if variable != missing:
            env.setenv(variable, value)
    with pytest.raises(SettingsError) as err:
        load_settings().require_slack()
    assert str(err.value).startswith(f"{name}: ")


@pytest.mark.parametrize(
    ("base", "expected"),
    [
        ("https://rok.example.com", "https://rok.example.com/auth/v1/token"),
        ("https://rok.example.com/", "https://rok.example.com/auth/v1/token"),
        ("https://rok.example.com/registry", "https://rok.example.com/registry/auth/v1/token"),
        ("https://rok.example.com/registry/", "https://rok.example.com/registry/auth/v1/token"),
        ("http://10.0.0.5:8080/a/b", "http://10.0.0.5:8080/a/b/auth/v1/token"),
    ],
)
def test_verify_url_keeps_the_path_prefix(base: str, expected: str) -> None:
    assert verify_url(base) == expected


def test_settings_is_the_public_model() -> None:
    # Every field is read from one named variable, never from its Python name.
    for field_name, info in Settings.model_fields.items():
        assert info.validation_alias is not None, field_name


def test_the_otlp_exporters_header_values_are_secrets_for_the_log_redactor(env: pytest.MonkeyPatch) -> None:
    """A collector's API key travels in OTEL_EXPORTER_OTLP_HEADERS, read by the OpenTelemetry SDK from the
    environment: the redaction filter masks its values, as written and URL-decoded, never the header names."""
    env.setenv("OTEL_EXPORTER_OTLP_HEADERS", "api-key=c0llector-key-123,x-tenant=acme%20corp")
    env.setenv("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "authorization=Bearer%20tr4ces-key")
    found = load_settings().secrets()
    assert {"c0llector-key-123", "acme%20corp", "acme corp", "Bearer tr4ces-key"} <= set(found)
    assert "api-key" not in found and "x-tenant" not in found


def test_a_ca_bundle_without_a_pem_certificate_stops_the_start(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The registry's TLS context is made on the first Verify (issue 26); the wrong file still fails at start."""
    der = tmp_path / "ca.der"
    der.write_bytes(b"0\x82\x03\x1b0\x82\x02\x03\xa0\x03\x02\x01\x02")  # what a DER certificate starts with
    message = fails(env, ROK_REGISTRY_CA_BUNDLE=str(der))
    assert message == f"ROK_REGISTRY_CA_BUNDLE: {der} holds no PEM certificate (-----BEGIN CERTIFICATE-----)"
