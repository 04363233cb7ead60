"""The Bolt app: `/rok-token [duration]`, the Verify button, the workspace guard and one error reporter.

Listeners are thin: they ack within milliseconds and hand the cluster and Slack work to `Jobs`, whose
failures reach the same `Reporter` as Bolt's global `@app.error` hook. Nothing here logs a token.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from slack_bolt import App, BoltResponse
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.models.blocks import Block
from slack_sdk.webhook import WebhookClient

from bot import metrics
from bot.cache import TtlMap
from bot.domain.durations import format_duration, parse_duration
from bot.domain.errors import AccessDenied, DeliveryError, LimitExceeded, RokBotError, SealError, UsageError
from bot.domain.identity import Identity, IdentityResolver
from bot.domain.models import IssuedToken, Verdict, VerifyResult
from bot.domain.policy import Policy, UserLimits
from bot.jobs import Jobs
from bot.limits import Capacity, RateLimiter, RecentChecks
from bot.logs import REQUEST_ID
from bot.service import TokenService
from bot.slack.audit import AuditEvent, AuditSink
from bot.slack.blocks import VERIFY_ACTION_ID, help_message, notice, token_message, verify_message
from bot.slack.dedupe import SeenRequests, delivery_key
from bot.slack.seal import Sealer

log = logging.getLogger(__name__)

COMMAND = "/rok-token"
HELP_WORDS = frozenset({"help", "-h", "--help", "?", "usage"})
_PROFILE_TTL = 300.0
VERIFY_COOLDOWN = 10.0  # seconds a Verify answer is reused for the same user and token
POSSIBLY_MINTED = (
    "A token may have been created that you never saw: an admin can find and revoke it by this request's ID."
)


@dataclass
class Req:
    """One user request as it moves from the ack to the post-ack work and, on failure, to the reporter."""

    request_id: str
    kind: str  # "issue", "help", "verify"
    user_id: str
    response_url: str | None
    seconds: int | None = None
    username: str | None = None
    token_uuid: str | None = None
    expires_at: datetime | None = None


# Correlation IDs, not secrets: a PRNG keeps a syscall (and a GIL hand-off under load) off the ack path.
_ids = random.Random()  # noqa: S311  # nosec B311


def _new_request_id() -> str:
    return f"{_ids.getrandbits(48):012x}"


def _body_ids(body: dict[str, Any]) -> tuple[str | None, str | None, str | None]:
    """(team_id, enterprise_id, user_id) of a slash command or an interactivity payload."""
    if "command" in body:
        return body.get("team_id"), body.get("enterprise_id") or None, body.get("user_id")
    team = body.get("team") or {}
    enterprise = body.get("enterprise") or {}
    user = body.get("user") or {}
    return team.get("id"), enterprise.get("id") or None, user.get("id")


def _request_kind(body: dict[str, Any]) -> str:
    """A low-cardinality name for a request: command, block_actions, view_submission, event_callback."""
    if "command" in body:
        return "command"
    kind = body.get("type")
    return kind if kind in ("block_actions", "view_submission", "view_closed", "event_callback") else "other"


class ProfileCache:
    """users.info per Slack user, kept a few minutes per replica (bots, guests and deletions are in it)."""

    def __init__(self, client: WebClient, *, ttl: float = _PROFILE_TTL) -> None:
        self._client = client
        self._cache: TtlMap[str, dict[str, Any] | None] = TtlMap(name="users_info", ttl=ttl)

    def get(self, user_id: str) -> dict[str, Any] | None:
        return self._cache.get(user_id, lambda: self._fetch(user_id))

    def _fetch(self, user_id: str) -> dict[str, Any] | None:
        try:
            user = self._client.users_info(user=user_id).get("user")
        except SlackApiError as exc:
            error = str(exc.response.get("error", "unknown"))
            metrics.SLACK_API_ERRORS.labels("users.info", error).inc()
            if error not in ("user_not_found", "user_not_visible"):
                raise
            user = None
        return user if isinstance(user, dict) else None


class GroupDirectory:
    """Members of the Slack user groups the policy names (usergroups.users.list), cached per replica."""

    def __init__(self, client: WebClient, group_ids: frozenset[str], *, ttl: float = _PROFILE_TTL) -> None:
        self._client = client
        self._groups = group_ids
        self._cache: TtlMap[str, frozenset[str]] = TtlMap(name="usergroups", ttl=ttl)

    def groups_of(self, user_id: str) -> frozenset[str]:
        """The policy's groups this user belongs to (empty when the policy names none)."""
        return frozenset(g for g in self._groups if user_id in self._members(g))

    def _members(self, group_id: str) -> frozenset[str]:
        return self._cache.get(group_id, lambda: self._fetch(group_id))

    def _fetch(self, group_id: str) -> frozenset[str]:
        try:
            users = self._client.usergroups_users_list(usergroup=group_id).get("users") or []
        except SlackApiError as exc:
            metrics.SLACK_API_ERRORS.labels("usergroups.users.list", str(exc.response.get("error", "unknown"))).inc()
            raise
        return frozenset(str(u) for u in users)


