"""The SIEM webhook's bodies and how a SIEM's answer is read (bot/domain/siem.py): pure, no server."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from bot.domain.audit import AuditEvent, Outcome
from bot.domain.siem import (
    HEC_SOURCE,
    HEC_SOURCETYPE,
    Answer,
    hec_answer,
    hec_body,
    http_answer,
    jsonl_body,
    not_an_event_endpoint,
    rok_body,
)

T0 = datetime(2026, 3, 2, 9, 0, 0, 250000, tzinfo=UTC)


def _events() -> list[AuditEvent]:
    issued = AuditEvent(
        outcome=Outcome.ISSUED,
        request_id="req-1",
        username="jdoe",
        token_uuid="0b1c",
        reason='line one\nline "two"',  # a newline inside a value stays inside its JSON string
        occurred_at=T0,
    )
    refused = AuditEvent(outcome=Outcome.REFUSED, request_id="req-2", reason="quota", occurred_at=T0)
    return [issued, refused]


def _objects(body: str) -> list[dict[str, object]]:
    """Concatenated JSON objects, as Splunk HEC reads a batch."""
    decoder, found, at = json.JSONDecoder(), [], 0
    while (at := len(body) - len(body[at:].lstrip())) < len(body):
        value, at = decoder.raw_decode(body, at)
        found.append(value)
    return found


def test_the_rok_body_is_todays_byte_for_byte() -> None:
    events = _events()
    expected = json.dumps({"events": [e.as_record() for e in events]}, separators=(",", ":")).encode()
    assert rok_body(events) == expected


def test_jsonl_is_one_record_per_line_each_line_ended() -> None:
    events = _events()
    body = jsonl_body(events).decode()
    assert body.endswith("\n") and body.count("\n") == 2
    assert [json.loads(line) for line in body.splitlines()] == [e.as_record() for e in events]


def test_a_hec_batch_is_concatenated_hec_objects_with_the_record_as_event() -> None:
    events = _events()
    objects = _objects(hec_body(events, host="rok-token-bot-7d9f-abcde").decode())
    assert [o["event"] for o in objects] == [e.as_record() for e in events]
    for hec in objects:
        assert set(hec) == {"time", "host", "source", "sourcetype", "event"}
        assert (hec["host"], hec["source"], hec["sourcetype"]) == (
            "rok-token-bot-7d9f-abcde",
            HEC_SOURCE,
            HEC_SOURCETYPE,
        )
        assert hec["time"] == 1772442000.25  # the event's own time, epoch seconds to the millisecond


@pytest.mark.parametrize(
    ("status", "answer"),
    [
        (200, Answer(True)),
        (204, Answer(True)),
        (429, Answer(False, "HTTP 429")),
        (408, Answer(False, "HTTP 408")),
        (503, Answer(False, "HTTP 503")),
        (401, Answer(False, "HTTP 401", parked=True)),
        (403, Answer(False, "HTTP 403", parked=True)),
        (404, Answer(False, "HTTP 404", parked=True)),
        (302, Answer(False, "HTTP 302", parked=True)),
    ],
)
def test_a_signed_receivers_answer(status: int, answer: Answer) -> None:
    assert http_answer(status) == answer


@pytest.mark.parametrize(
    ("status", "body", "answer"),
    [
        (200, b'{"text":"Success","code":0}', Answer(True)),
        (403, b'{"text":"Invalid token","code":4}', Answer(False, "HTTP 403, HEC code 4 (invalid token)", True)),
        (403, b'{"text":"Token disabled","code":1}', Answer(False, "HTTP 403, HEC code 1 (token disabled)", True)),
        (
            401,
            b'{"text":"Token is required","code":2}',
            Answer(False, "HTTP 401, HEC code 2 (token is required)", True),
        ),
        (400, b'{"text":"Incorrect index","code":7}', Answer(False, "HTTP 400, HEC code 7 (incorrect index)", True)),
        (503, b'{"text":"Server is busy","code":9}', Answer(False, "HTTP 503, HEC code 9 (server is busy)")),
        (
            500,
            b'{"text":"Internal server error","code":8}',
            Answer(False, "HTTP 500, HEC code 8 (internal server error)"),
        ),
        (503, b"<html>bad gateway</html>", Answer(False, "HTTP 503")),
        (429, b"", Answer(False, "HTTP 429")),
        (404, b"Not Found", Answer(False, "HTTP 404", True)),
        # A 2xx that is not HEC's success: a proxy's page, or not the event endpoint.
        (200, b"<html>login</html>", Answer(False, "HTTP 200", True)),
        (200, b'{"text":"HEC is healthy","code":17}', Answer(False, "HTTP 200, HEC code 17 (HEC is healthy)", True)),
        (200, b'{"code":true}', Answer(False, "HTTP 200", True)),
        (400, b'{"code":99}', Answer(False, "HTTP 400, HEC code 99 (unknown)", True)),
    ],
)
def test_a_hec_answer(status: int, body: bytes, answer: Answer) -> None:
    assert hec_answer(status, body) == answer


def test_a_hec_answer_never_carries_the_collectors_own_text() -> None:
    """Whatever a collector writes (it might echo the request's Authorization header) stays out of the error,
    which reaches the store, /readyz and the log."""
    echo = b'{"text":"bad header: Splunk 6d2f5a1c-0000-4000-8000-00000000c0de","code":3}'
    answer = hec_answer(401, echo)
    assert answer.error == "HTTP 401, HEC code 3 (invalid authorization)"


@pytest.mark.parametrize(
    ("url", "refused"),
    [
        ("https://splunk.example.com:8088/services/collector/event", False),
        ("https://splunk.example.com:8088/services/collector", False),
        ("https://splunk.example.com:8088/services/collector/event/1.0", False),
        ("https://hec.example.com/ingest", False),  # a proxy or a HEC-compatible collector: let through
        ("https://splunk.example.com:8088/services/collector/raw", True),
        ("https://splunk.example.com:8088/services/collector/raw/1.0?channel=x", True),
        ("https://splunk.example.com:8088/services/collector/health", True),
        ("https://splunk.example.com:8088/Services/Collector/ACK/", True),
    ],
)
def test_a_hec_url_naming_another_hec_endpoint_is_refused(url: str, refused: bool) -> None:
    assert not_an_event_endpoint(url) is refused
