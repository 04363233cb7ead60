"""Listeners for the token's life in Slack: the Home tab, its Get-a-token form, Renew and Dismiss buttons.

Thin, like those in `bot.slack.app`: parse, ack, hand the use case to `Jobs`; no I/O before the ack
(tests/slack/test_ack_path.py). The Home tab and the form open on the front end's UI pool, kept apart from
the token requests so that a burst of those cannot make a 3-second trigger expire in a queue. A form
submission is checked in its ack with no I/O (its range travels in the view's private_metadata): an
invalid duration is answered inside the form, anything else closes into "checking…" and the token comes
privately, exactly as for the slash command (`issue_token`, origin `modal`), which also refreshes the Home tab.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from slack_bolt import App

from bot.domain.audit import Origin
from bot.domain.errors import LimitExceeded, UsageError
from bot.domain.models import RequestContext
from bot.slack.app import SlackFrontEnd
from bot.slack.replies import dm_reply
from bot.slack.views import (
    DISMISS_ACTION_ID,
    DURATION_BLOCK,
    FORM_CALLBACK_ID,
    OPEN_FORM_ACTION_ID,
    RENEW_ACTION_ID,
    FormError,
    form_sent_view,
    read_form,
)
from bot.usecases import (
    RenewRequest,
    TokenAsk,
    dismiss_reminder,
    form_with_registries,
    renew_token,
    report,
    request_token,
    show_home,
)

BUSY = "The bot is busy with many requests; try again in a minute."


def _click(body: dict[str, Any], context: dict[str, Any], origin: Origin) -> RequestContext:
    """The context of a click: answers go to its response_url, or (the Home tab has none) the user's DM."""
    user_id = str((body.get("user") or {}).get("id", ""))
    return RequestContext(
        context["request_id"],
        user_id,
        origin,
        reply_to=body.get("response_url") or dm_reply(user_id),
        team_id=context.get("request_team_id"),
        enterprise_id=context.get("request_enterprise_id"),
        once_key=context.get("once_key"),
    )


def _entry_id(body: dict[str, Any]) -> int | None:
    """The ledger row a Renew or Dismiss button names; None when the value is not one."""
    actions = body.get("actions") or [{}]
    value = str(actions[0].get("value") or "")
    return int(value) if value.isdigit() and len(value) < 19 else None


def register_lifecycle(app: App, bot: SlackFrontEnd) -> None:
    """Attach the Home tab, form, Renew and Dismiss listeners to a Bolt app (after `register`'s guard)."""

    @app.event("app_home_opened")
    def on_home_opened(ack: Callable[..., None], event: dict[str, Any], context: dict[str, Any]) -> None:
        ack()
        if event.get("tab") != "home":
            return  # the Messages tab opens too: nothing to publish
        ctx = RequestContext(
            context["request_id"],
            str(event.get("user") or ""),
            Origin.HOME,
            team_id=context.get("request_team_id"),
            enterprise_id=context.get("request_enterprise_id"),
        )
        bot.run_ui("home", ctx, lambda: show_home(bot.ports, ctx))

    @app.action(OPEN_FORM_ACTION_ID)
    def on_open_form(ack: Callable[..., None], body: dict[str, Any], context: dict[str, Any]) -> None:
        ack()
        ctx = _click(body, context, Origin.MODAL)
        trigger = str(body.get("trigger_id") or "")
        bot.run_ui("form", ctx, lambda: form_with_registries(bot.registries, ctx, trigger=trigger))

    @app.view(FORM_CALLBACK_ID)
    def on_form_submitted(
        ack: Callable[..., None], body: dict[str, Any], view: dict[str, Any], context: dict[str, Any]
    ) -> None:
        user_id = str((body.get("user") or {}).get("id", ""))
        ctx = RequestContext(
            context["request_id"],
            user_id,
            Origin.MODAL,
            reply_to=dm_reply(user_id),
            team_id=context.get("request_team_id"),
            enterprise_id=context.get("request_enterprise_id"),
            once_key=context.get("once_key"),
        )
        try:
            wanted = read_form(view)
        except FormError as exc:
            ack(response_action="errors", errors={exc.block_id: exc.message})
            bot.report_later("issue", ctx, UsageError(exc.message, detail="the get-token form"))
            return
        if not bot.capacity.try_enter():
            ack(response_action="errors", errors={DURATION_BLOCK: BUSY})
            bot.report_later("issue", ctx, LimitExceeded(BUSY, detail="capacity"))
            return

        def issue() -> None:
            try:
                # The registry chosen in the form, else the user's only one (else a chooser in their DM).
                ask = TokenAsk(ctx, None, named=wanted.registry, seconds=wanted.seconds, note=wanted.note)
                request_token(bot.registries, ask)
            finally:
                bot.capacity.leave()

        if not bot.run("issue", ctx, issue):
            bot.capacity.leave()
            ack(response_action="errors", errors={DURATION_BLOCK: "The bot is restarting; try again in a few seconds."})
            return
        ack(response_action="update", view=form_sent_view(seconds=wanted.seconds, request_id=ctx.request_id))

    @app.action(RENEW_ACTION_ID)
    def on_renew(ack: Callable[..., None], body: dict[str, Any], context: dict[str, Any]) -> None:
        ack()
        ctx = _click(body, context, Origin.RENEW)
        entry_id = _entry_id(body)
        if not bot.capacity.try_enter():
            busy = LimitExceeded(BUSY, detail="capacity")
            bot.run("renew", ctx, lambda: report(bot.ports, command="renew", ctx=ctx, error=busy))
            return

        def renew() -> None:
            try:
                renew_token(bot.ports, RenewRequest(ctx, entry_id))
            finally:
                bot.capacity.leave()

        if not bot.run("renew", ctx, renew):
            bot.capacity.leave()

    @app.action(DISMISS_ACTION_ID)
    def on_dismiss(ack: Callable[..., None], body: dict[str, Any], context: dict[str, Any]) -> None:
        ack()
        ctx = _click(body, context, Origin.HOME)
        entry_id = _entry_id(body)
        bot.run("dismiss", ctx, lambda: dismiss_reminder(bot.ports, ctx, entry_id))
