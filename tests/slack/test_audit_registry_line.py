"""The audit channel's line names the registry only when several are configured (pure rendering, no fakes)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from bot.domain.audit import AuditEvent
from bot.slack.audit import facts_line, merge, render_batch

T0 = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)


def test_one_registry_keeps_the_line_as_it_was_and_several_name_it() -> None:
    event = AuditEvent("issued", "r1", slack_user="U0A", username="jdoe", registry="prod", occurred_at=T0)
    assert "registry" not in facts_line(event)
    assert facts_line(event, show_registry=True).startswith(":key: *issued* · registry `prod` · <@U0A>")
    _, hidden = render_batch(merge([event]))
    _, shown = render_batch(merge([event]), show_registry=True)
    assert "registry" not in json.dumps([b.to_dict() for b in hidden])
    assert "registry `prod`" in json.dumps([b.to_dict() for b in shown])


def test_refusals_merge_per_registry() -> None:
    """Ten refusals in prod and two in staging, same user and reason: two lines, each counting its own."""
    events = [
        AuditEvent("refused", f"r{i}", slack_user="U0X", reason="quota", registry=registry, occurred_at=T0)
        for i, registry in enumerate(["prod"] * 10 + ["staging"] * 2)
    ]
    lines = merge(events)
    assert [(line.event.registry, line.repeated) for line in lines] == [("prod", 10), ("staging", 2)]