class Reporter:
    """The one place failures go: a short private sentence for the user, an audit event, a log line."""

    def __init__(self, *, audit: AuditSink, replies: Replies) -> None:
        self._audit = audit
        self._replies = replies

    def report(self, exc: BaseException, req: Req | None) -> None:
        rid = req.request_id if req else REQUEST_ID.get()
        if isinstance(exc, RokBotError):
            refused = isinstance(exc, AccessDenied | UsageError | SealError)
            outcome = "refused" if refused else "failed"
            message, reason = exc.user_message, exc.kind
            log.warning("%s: %s", outcome, exc.kind, extra={"error": exc.kind, "detail": exc.detail})
        else:
            outcome, reason = "failed", "internal_error"
            message = f"Something went wrong on our side; an admin can trace it with reference {rid}."
            log.error("unexpected error", exc_info=exc)
        if isinstance(exc, DeliveryError):
            outcome = "undelivered"
        elif isinstance(exc, RokBotError) and exc.may_have_minted:
            outcome = "possibly_minted"
            message = f"{message} {POSSIBLY_MINTED}"
        metrics.REQUESTS.labels(req.kind if req else "unknown", outcome).inc()
        if req is not None:
            if req.response_url and not isinstance(exc, DeliveryError):
                self._replies.respond(req.response_url, *notice(message, request_id=rid))
            self._audit.emit(
                AuditEvent(
                    outcome=outcome,
                    request_id=rid,
                    slack_user=req.user_id,
                    username=req.username,
                    duration_seconds=req.seconds,
                    token_uuid=req.token_uuid,
                    reason=f"{reason}: {message}",
                    command=req.kind,
                )
            )


class Replies:
    """Private answers: ephemeral in the user's DM with the bot, or through a response_url."""

    def __init__(self, client: WebClient, *, webhook_factory: Callable[[str], WebhookClient]) -> None:
        self._client = client
        self._webhook = webhook_factory

    def respond(self, response_url: str, text: str, blocks: list[Block]) -> bool:
        """Post an ephemeral reply to a response_url; False when it failed (logged and counted)."""
        try:
            result = self._webhook(response_url).send(
                text=text, blocks=blocks, response_type="ephemeral", replace_original=False
            )
        except (SlackClientError, OSError) as exc:
            metrics.SLACK_API_ERRORS.labels("response_url", type(exc).__name__).inc()
            log.warning("response_url post failed", extra={"error": type(exc).__name__})
            return False
        if result.status_code != 200:
            metrics.SLACK_API_ERRORS.labels("response_url", str(result.status_code)).inc()
            log.warning("response_url post failed", extra={"status": result.status_code})
            return False
        return True

    def dm_ephemeral(self, user_id: str, text: str, blocks: list[Block]) -> bool:
        """Post an ephemeral message in the user's DM with the bot; False when Slack refused."""
        method = "conversations.open"
        try:
            channel = self._client.conversations_open(users=user_id)["channel"]["id"]
            method = "chat.postEphemeral"
            self._client.chat_postEphemeral(channel=channel, user=user_id, text=text, blocks=blocks)
        except SlackApiError as exc:
            error = str(exc.response.get("error", "unknown"))
            metrics.SLACK_API_ERRORS.labels(method, error).inc()
            log.warning("private message failed", extra={"method": method, "error": error})
            return False
        except (SlackClientError, OSError) as exc:
            metrics.SLACK_API_ERRORS.labels(method, type(exc).__name__).inc()
            log.warning("private message failed", extra={"method": method, "error": type(exc).__name__})
            return False
        return True


