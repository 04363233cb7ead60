"""Pending approval requests on SQLAlchemy: each is decided, or lapses, exactly once across replicas.

- `open` checks that the user has no live request for the same registry (a user may wait for production
  and staging at once: two approvers' decisions, two quotas) and inserts the new one under a lock on that
  user only (PostgreSQL: `pg_advisory_xact_lock(<namespace>, hashtext(user_id))`; SQLite: `BEGIN
  IMMEDIATE`), so two concurrent requests of one user for one registry cannot both open.
- `decide` is one statement: `UPDATE ... SET status = 'approved' | 'denied', decided_by, ... WHERE id = :id
  AND status = 'pending' AND expires_at > :now RETURNING ...`. The first transaction to change the row
  wins; under READ COMMITTED PostgreSQL makes a concurrent second UPDATE wait for the first to commit and
  then re-checks its WHERE against the new row, which is no longer pending: it changes nothing and returns
  no row (SQLite has one writer at a time). Whoever gets the row back decided; everyone else gets None.
- `claim` is the same kind of statement for the requester's Show my token: `UPDATE ... SET status =
  'claimed' WHERE id = :id AND user_id = :user AND status = 'approved' AND claim_by > :now RETURNING ...`:
  one click (of any replica) gets the row and mints; `unclaim` gives it back after a mint that made no token.
- `lapse` is the same statement for every pending row past its expiry (and every approval unclaimed past its
  `claim_by`), so the sweep of each replica, or a late click, claims each lapse once.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from bot.domain.approvals import PendingRequest, RequestStatus
from bot.store.db import reading, writing
from bot.store.schema import approval_requests

# The first key of the per-user advisory locks of `open` (b"roka"): apart from the quota's (b"rokq").
APPROVAL_LOCK_SPACE = 0x726F6B61

_t = approval_requests
_c = _t.c
PENDING = str(RequestStatus.PENDING)
APPROVED = str(RequestStatus.APPROVED)
CLAIMED = str(RequestStatus.CLAIMED)


class SqlPendingRequests:
    """`PendingRequests` on SQLAlchemy (SQLite or PostgreSQL)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def open(self, request: PendingRequest, *, now: datetime) -> PendingRequest | None:
        """Record a new pending request, unless the user already has a live one for its registry: then that one,
        unchanged."""
        with writing(self._engine) as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(
                    sa.text("SELECT pg_advisory_xact_lock(:space, hashtext(:user))"),
                    {"space": APPROVAL_LOCK_SPACE, "user": request.user_id},
                )
            live = conn.execute(
                sa.select(_t)
                .where(
                    _c.user_id == request.user_id,
                    _c.registry == request.registry,
                    _c.status == PENDING,
                    _c.expires_at > now,
                )
                .order_by(_c.requested_at)
                .limit(1)
            ).first()
            if live is None and request.renews_entry is not None:
                # A renewal approved and waiting for its Show my token renews that token already.
                live = conn.execute(
                    sa.select(_t)
                    .where(_c.renews_entry == request.renews_entry, _c.status == APPROVED, _c.claim_by > now)
                    .limit(1)
                ).first()
            if live is not None:
                return _request(live)
            conn.execute(sa.insert(_t).values(_values(request)))
        return None

    def withdraw(self, request_id: str) -> None:
        """Forget a request that never reached the approvers."""
        with writing(self._engine) as conn:
            conn.execute(sa.delete(_t).where(_c.id == request_id, _c.status == PENDING))

    def attach(self, request_id: str, *, channel: str, message_ts: str) -> None:
        """Remember where the request's message is."""
        with writing(self._engine) as conn:
            conn.execute(sa.update(_t).where(_c.id == request_id).values(channel=channel, message_ts=message_ts))

    def get(self, request_id: str) -> PendingRequest | None:
        """A request by its ID, whatever its status."""
        if len(request_id) > _c.id.type.length:  # type: ignore[attr-defined]
            return None  # a forged value longer than any ID: PostgreSQL would refuse the comparison anyway
        with reading(self._engine) as conn:
            row = conn.execute(sa.select(_t).where(_c.id == request_id)).first()
        return None if row is None else _request(row)

    def decide(
        self,
        request_id: str,
        *,
        status: RequestStatus,
        decided_by: str,
        now: datetime,
        approved_seconds: int | None = None,
        note: str | None = None,
        claim_by: datetime | None = None,
    ) -> PendingRequest | None:
        """Approve or deny a request still live at `now`: the decided request for one caller, None for the rest."""
        if status not in (RequestStatus.APPROVED, RequestStatus.DENIED):
            raise ValueError(f"a decision approves or denies, not {status}")
        if len(request_id) > _c.id.type.length:  # type: ignore[attr-defined]
            return None
        with writing(self._engine) as conn:
            rows = conn.execute(
                sa.update(_t)
                .where(_c.id == request_id, _c.status == PENDING, _c.expires_at > now)
                .values(
                    status=str(status),
                    decided_by=decided_by[:64],
                    decided_at=now,
                    approved_seconds=approved_seconds,
                    note=note[:500] if note else None,
                    claim_by=claim_by,
                )
                .returning(*_c)
            ).all()
        # The primary key matches at most one row; an empty result means someone else decided first.
        assert len(rows) <= 1
        return _request(rows[0]) if rows else None

    def attach_dm(self, request_id: str, *, channel: str, message_ts: str) -> None:
        """Remember where the requester's Show-my-token message is."""
        with writing(self._engine) as conn:
            conn.execute(sa.update(_t).where(_c.id == request_id).values(dm_channel=channel, dm_ts=message_ts))

    def claim(self, request_id: str, *, user_id: str, now: datetime) -> PendingRequest | None:
        """Claim the requester's approval still claimable at `now`: the row for one caller, None for the rest."""
        if len(request_id) > _c.id.type.length:  # type: ignore[attr-defined]
            return None
        with writing(self._engine) as conn:
            rows = conn.execute(
                sa.update(_t)
                .where(_c.id == request_id, _c.user_id == user_id, _c.status == APPROVED, _c.claim_by > now)
                .values(status=CLAIMED, claimed_at=now)
                .returning(*_c)
            ).all()
        assert len(rows) <= 1
        return _request(rows[0]) if rows else None

    def unclaim(self, request_id: str) -> None:
        """Give a claim back (the mint surely made no token): Show my token works again until `claim_by`."""
        with writing(self._engine) as conn:
            conn.execute(
                sa.update(_t).where(_c.id == request_id, _c.status == CLAIMED).values(status=APPROVED, claimed_at=None)
            )

    def lapse(self, *, now: datetime) -> list[PendingRequest]:
        """Claim every request past its expiry and still pending, and every approval unclaimed past its
        `claim_by`, as lapsed, each for one caller only (an unclaimed approval keeps its decision's time)."""
        lapsed = str(RequestStatus.LAPSED)
        with writing(self._engine) as conn:
            rows = list(
                conn.execute(
                    sa.update(_t)
                    .where(_c.status == PENDING, _c.expires_at <= now)
                    .values(status=lapsed, decided_at=now)
                    .returning(*_c)
                ).all()
            )
            rows += conn.execute(
                sa.update(_t).where(_c.status == APPROVED, _c.claim_by <= now).values(status=lapsed).returning(*_c)
            ).all()
        return sorted((_request(r) for r in rows), key=lambda r: r.requested_at)

    def pending_for(self, user_id: str, *, now: datetime) -> list[PendingRequest]:
        """The user's live requests, and approvals still waiting for their Show my token, oldest first."""
        live = sa.and_(_c.status == PENDING, _c.expires_at > now)
        claimable = sa.and_(_c.status == APPROVED, _c.claim_by > now)
        with reading(self._engine) as conn:
            rows = conn.execute(
                sa.select(_t).where(_c.user_id == user_id, sa.or_(live, claimable)).order_by(_c.requested_at)
            ).all()
        return [_request(r) for r in rows]

    def prune(self, *, now: datetime, retention: timedelta) -> int:
        """Delete requests decided or lapsed longer than `retention` ago; how many."""
        with writing(self._engine) as conn:
            return conn.execute(sa.delete(_t).where(_c.status != PENDING, _c.requested_at < now - retention)).rowcount


