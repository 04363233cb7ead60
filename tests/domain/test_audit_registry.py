"""The registry an audit event concerns: always in its record, `default` for records written before it."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.domain.audit import AuditEvent
from bot.domain.patterns import DEFAULT_REGISTRY

T0 = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)


def test_the_record_always_names_the_registry() -> None:
    assert AuditEvent("issued", "r1", occurred_at=T0).as_record()["registry"] == DEFAULT_REGISTRY == "default"
    event = AuditEvent("issued", "r1", registry="prod", occurred_at=T0)
    assert event.as_record()["registry"] == "prod"
    assert event.as_log()["registry"] == "prod"
    assert AuditEvent.from_record(event.as_record()) == event


def test_a_record_from_before_registries_reads_as_the_default_registry() -> None:
    old = {"outcome": "issued", "request_id": "r1", "occurred_at": T0.isoformat()}
    assert AuditEvent.from_record(old).registry == DEFAULT_REGISTRY
