"""The token engine: find a Rok account, mint a token for it, ask the registry about a token.

It runs `rok-fort-manage` through a `CommandRunner` port and checks tokens through a `Verifier` port. It
caches the whole account table (one `account-list` per TTL, refreshed by a single flight), bounds concurrent
execs so a burst cannot overload the registry pod, retries an exec only when the failure proves nothing was
minted, and hands every token to `protect` (the log redactor) the moment it is parsed. It knows nothing of
Slack, users' limits or quotas: the use cases decide who may get what.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from bot.domain.errors import (
    CommandFailed,
    ExecError,
    ExecStartError,
    ExecTimeout,
    NoAccountError,
    OutputParseError,
    OutputTooLarge,
    UsageError,
)
from bot.domain.models import Account, IssuedToken, MintedToken, Verdict, VerifyResult
from bot.domain.patterns import DEFAULT_REGISTRY, ROK_USERNAME, canonical_uuid
from bot.domain.ports import CommandRunner, ExecResult, PodTarget, Verifier
from bot.domain.secret import Token
from bot.domain.tables import AccountTable, parse_accounts, parse_token_output, render_argv
from bot.runtime import metrics, tracing
from bot.runtime.cache import SingleFlight
from bot.runtime.clock import Clock

log = logging.getLogger(__name__)

_DETAIL_CHARS = 300
# How long a token being verified stays masked in logs: the length of one verify call, with room to spare.
VERIFY_PROTECTION = timedelta(minutes=10)

# Called with each token and when it may be forgotten, before anything else can log it (the log redactor).
Protect = Callable[[Token, datetime], None]


def _first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip()[:_DETAIL_CHARS]
    return ""


class TokenEngine:
    """Mints and verifies Rok Registry tokens through a CommandRunner and a Verifier."""

    def __init__(
        self,
        *,
        runner: CommandRunner,
        verifier: Verifier,
        account_list_argv: list[str],
        token_create_argv: list[str],
        cache_ttl: float,
        max_concurrent_execs: int,
        miss_refresh_after: float = 10.0,
        clock: Clock,
        protect: Protect | None = None,
        registry: str = DEFAULT_REGISTRY,  # its metrics' label
    ) -> None:
        self._runner = runner
        self._registry = registry
        self._protect: Protect = protect or (lambda token, until: None)
        self._verifier = verifier
        self._account_list_argv = list(account_list_argv)
        self._token_create_argv = list(token_create_argv)
        self._clock = clock
        self._miss_refresh_after = miss_refresh_after
        self._slots = threading.BoundedSemaphore(max_concurrent_execs)
        self._in_flight_lock = threading.Lock()
        self._in_flight = 0
        self._accounts: SingleFlight[AccountTable] = SingleFlight(
            self._load_accounts, ttl=cache_ttl, clock=clock.monotonic
        )

    # -- accounts ---------------------------------------------------------------------------------

    def account(self, username: str) -> Account:
        """The account with exactly this username, from the cached table (refreshed once on a miss)."""
        if not ROK_USERNAME.fullmatch(username):  # fullmatch: `$` alone accepts a trailing newline
            raise UsageError(f"{username[:40]!r} is not a valid Rok Registry username.")
        asked_at = self._clock.monotonic()
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

    def mint(self, account: Account, *, seconds: int) -> IssuedToken:
        """Mint a token for an account (from `account()`) valid for `seconds`: one exec, plus one registry call
        when token-create does not print the token's UUID (which also proves the token works)."""
        started = time.perf_counter()
        if not canonical_uuid(account.uuid):
            raise UsageError(detail="account UUID failed validation")
        argv = render_argv(self._token_create_argv, {"uuid": account.uuid, "seconds": str(int(seconds))})
        requested_at = self._clock.now()
        minted = self._token_create(argv)
        expires_at = minted.expires_at or requested_at + timedelta(seconds=seconds)
        # First thing after the parse: from here on every log line masks this exact value, whatever its shape.
        self._protect(minted.token, max(expires_at, requested_at + timedelta(seconds=seconds)))
        token_uuid = minted.token_uuid
        if token_uuid is None:
            token_uuid, expires_at = self._learn_uuid(minted.token, expires_at)
        metrics.ISSUE_SECONDS.labels(self._registry).observe(time.perf_counter() - started)
        return IssuedToken(
            token=minted.token,
            username=account.username,
            account_uuid=account.uuid,
            duration_seconds=seconds,
            expires_at=expires_at,
            token_uuid=token_uuid,
        )

    def _learn_uuid(self, token: Token, expires_at: datetime) -> tuple[str | None, datetime]:
        """The token's UUID (and expiry) from the registry, for the ledger and the audit trail."""
        result = self._ask_registry(token)
        if result.verdict is Verdict.REJECTED:
            # Rok printed a token its own registry refuses: whatever was created is no use to anyone.
            raise CommandFailed(
                "The Rok Registry created a token it does not accept; an admin must check the registry.",
                detail=f"token-create printed a token the registry rejects: {result.message}",
            ).possibly_minted()
        if not result.ok:
            log.warning("token UUID unknown: the registry did not answer", extra={"error": result.message})
            return None, expires_at
        return result.token_uuid, result.expires_at or expires_at

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
        self._protect(token, self._clock.now() + VERIFY_PROTECTION)
        result = self._ask_registry(token)
        metrics.VERIFY_OUTCOMES.labels(result.verdict.value, self._registry).inc()
        return result

    def _ask_registry(self, token: Token) -> VerifyResult:
        """The registry's verify call, as its own span (its verdict, never the token nor the answer's text)."""
        with tracing.span("registry verify", registry=self._registry):
            result = self._verifier.verify(token)
            tracing.annotate(verdict=result.verdict.value)
            return result

    # -- exec -------------------------------------------------------------------------------------

    def _exec(self, name: str, argv: list[str], *, idempotent: bool) -> ExecResult:
        """Run one command in a free exec slot; retry once on a fresh pod only when that cannot mint twice."""
        waited = time.perf_counter()
        with self._slots:
            metrics.EXEC_WAIT_SECONDS.labels(self._registry).observe(time.perf_counter() - waited)
            self._count(+1)
            try:
                return self._exec_with_retry(name, argv, idempotent=idempotent)
            finally:
                self._count(-1)

    def _exec_with_retry(self, name: str, argv: list[str], *, idempotent: bool) -> ExecResult:
        target: PodTarget | None = None
        for attempt in (1, 2):
            try:
                # The span names the verb alone: argv's values (an account's UUID, a duration) stay out of it.
                with tracing.span(f"exec {name}", verb=name, registry=self._registry, attempt=attempt):
                    target = self._runner.resolve(fresh=attempt > 1)
                    with metrics.EXEC_SECONDS.labels(name, self._registry).time():
                        result = self._runner.run(argv, target=target)
                    tracing.annotate(exit_code=result.exit_code)
                    return result
            except ExecError as exc:
                metrics.EXEC_FAILURES.labels(name, exc.kind, self._registry).inc()
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

    def _count(self, delta: int) -> None:
        with self._in_flight_lock:
            self._in_flight += delta
            metrics.EXECS_IN_FLIGHT.labels(self._registry).set(self._in_flight)
