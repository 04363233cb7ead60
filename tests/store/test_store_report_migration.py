"""Revision 0009: the ledger keeps the approver and the reason; rows from before it are filled from what is left."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from bot.store import open_url
from bot.store.db import writing
from bot.store.migrate import _config, head
from bot.store.schema import approval_requests, audit_events, ledger

NOW = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)


def _row(request_id: str, user: str, origin: str, uuid: str) -> dict[str, Any]:
    """A ledger row as a 0008 bot wrote it."""
    return {
        "request_id": request_id,
        "user_id": user,
        "duration_seconds": 7200,
        "origin": origin,
        "status": "issued",
        "reserved_at": NOW,
        "issued_at": NOW,
        "expires_at": NOW + timedelta(hours=2),
        "token_uuid": uuid,
        "rok_user": "jdoe",
    }


def _event(outcome: str, request_id: str, uuid: str, **more: str) -> dict[str, Any]:
    record = {"outcome": outcome, "request_id": request_id, "token_uuid": uuid, "occurred_at": NOW.isoformat()}
    return {
        "occurred_at": NOW,
        "recorded_at": NOW,
        "outcome": outcome,
        "request_id": request_id,
        "record": record | more,
    }


def test_0009_fills_approvers_and_reasons_from_events_and_approvals_and_its_downgrade_keeps_every_row(
    db_url: str,
) -> None:
    """At 0008: an approval whose issued event names its approver, one whose event was pruned (its claimed
    approval request names the approver), a break-glass token with its event, one with nothing left, and a
    command token (never filled: the report shows no reason for it). After the upgrade each row has what its
    sources still say; the downgrade drops the columns and keeps the rows."""
    from alembic import command

    store = open_url(db_url, sinks=("slack",))

    def migrate(target: str, *, down: bool = False) -> None:
        with writing(store.engine) as conn:
            config = _config()
            config.attributes["connection"] = conn
            (command.downgrade if down else command.upgrade)(config, target)

    try:
        migrate("0008_enterprise")
        with store.engine.begin() as conn:
            conn.execute(
                sa.insert(ledger),
                [
                    _row("r-app1", "U1", "approval", "uuid-app1"),
                    _row("r-app2", "U2", "approval", "uuid-app2"),
                    _row("r-bg1", "U3", "break_glass", "uuid-bg1"),
                    _row("r-bg2", "U4", "break_glass", "uuid-bg2"),
                    _row("r-cmd", "U5", "command", "uuid-cmd"),
                ],
            )
            conn.execute(
                sa.insert(audit_events),
                [
                    _event("issued", "r-app1", "uuid-app1", actor="U0BOSS", reason="training run"),
                    _event("break_glass", "r-bg1", "uuid-bg1", reason="incident 4711"),
                    _event("issued", "r-cmd", "uuid-cmd", reason="not copied"),
                ],
            )
            conn.execute(
                sa.insert(approval_requests).values(
                    id="a2",
                    request_id="r-app2",
                    user_id="U2",
                    rok_user="jdoe",
                    seconds=7200,
                    usual_max=3600,
                    usual_source="everyone",
                    reason="nightly job",
                    status="claimed",
                    requested_at=NOW,
                    expires_at=NOW + timedelta(hours=1),
                    decided_by="U0LEAD",
                    decided_at=NOW,
                    claimed_at=NOW,
                )
            )

        assert store.upgrade() == head()
        with store.engine.connect() as conn:
            c = ledger.c
            rows = conn.execute(sa.select(c.request_id, c.approved_by, c.reason))
            got = {r.request_id: (r.approved_by, r.reason) for r in rows}
        assert got == {
            "r-app1": ("U0BOSS", "training run"),
            "r-app2": ("U0LEAD", "nightly job"),
            "r-bg1": (None, "incident 4711"),
            "r-bg2": (None, None),
            "r-cmd": (None, None),
        }
        live, total = store.live.live_at(NOW + timedelta(minutes=1))
        assert total == 5 and {t.approver for t in live} == {"U0BOSS", "U0LEAD", None}
        assert "ix_ledger_expires" in {str(i["name"]) for i in sa.inspect(store.engine).get_indexes("ledger")}

        migrate("0008_enterprise", down=True)
        columns = {col["name"] for col in sa.inspect(store.engine).get_columns("ledger")}
        assert "approved_by" not in columns and "reason" not in columns
        with store.engine.connect() as conn:
            assert conn.execute(sa.select(sa.func.count()).select_from(ledger)).scalar_one() == 5
        assert store.upgrade() == head()
    finally:
        store.close()
