"""Fuzzing the Slack surface with hypothesis: whatever a Slack user or a forged payload sends, the app
answers, never crashes, never execs a value that did not pass validation, and never opens a forged seal.

Examples per property: a few hundred in CI (`-m "not slow"`, the default); `pytest -m slow` runs the long
versions with many thousands.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import time
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bot.adapters.seal import Sealer
from bot.domain.command import split_command
from bot.domain.durations import parse_duration
from bot.domain.errors import DurationError, SealError
from bot.domain.routing import CatalogueView, Choose, Chosen, choose_registry
from bot.domain.secret import Token
from bot.slack.server import dispatch_http
from sandbox import slack_requests as sr
from sandbox.world import SIGNING_SECRET, Sandbox

CI = settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
LONG = settings(
    max_examples=5000, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
FUZZ_POLICY = "quota: {per_hour: 10000, cooldown: 0}\nmax_concurrent_issues: 100000\n"
TOKEN_CREATE = re.compile(
    r"rok-fort-manage token-create --user [0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12} "
    r"--duration (\d+) --no-borders"
)

duration_like = st.from_regex(r"\A[ ]?[-+]?[0-9]{0,14}(\.[0-9])?[smhdwSMHDWx ]{0,3}([0-9]{0,3}[smhd])?[ ]?\Z")
# Unit words, whole or misspelled, with fractions and clock times that must stay refused.
duration_words = st.from_regex(
    r"\A[0-9]{0,4}([.,:][0-9])? ?(hours?|hrs?|days?|mins?|minutes?|weeks?|wks?|secs?|seconds?|dayz|month)"
    r"( [0-9]{1,2} ?(h|hours?|m|mins?))?\Z"
)
with_reason = st.builds(lambda d, r: f"{d} {r}", duration_like | duration_words, st.text(max_size=40))
REGISTRY_NAMES = ("prod", "staging", "default")
registry_words = st.sampled_from(
    [*REGISTRY_NAMES, "nowhere", "--registry", "\u2014registry", "\u2013registry", "--registry=", "--registry=prod"]
)
# The registry grammar: names and flags before, between and after durations, reasons and break-glass.
registry_text = st.lists(
    registry_words | duration_like | duration_words | st.sampled_from(["because", "--break-glass", "x"]),
    min_size=1,
    max_size=6,
).map(" ".join)
slash_text = st.one_of(
    st.text(max_size=80),
    duration_like,
    duration_words,
    with_reason,
    registry_text,
    st.sampled_from(
        [
            "help",
            "",
            "24h",
            "1h30m",
            "7d",
            "24h because x",
            "2h --break-glass incident",
            "2 days because x",
            "--registry prod 24h",
            "prod 24h",
        ]
    ),
)
user_ids = st.one_of(
    st.sampled_from(["U0JDOE", "U0ALICE", "U0MALLORY", "U0GUEST", "U0HUBOT"]),
    st.from_regex(r"\A[UW][A-Z0-9]{2,12}\Z"),
    st.text(max_size=30),
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=20,
)


@pytest.fixture(scope="module")
def fuzz_box() -> Iterator[Sandbox]:
    with Sandbox(policy=FUZZ_POLICY) as box:
        yield box


@pytest.fixture
def no_internal_errors(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    caplog.set_level(logging.ERROR)
    yield
    # The call phase's records: at teardown `caplog.records` holds only the teardown's (this check saw nothing).
    assert not [
        r for r in caplog.get_records("call") if r.getMessage() in ("unexpected error", "error reporter failed")
    ]


def _dispatch(box: Sandbox, body: str, *, secret: str = SIGNING_SECRET) -> Any:
    """The HTTP handler's own dispatch, in-process (thousands of examples without sockets)."""
    assert box.server is not None and box.server.bot is not None
    headers: dict[str, str | Sequence[str]] = {k.lower(): [v] for k, v in sr.sign(secret, body).items()}
    return dispatch_http(box.server.bot.app, body, "", headers)


def _settle(box: Sandbox) -> None:
    assert box.server is not None and box.server.bot is not None
    deadline = time.monotonic() + 60
    while box.server.bot.jobs.in_flight and time.monotonic() < deadline:
        time.sleep(0.001)  # hundreds of examples each wait for their job: a coarse poll would add seconds
    assert box.server.bot.jobs.in_flight == 0


def _assert_only_validated_execs(box: Sandbox) -> None:
    for record in box.kube.execs:
        line = " ".join(record.argv)
        if line == "rok-fort-manage account-list":
            continue
        match = TOKEN_CREATE.fullmatch(line)
        assert match, f"unexpected exec argv {record.argv!r}"
        assert 300 <= int(match.group(1)) <= 30 * 86400


def _slash(box: Sandbox, user_id: str, text: str) -> None:
    fields = sr.slash_command(
        user_id="U0JDOE", text="", team_id=box.slack.team_id, response_url=box.slack.new_response_url()
    )
    fields.update(user_id=user_id, text=text)
    response = _dispatch(box, sr.form_body(fields))
    assert response.status == 200, (user_id, text, response.body)
    ack = json.loads(response.body)["text"] if response.body else ""
    assert "Traceback" not in ack
    if ack.startswith("Checking") and text.strip():
        # Accepted at the ack: the text must start with a duration within the widest range (a reason may follow),
        # or be `--break-glass` and a reason with no duration (the default's).
        words = split_command(text, ())  # as the listener reads it with one registry: `--registry NAME` too
        if words.duration or not (words.break_glass or words.registry):
            parse_duration(words.duration, minimum=300, maximum=30 * 86400)


def _check_slash(box: Sandbox, user_id: str, text: str) -> None:
    _slash(box, user_id, text)


