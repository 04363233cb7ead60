"""Signatures, the token's one place, the sealed button value and the global error hook."""

from __future__ import annotations

import io
import json
import logging
import secrets
import time
from collections.abc import Iterator
from urllib.parse import parse_qsl

import pytest

from bot.adapters.seal import Sealer
from bot.domain.errors import SealError, SealExpired
from bot.domain.secret import Token
from bot.runtime.logs import BODY_LOGGERS, setup_logging
from sandbox import slack_requests as sr
from sandbox.world import SIGNING_SECRET, Sandbox


@pytest.mark.parametrize(
    ("secret", "age"),
    [("not-the-signing-secret", 0), (SIGNING_SECRET, 6 * 60), (SIGNING_SECRET, -6 * 60)],
    ids=["bad-signature", "stale", "future"],
)
def test_bad_or_stale_signature_is_refused_without_any_exec(http_box: Sandbox, secret: str, age: int) -> None:
    assert http_box.server is not None
    # Work an earlier test started may still be finishing (the Home tab's refresh after a token): not ours.
    http_box.slack.wait_for(lambda: http_box.server.bot.jobs.in_flight == 0, 10)
    http_box.server.bot.flush_audit()
    execs, calls = len(http_box.kube.execs), len(http_box.slack.calls)
    status, _, _ = http_box.slash("U0JDOE", "1h", secret=secret, timestamp=int(time.time()) - age)
    assert status == 401
    time.sleep(0.2)  # give a wrongly accepted request the chance to show up
    assert len(http_box.kube.execs) == execs
    assert len(http_box.slack.calls) == calls


