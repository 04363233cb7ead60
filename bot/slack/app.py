"""The Bolt app: the workspace guard, thin listeners (parse, ack, hand over) and the one error hook.

A listener translates Slack's payload into a use case call from `bot.usecases` and hands it to `Jobs`, to
run after the ack. Listeners and middleware do no I/O (no Slack, cluster, registry or database call): in
HTTP mode they run on the server's event loop, and tests/slack/test_ack_path.py proves it. Nothing here
decides policy, quota, sealing or what the audit says.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slack_bolt import App, BoltResponse

from bot.domain.audit import Origin
from bot.domain.command import LIST_WORD, WHO_WORD, split_command, wants_help
from bot.domain.durations import format_duration
from bot.domain.errors import AccessDenied, LimitExceeded, RokBotError, UsageError
from bot.domain.models import RequestContext
from bot.runtime import metrics, tracing
from bot.runtime.jobs import Capacity, Jobs
from bot.runtime.logs import REQUEST_ID
from bot.slack.blocks import (
    APPROVAL_NOTE_ACTION,
    APPROVAL_NOTE_BLOCK,
    APPROVAL_SECONDS_ACTION,
    APPROVAL_SECONDS_BLOCK,
    APPROVE_ACTION_ID,
    DENY_ACTION_ID,
    SHOW_TOKEN_ACTION_ID,
    VERIFY_ACTION_ID,
)
from bot.slack.chooser import CHOOSE_ACTION, read_choice
from bot.slack.dedupe import SeenRequests, delivery_key
from bot.slack.replies import COMMAND, dm_reply
from bot.usecases import (
    Command,
    Decision,
    Fleet,
    Ports,
    ShowToken,
    TokenAsk,
    decide_request,
    help_with_registries,
    list_tokens,
    report,
    request_token,
    show_approved_token,
    verify_button,
    who_holds,
)

log = logging.getLogger(__name__)


# Correlation IDs, not secrets: a PRNG keeps a syscall (and a GIL hand-off under load) off the ack path.
_ids = random.Random()  # noqa: S311  # nosec B311


def new_request_id() -> str:
    return f"{_ids.getrandbits(48):012x}"


@dataclass
class SlackFrontEnd:
    """What the listeners need: the use cases' ports, the job runner and the ack-time guards."""

    ports: Ports
    jobs: Jobs
    capacity: Capacity
    seen: SeenRequests  # replays and redeliveries, on the clock's monotonic seconds
    # Quick Slack-facing work (the Home tab, opening the form) has a pool of its own: a burst of token
    # requests waiting for the cluster must not hold a view.open past its 3-second trigger.
    ui: Jobs | None = None
    # Every registry's Ports (None: `ports` is the only registry). `ports` is the first registry's: what every
    # registry shares (directory, replies, audit, store) is reached through it.
    fleet: Fleet | None = None

    @property
    def registries(self) -> Fleet:
        """The fleet: the configured one, else the single registry of `ports`."""
        return self.fleet if self.fleet is not None else Fleet.one(self.ports)

    def run(self, command: Command, ctx: RequestContext, work: Callable[[], object]) -> bool:
        """Run a use case after the ack, with the request's ID in every log line; False when shutting down.
        A bug that escapes it reaches the one reporter with (command, ctx)."""
        return self.jobs.submit(_job(command, ctx, work), context=(command, ctx))

    def run_ui(self, command: Command, ctx: RequestContext, work: Callable[[], object]) -> bool:
        """Like `run`, on the UI pool (the main one when there is none)."""
        return (self.ui or self.jobs).submit(_job(command, ctx, work), context=(command, ctx))

    def report_later(self, command: Command, ctx: RequestContext, exc: BaseException) -> None:
        """Audit a failure the ack already answered (the audit is I/O: it runs after the ack)."""
        quiet = RequestContext(
            ctx.request_id, ctx.user_id, ctx.origin, reply_to=None, team_id=ctx.team_id, enterprise_id=ctx.enterprise_id
        )
        work = _job(command, quiet, lambda: report(self.ports, command=command, ctx=quiet, error=exc))
        self.jobs.submit(work, context=(command, quiet))


def _job(command: Command, ctx: RequestContext, work: Callable[[], object]) -> Callable[[], None]:
    """A request's work after the ack: its ID on every log line, and its trace (when tracing is on) started here,
    on the job thread, so that the ack path does no tracing at all."""

    def job() -> None:
        REQUEST_ID.set(ctx.request_id)
        with tracing.request(
            f"slack {command}",
            request_id=ctx.request_id,
            command=command,
            origin=str(ctx.origin),
            team_id=ctx.team_id,
            enterprise_id=ctx.enterprise_id,
        ):
            work()

    return job


