"""Settings from the environment, an optional `.env` file and a secrets directory (one file per secret).

The environment variable names are the public contract (documented in README.md). Field names are short;
each field's alias is its variable. Invalid settings raise `SettingsError` with one line naming the variable.
"""

from __future__ import annotations

import json
import os
import re
import shlex
from pathlib import Path
from typing import Any, TypeVar

from pydantic import AliasChoices, Field, PrivateAttr, SecretStr, ValidationError, field_validator, model_validator

from bot.domain.durations import config_seconds, format_duration
from bot.domain.identity import SlackTeams
from bot.domain.patterns import DEFAULT_REGISTRY, DNS_LABEL, PLACEHOLDER
from bot.domain.registries import Registries, Registry, RegistryError, check_ca_bundle, load_registries
from bot.domain.urls import safe_url, sends_in_clear
from bot.settings.audit import AuditSettings
from bot.settings.base import (
    MODEL_CONFIG,
    Argv,
    CommaList,
    Seconds,
    SettingsError,
    StoreSettings,
    http_url,
)
from bot.settings.logs import LogSettings, otlp_header_secrets

__all__ = [
    "ACCOUNT_LIST_COMMAND",
    "TOKEN_CREATE_COMMAND",
    "Settings",
    "SettingsError",
    "StoreSettings",
    "load_settings",
    "load_store_settings",
    "settings_from",
]

DEFAULT_SECRETS_DIR = "/etc/rok-token-bot/secrets"
ACCOUNT_LIST_COMMAND = ["rok-fort-manage", "account-list"]
TOKEN_CREATE_COMMAND = [
    "rok-fort-manage",
    "token-create",
    "--user",
    "{uuid}",
    "--duration",
    "{seconds}",
    "--no-borders",
]
TOKEN_CREATE_PLACEHOLDERS = frozenset({"uuid", "seconds"})