@CI
@given(user_id=user_ids, text=slash_text)
def test_fuzz_slash_commands(fuzz_box: Sandbox, no_internal_errors: None, user_id: str, text: str) -> None:
    _check_slash(fuzz_box, user_id, text)


@pytest.mark.slow
@LONG
@given(user_id=user_ids, text=slash_text)
def test_fuzz_slash_commands_long(fuzz_box: Sandbox, no_internal_errors: None, user_id: str, text: str) -> None:
    _check_slash(fuzz_box, user_id, text)


def test_fuzzed_commands_only_ever_exec_validated_values(fuzz_box: Sandbox) -> None:
    """Runs after the fuzzers in this module: every exec the fuzzing caused had validated arguments."""
    _settle(fuzz_box)
    _assert_only_validated_execs(fuzz_box)


def _check_payload(box: Sandbox, payload: Any) -> None:
    body = urlencode({"payload": json.dumps(payload)})
    response = _dispatch(box, body)
    assert response.status in (200, 400, 404), response.body


@CI
@given(payload=json_values)
def test_fuzz_whole_interactivity_payloads(fuzz_box: Sandbox, no_internal_errors: None, payload: Any) -> None:
    _check_payload(fuzz_box, payload)


@CI
@given(value=st.text(max_size=300), user_id=user_ids)
def test_fuzz_verify_button_values(fuzz_box: Sandbox, no_internal_errors: None, value: str, user_id: str) -> None:
    payload = sr.block_actions(
        user_id=user_id,
        team_id=fuzz_box.slack.team_id,
        action_id="verify_token",
        value=value,
        response_url=fuzz_box.slack.new_response_url(),
    )
    requests = fuzz_box.registry.requests
    _check_payload(fuzz_box, payload)
    _settle(fuzz_box)
    assert fuzz_box.registry.requests == requests  # nothing forged ever reached the registry


@CI
@given(
    fields=st.dictionaries(
        st.sampled_from(["user_id", "team_id", "text", "command", "response_url", "enterprise_id", "channel_id"]),
        st.text(max_size=40),
    )
)
@example(fields={"response_url": "not a url"})  # nowhere to answer: a failed reply, never an internal error
@example(fields={"response_url": "", "text": "help"})
def test_fuzz_slash_command_form_fields(fuzz_box: Sandbox, no_internal_errors: None, fields: dict[str, str]) -> None:
    base = sr.slash_command(
        user_id="U0JDOE", text="1h", team_id=fuzz_box.slack.team_id, response_url=fuzz_box.slack.new_response_url()
    )
    base.update(fields)
    response = _dispatch(fuzz_box, sr.form_body(base))
    assert response.status in (200, 404)
    _settle(fuzz_box)  # the answer runs after the ack: an internal error there must fail this example, not a later test


SEALER = Sealer(secrets.token_urlsafe(32))
GENUINE = SEALER.seal(token=Token("T" * 43), user_id="U0OWNER", expires_at=int(time.time()) + 86400, token_uuid=None)


@CI
@given(value=st.text(max_size=400), user_id=user_ids)
def test_random_values_never_open(value: str, user_id: str) -> None:
    with pytest.raises(SealError):
        SEALER.open(value, user_id=user_id, now=time.time())


@settings(max_examples=2000, deadline=None)
@given(
    position=st.integers(min_value=3, max_value=len(GENUINE) - 1),
    replacement=st.characters(codec="ascii", categories=["L", "N"]) | st.sampled_from(["-", "_"]),
)
def test_any_tampered_character_is_refused(position: int, replacement: str) -> None:
    tampered = GENUINE[:position] + replacement + GENUINE[position + 1 :]
    if tampered == GENUINE:
        return
    with pytest.raises(SealError):  # also a last character that differs only in base64's unused bits
        SEALER.open(tampered, user_id="U0OWNER", now=time.time())


@settings(max_examples=200, deadline=None)
@given(user_id=user_ids.filter(lambda u: u != "U0OWNER"))
def test_another_users_id_never_opens(user_id: str) -> None:
    with pytest.raises(SealError):
        SEALER.open(GENUINE, user_id=user_id, now=time.time())


@CI
@given(
    text=slash_text,
    names=st.none() | st.frozensets(st.sampled_from(REGISTRY_NAMES)),
    eligible=st.frozensets(st.sampled_from([*REGISTRY_NAMES, "gone"])),
    channel=st.none() | st.sampled_from(["C0PRODOPS", "C0ELSEWHERE"]),
)
def test_fuzz_the_registry_grammar_then_the_choice(
    text: str, names: frozenset[str] | None, eligible: frozenset[str], channel: str | None
) -> None:
    """Whatever is typed, the words split, and the choice is a registry the user may use, a chooser of only
    those, or one safe sentence: never a registry that was not named, defaulted or the user's only one."""
    words = split_command(text, names)
    assert words.problem is None or (words.problem.endswith(".") and len(words.problem) < 200)
    catalogue = CatalogueView(tuple(sorted(names or ("default",))), {"C0PRODOPS": "prod"} if names else {})
    choice = choose_registry(named=words.registry, channel_id=channel, eligible=eligible, catalogue=catalogue)
    if isinstance(choice, Chosen):
        assert choice.name in eligible and choice.name in catalogue.names
        assert words.registry is None or choice.name == words.registry
    elif isinstance(choice, Choose):
        assert words.registry is None and set(choice.names) <= eligible and choice.names
    else:
        assert not set("<>@*`&\n") & set(choice.message)


def test_parse_duration_refusals_are_duration_errors() -> None:
    with pytest.raises(DurationError):
        parse_duration("\x00", minimum=1, maximum=2)