# `/rok-token list` (the caller's live tokens) and `who` (everyone's, for the policy's admins: whether the caller
# is one needs their user groups, so it is decided after the ack like everything else).
_SUBCOMMANDS: dict[str, tuple[Command, Callable[[Ports, RequestContext], object]]] = {
    LIST_WORD: ("list", list_tokens),
    WHO_WORD: ("who", who_holds),
}


def _body_ids(body: dict[str, Any]) -> tuple[str | None, str | None, str | None]:
    """(team_id, enterprise_id, user_id) of a slash command, an interactivity payload or an event."""
    if "command" in body:
        return body.get("team_id"), body.get("enterprise_id") or None, body.get("user_id")
    if body.get("type") == "event_callback":
        event = body.get("event") or {}
        return body.get("team_id"), body.get("enterprise_id") or None, event.get("user")
    team = body.get("team") or {}
    enterprise = body.get("enterprise") or {}
    user = body.get("user") or {}
    # An org-wide install's interactions may carry `team: null`; the user's own workspace is then in `user`.
    return team.get("id") or user.get("team_id"), enterprise.get("id") or None, user.get("id")


def org_event(body: dict[str, Any]) -> bool:
    """A workspace-access event of an org install: it names the organisation, not a workspace it serves."""
    kind = (body.get("event") or {}).get("type")
    return body.get("type") == "event_callback" and kind in ("team_access_granted", "team_access_revoked")


def _request_kind(body: dict[str, Any]) -> str:
    """A low-cardinality name for a request: command, block_actions, view_submission, event_callback."""
    if "command" in body:
        return "command"
    kind = body.get("type")
    return kind if kind in ("block_actions", "view_submission", "view_closed", "event_callback") else "other"


def _ephemeral(text: str) -> BoltResponse:
    body = json.dumps({"response_type": "ephemeral", "text": text})
    return BoltResponse(status=200, body=body, headers={"content-type": "application/json"})


