"""In-memory fakes of the use cases' ports (cosmicpython style): fast, deterministic, no servers.

The protocol-level fakes in sandbox/ stay for integration and end-to-end tests; these stand in for the
adapters at the port, so the use cases' own decisions can be tested one by one.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from bot.adapters.quota import MemoryQuota
from bot.domain.approvals import PendingRequest, RequestStatus
from bot.domain.audit import AuditEvent, Origin
from bot.domain.errors import NoAccountError, RokBotError
from bot.domain.identity import Workspace
from bot.domain.lifecycle import Posted
from bot.domain.models import Account, HelpInfo, IssuedToken, RequestContext, Sealed, Verdict, VerifyResult
from bot.domain.policy import build_policy
from bot.domain.routing import RegistryOffer
from bot.domain.secret import Token
from bot.runtime.clock import ManualClock
from bot.usecases import Ports, new_checks

TEAM = "T0UNIT"


START = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


@dataclass
class FakeDirectory:
    """users.info and user groups from dictionaries."""

    profiles: dict[str, dict[str, Any]] = field(default_factory=dict)
    groups: dict[str, set[str]] = field(default_factory=dict)
    calls: int = 0
    asked_teams: list[str | None] = field(default_factory=list)  # the team_id of each group lookup

    def add(self, user_id: str, *, email: str | None = None, **flags: Any) -> None:
        self.profiles[user_id] = {"id": user_id, "team_id": TEAM, "profile": {"email": email or ""}, **flags}

    def profile(self, user_id: str) -> Mapping[str, Any] | None:
        self.calls += 1
        return self.profiles.get(user_id)

    def groups_of(self, user_id: str, groups: frozenset[str], *, team_id: str | None = None) -> frozenset[str]:
        self.asked_teams.append(team_id)
        return frozenset(g for g in groups if user_id in self.groups.get(g, set()))


@dataclass
class FakeReplies:
    """Records what each user was told, privately; `deliverable=False` makes token delivery fail."""

    deliverable: bool = True
    tokens: list[tuple[RequestContext, IssuedToken, str]] = field(default_factory=list)
    notices: list[tuple[RequestContext, str]] = field(default_factory=list)
    undelivered_notes: list[tuple[RequestContext, str]] = field(default_factory=list)
    helps: list[HelpInfo] = field(default_factory=list)
    verdicts: list[tuple[VerifyResult, int | None]] = field(default_factory=list)
    offers: list[tuple[RequestContext, RegistryOffer]] = field(default_factory=list)

    def token(self, ctx: RequestContext, issued: IssuedToken, *, verify_value: str) -> bool:
        if self.deliverable:
            self.tokens.append((ctx, issued, verify_value))
        return self.deliverable

    def notice(self, ctx: RequestContext, text: str) -> None:
        self.notices.append((ctx, text))

    def undelivered(self, ctx: RequestContext, text: str) -> None:
        self.undelivered_notes.append((ctx, text))

    def help(self, ctx: RequestContext, info: HelpInfo) -> None:
        self.helps.append(info)

    def verified(self, ctx: RequestContext, result: VerifyResult, *, checked_ago: int | None) -> None:
        self.verdicts.append((result, checked_ago))

    def chooser(self, ctx: RequestContext, offer: RegistryOffer) -> None:
        self.offers.append((ctx, offer))


@dataclass
class FakeAudit:
    """The audit trail in a list; `unavailable=True` makes writes raise the store's error (a database blink)."""

    events: list[AuditEvent] = field(default_factory=list)
    unavailable: bool = False

    def record(self, event: AuditEvent) -> None:
        if self.unavailable:
            from bot.store.errors import StoreUnreachable

            raise StoreUnreachable(detail="audit write: the database blinked (test switch)")
        self.events.append(event)

    def outcomes(self) -> list[str]:
        return [str(e.outcome) for e in self.events]


