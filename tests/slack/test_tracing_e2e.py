"""The bot with tracing on, end to end: signed Slack requests through the real app and the fakes, the spans
exported over OTLP/HTTP to a real receiver (tests/slack/otlp_receiver.py) and decoded there.

One trace per interaction (the request's root, the use case, each exec and the registry call under it), the
audit delivery a trace of its own naming the request IDs, and not one secret byte in anything exported.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator

import pytest

from bot.runtime import tracing
from sandbox.world import SIGNING_SECRET, Sandbox
from tests.slack.otlp_receiver import OtlpReceiver, Span

JDOE_ACCOUNT = "4545458c-2050-415a-8af4-e8f6b041238c"  # sandbox.rok.default_accounts: an argv value of token-create


@pytest.fixture(scope="module")
def receiver() -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as server:
        yield server


@pytest.fixture(scope="module", params=["http", "socket"])
def world(request: pytest.FixtureRequest, receiver: OtlpReceiver) -> Iterator[Sandbox]:
    """A sandbox whose bot exports its traces to `receiver` (the variables an operator would set)."""
    with pytest.MonkeyPatch.context() as env:
        for name in [n for n in os.environ if n.startswith("OTEL_")]:
            env.delenv(name)
        env.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.url)
        env.setenv("OTEL_SERVICE_NAME", "rok-token-bot-test")
        with Sandbox(socket_mode=request.param == "socket") as box:
            yield box
    assert tracing.span("x") is tracing.span("y")  # the server's stop turned tracing off


@pytest.fixture
def box(world: Sandbox, receiver: OtlpReceiver) -> Iterator[Sandbox]:
    world.idle()
    tracing.flush()
    receiver.clear()
    yield world
    world.kube.exec_fault = None
    world.kube.exec_fault_commands = set()


def _exported(box: Sandbox, receiver: OtlpReceiver) -> list[Span]:
    """Everything the bot did so far, exported: its jobs finished, its audit delivered, the batch flushed."""
    box.idle()
    assert box.server.bot.flush_audit()
    assert tracing.flush()
    return receiver.spans


def _trace(spans: list[Span], name: str, request_id: str) -> tuple[Span, dict[str, Span]]:
    """The root named `name` for this request, and its trace's spans by name (each name once)."""
    (root,) = [s for s in spans if s.name == name and s.attributes.get("rok.request_id") == request_id]
    members = [s for s in spans if s.trace_id == root.trace_id]
    by_name = {s.name: s for s in members}
    assert len(by_name) == len(members), sorted(s.name for s in members)
    return root, by_name


def _request_id(ack: dict[str, object] | None) -> str:
    assert ack is not None
    found = re.search(r"request ([0-9a-f]{12})", str(ack["text"]))
    assert found is not None, ack
    return found.group(1)


