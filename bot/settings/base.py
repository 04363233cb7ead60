"""What every settings class shares: the error, the value types, and the store's settings (enough for
`rok-token-bot db|tokens|audit`, which need no Slack or registry setting)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.domain.audit import REFUSAL_RETENTION_SECONDS
from bot.domain.durations import config_seconds, format_duration
from bot.domain.urls import credentials, is_http_url, safe_url

MODEL_CONFIG = SettingsConfigDict(
    env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=True, populate_by_name=False
)


def http_url(value: str) -> str:
    if not is_http_url(value):
        raise ValueError(f"must be an http(s) URL, got {safe_url(value)[:60]!r}")
    return value


class SettingsError(Exception):
    """Settings are missing or invalid; the message is one line that names the variable."""


Seconds = Annotated[int, NoDecode]
Argv = Annotated[list[str], NoDecode]
CommaList = Annotated[list[str], NoDecode]


def _default_data_dir() -> Path:
    """`$XDG_STATE_HOME/rok-token-bot`, else `~/.local/state/rok-token-bot` (created when the store opens)."""
    state = os.environ.get("XDG_STATE_HOME", "").strip()
    return (Path(state) if state else Path.home() / ".local" / "state") / "rok-token-bot"


_DATABASE_SCHEMES = ("postgresql+psycopg", "postgresql", "postgres", "sqlite", "sqlite+pysqlite")
MIN_RETENTION = 86400  # the quota looks back an hour and the crash sweep minutes: a day keeps both whole


class StoreSettings(BaseSettings):
    """What the durable store needs, and nothing else: enough for `rok-token-bot db|tokens|audit`."""

    model_config = MODEL_CONFIG

    # A secret: its password is never printed or logged (the redaction filter gets it through secrets()).
    database_url: SecretStr | None = Field(None, validation_alias=AliasChoices("ROK_BOT_DATABASE_URL"))
    data_dir: Path = Field(default_factory=_default_data_dir, validation_alias=AliasChoices("ROK_BOT_DATA_DIR"))
    retention: Seconds = Field(90 * 86400, validation_alias=AliasChoices("ROK_BOT_RETENTION"))
    # Refusals: anyone in the workspace can cause them, as many as they like; kept shorter (never longer).
    refusal_retention: Seconds = Field(
        REFUSAL_RETENTION_SECONDS, validation_alias=AliasChoices("ROK_BOT_REFUSAL_RETENTION")
    )

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        scheme = value.get_secret_value().strip().split("://", 1)[0].lower()
        if "://" not in value.get_secret_value() or scheme not in _DATABASE_SCHEMES:
            # Never echo the value: it carries a password.
            raise ValueError("must be a postgresql+psycopg://USER:PASSWORD@HOST:PORT/DB or sqlite:///PATH URL")
        return SecretStr(value.get_secret_value().strip())

    @field_validator("retention", "refusal_retention", mode="before")
    @classmethod
    def _retention(cls, value: object) -> int:
        seconds = config_seconds(value)
        if seconds < MIN_RETENTION:
            raise ValueError(f"must be at least {format_duration(MIN_RETENTION)}")
        return seconds

    def store_secrets(self) -> list[str]:
        """The database URL and its passwords (userinfo, `?password=`, ...) in clear text, for the log redaction
        filter: a driver's error may echo its connection string."""
        if self.database_url is None:
            return []
        url = self.database_url.get_secret_value()
        return list(dict.fromkeys([url, *credentials(url)]))