@dataclass
class SlackBot:
    """Everything the listeners need, built once by the composition root."""

    service: TokenService
    identity: IdentityResolver
    sealer: Sealer
    audit: AuditSink
    client: WebClient
    replies: Replies
    jobs: Jobs
    reporter: Reporter
    profiles: ProfileCache
    policy: Policy
    groups: GroupDirectory
    limiter: RateLimiter
    capacity: Capacity
    support_contact: str
    seen: SeenRequests = field(default_factory=SeenRequests)
    recent_checks: RecentChecks[tuple[str, str], VerifyResult] = field(
        default_factory=lambda: RecentChecks(
            cooldown=VERIFY_COOLDOWN, keep=lambda r: r.verdict is not Verdict.UNREACHABLE
        )
    )
    wall: Callable[[], datetime] = lambda: datetime.now(UTC)

    # -- post-ack work ----------------------------------------------------------------------------

    def identify(self, req: Req) -> Identity:
        """Map the Slack user to a Rok username (users.info, cached), or raise AccessDenied."""
        identity = self.identity.resolve(req.user_id, self.profiles.get(req.user_id))
        req.username = identity.username
        return identity

    def limits(self, req: Req) -> UserLimits:
        """The caller's limits under the policy (allowlist first), from their Slack user groups."""
        groups = self.groups.groups_of(req.user_id) if self.policy.group_ids else frozenset()
        self.policy.check_allowed(req.user_id, groups, self.support_contact)
        return self.policy.limits_for(groups)

    def issue(self, req: Req) -> None:
        """Resolve, check policy and quota, mint, deliver privately, audit. The token lives only here."""
        REQUEST_ID.set(req.request_id)
        try:
            self._issue(req)
        finally:
            self.capacity.leave()

    def _issue(self, req: Req) -> None:
        identity = self.identify(req)
        limits = self.limits(req)
        if req.seconds is None:
            req.seconds = limits.default
        limits.check(req.seconds)
        reservation = self.limiter.reserve(req.user_id)
        try:
            issued = self.service.issue(username=identity.username, seconds=req.seconds, email=identity.email)
        except RokBotError as exc:
            if exc.may_have_minted:
                reservation.commit()  # a token may exist: it counts against the quota
            else:
                reservation.release()
            raise
        except BaseException:
            reservation.release()
            raise
        reservation.commit()
        req.token_uuid, req.expires_at = issued.token_uuid, issued.expires_at
        try:
            delivered = self._deliver(req, issued)
        except Exception as exc:
            # Anything between the mint and a confirmed delivery (building or sealing the message, an
            # unexpected answer from Slack) leaves a token the user never saw: the undelivered path.
            log.warning("delivery failed after the mint", extra={"error": type(exc).__name__})
            delivered = False
        del issued
        if not delivered:
            metrics.DELIVERY_FAILURES.inc()
            self._tell_undelivered(req)
            raise DeliveryError(detail="the token was minted but not delivered")
        metrics.REQUESTS.labels("issue", "issued").inc()
        self.audit.emit(
            AuditEvent(
                outcome="issued",
                request_id=req.request_id,
                slack_user=req.user_id,
                username=req.username,
                duration_seconds=req.seconds,
                expires_at=req.expires_at,
                token_uuid=req.token_uuid,
                command="issue",
            )
        )

    def _deliver(self, req: Req, issued: IssuedToken) -> bool:
        """Seal the Verify value, build the message, send it privately (DM, else response_url)."""
        value = self.sealer.seal(
            token=issued.token,
            user_id=req.user_id,
            expires_at=int(issued.expires_at.timestamp()),
            token_uuid=issued.token_uuid,
            username=issued.username,
        )
        text, blocks = token_message(issued, verify_value=value, request_id=req.request_id, now=self.wall())
        return self.replies.dm_ephemeral(req.user_id, text, blocks) or (
            req.response_url is not None and self.replies.respond(req.response_url, text, blocks)
        )

    def _tell_undelivered(self, req: Req) -> None:
        """Tell the user, without the token, that a token exists that they never saw."""
        text = (
            "A token was created for you but could not be shown to you. It cannot be shown again: "
            f"ask {self.support_contact} to revoke token {req.token_uuid or '(unknown)'} "
            f"(request {req.request_id}), then run /rok-token again."
        )
        try:
            channel = self.client.conversations_open(users=req.user_id)["channel"]["id"]
            self.client.chat_postMessage(channel=channel, text=text)
        except (SlackClientError, OSError):
            log.warning("could not send the undelivered notice to the user")

    def help(self, req: Req) -> None:
        """Usage, with the caller's own username, limits and remaining quota."""
        REQUEST_ID.set(req.request_id)
        username: str | None = None
        refusal: str | None = None
        limits = self.policy.everyone
        extra: list[str] = []
        try:
            username = self.identify(req).username
            limits = self.limits(req)
            extra.append(
                f"Your limits ({limits.source}): up to {self.limiter.per_hour} tokens an hour, "
                f"{self.limiter.remaining(req.user_id)} left now."
            )
        except AccessDenied as exc:
            refusal = exc.user_message
        text, blocks = help_message(
            command=COMMAND,
            username=username,
            refusal=refusal,
            min_seconds=limits.min,
            max_seconds=limits.max,
            default_seconds=limits.default,
            extra_lines=extra,
        )
        if req.response_url:
            self.replies.respond(req.response_url, text, blocks)
        metrics.REQUESTS.labels("help", "answered").inc()

    def verify(self, req: Req, value: str) -> None:
        """Open the sealed value for its owner and ask the registry, at most once per cooldown per token."""
        REQUEST_ID.set(req.request_id)
        sealed = self.sealer.open(value, user_id=req.user_id)
        req.token_uuid, req.username = sealed.token_uuid, sealed.username
        # Keyed by a digest held in memory only: a user clicking one token's button again and again gets
        # the last answer, not another registry call and another audit post.
        token = sealed.token
        key = (req.user_id, hashlib.sha256(token.reveal().encode()).hexdigest())
        result, age = self.recent_checks.get(key, lambda: self.service.verify(token))
        if age is not None:
            ago = max(int(age), 1)
            metrics.REQUESTS.labels("verify", "cached").inc()
            log.info("verify answered from the last check", extra={"checked_seconds_ago": ago})
            if req.response_url:
                self.replies.respond(req.response_url, *verify_message(result, now=self.wall(), checked_ago=ago))
            return
        if req.response_url:
            self.replies.respond(req.response_url, *verify_message(result, now=self.wall()))
        metrics.REQUESTS.labels("verify", result.verdict.value).inc()
        self.audit.emit(
            AuditEvent(
                outcome="verified",
                request_id=req.request_id,
                slack_user=req.user_id,
                username=req.username,
                token_uuid=req.token_uuid,
                expires_at=result.expires_at,
                reason=result.verdict.value,
                command="verify",
            )
        )


