"""Use cases: issue a token for a username, verify a token. No Slack, Kubernetes or HTTP imports here."""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from bot import metrics
from bot.cache import SingleFlight
from bot.domain.durations import format_duration
from bot.domain.errors import (
    CommandFailed,
    DurationError,
    EmailMappingRefused,
    ExecError,
    ExecStartError,
    ExecTimeout,
    NoAccountError,
    OutputParseError,
    OutputTooLarge,
    UsageError,
)
from bot.domain.identity import same_email
from bot.domain.models import Account, IssuedToken, MintedToken, VerifyResult
from bot.domain.ports import CommandRunner, ExecResult, PodTarget, Verifier
from bot.domain.secret import Token
from bot.domain.tables import AccountTable, parse_accounts, parse_token_output

log = logging.getLogger(__name__)

_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$")
_DETAIL_CHARS = 300
# How long a token being verified stays masked in logs: the length of one verify call, with room to spare.
VERIFY_PROTECTION = timedelta(minutes=10)

# Called with each token and when it may be forgotten, before anything else can log it (the log redactor).
Protect = Callable[[Token, datetime], None]


def render_argv(template: list[str], values: dict[str, str]) -> list[str]:
    """Fill `{name}` placeholders inside single argv items; a value can never add or split arguments."""
    return [_PLACEHOLDER.sub(lambda m: values[m.group(1)], item) for item in template]


def _first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip()[:_DETAIL_CHARS]
    return ""


@dataclass
class ExecStats:
    """Counts for tests and the benchmark: execs by subcommand, and the peak concurrency seen."""

    by_command: dict[str, int] = field(default_factory=dict)
    in_flight: int = 0
    peak: int = 0


