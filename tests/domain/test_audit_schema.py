"""`schema_version`: in every record, first, and this release's, whatever stored the event."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.domain.audit import AUDIT_SCHEMA_VERSION, AuditEvent, Outcome

T0 = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)


def test_every_record_carries_the_schema_version_first() -> None:
    for outcome in Outcome:
        record = AuditEvent(outcome, "r1", occurred_at=T0).as_record()
        assert next(iter(record.items())) == ("schema_version", AUDIT_SCHEMA_VERSION)
    assert AuditEvent("issued", "r1", occurred_at=T0).as_log()["schema_version"] == AUDIT_SCHEMA_VERSION


def test_the_version_is_not_an_argument_an_emitter_could_get_wrong() -> None:
    with pytest.raises(TypeError):
        AuditEvent("issued", "r1", schema_version=0, occurred_at=T0)  # type: ignore[call-arg]


@pytest.mark.parametrize("stored", [{}, {"schema_version": 0}], ids=["before versioning", "an older version"])
def test_a_record_an_older_release_stored_is_rendered_in_this_release_s_shape(stored: dict[str, int]) -> None:
    old = {"outcome": "issued", "request_id": "r1", "token_uuid": "0b1c", "occurred_at": T0.isoformat(), **stored}
    event = AuditEvent.from_record(old)
    assert event.schema_version == AUDIT_SCHEMA_VERSION
    assert event.as_record()["schema_version"] == AUDIT_SCHEMA_VERSION
    assert AuditEvent.from_record(event.as_record()) == event
