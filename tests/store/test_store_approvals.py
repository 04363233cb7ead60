"""Pending approval requests in the store: one live request per user, one decision per request across
threads (and, on PostgreSQL, connections), lapses claimed once, decided rows pruned after the retention."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import msgspec
import pytest

from bot.domain.approvals import PendingRequest, RequestStatus, new_request_id
from bot.store import Store

T0 = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
D = 86400


def _request(user_id: str = "U0JDOE", *, at: datetime = T0, seconds: int = 14 * D) -> PendingRequest:
    return PendingRequest(
        id=new_request_id(),
        request_id="req-" + user_id,
        team_id="T0",
        user_id=user_id,
        rok_user="jdoe",
        seconds=seconds,
        usual_max=7 * D,
        usual_source="everyone",
        reason="training run X",
        requested_at=at,
        expires_at=at + timedelta(hours=1),
    )


def test_a_request_round_trips_and_a_user_has_one_live_request_at_a_time(store: Store) -> None:
    # A renewal names the ledger row of the token it renews; on Enterprise Grid the requester's organisation.
    first = msgspec.structs.replace(_request(), renews_entry=42, enterprise_id="E0ORG")
    assert store.approvals.open(first, now=T0) is None
    store.approvals.attach(first.id, channel="C0APPROVALS", message_ts="1.000001")
    stored = store.approvals.get(first.id)
    assert stored is not None
    assert stored == msgspec.structs.replace(first, channel="C0APPROVALS", message_ts="1.000001")
    # A second request while the first is live: refused with the live one, nothing written.
    second = _request(at=T0 + timedelta(minutes=5))
    waiting = store.approvals.open(second, now=T0 + timedelta(minutes=5))
    assert waiting is not None and waiting.id == first.id
    assert store.approvals.get(second.id) is None
    assert [r.id for r in store.approvals.pending_for("U0JDOE", now=T0)] == [first.id]
    # Once the first is past its expiry (swept or not), a new one may open.
    later = T0 + timedelta(hours=1)
    assert store.approvals.pending_for("U0JDOE", now=later) == []
    assert store.approvals.open(_request(at=later), now=later) is None


def test_a_user_may_wait_for_one_request_per_registry_at_once(store: Store) -> None:
    """Production and staging have their own approvers and quotas: a pending request for one does not hold
    back a request for the other, but a second one for the same registry gets the first back."""
    prod = msgspec.structs.replace(_request(), registry="prod")
    staging = msgspec.structs.replace(_request(at=T0 + timedelta(minutes=1)), registry="staging")
    assert store.approvals.open(prod, now=T0) is None
    assert store.approvals.open(staging, now=T0 + timedelta(minutes=1)) is None
    again = msgspec.structs.replace(_request(at=T0 + timedelta(minutes=2)), registry="prod")
    waiting = store.approvals.open(again, now=T0 + timedelta(minutes=2))
    assert waiting is not None and (waiting.id, waiting.registry) == (prod.id, "prod")
    assert store.approvals.get(again.id) is None
    default = _request(at=T0 + timedelta(minutes=3))  # a caller that names no registry: `default`
    assert store.approvals.open(default, now=T0 + timedelta(minutes=3)) is None
    pending = store.approvals.pending_for("U0JDOE", now=T0 + timedelta(minutes=4))
    expected = [(prod.id, "prod"), (staging.id, "staging"), (default.id, "default")]
    assert [(r.id, r.registry) for r in pending] == expected
    stored = store.approvals.get(staging.id)
    assert stored is not None and stored.registry == "staging"


def test_the_first_decision_wins_and_every_later_one_changes_nothing(store: Store) -> None:
    request = _request()
    store.approvals.open(request, now=T0)
    now = T0 + timedelta(minutes=1)
    approved = store.approvals.decide(
        request.id, status=RequestStatus.APPROVED, decided_by="U0BOB", now=now, approved_seconds=10 * D
    )
    assert approved is not None
    assert (approved.status, approved.decided_by, approved.decided_at, approved.approved_seconds) == (
        RequestStatus.APPROVED,
        "U0BOB",
        now,
        10 * D,
    )
    assert store.approvals.decide(request.id, status=RequestStatus.DENIED, decided_by="U0ALICE", now=now) is None
    assert store.approvals.decide(request.id, status=RequestStatus.APPROVED, decided_by="U0BOB", now=now) is None
    current = store.approvals.get(request.id)
    assert current is not None and current.status is RequestStatus.APPROVED and current.decided_by == "U0BOB"
    assert store.approvals.pending_for("U0JDOE", now=now) == []


def test_unknown_or_forged_ids_decide_nothing(store: Store) -> None:
    store.approvals.open(_request(), now=T0)
    for forged in ("", "nope", "x" * 5000, "' OR 1=1 --"):
        assert store.approvals.get(forged) is None
        assert store.approvals.decide(forged, status=RequestStatus.APPROVED, decided_by="U0BOB", now=T0) is None


def test_a_decision_after_the_expiry_is_refused_and_the_lapse_is_claimed_once(store: Store) -> None:
    request = _request()
    store.approvals.open(request, now=T0)
    expired = T0 + timedelta(hours=1)
    assert store.approvals.decide(request.id, status=RequestStatus.APPROVED, decided_by="U0BOB", now=expired) is None
    assert store.approvals.lapse(now=expired - timedelta(seconds=1)) == []
    [lapsed] = store.approvals.lapse(now=expired)
    assert lapsed.id == request.id and lapsed.status is RequestStatus.LAPSED and lapsed.decided_by is None
    assert store.approvals.lapse(now=expired + timedelta(hours=1)) == []
    assert store.approvals.decide(request.id, status=RequestStatus.DENIED, decided_by="U0BOB", now=expired) is None


@pytest.mark.parametrize("kind", ["decide", "lapse"])
def test_sixteen_threads_racing_over_one_request_have_one_winner(store: Store, kind: str) -> None:
    request = _request()
    store.approvals.open(request, now=T0)
    barrier = threading.Barrier(16)
    won: list[PendingRequest | None] = [None] * 16

    def race(n: int) -> None:
        barrier.wait()
        if kind == "decide":
            won[n] = store.approvals.decide(
                request.id, status=RequestStatus.APPROVED, decided_by=f"U0APPROVER{n}", now=T0 + timedelta(minutes=1)
            )
        else:
            lapsed = store.approvals.lapse(now=T0 + timedelta(hours=2))
            won[n] = lapsed[0] if lapsed else None

    threads = [threading.Thread(target=race, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [w for w in won if w is not None]
    assert len(winners) == 1
    current = store.approvals.get(request.id)
    assert current is not None and current.status is winners[0].status
    assert current.decided_by == winners[0].decided_by


def _approved(store: Store) -> PendingRequest:
    """A request approved at T0, its Show my token good for a day."""
    request = _request()
    store.approvals.open(request, now=T0)
    approved = store.approvals.decide(
        request.id, status=RequestStatus.APPROVED, decided_by="U0BOB", now=T0, claim_by=T0 + timedelta(days=1)
    )
    assert approved is not None and approved.claim_by == T0 + timedelta(days=1)
    return approved


def test_an_approval_is_claimed_by_its_requester_once_given_back_and_lapses_if_never_claimed(store: Store) -> None:
    approved = _approved(store)
    # App Home lists it with its Show my token until it is claimed (the DM's button may not have arrived).
    assert [r.id for r in store.approvals.pending_for("U0JDOE", now=T0)] == [approved.id]
    store.approvals.attach_dm(approved.id, channel="D0JDOE", message_ts="2.000001")
    assert store.approvals.claim(approved.id, user_id="U0BOB", now=T0) is None  # not the requester's click
    claimed = store.approvals.claim(approved.id, user_id="U0JDOE", now=T0 + timedelta(hours=1))
    assert claimed is not None and claimed.status is RequestStatus.CLAIMED
    assert (claimed.claimed_at, claimed.dm_channel, claimed.dm_ts) == (T0 + timedelta(hours=1), "D0JDOE", "2.000001")
    assert store.approvals.claim(approved.id, user_id="U0JDOE", now=T0 + timedelta(hours=1)) is None
    assert store.approvals.pending_for("U0JDOE", now=T0) == []
    assert store.approvals.lapse(now=T0 + timedelta(days=2)) == []  # claimed: never lapses
    store.approvals.unclaim(approved.id)  # the mint made no token: the button works again
    again = store.approvals.get(approved.id)
    assert again is not None and again.status is RequestStatus.APPROVED and again.claimed_at is None
    assert store.approvals.lapse(now=T0 + timedelta(days=1) - timedelta(seconds=1)) == []
    [lapsed] = store.approvals.lapse(now=T0 + timedelta(days=1))
    assert lapsed.status is RequestStatus.LAPSED and lapsed.decided_at == T0 and lapsed.decided_by == "U0BOB"
    assert store.approvals.claim(approved.id, user_id="U0JDOE", now=T0) is None
    assert store.approvals.claim("x" * 200, user_id="U0JDOE", now=T0) is None


def test_sixteen_clicks_racing_over_one_approval_claim_it_once(store: Store) -> None:
    approved = _approved(store)
    barrier = threading.Barrier(16)
    won: list[PendingRequest | None] = [None] * 16

    def click(n: int) -> None:
        barrier.wait()
        won[n] = store.approvals.claim(approved.id, user_id="U0JDOE", now=T0 + timedelta(minutes=n))

    threads = [threading.Thread(target=click, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len([w for w in won if w is not None]) == 1


def test_a_renewal_waiting_for_show_my_token_blocks_a_second_renewal_of_the_same_token(store: Store) -> None:
    first = msgspec.structs.replace(_request(), renews_entry=7)
    store.approvals.open(first, now=T0)
    store.approvals.decide(
        first.id, status=RequestStatus.APPROVED, decided_by="U0BOB", now=T0, claim_by=T0 + timedelta(days=1)
    )
    later = T0 + timedelta(hours=2)  # past the first's pending expiry: only its approval is left
    waiting = store.approvals.open(msgspec.structs.replace(_request(at=later), renews_entry=7), now=later)
    assert waiting is not None and waiting.id == first.id
    assert store.approvals.open(msgspec.structs.replace(_request(at=later), renews_entry=8), now=later) is None


def test_concurrent_requests_of_one_user_open_one(store: Store) -> None:
    barrier = threading.Barrier(8)
    opened: list[bool] = [False] * 8

    def race(n: int) -> None:
        barrier.wait()
        opened[n] = store.approvals.open(_request(), now=T0) is None

    threads = [threading.Thread(target=race, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(opened) == 1
    assert len(store.approvals.pending_for("U0JDOE", now=T0)) == 1


def test_withdrawn_requests_vanish_and_decided_ones_are_pruned_after_the_retention(store: Store) -> None:
    gone, decided, live = _request("U0A"), _request("U0B"), _request("U0C", at=T0 + timedelta(days=100))
    for request in (gone, decided, live):
        store.approvals.open(request, now=request.requested_at)
    store.approvals.withdraw(gone.id)
    assert store.approvals.get(gone.id) is None
    store.approvals.decide(decided.id, status=RequestStatus.DENIED, decided_by="U0BOB", now=T0, note="not now")
    assert store.approvals.prune(now=T0 + timedelta(days=89), retention=timedelta(days=90)) == 0
    store.prune(now=T0 + timedelta(days=91))
    assert store.approvals.get(decided.id) is None
    assert store.approvals.get(live.id) is not None
