"""The tracing port: when the OTEL_* variables turn it on, what a span may hold, that a job continues its
submitter's trace, and that without the variables (or without the extra) nothing of OpenTelemetry is loaded.

The spans are exported for real, over OTLP/HTTP to the receiver in tests/slack/otlp_receiver.py.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.domain.errors import ExecTimeout
from bot.runtime import tracing
from bot.runtime.jobs import Jobs
from tests.slack.otlp_receiver import OtlpReceiver

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("env", "wanted"),
    [
        ({}, ()),
        ({"OTEL_SERVICE_NAME": "x", "OTEL_RESOURCE_ATTRIBUTES": "a=b"}, ()),  # naming a service turns nothing on
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, ("otlp_proto_http",)),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"}, ("otlp_proto_http",)),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": ""}, ()),
        ({"OTEL_TRACES_EXPORTER": "otlp"}, ("otlp_proto_http",)),  # the SDK's default endpoint, localhost:4318
        ({"OTEL_TRACES_EXPORTER": "console"}, ("console",)),
        ({"OTEL_TRACES_EXPORTER": " OTLP , console,otlp"}, ("otlp_proto_http", "console")),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, ()),
        ({"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, ()),
        ({"OTEL_SDK_DISABLED": "false", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, ("otlp_proto_http",)),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, ("otlp_proto_grpc",)),
        (
            {
                "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318",
                "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
                "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf",
            },
            ("otlp_proto_http",),
        ),
    ],
)
def test_the_otel_variables_decide_whether_and_where_to_export(env: dict[str, str], wanted: tuple[str, ...]) -> None:
    assert tracing.exporters_wanted(env) == wanted


def test_attributes_are_named_bounded_and_never_none() -> None:
    given = {
        "request_id": "abc",
        "team_id": "T1",
        "enterprise_id": None,
        "attempt": 2,
        "ok": True,
        "long": "x" * 500,
        "request_ids": [f"r{i}" for i in range(80)],
    }
    got = tracing.attributes(given)
    assert got["rok.request_id"] == "abc" and got["slack.team_id"] == "T1" and "slack.enterprise_id" not in got
    assert got["rok.attempt"] == 2 and got["rok.ok"] is True
    assert len(got["rok.long"]) == tracing.MAX_CHARS
    assert len(got["rok.request_ids"]) == tracing.MAX_ITEMS


@pytest.mark.parametrize(
    ("env", "line"),
    [
        ({}, None),
        (
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318/"},
            (True, "on: otlp_proto_http to http://collector:4318/v1/traces; sampler parentbased_always_on"),
        ),
        (
            {
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://c/otlp/v1/traces",
                "OTEL_TRACES_EXPORTER": "otlp,console",
                "OTEL_TRACES_SAMPLER": "traceidratio",
            },
            (True, "on: otlp_proto_http to https://c/otlp/v1/traces, console; sampler traceidratio"),
        ),
        (
            {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
            (False, "OTEL_TRACES_EXPORTER: otlp_proto_grpc not installed: serve leaves it out"),
        ),
    ],
)
def test_doctor_says_what_serve_will_do_about_traces(env: dict[str, str], line: tuple[bool, str] | None) -> None:
    assert tracing.doctor_line(env) == line


def test_doctor_says_so_when_the_extra_is_missing() -> None:
    code = (
        "import sys; sys.modules['opentelemetry'] = None; from bot.runtime import tracing; "
        "print(tracing.doctor_line({'OTEL_EXPORTER_OTLP_ENDPOINT': 'http://c:4318'}))"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == repr(
        (False, "OTEL_* variables ask for traces but the otel extra is not installed: serve runs untraced")
    )


@pytest.fixture
def no_otel(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("OTEL_"):
            monkeypatch.delenv(name)


@pytest.mark.usefixtures("no_otel")
def test_off_every_call_is_a_no_op() -> None:
    assert tracing.start() is False
    assert tracing.span("a", x=1) is tracing.span("b")  # one shared null context: nothing allocated per call

    @tracing.traced
    def use_case(a: int, *, b: int) -> int:
        """Doc."""
        return a + b

    with tracing.request("r", request_id="x"), tracing.span("s"):
        tracing.annotate(x=1)
        tracing.outcome("issued", registry="r")
        assert use_case(1, b=2) == 3
    assert use_case.__name__ == "use_case" and use_case.__doc__ == "Doc."
    assert tracing.flush() is True
    tracing.stop()  # without a start: nothing to stop, no error


@pytest.fixture
def traced(monkeypatch: pytest.MonkeyPatch, no_otel: None) -> Iterator[OtlpReceiver]:
    """Tracing on, exporting to a receiver of our own; off again afterwards."""
    with OtlpReceiver() as receiver:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.url)
        monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=test")
        assert tracing.start() is True
        try:
            yield receiver
        finally:
            tracing.stop()
    assert tracing.span("after") is tracing.span("stop")  # off again


def test_a_failure_leaves_its_class_and_kind_on_the_span_never_its_message(traced: OtlpReceiver) -> None:
    @tracing.traced
    def use_case() -> None:
        with tracing.span("exec token-create", verb="token-create"):
            raise ExecTimeout(detail="stdout said tok-SECRET-1234 before the deadline")

    with pytest.raises(RuntimeError), tracing.request("slack issue", request_id="r1"):
        try:
            use_case()
        except ExecTimeout:
            raise RuntimeError("wrapped: tok-SECRET-1234") from None
    assert tracing.flush()
    spans = {s.name: s for s in traced.spans}
    assert set(spans) == {"slack issue", "usecase use_case", "exec token-create"}
    execs, case, root = spans["exec token-create"], spans["usecase use_case"], spans["slack issue"]
    assert execs.parent_id == case.span_id and case.parent_id == root.span_id and root.parent_id == ""
    assert execs.status_code == 2 and execs.status_message == "ExecTimeout"  # STATUS_CODE_ERROR
    assert execs.attributes == {"rok.verb": "token-create", "error.type": "ExecTimeout", "rok.error": "exec_timeout"}
    assert root.attributes["error.type"] == "RuntimeError" and root.status_message == "RuntimeError"
    assert not any(s.events for s in traced.spans)  # no exception event: it would carry the message
    assert b"SECRET" not in traced.raw and b"stdout said" not in traced.raw
    assert traced.paths == ["/v1/traces"] and traced.content_types == ["application/x-protobuf"]
    resource = root.resource
    assert resource["service.name"] == "rok-token-bot" and resource["deployment.environment"] == "test"


def test_the_outcome_marks_the_current_span_and_the_root(traced: OtlpReceiver) -> None:
    with tracing.request("slack verify", request_id="r2"), tracing.span("usecase verify_button"):
        tracing.outcome("verified", registry="prod")
    with tracing.span("outside any request"):
        tracing.outcome("ignored")  # no root: only the current span
    assert tracing.flush()
    spans = {s.name: s for s in traced.spans}
    for name in ("slack verify", "usecase verify_button"):
        assert spans[name].attributes["rok.outcome"] == "verified"
        assert spans[name].attributes["rok.registry"] == "prod"
    assert spans["outside any request"].parent_id == ""


def test_a_job_continues_the_trace_it_was_submitted_from(traced: OtlpReceiver) -> None:
    """ThreadPoolExecutor does not copy context variables into its workers; `Jobs` does, so a span started in
    the job is the child of the one that was current where the job was submitted."""
    jobs = Jobs(workers=2, on_error=lambda exc, ctx: None)
    done = threading.Event()

    def work() -> None:
        with tracing.span("in the job"):
            pass
        done.set()

    with tracing.request("submitter"):
        assert jobs.submit(work, context=None)
    assert done.wait(10)
    assert jobs.drain(5)
    assert tracing.flush()
    spans = {s.name: s for s in traced.spans}
    assert spans["in the job"].parent_id == spans["submitter"].span_id
    assert spans["in the job"].trace_id == spans["submitter"].trace_id


def test_each_request_is_a_trace_of_its_own_even_inside_another(traced: OtlpReceiver) -> None:
    with tracing.request("outer"), tracing.request("inner"):
        pass
    assert tracing.flush()
    spans = {s.name: s for s in traced.spans}
    assert spans["inner"].parent_id == "" and spans["inner"].trace_id != spans["outer"].trace_id


@pytest.mark.usefixtures("no_otel")
def test_a_collector_that_does_not_answer_does_not_hold_the_stop(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The exporter waits for OTEL_EXPORTER_OTLP_TIMEOUT; the bot's shutdown waits `timeout` at most."""
    with socket.create_server(("127.0.0.1", 0)) as silent:  # takes the connection (the backlog), never answers
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{silent.getsockname()[1]}")
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "2")  # the abandoned export ends soon after the test
        assert tracing.start()
        with tracing.request("slack issue"):
            pass
        began = time.monotonic()
        tracing.stop(timeout=0.2)
        assert time.monotonic() - began < 1.5
    assert [r.getMessage() for r in caplog.records if r.name == "bot.runtime.tracing" and r.levelname == "WARNING"] == [
        "tracing: the collector did not take the last spans in 0.2 s; they are dropped"
    ]
    assert tracing.span("x") is tracing.span("y")