@dataclass
class FakeMinter:
    """Accounts by username; `fail` raises on the next mint; every token it mints is kept for leak checks."""

    accounts: dict[str, Account] = field(default_factory=dict)
    fail: RokBotError | None = None
    minted: list[IssuedToken] = field(default_factory=list)
    verdict: Verdict = Verdict.VALID
    verify_calls: int = 0
    clock: ManualClock = field(default_factory=lambda: ManualClock(START))
    prefix: str = "tok"  # a second registry's minter mints tokens of its own
    _n: itertools.count[int] = field(default_factory=itertools.count)

    def add(self, username: str, *, email: str | None = None) -> None:
        n = len(self.accounts)
        self.accounts[username] = Account(uuid=f"00000000-0000-4000-8000-{n:012d}", username=username, email=email)

    def account(self, username: str) -> Account:
        if username not in self.accounts:
            raise NoAccountError(detail=username)
        return self.accounts[username]

    def mint(self, account: Account, *, seconds: int) -> IssuedToken:
        if self.fail is not None:
            raise self.fail
        n = next(self._n)
        issued = IssuedToken(
            token=Token(f"{self.prefix}-{n:04d}-" + "x" * 32),
            username=account.username,
            account_uuid=account.uuid,
            duration_seconds=seconds,
            expires_at=self.clock.now() + timedelta(seconds=seconds),
            token_uuid=f"11111111-0000-4000-8000-{n:012d}",
        )
        self.minted.append(issued)
        return issued

    def verify(self, token: Token) -> VerifyResult:
        self.verify_calls += 1
        return VerifyResult(self.verdict, f"the token is {self.verdict}")


class FakeSealer:
    """Seals as a readable string bound to the user (the real AES sealer has its own tests)."""

    def __init__(self) -> None:
        self._tokens: dict[str, tuple[Token, str, str | None, str | None, str]] = {}

    def seal(
        self,
        *,
        token: Token,
        user_id: str,
        expires_at: int,
        token_uuid: str | None,
        username: str | None = None,
        registry: str = "default",
    ) -> str:
        value = f"sealed-{len(self._tokens)}"
        self._tokens[value] = (token, user_id, token_uuid, username, registry)
        return value

    def forge(self, value: str, *, registry: str) -> str:
        """The same sealed facts naming another registry (what a forged value would claim, were it openable)."""
        token, user_id, token_uuid, username, _ = self._tokens[value]
        forged = f"sealed-{len(self._tokens)}"
        self._tokens[forged] = (token, user_id, token_uuid, username, registry)
        return forged

    def open(self, value: str, *, user_id: str, now: float | None = None) -> Sealed:
        from bot.domain.errors import SealError

        token, owner, token_uuid, username, registry = self._tokens.get(value, (None, None, None, None, ""))
        if token is None or owner != user_id:
            raise SealError(detail="fake: not this user's value")
        return Sealed(token, user_id, 0, token_uuid, username, registry)


class FakePendingRequests:
    """Pending approval requests in a dict, decided under a lock: the store's rules, in memory."""

    def __init__(self) -> None:
        self.rows: dict[str, PendingRequest] = {}
        self._lock = threading.Lock()

    def open(self, request: PendingRequest, *, now: datetime) -> PendingRequest | None:
        with self._lock:
            mine = [r for r in self.rows.values() if (r.user_id, r.registry) == (request.user_id, request.registry)]
            live = [r for r in mine if r.live(now)]  # one live request per user per registry
            if request.renews_entry is not None:
                live += [r for r in self.rows.values() if r.renews_entry == request.renews_entry and r.claimable(now)]
            if live:
                return live[0]
            self.rows[request.id] = request
        return None

    def withdraw(self, request_id: str) -> None:
        with self._lock:
            self.rows.pop(request_id, None)

    def attach(self, request_id: str, *, channel: str, message_ts: str) -> None:
        with self._lock:
            self.rows[request_id] = msgspec.structs.replace(
                self.rows[request_id], channel=channel, message_ts=message_ts
            )

    def get(self, request_id: str) -> PendingRequest | None:
        return self.rows.get(request_id)

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
        with self._lock:
            row = self.rows.get(request_id)
            if row is None or not row.live(now):
                return None
            decided = msgspec.structs.replace(
                row,
                status=status,
                decided_by=decided_by,
                decided_at=now,
                approved_seconds=approved_seconds,
                note=note,
                claim_by=claim_by,
            )
            self.rows[request_id] = decided
            return decided

    def attach_dm(self, request_id: str, *, channel: str, message_ts: str) -> None:
        with self._lock:
            self.rows[request_id] = msgspec.structs.replace(self.rows[request_id], dm_channel=channel, dm_ts=message_ts)

    def claim(self, request_id: str, *, user_id: str, now: datetime) -> PendingRequest | None:
        with self._lock:
            row = self.rows.get(request_id)
            if row is None or row.user_id != user_id or not row.claimable(now):
                return None
            self.rows[request_id] = msgspec.structs.replace(row, status=RequestStatus.CLAIMED, claimed_at=now)
            return self.rows[request_id]

    def unclaim(self, request_id: str) -> None:
        with self._lock:
            row = self.rows.get(request_id)
            if row is not None and row.status is RequestStatus.CLAIMED:
                self.rows[request_id] = msgspec.structs.replace(row, status=RequestStatus.APPROVED, claimed_at=None)

    def lapse(self, *, now: datetime) -> list[PendingRequest]:
        with self._lock:
            due = [r for r in self.rows.values() if r.status is RequestStatus.PENDING and r.expires_at <= now]
            for row in due:
                self.rows[row.id] = msgspec.structs.replace(row, status=RequestStatus.LAPSED, decided_at=now)
            unclaimed = [
                r
                for r in self.rows.values()
                if r.status is RequestStatus.APPROVED and r.claim_by is not None and r.claim_by <= now
            ]
            for row in unclaimed:
                self.rows[row.id] = msgspec.structs.replace(row, status=RequestStatus.LAPSED)
            return [self.rows[r.id] for r in due + unclaimed]

    def pending_for(self, user_id: str, *, now: datetime) -> list[PendingRequest]:
        return sorted(
            (r for r in self.rows.values() if r.user_id == user_id and (r.live(now) or r.claimable(now))),
            key=lambda r: r.requested_at,
        )


