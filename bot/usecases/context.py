"""What every use case shares: the ports, the facts an audit event is made of, and the one failure reporter.

Failures take one path, `report_failure`: an expected `RokBotError` becomes its outcome's audit event and
its one-sentence `user_message`; anything else is logged with its traceback and answered with a reference.
Every use case reports its own failures and returns; the job guard (`bot.runtime.jobs`) calls `report` only
for a bug that escaped one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

import msgspec

from bot.domain.audit import AuditEvent, Outcome
from bot.domain.errors import (
    AccessDenied,
    AccountError,
    ClusterError,
    InternalError,
    OutputParseError,
    RegistryUnreachable,
    RokBotError,
)
from bot.domain.identity import Identity, IdentityResolver
from bot.domain.ledger import QuotaRule
from bot.domain.models import Limits, RequestContext, Verdict, VerifyResult
from bot.domain.patterns import DEFAULT_REGISTRY
from bot.domain.policy import Policy, UserLimits
from bot.domain.ports import (
    ApprovalBoard,
    AuditLog,
    BreakGlassAlarm,
    Ledger,
    Minter,
    OnceClaims,
    PendingRequests,
    Quota,
    Replies,
    Sealer,
    Surfaces,
    UserDirectory,
)
from bot.domain.report import LiveTokens
from bot.runtime import metrics, tracing
from bot.runtime.cache import RecentChecks
from bot.runtime.clock import Clock

log = logging.getLogger("bot.usecases")

POSSIBLY_MINTED = (
    "A token may have been created that you never saw: an admin can find and revoke it by this request's ID."
)
VERIFY_COOLDOWN = 10.0  # seconds a Verify answer is reused for the same user and token
# Admins are not rate-limited (their own cluster credentials could mint anything); the ledger still counts them.
ADMIN_RULE = QuotaRule(per_hour=1_000_000, cooldown=0)
_REGISTRY_FAILURES = (ClusterError, OutputParseError, RegistryUnreachable, AccountError)
ONCE_WINDOW = 600.0  # a request's key acts once for this long: twice Slack's 5-minute signature window

# What a request asked for: the audit event's `command`, the metrics' `command` label.
Command = Literal["issue", "help", "verify", "home", "form", "list", "renew", "remind", "dismiss", "approve", "who"]


@dataclass(frozen=True)
class Ports:
    """Everything the use cases need for one registry, built once by the composition root (`bot.bootstrap`).

    Per registry: `registry`, `engine`, `identity`, `policy`, `quota` (and `board`, which posts under that
    registry's approval rules). Everything else is one object shared by every registry's Ports. `peers` maps
    every registry's name to its Ports (this one's included), so a use case that learns the registry from
    the store (a Renew, a Verify value, an approval) acts with the right one: see `at`.
    """

    engine: Minter
    directory: UserDirectory
    identity: IdentityResolver
    policy: Policy
    quota: Quota
    replies: Replies
    audit: AuditLog
    sealer: Sealer
    checks: RecentChecks[tuple[str, str], VerifyResult]
    contact: str
    clock: Clock  # the process's one clock (bootstrap creates it)
    once: OnceClaims | None = None  # None: one replica, and the Slack guard's in-memory check is enough
    holder: str = "local"
    # The token's life in Slack (Home tab, form, list, reminders, Renew): the store's ledger and Slack's
    # surfaces; None where there are none (the CLI). `remind_before`: ROK_BOT_REMIND_BEFORE, 0 for off.
    ledger: Ledger | None = None
    surfaces: Surfaces | None = None
    remind_before: int = 0
    # Approvals (when the policy has them): the pending requests and the approvals channel.
    pending: PendingRequests | None = None
    board: ApprovalBoard | None = None
    # Break-glass's loud notice (the approvals channel, else the audit channel); None where there is none.
    alarm: BreakGlassAlarm | None = None
    registry: str = DEFAULT_REGISTRY
    # Every registry's live tokens, for the policy's admins (`/rok-token who`); None where there is no store.
    holders: LiveTokens | None = None
    # Every registry's Ports by name; empty: this registry alone (the CLI, a single-registry test world).
    peers: Mapping[str, Ports] = field(default_factory=dict, repr=False, compare=False)

    def at(self, registry: str) -> Ports | None:
        """The Ports of the registry named (a row's, a sealed value's), None when this bot does not serve it."""
        if not self.peers:
            return self if registry == self.registry else None
        return self.peers.get(registry)


def new_checks(clock: Clock) -> RecentChecks[tuple[str, str], VerifyResult]:
    """The Verify cooldown: answers reused for VERIFY_COOLDOWN seconds, "unreachable" never."""
    return RecentChecks(
        cooldown=VERIFY_COOLDOWN, keep=lambda r: r.verdict is not Verdict.UNREACHABLE, clock=clock.monotonic
    )


class Facts(msgspec.Struct, frozen=True):
    """What is known about one request so far: what its audit event will say, whatever the outcome."""

    ctx: RequestContext
    command: Command
    username: str | None = None
    seconds: int | None = None
    token_uuid: str | None = None
    expires_at: datetime | None = None
    note: str | None = None  # the reason an issued event gives: the form's reason, the token a renewal renews
    actor: str | None = None  # who decided, when not the requester (an approver)
    registry: str = DEFAULT_REGISTRY  # the registry the request is for (its event names it)

    def but(self, **changes: object) -> Facts:
        return msgspec.structs.replace(self, **changes)

    def event(
        self, outcome: Outcome, *, at: datetime, reason: str | None = None, expires_at: datetime | None = None
    ) -> AuditEvent:
        # Every outcome a use case audits is built here: the request's trace (when on) names it too.
        tracing.outcome(outcome, registry=self.registry)
        return AuditEvent(
            outcome=outcome,
            request_id=self.ctx.request_id,
            slack_user=self.ctx.user_id,
            username=self.username,
            duration_seconds=self.seconds,
            expires_at=expires_at or self.expires_at,
            token_uuid=self.token_uuid,
            reason=reason if reason is not None else self.note,
            command=self.command,
            origin=str(self.ctx.origin),
            actor=self.actor,
            registry=self.registry,
            team_id=self.ctx.team_id,
            enterprise_id=self.ctx.enterprise_id,
            occurred_at=at,
        )


def first_time(p: Ports, ctx: RequestContext) -> bool:
    """Claim the request's key across replicas: False for a replay or redelivery another replica took."""
    if p.once is None or ctx.once_key is None:
        return True
    if p.once.claim(ctx.once_key, holder=p.holder, now=p.clock.now(), ttl_seconds=ONCE_WINDOW):
        return True
    metrics.DUPLICATES.labels("claimed_elsewhere").inc()
    log.info("duplicate request ignored: another replica took it")
    return False