class Settings(AuditSettings, LogSettings, StoreSettings):
    """Everything the bot reads from its environment."""

    model_config = MODEL_CONFIG

    # Rok Registry and the cluster: one registry from ROK_REGISTRY_*, or several from a file (`registries()`).
    # With the file, registry_url is "" and the ROK_REGISTRY_* fields below are not used.
    registry_url: str = Field("", validation_alias=AliasChoices("ROK_REGISTRY_URL"))
    registries_file: Path | None = Field(None, validation_alias=AliasChoices("ROK_BOT_REGISTRIES"))
    namespace: str = Field("rok-registry", validation_alias=AliasChoices("ROK_REGISTRY_NAMESPACE"))
    service: str = Field("rok-registry", validation_alias=AliasChoices("ROK_REGISTRY_SERVICE"))
    container: str | None = Field(None, validation_alias=AliasChoices("ROK_REGISTRY_CONTAINER"))
    ca_bundle: Path | None = Field(None, validation_alias=AliasChoices("ROK_REGISTRY_CA_BUNDLE"))
    # Plain http beyond this machine sends each verified token as a Bearer header in clear text: opt-in only.
    registry_allow_http: bool = Field(False, validation_alias=AliasChoices("ROK_REGISTRY_ALLOW_HTTP"))
    kubeconfig: str | None = Field(None, validation_alias=AliasChoices("KUBECONFIG"))

    # Durations: "24h", "7d", "1h30m"; stored as whole seconds.
    default_duration: Seconds = Field(86400, validation_alias=AliasChoices("ROK_BOT_DEFAULT_DURATION"))
    max_duration: Seconds = Field(7 * 86400, validation_alias=AliasChoices("ROK_BOT_MAX_DURATION"))
    min_duration: Seconds = Field(300, validation_alias=AliasChoices("ROK_BOT_MIN_DURATION"))
    exec_timeout: Seconds = Field(30, validation_alias=AliasChoices("ROK_BOT_EXEC_TIMEOUT"))
    account_cache_ttl: Seconds = Field(300, validation_alias=AliasChoices("ROK_BOT_ACCOUNT_CACHE_TTL"))
    max_concurrent_execs: int = Field(4, ge=1, le=64, validation_alias=AliasChoices("ROK_BOT_MAX_CONCURRENT_EXECS"))
    exec_output_limit: int = Field(
        1 << 20, ge=1024, le=64 << 20, validation_alias=AliasChoices("ROK_BOT_EXEC_OUTPUT_LIMIT")
    )
    account_list_command: Argv = Field(
        default_factory=lambda: list(ACCOUNT_LIST_COMMAND),
        validation_alias=AliasChoices("ROK_BOT_ACCOUNT_LIST_COMMAND"),
    )
    token_create_command: Argv = Field(
        default_factory=lambda: list(TOKEN_CREATE_COMMAND),
        validation_alias=AliasChoices("ROK_BOT_TOKEN_CREATE_COMMAND"),
    )

    # Slack.
    slack_bot_token: SecretStr | None = Field(None, validation_alias=AliasChoices("SLACK_BOT_TOKEN"))
    slack_signing_secret: SecretStr | None = Field(None, validation_alias=AliasChoices("SLACK_SIGNING_SECRET"))
    slack_app_token: SecretStr | None = Field(None, validation_alias=AliasChoices("SLACK_APP_TOKEN"))
    slack_api_url: str = Field("https://slack.com/api/", validation_alias=AliasChoices("SLACK_API_URL"))
    slack_teams: SlackTeams = Field(None, validation_alias=AliasChoices("ROK_BOT_SLACK_TEAMS"))
    user_map: Path | None = Field(None, validation_alias=AliasChoices("ROK_BOT_USER_MAP"))
    email_domains: CommaList = Field([], validation_alias=AliasChoices("ROK_BOT_EMAIL_DOMAINS"))
    seal_key: SecretStr | None = Field(None, validation_alias=AliasChoices("ROK_BOT_SEAL_KEY"))
    support_contact: str = Field(
        "your platform admins", max_length=200, validation_alias=AliasChoices("ROK_BOT_SUPPORT_CONTACT")
    )
    port: int = Field(3000, ge=0, le=65535, validation_alias=AliasChoices("ROK_BOT_PORT"))
    # A pod listens on all its interfaces; the NetworkPolicy decides who reaches it.
    bind: str = Field("0.0.0.0", validation_alias=AliasChoices("ROK_BOT_BIND"))  # noqa: S104  # nosec B104
    allow_guests: bool = Field(False, validation_alias=AliasChoices("ROK_BOT_ALLOW_GUESTS"))
    policy: Path | None = Field(None, validation_alias=AliasChoices("ROK_BOT_POLICY"))
    workers: int = Field(32, ge=1, le=1024, validation_alias=AliasChoices("ROK_BOT_WORKERS"))
    # How long before a token expires its owner gets a reminder with a Renew button; 0 turns reminders off.
    remind_before: Seconds = Field(3600, validation_alias=AliasChoices("ROK_BOT_REMIND_BEFORE"))
    drain_timeout: Seconds = Field(25, validation_alias=AliasChoices("ROK_BOT_DRAIN_TIMEOUT"))
    _catalogue: Registries | None = PrivateAttr(None)  # the file's registries, loaded once at start

    @field_validator("registry_url")
    @classmethod
    def _registry_url(cls, value: str) -> str:
        if not value.strip():
            return ""  # unset, or set empty: `_one_registry_source` says whether it is missing
        return http_url(value)

    @field_validator("slack_api_url")
    @classmethod
    def _slack_api_url(cls, value: str) -> str:
        return http_url(value)

    @field_validator("namespace", "service")
    @classmethod
    def _dns_label(cls, value: str) -> str:
        if not DNS_LABEL.fullmatch(value):
            raise ValueError(f"must be a Kubernetes name (DNS label), got {value[:60]!r}")
        return value

    @field_validator(
        "default_duration",
        "max_duration",
        "min_duration",
        "exec_timeout",
        "account_cache_ttl",
        "drain_timeout",
        mode="before",
    )
    @classmethod
    def _duration(cls, value: object) -> int:
        return config_seconds(value)

    @field_validator("remind_before", mode="before")
    @classmethod
    def _remind_before(cls, value: object) -> int:
        if value in (0, "0", "0s", "off"):
            return 0
        return config_seconds(value)

    @field_validator("account_list_command", "token_create_command", mode="before")
    @classmethod
    def _argv(cls, value: object) -> list[str]:
        if isinstance(value, str):
            text = value.strip()
            parsed: object = json.loads(text) if text.startswith("[") else shlex.split(text)
        else:
            parsed = value
        if not isinstance(parsed, list) or not parsed or not all(isinstance(a, str) and a for a in parsed):
            raise ValueError("must be a non-empty JSON list of strings or a shell-quoted command line")
        return list(parsed)

    @field_validator("token_create_command")
    @classmethod
    def _token_placeholders(cls, value: list[str]) -> list[str]:
        used = {name for arg in value for name in PLACEHOLDER.findall(arg)}
        if unknown := used - TOKEN_CREATE_PLACEHOLDERS:
            raise ValueError(f"unknown placeholder(s) {sorted(unknown)}; allowed: {{uuid}} and {{seconds}}")
        if missing := TOKEN_CREATE_PLACEHOLDERS - used:
            raise ValueError(f"must contain {', '.join('{' + m + '}' for m in sorted(missing))}")
        return value

    @field_validator("account_list_command")
    @classmethod
    def _no_placeholders(cls, value: list[str]) -> list[str]:
        if any(PLACEHOLDER.search(arg) for arg in value):
            raise ValueError("takes no placeholders")
        return value

    @field_validator("email_domains", mode="before")
    @classmethod
    def _comma_list(cls, value: object) -> list[str]:
        if isinstance(value, str):
            items = [d.strip().lower().lstrip("@") for d in value.split(",")]
        elif isinstance(value, list):
            items = [str(d).strip().lower().lstrip("@") for d in value]
        else:
            raise ValueError("must be a comma-separated list of domains")
        for item in items:
            if item and not re.fullmatch(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$", item):
                raise ValueError(f"{item[:60]!r} is not a domain name")
        return [d for d in items if d]

    @field_validator("slack_app_token")
    @classmethod
    def _app_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith("xapp-"):
            raise ValueError("must be an app-level token (xapp-...)")
        return value

    @field_validator("seal_key")
    @classmethod
    def _seal_keys(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            from bot.adapters.seal import parse_seal_keys  # no cryptography: the keys are parsed, not used

            try:
                parse_seal_keys(value.get_secret_value())
            except ValueError as exc:
                raise ValueError(str(exc).removeprefix("ROK_BOT_SEAL_KEY: ")) from None
        return value

    @field_validator("ca_bundle", "user_map", "policy", "registries_file")
    @classmethod
    def _readable_file(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"{str(value)[:120]} is not a readable file")
        return value

    @field_validator("ca_bundle")
    @classmethod
    def _pem(cls, value: Path | None) -> Path | None:
        return check_ca_bundle(value) if value is not None else None

    @model_validator(mode="after")
    def _one_registry_source(self) -> Settings:
        if self.registries_file is None:
            if not self.registry_url:
                raise ValueError("ROK_REGISTRY_URL: required but not set")
            return self
        if self.registry_url:
            raise ValueError(
                "ROK_BOT_REGISTRIES: set either it or ROK_REGISTRY_URL, not both (the file gives each registry its url)"
            )
        try:
            self._catalogue = load_registries(self.registries_file, kubeconfig=self.kubeconfig)
        except RegistryError as exc:
            raise ValueError(f"ROK_BOT_REGISTRIES: {exc}") from None
        return self

    @model_validator(mode="after")
    def _registry_over_tls(self) -> Settings:
        if self.registry_url and sends_in_clear(self.registry_url) and not self.registry_allow_http:
            raise ValueError(
                f"ROK_REGISTRY_URL: {safe_url(self.registry_url)[:80]} would send tokens in clear text; use "
                "https:// (or, for an in-cluster Service URL, set ROK_REGISTRY_ALLOW_HTTP=true)"
            )
        return self

    @model_validator(mode="after")
    def _duration_bounds(self) -> Settings:
        if self.min_duration > self.max_duration:
            raise ValueError(
                f"ROK_BOT_MIN_DURATION: {format_duration(self.min_duration)} is above "
                f"ROK_BOT_MAX_DURATION ({format_duration(self.max_duration)})"
            )
        if not self.min_duration <= self.default_duration <= self.max_duration:
            raise ValueError(
                f"ROK_BOT_DEFAULT_DURATION: {format_duration(self.default_duration)} is outside "
                f"{format_duration(self.min_duration)}..{format_duration(self.max_duration)}"
            )
        return self

    def registries(self) -> Registries:
        """The registries this bot serves: the ROK_BOT_REGISTRIES file's, else one named `default` made of the
        ROK_REGISTRY_* settings (then nothing a user sees mentions registries)."""
        if self._catalogue is None:
            self._catalogue = Registries((self._default_registry(),))
        return self._catalogue

    def _default_registry(self) -> Registry:
        return Registry(
            name=DEFAULT_REGISTRY,
            url=self.registry_url,
            namespace=self.namespace,
            service=self.service,
            container=self.container,
            ca_bundle=self.ca_bundle,
            allow_http=self.registry_allow_http,
            max_concurrent_execs=self.max_concurrent_execs,
        )

    @property
    def socket_mode(self) -> bool:
        """Socket Mode when an app-level token is configured, else HTTP mode."""
        return self.slack_app_token is not None

    def secrets(self) -> list[str]:
        """Every configured secret in clear text, for the log redaction filter."""
        values = [
            self.slack_bot_token,
            self.slack_signing_secret,
            self.slack_app_token,
            self.seal_key,
        ]
        found = [v.get_secret_value() for v in values if v is not None and v.get_secret_value()]
        if self.seal_key is not None:  # each key of a rotation list, on its own too
            found += [key for key in re.split(r"[\s,]+", self.seal_key.get_secret_value()) if key]
        found += self.audit_secrets()
        found += self.store_secrets()
        found += otlp_header_secrets()
        return list(dict.fromkeys(found))

    def require_slack(self) -> None:
        """Fail with one line if the settings the Slack app needs are missing."""
        if self.slack_bot_token is None:
            raise SettingsError("SLACK_BOT_TOKEN: required to run the Slack app (xoxb-...)")
        if not self.socket_mode and self.slack_signing_secret is None:
            raise SettingsError("SLACK_SIGNING_SECRET: required in HTTP mode (or set SLACK_APP_TOKEN for Socket Mode)")
        if self.seal_key is None:
            raise SettingsError("ROK_BOT_SEAL_KEY: required to seal Verify buttons (32+ random bytes, base64)")


def settings_from(values: dict[str, str]) -> Settings:
    """Settings from a dict of variables alone (no environment, .env or secrets dir), validated alike."""
    try:
        return Settings.model_validate(values)
    except ValidationError as exc:
        raise SettingsError(_one_line(exc)) from None


def _alias_of(field: str) -> str:
    info = Settings.model_fields.get(field)
    alias = info.validation_alias if info else None
    if isinstance(alias, AliasChoices) and alias.choices and isinstance(alias.choices[0], str):
        return alias.choices[0]
    return field


_S = TypeVar("_S", bound=StoreSettings)


def load_settings(*, env_file: str | None = ".env") -> Settings:
    """Build settings once, at start, from the environment, `.env` and the secrets directory."""
    return _load(Settings, env_file=env_file)


def load_store_settings(*, env_file: str | None = ".env") -> StoreSettings:
    """The store's settings alone, from the same sources: no Slack or registry setting is needed."""
    return _load(StoreSettings, env_file=env_file)


def _load(cls: type[_S], *, env_file: str | None) -> _S:
    secrets_dir = os.environ.get("ROK_BOT_SECRETS_DIR", DEFAULT_SECRETS_DIR)
    kwargs: dict[str, Any] = {"_env_file": env_file if env_file and Path(env_file).is_file() else None}
    if Path(secrets_dir).is_dir():
        kwargs["_secrets_dir"] = secrets_dir
    try:
        return cls(**kwargs)
    except ValidationError as exc:
        raise SettingsError(_one_line(exc)) from None


def _one_line(exc: ValidationError) -> str:
    """The first error as `VARIABLE: what is wrong`."""
    error = exc.errors(include_url=False, include_input=False)[0]
    loc = error["loc"]
    name = _alias_of(str(loc[0])) if loc else "settings"
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "missing":
        message = "required but not set"
    if not loc:
        # A check across fields: its message already starts with the variable it blames.
        return message
    return f"{name}: {message}"