@dataclass
class FakeBoard:
    """The approvals channel: what was posted, how each request ended, what requesters were told."""

    postable: bool = True
    posted: list[PendingRequest] = field(default_factory=list)
    submitted_to: list[tuple[RequestContext, PendingRequest]] = field(default_factory=list)
    decisions: list[PendingRequest] = field(default_factory=list)
    shown_to: list[PendingRequest] = field(default_factory=list)
    announced: list[AuditEvent] = field(default_factory=list)

    def post(self, request: PendingRequest) -> tuple[str, str] | None:
        if not self.postable:
            return None
        self.posted.append(request)
        return "C0APPROVALS", f"1.{len(self.posted):06d}"

    def submitted(self, ctx: RequestContext, request: PendingRequest) -> None:
        self.submitted_to.append((ctx, request))

    def decided(self, request: PendingRequest) -> Posted | None:
        self.decisions.append(request)
        if request.status is RequestStatus.APPROVED:
            return Posted(f"D{request.user_id}", f"2.{len(self.decisions):06d}")  # the Show-my-token DM
        return None

    def shown(self, request: PendingRequest) -> None:
        self.shown_to.append(request)

    def announce(self, event: AuditEvent) -> None:
        self.announced.append(event)


@dataclass
class World:
    """Ports wired around the fakes, and the fakes themselves for the assertions."""

    ports: Ports
    directory: FakeDirectory
    replies: FakeReplies
    audit: FakeAudit
    engine: FakeMinter
    clock: ManualClock
    pending: FakePendingRequests = field(default_factory=FakePendingRequests)
    board: FakeBoard = field(default_factory=FakeBoard)

    def ctx(self, user_id: str, request_id: str = "r1", *, once_key: str | None = None) -> RequestContext:
        return RequestContext(
            request_id, user_id, Origin.COMMAND, reply_to="https://hooks.example/r", team_id=TEAM, once_key=once_key
        )


def world(
    *,
    policy: Mapping[str, Any] | None = None,
    user_map: Mapping[str, str] | None = None,
    email_domains: list[str] | None = None,
) -> World:
    """A workspace with jdoe (mapped) and an account for jdoe, under a generous policy by default."""
    from bot.domain.identity import IdentityResolver
    from bot.domain.ledger import QuotaRule

    clock = ManualClock(START)
    directory, replies, audit, engine = FakeDirectory(), FakeReplies(), FakeAudit(), FakeMinter(clock=clock)
    directory.add("U0JDOE", email="jdoe@example.com")
    engine.add("jdoe")
    built = build_policy(
        policy or {"quota": {"per_hour": 100, "cooldown": 0}},
        default=86400,
        minimum=300,
        maximum=7 * 86400,
        allow_guests=False,
    )
    identity = IdentityResolver(
        user_map=user_map if user_map is not None else {"U0JDOE": "jdoe"},
        email_domains=email_domains or [],
        allow_guests=built.allow_guests,
        workspace=Workspace(TEAM),
        support_contact="#help",
    )
    quota = MemoryQuota(rule=QuotaRule(built.per_hour, built.cooldown), audit=audit, clock=clock)
    pending, board = FakePendingRequests(), FakeBoard()
    ports = Ports(
        engine=engine,
        directory=directory,
        identity=identity,
        policy=built,
        quota=quota,
        replies=replies,
        audit=audit,
        sealer=FakeSealer(),
        checks=new_checks(clock),
        contact="#help",
        pending=pending,
        board=board,
        alarm=board,  # the approvals channel gets the break-glass notice, as on Slack
        clock=clock,
    )
    return World(ports, directory, replies, audit, engine, clock, pending, board)