def identify(p: Ports, user_id: str) -> Identity:
    """The Rok username of a Slack user (users.info, cached by the directory), or AccessDenied."""
    return p.identity.resolve(user_id, p.directory.profile(user_id))


def limits_of(p: Ports, user_id: str, *, team_id: str | None = None) -> UserLimits:
    """The user's limits under the policy (allowlist first), from the user groups it names (read in the
    request's workspace `team_id` on an org-wide install)."""
    wanted = p.policy.group_ids
    groups = p.directory.groups_of(user_id, wanted, team_id=team_id) if wanted else frozenset()
    p.policy.check_allowed(user_id, groups, p.contact)
    return p.policy.limits_for(groups)


def limits_view(limits: UserLimits, *, per_hour: int | None = None, left: int | None = None) -> Limits:
    """A user's limits as help, the Home tab and the form show them."""
    return Limits(limits.default, limits.min, limits.max, limits.source, per_hour, left)


def whoever(p: Ports, user_id: str, *, team_id: str | None = None) -> tuple[str | None, UserLimits, str | None]:
    """(Rok username, limits, refusal) of a user: their own, or everyone's with the sentence saying why not."""
    try:
        return identify(p, user_id).username, limits_of(p, user_id, team_id=team_id), None
    except AccessDenied as exc:
        return None, p.policy.everyone, exc.user_message


def report_failure(p: Ports, facts: Facts, exc: BaseException, *, tell: Callable[[str], None] | None = None) -> None:
    """The one place failures go: its audit event, one private sentence, a log line (with the traceback
    when it was not expected). `tell` answers the user instead of a plain notice (a refusal that names people)."""
    if isinstance(exc, RokBotError):
        failure = exc
        log.warning("%s: %s", failure.outcome, failure.kind, extra={"error": failure.kind, "detail": failure.detail})
    else:
        failure = InternalError(facts.ctx.request_id)
        log.error("unexpected error", exc_info=exc)
    outcome = failure.outcome
    message = naming_registry(p, facts.registry, failure, failure.user_message)
    if failure.may_have_minted:
        message = f"{message} {POSSIBLY_MINTED}"
    metrics.REQUESTS.labels(facts.command, outcome, facts.registry).inc()
    reason = "internal_error" if isinstance(failure, InternalError) else failure.kind
    try:
        if tell is not None:
            tell(message)
        else:
            p.replies.notice(facts.ctx, message)
    finally:
        _audit_failure(p, facts.event(outcome, at=p.clock.now(), reason=f"{reason}: {message}"))


def naming_registry(p: Ports, registry: str, failure: RokBotError, message: str) -> str:
    """With several registries, a failure of one registry (its cluster, its pod, its API, its accounts) names
    it: the user knows which one is down, and that another may still work."""
    if len(p.peers) > 1 and registry and isinstance(failure, _REGISTRY_FAILURES):
        return f"Registry {registry}: {message}"
    return message


def _audit_failure(p: Ports, event: AuditEvent) -> None:
    """Record a failure's event; when that write fails too (the database is down), log it and stop there: the
    user was told once, and a second report would only tell them again."""
    try:
        p.audit.record(event)
    except Exception as exc:
        log.warning(
            "audit write failed for a failure already reported",
            extra={"error": type(exc).__name__, "request_id": event.request_id, "outcome": str(event.outcome)},
        )


@tracing.traced
def report(p: Ports, *, command: Command, ctx: RequestContext, error: BaseException) -> None:
    """For a front end: a refusal it already answered in the ack (audited now, after it), or a bug that escaped
    a use case (the job guard's last resort)."""
    report_failure(p, Facts(ctx, command, registry=p.registry), error)
