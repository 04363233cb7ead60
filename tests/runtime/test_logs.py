"""The log redactor: exact values of any shape, their lifetime, and the loggers kept from logging bodies."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from urllib.parse import quote

import pytest

from bot.bootstrap import PROTECT_GRACE_SECONDS, build_engine
from bot.runtime import logs
from bot.runtime.clock import SystemClock
from bot.runtime.logs import BODY_LOGGERS, MASK, URL_LOGGERS, Redactor, setup_logging
from bot.settings import Settings
from sandbox.rok import TOKEN_SHAPES, new_token
from tests.fakes import FakeRok


class Clock:
    """Epoch seconds that the test moves by hand."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """setup_logging() replaces the root handler and caps loggers: put everything back afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    caps = {name: logging.getLogger(name).level for name in (*BODY_LOGGERS, *URL_LOGGERS)}
    installed = logs._Installed.redactor
    logs._Installed.redactor = None  # no tokens protected by earlier tests
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, cap in caps.items():
        logging.getLogger(name).setLevel(cap)
    logs._Installed.redactor = installed


QUOTED = "tok'en\"with\\quotes+/=" + "x" * 8  # printable, no space: the parser would take it


@pytest.mark.parametrize(
    "token",
    [*(new_token(shape) for shape in sorted(TOKEN_SHAPES)), QUOTED],
    ids=[*sorted(TOKEN_SHAPES), "quoted"],  # stable names: the tokens themselves are random
)
def test_a_protected_token_of_any_shape_is_masked_in_every_spelling(token: str) -> None:
    redactor = Redactor(clock=Clock())
    redactor.protect(token, until=Clock().now + 60)
    lines = [
        f"plain {token} end",
        f"glued```{token}```glued",
        f"json_body: { {'blocks': [{'text': f'```{token}```'}]} }",  # how slack_sdk logs a request
        json.dumps({"text": f"a {token} b"}),  # how the webhook client logs one
        f"url?value={quote(token, safe='')}&next=1",
        token,
    ]
    for line in lines:
        masked = redactor(line)
        assert MASK in masked, line
        for i in range(0, len(token) - 11, 6):
            assert token[i : i + 12] not in masked, line


def test_protected_values_are_forgotten_after_their_expiry() -> None:
    clock = Clock()
    redactor = Redactor(clock=clock)
    tokens = [new_token("std-b64") for _ in range(300)]
    for i, token in enumerate(tokens):
        redactor.protect(token, until=clock.now + 60 + i)
    assert redactor(tokens[0]) == MASK and len(redactor) >= 300
    clock.now += 60 + 150
    assert redactor(tokens[0]) != MASK  # expired: forgotten, the set shrinks
    assert redactor(tokens[200]) == MASK
    assert 150 <= len(redactor) < 300
    clock.now += 1000
    redactor("any line")
    assert len(redactor) == 0


def test_protecting_again_extends_and_never_shortens() -> None:
    clock = Clock()
    redactor = Redactor(clock=clock)
    token = new_token("short")
    redactor.protect(token, until=clock.now + 100)
    redactor.protect(token, until=clock.now + 10)
    clock.now += 50
    assert redactor(token) == MASK


def test_configured_secrets_never_expire() -> None:
    clock = Clock()
    redactor = Redactor(["configured-secret-value"], clock=clock)
    clock.now += 10**9
    assert redactor("x configured-secret-value y") == f"x {MASK} y"


def test_logs_protect_acts_on_the_installed_redactor_and_survives_a_new_setup() -> None:
    first = setup_logging(level="INFO")
    token = new_token("short")
    logs.protect(token, until=Clock().now + 10**9)
    assert first(token) == MASK
    second = setup_logging(level="DEBUG")  # a later set-up keeps the tokens already live
    assert second(token) == MASK


@pytest.mark.parametrize(("level", "cap"), [("DEBUG", logging.INFO), ("INFO", logging.INFO), ("ERROR", logging.ERROR)])
def test_loggers_that_log_bodies_never_log_below_info(level: str, cap: int) -> None:
    followers = ("bot.usecases", "slack_bolt.App", "urllib3")
    for name in followers:  # a Bolt App built by another test sets a level on its logger: start from none
        logging.getLogger(name).setLevel(logging.NOTSET)
    setup_logging(level=level)
    for name in BODY_LOGGERS:
        assert logging.getLogger(name).getEffectiveLevel() == cap, name
    # The others follow the root, DEBUG included.
    for name in followers:
        assert logging.getLogger(name).getEffectiveLevel() == logging.getLevelName(level)


@pytest.mark.parametrize("level", ["DEBUG", "INFO", "WARNING", "ERROR"])
def test_httpx_and_httpcore_log_only_warnings_whatever_the_level(level: str) -> None:
    """httpx logs every request's full URL at INFO (the SIEM webhook's key with it), httpcore each connection
    step at DEBUG."""
    setup_logging(level=level)
    for name in ("httpx", "httpcore", "httpcore.connection", "httpcore.http11"):
        assert logging.getLogger(name).getEffectiveLevel() == max(logging.WARNING, logging.getLevelName(level)), name


@pytest.mark.parametrize("shape", sorted(TOKEN_SHAPES))
def test_the_engine_protects_each_token_it_mints_until_after_its_expiry(
    settings: Settings, rok: FakeRok, shape: str
) -> None:
    """bootstrap wires TokenService to the installed redactor: the CLI and the Slack app share it."""
    redactor = setup_logging(level="DEBUG")
    rok.token_shape = shape
    engine = build_engine(settings, clock=SystemClock())
    try:
        issued = engine.engine.mint(engine.engine.account("jdoe"), seconds=3600)
    finally:
        engine.close()
    token = issued.token.reveal()
    assert redactor(f"body: {{'text': '```{token}```'}}") == f"body: {{'text': '```{MASK}```'}}"
    forget_at = issued.expires_at.timestamp() + PROTECT_GRACE_SECONDS
    assert redactor._next_expiry == pytest.approx(forget_at)
    assert redactor._expiry[token] == pytest.approx(forget_at)


def test_the_redactor_masks_the_userinfo_of_any_url_in_a_line() -> None:
    line = 'HTTP Request: GET https://admin:S3cretPassw0rd@rok.example.com/registry/auth/v1/token "HTTP/1.1 200 OK"'
    masked = Redactor()(line)
    assert "S3cretPassw0rd" not in masked and "admin" not in masked
    assert "rok.example.com/registry/auth/v1/token" in masked
    assert Redactor()("mail jdoe@example.com, see https://example.com/@team") == (
        "mail jdoe@example.com, see https://example.com/@team"
    )


@pytest.mark.parametrize("stream", ["stdout", "stderr"])
def test_logs_go_to_the_stream_asked_for_redacted_alike(stream: str, capsys: pytest.CaptureFixture[str]) -> None:
    """ROK_BOT_LOG_STREAM: some platforms read only stdout; the other stream stays empty, the masking the same."""
    token = new_token("urlsafe")
    setup_logging(level="INFO", fmt="json", secrets=[token], stream=stream)
    logging.getLogger("bot.test").info("sent %s", token)
    out, err = capsys.readouterr()
    written, other = (out, err) if stream == "stdout" else (err, out)
    assert json.loads(written)["message"] == f"sent {MASK}"
    assert other == ""