def _values(request: PendingRequest) -> dict[str, object]:
    return {
        "id": request.id,
        "request_id": request.request_id[:64],
        "slack_team": request.team_id,
        "slack_enterprise": request.enterprise_id,
        "user_id": request.user_id,
        "rok_user": request.rok_user,
        "seconds": request.seconds,
        "usual_max": request.usual_max,
        "usual_source": request.usual_source[:80],
        "reason": request.reason[:500],
        "status": str(request.status),
        "requested_at": request.requested_at,
        "expires_at": request.expires_at,
        "decided_by": request.decided_by,
        "decided_at": request.decided_at,
        "approved_seconds": request.approved_seconds,
        "note": request.note,
        "channel": request.channel,
        "message_ts": request.message_ts,
        "renews_entry": request.renews_entry,
        "claim_by": request.claim_by,
        "claimed_at": request.claimed_at,
        "dm_channel": request.dm_channel,
        "dm_ts": request.dm_ts,
        "registry": request.registry,
    }


def _request(row: sa.Row[tuple[object, ...]]) -> PendingRequest:
    m = row._mapping
    return PendingRequest(
        id=str(m["id"]),
        request_id=str(m["request_id"]),
        team_id=m["slack_team"],
        enterprise_id=m["slack_enterprise"],
        user_id=str(m["user_id"]),
        rok_user=str(m["rok_user"]),
        seconds=int(m["seconds"]),
        usual_max=int(m["usual_max"]),
        usual_source=str(m["usual_source"]),
        reason=str(m["reason"]),
        requested_at=m["requested_at"],
        expires_at=m["expires_at"],
        status=RequestStatus(m["status"]),
        decided_by=m["decided_by"],
        decided_at=m["decided_at"],
        approved_seconds=m["approved_seconds"],
        note=m["note"],
        channel=m["channel"],
        message_ts=m["message_ts"],
        renews_entry=m["renews_entry"],
        claim_by=m["claim_by"],
        claimed_at=m["claimed_at"],
        dm_channel=m["dm_channel"],
        dm_ts=m["dm_ts"],
        registry=str(m["registry"]),
    )