def register(app: App, bot: SlackFrontEnd) -> None:
    """Attach the guard middleware, the listeners and the error hook to a Bolt app."""

    @app.middleware
    def guard(body: dict[str, Any], context: dict[str, Any], next: Callable[[], None]) -> BoltResponse | None:
        """Give every request an ID, drop replays, and refuse any that does not come from the installing workspace."""
        key = delivery_key(body)
        if key is not None and not bot.seen.first(key):
            # A replayed or redelivered request (same trigger_id / event_id): ack it, do nothing again.
            metrics.DUPLICATES.labels(_request_kind(body)).inc()
            log.info("duplicate Slack request ignored", extra={"kind": _request_kind(body)})
            return BoltResponse(status=200, body="")
        rid = new_request_id()
        context["request_id"] = rid
        context["once_key"] = key
        REQUEST_ID.set(rid)
        team_id, enterprise_id, user_id = _body_ids(body)
        # The payload's own fields name the user's workspace; Bolt's context fills a gap (its team_id may be the
        # enterprise's on an org install's views, so it is the fallback, not the source).
        team_id = team_id or context.get("team_id")
        enterprise_id = enterprise_id or context.get("enterprise_id")
        context["request_team_id"] = team_id  # what every listener's RequestContext records
        context["request_enterprise_id"] = enterprise_id
        try:
            bot.ports.identity.check_request(team_id=team_id, enterprise_id=enterprise_id, org_event=org_event(body))
        except AccessDenied as refusal:
            who = user_id or "unknown"
            ctx = RequestContext(rid, who, Origin.COMMAND, team_id=team_id, enterprise_id=enterprise_id)
            bot.report_later("issue" if "command" in body else "verify", ctx, refusal)
            return _ephemeral(refusal.user_message)
        next()
        return None

    @app.command(COMMAND)
    def on_command(ack: Callable[..., None], command: dict[str, Any], context: dict[str, Any]) -> None:
        text = (command.get("text") or "").strip()
        fleet = bot.registries
        # One registry: only `--registry NAME` is new; several: their names are words of the command.
        names = () if fleet.single else fleet.names
        words = split_command(text, names)
        ctx = RequestContext(
            context["request_id"],
            command["user_id"],
            Origin.BREAK_GLASS if words.break_glass else Origin.COMMAND,
            reply_to=command.get("response_url"),
            team_id=context.get("request_team_id"),
            once_key=context.get("once_key"),
            enterprise_id=context.get("request_enterprise_id"),
        )
        if (subcommand := _SUBCOMMANDS.get(text.lower())) is not None:
            ack()
            name, use_case = subcommand
            bot.run(name, ctx, lambda: use_case(bot.ports, ctx))
            return
        if wants_help(text, names):
            ack()
            channel_id = command.get("channel_id")
            bot.run("help", ctx, lambda: help_with_registries(fleet, ctx, channel_id))
            return
        try:
            if words.problem:
                raise UsageError(words.problem)
            if words.break_glass and not words.reason:
                raise UsageError('Break-glass needs a reason: /rok-token 2h --break-glass "incident 4711".')
            # The syntax and the widest range any path allows (the user's own limit, an approval), with no I/O;
            # the caller's own limits need their user groups, so the use case checks those after the ack.
            seconds = fleet.ack_duration(words.duration) if words.duration else None
        except UsageError as exc:
            ack(response_type="ephemeral", text=exc.user_message)
            bot.report_later("issue", ctx, exc)
            return
        # The registry is resolved after the ack: whom it is open to needs the user's groups (I/O).
        ask = TokenAsk(
            ctx,
            command.get("channel_id"),
            named=words.registry,
            seconds=seconds,
            reason=words.reason,
            break_glass=words.break_glass,
        )
        if not _issue_after_ack(bot, ask, ack):
            return
        # The ack promises nothing that may be refused: limits and quota are checked after it.
        what = f"a {format_duration(seconds)} token" if seconds else "a token"
        kind = "break-glass request" if words.break_glass else "request"
        ack(
            response_type="ephemeral",
            text=f"Checking your {kind} for {what}… it arrives in a private message from the bot in a few "
            f"seconds, or a short message says why not (request {ctx.request_id}).",
        )

    @app.action(CHOOSE_ACTION)
    def on_choose(ack: Callable[..., None], body: dict[str, Any], context: dict[str, Any]) -> None:
        """A chooser's button: the request again, naming the registry clicked (checked by the use case)."""
        ack()
        actions = body.get("actions") or [{}]
        clicked = read_choice(str(actions[0].get("value") or ""))
        ctx = RequestContext(
            context["request_id"],
            (body.get("user") or {}).get("id", ""),
            Origin.BREAK_GLASS if clicked is not None and clicked.break_glass else Origin.COMMAND,
            reply_to=body.get("response_url"),
            team_id=context.get("request_team_id"),
            enterprise_id=context.get("request_enterprise_id"),
            once_key=context.get("once_key"),
        )
        if clicked is None:
            bad = UsageError("This button is not valid; run /rok-token again.")
            bot.run("issue", ctx, lambda: report(bot.ports, command="issue", ctx=ctx, error=bad))
            return
        ask = TokenAsk(
            ctx,
            (body.get("channel") or {}).get("id"),
            named=clicked.registry,
            seconds=clicked.seconds,
            reason=clicked.reason,
            break_glass=clicked.break_glass,
        )
        _issue_after_ack(bot, ask, None)

    @app.action(VERIFY_ACTION_ID)
    def on_verify(ack: Callable[..., None], body: dict[str, Any], context: dict[str, Any]) -> None:
        ack()
        actions = body.get("actions") or [{}]
        value = str(actions[0].get("value") or "")
        ctx = RequestContext(
            context["request_id"],
            (body.get("user") or {}).get("id", ""),
            Origin.VERIFY,
            reply_to=body.get("response_url"),
            team_id=context.get("request_team_id"),
            enterprise_id=context.get("request_enterprise_id"),
            once_key=context.get("once_key"),
        )
        bot.run("verify", ctx, lambda: verify_button(bot.ports, ctx, value))

    _register_approvals(app, bot)

    @app.error
    def on_error(error: Exception, body: dict[str, Any], context: dict[str, Any]) -> BoltResponse:
        """Unexpected failures before the ack: a short answer with a reference, never a stack trace."""
        rid = context.get("request_id") or new_request_id()
        _, _, user_id = _body_ids(body or {})
        command: Command = "issue" if (body or {}).get("command") else "verify"
        ctx = RequestContext(rid, user_id or "unknown", Origin.COMMAND)
        # The audit post and the log line's traceback come from the one reporter, after the ack.
        bot.report_later(command, ctx, error)
        message = (
            error.user_message
            if isinstance(error, RokBotError)
            else f"Something went wrong on our side; an admin can trace it with reference {rid}."
        )
        return _ephemeral(message)


