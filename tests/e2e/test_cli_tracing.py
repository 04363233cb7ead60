"""`rok-token-bot doctor` and traces: a line only when OTEL_* variables ask for them, saying where spans go."""

from __future__ import annotations

import pytest

from bot.cli import main


def test_doctor_names_where_traces_go_without_the_endpoints_credentials(
    core_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "https://user:pa55word@collector.example:4318")
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.split()[1] == "tracing"]
    assert lines == [
        "ok    tracing   on: otlp_proto_http to https://[REDACTED]@collector.example:4318/v1/traces; "
        "sampler parentbased_always_on"
    ]
    assert "pa55word" not in out


def test_doctor_has_no_tracing_line_without_the_variables(
    core_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["doctor"]) == 0
    assert "tracing" not in [line.split()[1] for line in capsys.readouterr().out.splitlines()]