def _ephemeral(text: str) -> BoltResponse:
    body = json.dumps({"response_type": "ephemeral", "text": text})
    return BoltResponse(status=200, body=body, headers={"content-type": "application/json"})


def register(app: App, bot: SlackBot) -> None:
    """Attach the guard middleware, the listeners and the error hook to a Bolt app.

    Listeners and middleware do no I/O (no Slack, cluster or registry call): in HTTP mode they run on the
    server's event loop, so anything slow belongs in `bot.jobs`, after the ack.
    """

    @app.middleware
    def guard(body: dict[str, Any], context: dict[str, Any], next: Callable[[], None]) -> BoltResponse | None:
        """Give every request an ID, drop replays, and refuse any that does not come from the installing workspace."""
        key = delivery_key(body)
        if key is not None and not bot.seen.first(key):
            # A replayed or redelivered request (same trigger_id / event_id): ack it, do nothing again.
            metrics.DUPLICATES.labels(_request_kind(body)).inc()
            log.info("duplicate Slack request ignored", extra={"kind": _request_kind(body)})
            return BoltResponse(status=200, body="")
        rid = _new_request_id()
        context["request_id"] = rid
        REQUEST_ID.set(rid)
        team_id, enterprise_id, user_id = _body_ids(body)
        try:
            bot.identity.check_request(team_id=team_id, enterprise_id=enterprise_id)
        except AccessDenied as exc:
            kind = "issue" if "command" in body else "verify"
            bot.reporter.report(exc, Req(rid, kind, user_id or "unknown", response_url=None))
            return _ephemeral(exc.user_message)
        next()
        return None

    @app.command(COMMAND)
    def on_command(ack: Callable[..., None], command: dict[str, Any], context: dict[str, Any]) -> None:
        text = (command.get("text") or "").strip()
        req = Req(context["request_id"], "issue", command["user_id"], command.get("response_url"))
        if text.lower() in HELP_WORDS or (text and not (text[0].isdigit() or text[0] in "+-.")):
            req.kind = "help"
            ack()
            bot.jobs.submit(lambda: bot.help(req), context=req)
            return
        try:
            # The syntax and the widest range are checked here; the caller's own limits after the ack.
            req.seconds = (
                parse_duration(text, minimum=bot.policy.absolute_min, maximum=bot.policy.absolute_max) if text else None
            )
        except UsageError as exc:
            ack(response_type="ephemeral", text=exc.user_message)
            refusal, audited = exc, Req(req.request_id, "issue", req.user_id, None)
            bot.jobs.submit(lambda: bot.reporter.report(refusal, audited), context=audited)
            return
        if not bot.capacity.try_enter():
            busy = LimitExceeded("The bot is busy with many requests; try again in a minute.", detail="capacity")
            ack(response_type="ephemeral", text=busy.user_message)
            audited = Req(req.request_id, "issue", req.user_id, None, seconds=req.seconds)
            bot.jobs.submit(lambda: bot.reporter.report(busy, audited), context=audited)
            return
        if not bot.jobs.submit(lambda: bot.issue(req), context=req):
            bot.capacity.leave()
            ack(response_type="ephemeral", text="The bot is restarting; try again in a few seconds.")
            return
        what = f"a {format_duration(req.seconds)} token" if req.seconds else "a token"
        ack(
            response_type="ephemeral",
            text=f"Issuing {what} for you… it arrives in a private message from the bot in a few seconds, "
            f"or a short message says why not (request {req.request_id}).",
        )

    @app.action(VERIFY_ACTION_ID)
    def on_verify(ack: Callable[..., None], body: dict[str, Any], context: dict[str, Any]) -> None:
        ack()
        actions = body.get("actions") or [{}]
        value = str(actions[0].get("value") or "")
        req = Req(context["request_id"], "verify", (body.get("user") or {}).get("id", ""), body.get("response_url"))
        bot.jobs.submit(lambda: bot.verify(req, value), context=req)

    @app.error
    def on_error(error: Exception, body: dict[str, Any], context: dict[str, Any]) -> BoltResponse:
        """Unexpected failures before the ack: a short answer with a reference, never a stack trace."""
        rid = context.get("request_id") or _new_request_id()
        _, _, user_id = _body_ids(body or {})
        kind = "issue" if (body or {}).get("command") else "verify"
        bot.reporter.report(error, Req(rid, kind, user_id or "unknown", None))
        message = (
            error.user_message
            if isinstance(error, RokBotError)
            else (f"Something went wrong on our side; an admin can trace it with reference {rid}.")
        )
        return _ephemeral(message)