def _issue_after_ack(bot: SlackFrontEnd, ask: TokenAsk, ack: Callable[..., None] | None) -> bool:
    """Hand a token request to a job within the capacity; False (answered, audited) when busy or stopping."""
    ctx = ask.ctx
    if not bot.capacity.try_enter():
        busy = LimitExceeded("The bot is busy with many requests; try again in a minute.", detail="capacity")
        if ack is not None:
            ack(response_type="ephemeral", text=busy.user_message)
            bot.report_later("issue", ctx, busy)
        else:
            bot.run("issue", ctx, lambda: report(bot.ports, command="issue", ctx=ctx, error=busy))
        return False

    def issue() -> None:
        try:
            request_token(bot.registries, ask)
        finally:
            bot.capacity.leave()

    if not bot.run("issue", ctx, issue):
        bot.capacity.leave()
        if ack is not None:
            ack(response_type="ephemeral", text="The bot is restarting; try again in a few seconds.")
        return False
    return True


def _state_value(body: dict[str, Any], block_id: str, action_id: str) -> str | None:
    """A value the clicker left in the message's inputs (`state.values`), as text; None when absent."""
    values = (body.get("state") or {}).get("values") or {}
    field = (values.get(block_id) or {}).get(action_id) if isinstance(values, dict) else None
    if not isinstance(field, dict):
        return None
    option = field.get("selected_option")
    value = option.get("value") if isinstance(option, dict) else field.get("value")
    return value if isinstance(value, str) else None


def _register_approvals(app: App, bot: SlackFrontEnd) -> None:
    """Approve and Deny on a request in the approvals channel, and the requester's Show my token in their DM:
    parse the click, ack, hand it to the use case."""

    def on_decision(approve: bool, ack: Callable[..., None], body: dict[str, Any], context: dict[str, Any]) -> None:
        ack()
        actions = body.get("actions") or [{}]
        ctx = RequestContext(
            context["request_id"],
            (body.get("user") or {}).get("id", ""),
            Origin.APPROVAL,
            reply_to=body.get("response_url"),
            team_id=context.get("request_team_id"),
            enterprise_id=context.get("request_enterprise_id"),
            once_key=context.get("once_key"),
        )
        # Everything the click carries is untrusted: the use case checks who clicked, and reads the request
        # itself from the store; the chosen duration may only shorten it.
        decision = Decision(
            ctx,
            str(actions[0].get("value") or ""),
            approve=approve,
            seconds=_state_value(body, APPROVAL_SECONDS_BLOCK, APPROVAL_SECONDS_ACTION) if approve else None,
            note=None if approve else _state_value(body, APPROVAL_NOTE_BLOCK, APPROVAL_NOTE_ACTION),
        )
        bot.run("approve", ctx, lambda: decide_request(bot.ports, decision))

    @app.action(APPROVE_ACTION_ID)
    def on_approve(ack: Callable[..., None], body: dict[str, Any], context: dict[str, Any]) -> None:
        on_decision(True, ack, body, context)

    @app.action(DENY_ACTION_ID)
    def on_deny(ack: Callable[..., None], body: dict[str, Any], context: dict[str, Any]) -> None:
        on_decision(False, ack, body, context)

    @app.action(SHOW_TOKEN_ACTION_ID)
    def on_show_token(ack: Callable[..., None], body: dict[str, Any], context: dict[str, Any]) -> None:
        ack()
        actions = body.get("actions") or [{}]
        user_id = str((body.get("user") or {}).get("id", ""))
        ctx = RequestContext(
            context["request_id"],
            user_id,
            Origin.APPROVAL,
            # From the DM: the click's response_url; from App Home (none): an ephemeral in the user's DM.
            reply_to=body.get("response_url") or dm_reply(user_id),
            team_id=context.get("request_team_id"),
            enterprise_id=context.get("request_enterprise_id"),
            once_key=context.get("once_key"),
        )
        # The value names the approval, nothing more: the use case mints only for the requester's own click.
        show = ShowToken(ctx, str(actions[0].get("value") or ""))
        if not bot.capacity.try_enter():
            busy = LimitExceeded("The bot is busy with many requests; try again in a minute.", detail="capacity")
            bot.run("issue", ctx, lambda: report(bot.ports, command="issue", ctx=ctx, error=busy))
            return

        def work() -> None:
            try:
                show_approved_token(bot.ports, show)
            finally:
                bot.capacity.leave()

        if not bot.run("issue", ctx, work):
            bot.capacity.leave()