class TokenService:
    """Issues and verifies Rok Registry tokens through a CommandRunner and a Verifier."""

    def __init__(
        self,
        *,
        runner: CommandRunner,
        verifier: Verifier,
        account_list_argv: list[str],
        token_create_argv: list[str],
        min_seconds: int,
        max_seconds: int,
        cache_ttl: float,
        max_concurrent_execs: int,
        miss_refresh_after: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
        protect: Protect | None = None,
    ) -> None:
        self._runner = runner
        self._protect: Protect = protect or (lambda token, until: None)
        self._verifier = verifier
        self._account_list_argv = list(account_list_argv)
        self._token_create_argv = list(token_create_argv)
        self.min_seconds = min_seconds
        self.max_seconds = max_seconds
        self._clock = clock
        self._wall = wall
        self._miss_refresh_after = miss_refresh_after
        self._slots = threading.BoundedSemaphore(max_concurrent_execs)
        self._stats_lock = threading.Lock()
        self.stats = ExecStats()
        self._accounts: SingleFlight[AccountTable] = SingleFlight(self._load_accounts, ttl=cache_ttl, clock=clock)

    # -- accounts ---------------------------------------------------------------------------------

    def account(self, username: str) -> Account:
        """The account with exactly this username, from the cached table (refreshed once on a miss)."""
        if not USERNAME.fullmatch(username):  # fullmatch: `$` alone accepts a trailing newline
            raise UsageError(f"{username[:40]!r} is not a valid Rok Registry username.")
        asked_at = self._clock()
        loaded = self._accounts.get()
        metrics.CACHE_LOOKUPS.labels("accounts", "hit" if loaded.hit else "miss").inc()
        try:
            return loaded.value.lookup(username)
        except NoAccountError:
            # A new account may have appeared since the table was loaded: look again, once.
            if not loaded.hit or asked_at - loaded.loaded_at < self._miss_refresh_after:
                raise
        return self._accounts.get(newer_than=asked_at).value.lookup(username)

    def account_table(self) -> AccountTable:
        """The whole account table, from the cache when fresh."""
        return self._accounts.get().value

    def _load_accounts(self) -> AccountTable:
        result = self._exec("account-list", self._account_list_argv, idempotent=True)
        if result.exit_code != 0:
            raise CommandFailed(
                exit_code=result.exit_code,
                detail=f"account-list exited {result.exit_code}: {_first_line(result.stderr)}",
            )
        return parse_accounts(result.stdout)

    # -- issue ------------------------------------------------------------------------------------

    def check_duration(self, seconds: int) -> None:
        """Refuse a duration outside the engine's hard bounds (front ends parse and check first)."""
        if not self.min_seconds <= seconds <= self.max_seconds:
            raise DurationError(
                f"Choose a duration between {format_duration(self.min_seconds)} "
                f"and {format_duration(self.max_seconds)}."
            )

    def issue(self, *, username: str, seconds: int, email: str | None = None) -> IssuedToken:
        """Mint a token for `username` valid for `seconds`: one exec with a warm account cache.

        `email` is the requester's Slack email when the username came from it: then an account whose
        `account-list` row shows an email must show that same address, or nothing is minted.
        """
        started = self._clock()
        self.check_duration(seconds)
        account = self.account(username)
        if email is not None and account.email is not None and not same_email(account.email, email):
            raise EmailMappingRefused(
                f"Your Slack email is not the email of the Rok Registry account {username}; "
                "ask an admin to add your Slack user ID to the bot's user map.",
                detail=f"the account {username!r} has another email than the requester's Slack profile",
            )
        if not _UUID.fullmatch(account.uuid):
            raise UsageError(detail="account UUID failed validation")
        argv = render_argv(self._token_create_argv, {"uuid": account.uuid, "seconds": str(int(seconds))})
        requested_at = self._wall()
        minted = self._token_create(argv)
        expires_at = minted.expires_at or requested_at + timedelta(seconds=seconds)
        # First thing after the parse: from here on every log line masks this exact value, whatever its shape.
        self._protect(minted.token, max(expires_at, requested_at + timedelta(seconds=seconds)))
        metrics.ISSUE_SECONDS.observe(self._clock() - started)
        return IssuedToken(
            token=minted.token,
            username=account.username,
            account_uuid=account.uuid,
            duration_seconds=seconds,
            expires_at=expires_at,
            token_uuid=minted.token_uuid,
        )

    def _token_create(self, argv: list[str]) -> MintedToken:
        """Run token-create; a failure after it may have started is marked `may_have_minted`."""
        try:
            result = self._exec("token-create", argv, idempotent=False)
        except (ExecStartError, CommandFailed):
            raise  # nothing ran, or the command itself refused: nothing was minted
        except ExecError as exc:
            # Timed out, dropped mid-stream or printed too much: the command may well have minted.
            raise exc.possibly_minted() from None
        if result.exit_code != 0:
            raise CommandFailed(
                exit_code=result.exit_code,
                detail=f"token-create exited {result.exit_code}: {_first_line(result.stderr)}",
            )
        try:
            return parse_token_output(result.stdout)
        except OutputParseError as exc:
            # Exit 0 means Rok created a token; we only failed to read it.
            raise exc.possibly_minted() from None

    def verify(self, token: Token) -> VerifyResult:
        """Ask the registry about a token."""
        self._protect(token, self._wall() + VERIFY_PROTECTION)
        result = self._verifier.verify(token)
        metrics.VERIFY_OUTCOMES.labels(result.verdict.value).inc()
        return result

    # -- exec -------------------------------------------------------------------------------------

    def _exec(self, name: str, argv: list[str], *, idempotent: bool) -> ExecResult:
        """Run one command in a free exec slot; retry once on a fresh pod only when that cannot mint twice."""
        waited = self._clock()
        with self._slots:
            metrics.EXEC_WAIT_SECONDS.observe(self._clock() - waited)
            self._count(name, +1)
            try:
                return self._exec_with_retry(name, argv, idempotent=idempotent)
            finally:
                self._count(name, -1)

    def _exec_with_retry(self, name: str, argv: list[str], *, idempotent: bool) -> ExecResult:
        target: PodTarget | None = None
        for attempt in (1, 2):
            try:
                target = self._runner.resolve(fresh=attempt > 1)
                with metrics.EXEC_SECONDS.labels(name).time():
                    return self._runner.run(argv, target=target)
            except ExecError as exc:
                metrics.EXEC_FAILURES.labels(name, exc.kind).inc()
                if target is not None:
                    self._runner.forget(target)
                # token-create may only be retried when it cannot have started; account-list is read-only.
                retry = isinstance(exc, ExecStartError) or (
                    idempotent and not isinstance(exc, CommandFailed | ExecTimeout | OutputTooLarge)
                )
                if attempt == 1 and retry:
                    log.warning(
                        "exec failed, retrying on a fresh pod",
                        extra={"command": name, "error": exc.kind, "detail": exc.detail},
                    )
                    continue
                raise
        raise AssertionError("unreachable")

    def _count(self, name: str, delta: int) -> None:
        with self._stats_lock:
            stats = self.stats
            stats.in_flight += delta
            if delta > 0:
                stats.by_command[name] = stats.by_command.get(name, 0) + 1
                stats.peak = max(stats.peak, stats.in_flight)
            metrics.EXECS_IN_FLIGHT.set(stats.in_flight)
