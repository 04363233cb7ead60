"""Credentials written in the database URL reach the log redaction as exact secrets (issue 21, finding 6)."""

from __future__ import annotations

from bot.runtime.logs import Redactor
from bot.settings import settings_from

DB_PASSWORD = "Zq7-hunter2-Secret"
BASE = {"ROK_REGISTRY_URL": "https://rok.example.com/registry", "ROK_BOT_SECRETS_DIR": "/nonexistent"}


def test_a_database_password_given_as_a_query_parameter_is_masked_in_every_log_line() -> None:
    url = f"postgresql+psycopg://bot@db.example.com/rok?sslmode=require&password={DB_PASSWORD}"
    settings = settings_from({**BASE, "ROK_BOT_DATABASE_URL": url})
    assert DB_PASSWORD in settings.store_secrets()
    masked = Redactor(settings.secrets())(f'psycopg.OperationalError: invalid dsn: "password={DB_PASSWORD}"')
    assert DB_PASSWORD not in masked