def test_a_token_request_and_its_verify_click_are_one_trace_each_exec_under_the_use_case(
    box: Sandbox, receiver: OtlpReceiver
) -> None:
    box.advance(3600)  # the account table's cache expires: this request runs account-list too
    status, ack, response_url = box.slash("U0JDOE", "24h")
    assert status == 200
    rid = _request_id(ack)
    reply = box.wait_private("U0JDOE")[-1]
    assert reply.token is not None and reply.verify_value is not None
    _, click_url = box.click("U0JDOE", reply.verify_value)
    box.wait_reply(click_url)
    spans = _exported(box, receiver)

    root, issue = _trace(spans, "slack issue", rid)
    assert set(issue) == {
        "slack issue",
        "usecase request_token",
        "usecase issue_token",
        "exec account-list",
        "exec token-create",
        "usecase show_home",
    }
    assert root.parent_id == ""
    assert issue["usecase request_token"].parent_id == root.span_id
    case = issue["usecase issue_token"]
    assert case.parent_id == issue["usecase request_token"].span_id
    assert issue["exec account-list"].parent_id == case.span_id
    assert issue["exec token-create"].parent_id == case.span_id
    assert root.attributes == {
        "rok.request_id": rid,
        "rok.command": "issue",
        "rok.origin": "command",
        "slack.team_id": box.team_of("U0JDOE"),
        "rok.outcome": "issued",
        "rok.registry": "default",
    }
    assert case.attributes == {"rok.outcome": "issued", "rok.registry": "default"}
    # The verb, the registry, the attempt and the exit code: nothing of argv beyond the verb.
    assert issue["exec token-create"].attributes == {
        "rok.verb": "token-create",
        "rok.registry": "default",
        "rok.attempt": 1,
        "rok.exit_code": 0,
    }
    assert root.resource["service.name"] == "rok-token-bot-test"  # OTEL_SERVICE_NAME is the SDK's to read

    # The click: a trace of its own, the registry call under the use case.
    (click_root,) = [s for s in spans if s.name == "slack verify"]
    _, verify = _trace(spans, "slack verify", str(click_root.attributes["rok.request_id"]))
    assert click_root.trace_id != root.trace_id
    assert verify["usecase verify_button"].parent_id == click_root.span_id
    assert verify["registry verify"].parent_id == verify["usecase verify_button"].span_id
    assert verify["registry verify"].attributes == {"rok.registry": "default", "rok.verdict": "valid"}
    assert click_root.attributes["rok.outcome"] == "verified" and click_root.attributes["rok.origin"] == "verify"

    # The audit posts happen later on the sender's thread: their own traces, naming the requests they carry.
    deliveries = [s for s in spans if s.name == "audit deliver slack"]
    assert deliveries and all(s.parent_id == "" for s in deliveries)
    carried = {r for s in deliveries for r in s.attributes["rok.request_ids"]}
    assert {rid, click_root.attributes["rok.request_id"]} <= carried
    assert not {s.trace_id for s in deliveries} & {root.trace_id, click_root.trace_id}
    assert all(s.attributes["rok.sink"] == "slack" and s.attributes["rok.retried"] == 0 for s in deliveries)

    # Not one byte of a secret in anything the collector received.
    raw = receiver.raw
    for secret in (
        reply.token,
        reply.verify_value,
        response_url,
        click_url,
        box.slack.bot_token,
        SIGNING_SECRET,
        box.env["ROK_BOT_SEAL_KEY"],
        JDOE_ACCOUNT,
    ):
        assert secret.encode() not in raw, secret[:12]
    assert not any(s.events for s in spans)


def test_a_failed_exec_is_marked_by_its_error_kind_never_its_message(box: Sandbox, receiver: OtlpReceiver) -> None:
    box.kube.exec_fault = "http500"  # the API server refuses the exec: "Internal error occurred: fault injected"
    box.kube.exec_fault_commands = {"token-create"}
    status, ack, response_url = box.slash("U0JDOE", "1h")
    assert status == 200
    rid = _request_id(ack)
    box.wait_reply(response_url)
    spans = _exported(box, receiver)

    root, trace = _trace([s for s in spans if s.name != "exec token-create"], "slack issue", rid)
    attempts = sorted(
        (s for s in spans if s.name == "exec token-create" and s.trace_id == root.trace_id),
        key=lambda s: s.attributes["rok.attempt"],
    )
    assert [s.attributes["rok.attempt"] for s in attempts] == [1, 2]  # retried once on a fresh pod
    for attempt in attempts:
        assert attempt.parent_id == trace["usecase issue_token"].span_id
        assert attempt.status_code == 2 and attempt.status_message == "ExecStartError"
        assert attempt.attributes["error.type"] == "ExecStartError" and attempt.attributes["rok.error"]
        assert "rok.exit_code" not in attempt.attributes
    assert root.attributes["rok.outcome"] == "failed"
    assert b"fault injected" not in receiver.raw and response_url.encode() not in receiver.raw