# -- the whole bot in a process of its own -------------------------------------------------------------

_BOT_RUN = """
import sys
{block}
from sandbox.world import Sandbox

with Sandbox() as box:
    status, ack, _ = box.slash("U0JDOE", "2h")
    reply = box.wait_private("U0JDOE")[-1]
    box.click("U0JDOE", reply.verify_value)
    box.wait_audit("verified")
    box.idle()
print("delivered" if reply.token else "no token")
print("loaded:", sorted(m for m in sys.modules if m.split(".")[0] == "opentelemetry"))
"""


def _run_bot(block: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_BOT_RUN.format(block=block))],
        env={**clean, **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_without_the_variables_the_bot_never_imports_opentelemetry() -> None:
    """A token issued and verified, the audit delivered, the bot stopped: not one opentelemetry module loaded."""
    run = _run_bot("")
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == ["delivered", "loaded: []"], run.stderr


def test_with_the_variables_but_without_the_extra_one_warning_and_the_bot_works() -> None:
    # The extra absent, as in an install without it: every `import opentelemetry...` fails.
    block = "sys.modules['opentelemetry'] = None"
    run = _run_bot(block, OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:9")
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == ["delivered", "loaded: ['opentelemetry']"], run.stderr  # the block itself
    warnings = [line for line in run.stderr.splitlines() if "OTEL_" in line]
    assert len(warnings) == 1 and "pip install 'rok-token-bot[otel]'" in warnings[0], run.stderr
    assert "Traceback" not in run.stderr