def test_unsigned_request_is_refused(http_box: Sandbox) -> None:
    body = sr.form_body(sr.slash_command(user_id="U0JDOE", text="1h", team_id="T0ROKDEMO", response_url="x"))
    import httpx

    response = httpx.post(
        http_box.url + "/slack/events", content=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert response.status_code == 401


def test_unexpected_error_before_the_ack_gets_a_reference_not_a_trace(http_box: Sandbox) -> None:
    """A payload the listener cannot handle goes to @app.error: a short answer with a reference."""
    fields = sr.slash_command(user_id="U0JDOE", text="1h", team_id="T0ROKDEMO", response_url="x")
    del fields["user_id"]
    body = sr.form_body(fields)
    response = sr.signed_post(http_box.url + "/slack/events", body, SIGNING_SECRET)
    assert response.status_code == 200
    text = response.json()["text"]
    assert "reference" in text and "Traceback" not in text
    http_box.wait_audit("failed")


@pytest.fixture
def debug_logs() -> Iterator[io.StringIO]:
    """Route every logger through the bot's redacting handler at DEBUG into a buffer."""
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    saved_caps = {name: logging.getLogger(name).level for name in BODY_LOGGERS}
    buffer = io.StringIO()
    redactor = setup_logging(level="DEBUG", fmt="json")
    handler = root.handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(buffer)
    yield buffer
    del redactor
    for h in list(root.handlers):
        root.removeHandler(h)
    for h in saved_handlers:
        root.addHandler(h)
    root.setLevel(saved_level)
    for name, level in saved_caps.items():
        logging.getLogger(name).setLevel(level)


def fragments(secret: str, size: int = 12) -> set[str]:
    """Overlapping pieces of a secret: a partly masked secret still leaks if any piece shows."""
    return {secret[i : i + size] for i in range(0, max(len(secret) - size, 0) + 1, size // 2)}


LAYERS = ("defaults", "redactor-alone")
LEAK_RUNS = [
    *((shape, layers, "http") for shape in ("urlsafe", "std-b64", "short", "long") for layers in LAYERS),
    *(("std-b64", layers, "socket") for layers in LAYERS),
]


@pytest.mark.parametrize(("shape", "layers", "mode"), LEAK_RUNS, ids=["-".join(run) for run in LEAK_RUNS])
def test_the_token_appears_only_in_the_owners_private_message(
    debug_logs: io.StringIO, shape: str, layers: str, mode: str
) -> None:
    """Leak test: a whole run at DEBUG, every Slack call and every log line searched for the token.

    Tokens of every shape the parser accepts; `redactor-alone` lets slack_sdk log its request bodies (which
    carry the token) to show that the exact-value redaction alone keeps it out of the logs.
    """
    if layers == "redactor-alone":
        for name in BODY_LOGGERS:
            logging.getLogger(name).setLevel(logging.NOTSET)
    with Sandbox(socket_mode=mode == "socket") as box:
        box.rok.token_shape = shape
        box.slash("U0JDOE", "2h")
        reply = box.wait_private("U0JDOE")[-1]
        token = reply.token
        assert token is not None and reply.verify_value is not None
        assert token == box.rok.minted[-1].token
        _, url = box.click("U0JDOE", reply.verify_value)
        box.wait_reply(url)
        _, url = box.click("U0ALICE", reply.verify_value)  # someone else's click
        box.wait_reply(url)
        box.wait_audit("verified")
        box.wait_audit("refused")
        assert box.server is not None
        box.server.bot.flush_audit()
        calls = box.slack.calls
        responses = box.slack.responses
    carriers = [c for c in calls if token in json.dumps(c.params) or token in json.dumps(c.headers)]
    assert [(c.method, c.params["user"]) for c in carriers] == [("chat.postEphemeral", "U0JDOE")]
    assert not [r for r in responses if token in json.dumps(r.body)]
    logs = debug_logs.getvalue()
    if layers == "redactor-alone":
        assert "chat.postEphemeral, query_params" in logs  # slack_sdk did log the request body at DEBUG...
    else:
        assert "json_body" not in logs and '"level": "debug"' in logs  # bodies capped, the rest at DEBUG
    assert token not in logs  # ...with the token masked
    leaked = sorted(piece for piece in fragments(token) if piece in logs)
    assert not leaked, f"{len(leaked)} pieces of the {len(token)}-character token in the logs"
    assert reply.verify_value not in logs or "REDACTED" in logs
    for line in logs.splitlines():
        json.loads(line)  # every line is one JSON object


def test_the_form_body_of_a_slash_command_is_not_logged_with_secrets(debug_logs: io.StringIO) -> None:
    with Sandbox() as box:
        box.slash("U0JDOE", "1h", secret="wrong-secret")  # Bolt logs the body of a refused request
        time.sleep(0.2)
        signing, bot_token = SIGNING_SECRET, box.slack.bot_token
    logs = debug_logs.getvalue()
    assert bot_token not in logs
    for key, value in parse_qsl(logs):
        assert value != signing, key


def test_seal_round_trip_binding_and_expiry() -> None:
    sealer = Sealer(secrets.token_urlsafe(32))
    token = Token("A" * 43)
    value = sealer.seal(token=token, user_id="U1", expires_at=int(time.time()) + 60, token_uuid=None, username="jdoe")
    assert "A" * 10 not in value and len(value) < 2000
    opened = sealer.open(value, user_id="U1", now=time.time())
    assert opened.token == token and opened.username == "jdoe"
    with pytest.raises(SealError):
        sealer.open(value, user_id="U2", now=time.time())
    with pytest.raises(SealError):
        Sealer(secrets.token_urlsafe(32)).open(value, user_id="U1", now=time.time())
    with pytest.raises(SealExpired):
        sealer.open(value, user_id="U1", now=time.time() + 61)
    with pytest.raises(ValueError, match=r"secrets\.token_urlsafe"):
        Sealer("short")


def test_token_wrapper_never_prints_the_secret() -> None:
    token = Token("s3cr3t-" + "x" * 30)
    assert "s3cr3t" not in repr(token) + str(token) + f"{token}" + f"{token!r}"
    with pytest.raises(TypeError):
        import pickle

        pickle.dumps(token)


def test_a_body_bolt_cannot_parse_is_a_400_not_a_500(http_box: Sandbox) -> None:
    response = sr.signed_post(http_box.url + "/slack/events", "payload=null", SIGNING_SECRET)
    assert response.status_code == 400


def test_verify_buttons_sealed_before_a_key_rotation_keep_working() -> None:
    """The server reads every key of ROK_BOT_SEAL_KEY: buttons in users' DMs survive prepending a new key."""
    old_key, new_key, dropped_key = (secrets.token_urlsafe(32) for _ in range(3))
    with Sandbox(settings={"ROK_BOT_SEAL_KEY": f"{new_key},{old_key}"}) as box:
        token = box.rok.mint(box.rok.account("jdoe").uuid, 3600)
        later = int(time.time()) + 3600
        for key in (old_key, new_key):
            value = Sealer(key).seal(token=Token(token), user_id="U0JDOE", expires_at=later, token_uuid=None)
            _, url = box.click("U0JDOE", value)
            assert "valid" in box.wait_reply(url).text and "not valid" not in box.wait_reply(url).text
        box.wait_audit("verified")  # the second click of the same token reuses the first answer (cooldown)
        requests = box.registry.requests
        value = Sealer(dropped_key).seal(token=Token(token), user_id="U0JDOE", expires_at=later, token_uuid=None)
        _, url = box.click("U0JDOE", value)
        assert "key the bot no longer has" in box.wait_reply(url).text
        assert box.registry.requests == requests
        box.slash("U0JDOE", "1h")
        fresh = box.wait_private("U0JDOE")[-1].verify_value
        assert fresh is not None and fresh.startswith(f"v2.{Sealer(new_key).key_id}.")
