"""The store's settings: the database URL is a secret, the data dir follows XDG, retention is a duration."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.bootstrap import build_store
from bot.settings import SettingsError, load_settings, load_store_settings

PASSWORD = "pw-Zq8!x@y"  # an '@' inside the password, percent-encoded in the URL as %40
URL = "postgresql://rokbot:pw-Zq8!x%40y@db.example.com:5432/rok"


def test_the_store_settings_need_no_slack_and_no_registry(clean_env: dict[str, str]) -> None:
    with pytest.raises(SettingsError, match="ROK_REGISTRY_URL"):
        load_settings()
    settings = load_store_settings()
    assert settings.database_url is None
    assert settings.retention == 90 * 86400


def test_the_data_dir_follows_xdg_state_home(clean_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ROK_BOT_DATA_DIR")  # clean_env points it at the test's own directory
    monkeypatch.setenv("XDG_STATE_HOME", "/var/state")
    assert load_store_settings().data_dir == Path("/var/state/rok-token-bot")
    monkeypatch.delenv("XDG_STATE_HOME")
    monkeypatch.setenv("HOME", "/home/jdoe")
    assert load_store_settings().data_dir == Path("/home/jdoe/.local/state/rok-token-bot")
    monkeypatch.setenv("ROK_BOT_DATA_DIR", "/data")
    assert load_store_settings().data_dir == Path("/data")


def test_the_default_store_is_an_sqlite_file_in_the_data_dir_created_on_first_use(
    clean_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    data = tmp_path / "state" / "rok-token-bot"
    monkeypatch.setenv("ROK_BOT_DATA_DIR", str(data))
    store = build_store(load_store_settings())
    try:
        assert store.backend == "sqlite"
        assert not data.exists()  # opening connects nothing
        store.upgrade()
    finally:
        store.close()
    assert (data / "rok-token-bot.sqlite3").is_file()
    assert data.stat().st_mode & 0o777 == 0o700


def test_retention_is_a_duration_of_at_least_a_day(clean_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROK_BOT_RETENTION", "30d")
    assert load_store_settings().retention == 30 * 86400
    monkeypatch.setenv("ROK_BOT_RETENTION", "1h")
    with pytest.raises(SettingsError, match=r"^ROK_BOT_RETENTION: must be at least 1d$"):
        load_store_settings()


def test_a_bad_database_url_is_refused_without_echoing_it(
    clean_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ROK_BOT_DATABASE_URL", "mysql://rokbot:hunter2-secret@db/rok")
    with pytest.raises(SettingsError) as raised:
        load_store_settings()
    assert str(raised.value).startswith("ROK_BOT_DATABASE_URL: must be a postgresql+psycopg://")
    assert "hunter2-secret" not in str(raised.value)


def test_the_database_url_is_read_from_the_secrets_dir_and_its_password_is_redacted(
    clean_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "ROK_BOT_DATABASE_URL").write_text(URL + "\n")  # as a Kubernetes Secret file may end
    monkeypatch.setenv("ROK_BOT_SECRETS_DIR", str(secrets))
    settings = load_store_settings()
    assert settings.database_url is not None
    assert settings.database_url.get_secret_value() == URL
    assert PASSWORD not in repr(settings)
    assert {URL, "pw-Zq8!x%40y", PASSWORD} <= set(settings.store_secrets())
    store = build_store(settings)
    try:
        assert store.backend == "postgresql"
        assert store.url == "postgresql+psycopg://db.example.com:5432/rok"
    finally:
        store.close()


def test_the_full_settings_hand_the_database_password_to_the_log_redaction(
    core_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ROK_BOT_DATABASE_URL", URL)
    assert PASSWORD in load_settings().secrets()
