"""URLs for humans: no credential is shown, whether in the userinfo or in the query (issue 21, findings 4 and 6)."""

from __future__ import annotations

import pytest

from bot.domain.urls import MASK, credentials, endpoint, safe_url, without_credentials

GUID = "8c5b3a52-7f0e-4d1c-9a6b-2e4f1d3c5a7b"  # a Splunk HEC token is a GUID


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://admin:S3cret@rok.example.com/registry", "https://rok.example.com/registry"),
        ("http://admin:p@ss@10.0.0.5:8080/a?b=c", "http://10.0.0.5:8080/a?b=c"),
        ("https://token-only@rok.example.com", "https://rok.example.com"),
        ("https://rok.example.com/x@y", "https://rok.example.com/x@y"),  # an @ in the path is no userinfo
        ("not a url", "not a url"),
        # libpq's query parameters: psycopg takes the password from the query as well as from the userinfo.
        (
            "postgresql+psycopg://bot@db:5432/rok?password=Zq7-hunter2",
            f"postgresql+psycopg://db:5432/rok?password={MASK}",
        ),
        (
            "postgresql+psycopg://bot:one@db/rok?sslmode=require&sslpassword=two&connect_timeout=2",
            f"postgresql+psycopg://db/rok?sslmode=require&sslpassword={MASK}&connect_timeout=2",
        ),
        ("postgresql://db/rok?PASSWD=x&Pwd=y&user=bot", f"postgresql://db/rok?PASSWD={MASK}&Pwd={MASK}&user=bot"),
        # Collectors' keys: Splunk HEC, Datadog, an Azure SAS signature, an OAuth client secret.
        (
            f"https://siem.example/services/collector?token={GUID}",
            f"https://siem.example/services/collector?token={MASK}",
        ),
        (
            "https://dd.example/v1/input?dd-api-key=0123abcd&ddsource=rok",
            f"https://dd.example/v1/input?dd-api-key={MASK}&ddsource=rok",
        ),
        ("https://x.blob.example/c?sv=2022&sig=abc%2Bdef#frag", f"https://x.blob.example/c?sv=2022&sig={MASK}#frag"),
        (
            "https://idp.example/t?client_secret=s&api%5Fkey=k",
            f"https://idp.example/t?client_secret={MASK}&api%5Fkey={MASK}",
        ),
        ("https://h.example/p?token=&flag", "https://h.example/p?token=&flag"),  # nothing to hide
    ],
)
def test_a_url_is_shown_without_any_credential(url: str, shown: str) -> None:
    assert safe_url(url) == shown


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            f"http://collector:pw@127.0.0.1:8088/services/collector/raw?token={GUID}#x",
            "http://127.0.0.1:8088/services/collector/raw",
        ),
        ("https://siem.example", "https://siem.example"),
        ("  https://siem.example/hook  ", "https://siem.example/hook"),
        ("siem.example/hook?token=x", "(not a URL)"),
    ],
)
def test_an_endpoint_is_the_scheme_host_port_and_path_only(url: str, shown: str) -> None:
    assert endpoint(url) == shown


def test_the_credentials_of_a_database_url_are_its_passwords_in_both_spellings() -> None:
    url = "postgresql+psycopg://bot:p%40ss@db/rok?sslmode=require&password=Zq7%2Bhunter2&sslpassword=two+words"
    assert credentials(url) == ["p%40ss", "p@ss", "Zq7%2Bhunter2", "Zq7+hunter2", "two+words", "two words"]
    assert credentials("postgresql+psycopg://bot@db/rok") == []  # a user name alone is no secret
    assert credentials("sqlite:////var/lib/rok/rok-token-bot.sqlite3") == []


def test_every_part_of_a_webhook_url_that_can_hold_a_key_is_a_credential() -> None:
    url = f"http://collector:siem-pass@127.0.0.1:9/services/collector?token={GUID}&channel=raw-events"
    assert credentials(url, whole=True) == ["collector:siem-pass", "siem-pass", GUID, "raw-events"]
    assert credentials(url) == ["siem-pass", GUID]


def test_a_drivers_message_loses_the_credentials_of_its_url() -> None:
    url = "postgresql+psycopg://bot:pw%2Bone@db/rok?password=Zq7-hunter2&sslpassword=abc"
    echoed = 'invalid dsn: "host=db user=bot password=pw+one password=Zq7-hunter2 sslpassword=abc"'
    # `abc`: shorter than 4 characters, it would mask ordinary words; such a password is no password.
    shown = f'invalid dsn: "host=db user=bot password={MASK} password={MASK} sslpassword=abc"'
    assert without_credentials(echoed, url) == shown
