"""The small interfaces the engine needs from the outside world, and the values that cross them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from bot.domain.audit import AuditEvent, Origin
from bot.domain.ledger import LedgerEntry, Minted, QuotaRule, TokenStatus
from bot.domain.models import VerifyResult
from bot.domain.secret import Token


@dataclass(frozen=True, slots=True)
class PodTarget:
    """The pod and container an exec goes to."""

    pod: str
    container: str


@dataclass(frozen=True, slots=True)
class ExecResult:
    """What a finished command left: its exit code and its two output streams, kept apart."""

    exit_code: int
    stdout: str
    stderr: str
    target: PodTarget
    seconds: float


class CommandRunner(Protocol):
    """Runs an argv list (never a shell) in the Rok Registry pod."""

    def resolve(self, *, fresh: bool = False) -> PodTarget: ...

    def forget(self, target: PodTarget) -> None: ...

    def run(self, argv: list[str], *, target: PodTarget | None = None) -> ExecResult: ...


class Verifier(Protocol):
    """Asks the registry about a token."""

    def verify(self, token: Token) -> VerifyResult: ...


# -- state ----------------------------------------------------------------------------------------------
# What must hold across replicas and restarts lives behind these ports; `bot/store` implements them on
# SQLAlchemy (SQLite by default, PostgreSQL for several replicas). Times are timezone-aware UTC.


@dataclass(frozen=True, slots=True)
class Reservation:
    """A place taken in a user's quota: a ledger row in status `reserved`."""

    id: int
    user_id: str
    reserved_at: datetime


@dataclass(frozen=True, slots=True)
class TokenQuery:
    """Filters of `rok-token-bot tokens` and of App Home's list; None means any."""

    slack_user: str | None = None
    rok_user: str | None = None
    since: datetime | None = None
    active_at: datetime | None = None  # only tokens issued and not expired at this time
    limit: int = 1000


class Ledger(Protocol):
    """The token ledger, and the per-user quota it enforces atomically across replicas."""

    def reserve(
        self,
        *,
        user_id: str,
        team_id: str | None,
        request_id: str,
        origin: Origin,
        duration_seconds: int,
        rule: QuotaRule,
        now: datetime,
    ) -> Reservation:
        """Take a place under a per-user lock (never a global one); LimitExceeded (from `rule`) when none."""
        ...

    def release(self, reservation: Reservation) -> None:
        """Nothing was minted: give the place back (delete the row)."""
        ...

    def settle(
        self, reservation: Reservation, *, status: TokenStatus, minted: Minted | None, event: AuditEvent
    ) -> None:
        """Record what became of the attempt and append its audit event, in one transaction."""
        ...

    def remaining(self, user_id: str, *, rule: QuotaRule, now: datetime) -> int:
        """Places left in the user's rolling hour."""
        ...

    def tokens(self, query: TokenQuery) -> list[LedgerEntry]:
        """Ledger rows, newest first."""
        ...


@dataclass(frozen=True, slots=True)
class ClaimedEvent:
    """An audit event claimed for delivery to one sink, with its outbox row ID and attempts so far."""

    id: int
    event: AuditEvent
    attempts: int


class AuditOutbox(Protocol):
    """Audit events written durably first, then delivered to each sink exactly once by any replica."""

    def append(self, event: AuditEvent) -> None:
        """Record an event for every sink (one transaction)."""
        ...

    def claim(self, *, sink: str, worker: str, limit: int, lease_seconds: float, now: datetime) -> list[ClaimedEvent]:
        """Lease up to `limit` due events of one sink, most urgent first (Priority, then age)."""
        ...

    def delivered(self, ids: list[int], *, now: datetime) -> None:
        """Mark claimed events as posted."""
        ...

    def retry(self, ids: list[int], *, at: datetime, error: str) -> None:
        """Give claimed events back, due again at `at` (backoff), with the error that stopped them."""
        ...

    def backlog(self, *, sink: str, now: datetime) -> tuple[int, float]:
        """Events not yet delivered to `sink`, and the age in seconds of the oldest (0 when none)."""
        ...


class OnceClaims(Protocol):
    """Keys that may act once across replicas: a Slack trigger_id, a reminder, an approval decision."""

    def claim(self, key: str, *, holder: str, now: datetime, ttl_seconds: float) -> bool:
        """True for exactly one caller per key within `ttl_seconds`, whichever replica asks."""
        ...
