"""What a user may see about their own tokens: help, the Home tab, the get-token form, `/rok-token list`.
(An admin's Home tab also shows everyone's live tokens: `bot.usecases.holders`.)

Reads only: none of these mints, and opening the Home tab or help is not audited. The issue use case ends
with `show_home`, so the tab lists a new token whatever asked for it.
"""

from __future__ import annotations

from datetime import datetime

import msgspec

from bot.domain.approvals import PendingRequest
from bot.domain.errors import InternalError
from bot.domain.holders import HOME_WHO_ROWS
from bot.domain.ledger import LedgerEntry
from bot.domain.lifecycle import (
    EXPIRED_SHOWN_FOR,
    HOME_EXPIRED_CAP,
    HOME_LIVE_CAP,
    LIST_CAP,
    HomeView,
    TokenForm,
    TokenLine,
    TokenList,
    presets_for,
)
from bot.domain.models import HelpInfo, RequestContext
from bot.domain.ports import TokenQuery
from bot.runtime import metrics, tracing
from bot.usecases.context import Facts, Ports, limits_view, log, report_failure, whoever
from bot.usecases.holders import admin_section, is_admin


def help_for(p: Ports, ctx: RequestContext, *, registries: str = "") -> HelpInfo | None:
    """Usage with the caller's own username, limits and quota left (or why they cannot ask); None when it
    failed (reported). `registries`: the paragraph on choosing a registry, when there are several."""
    try:
        username, limits, refusal = whoever(p, ctx.user_id, team_id=ctx.team_id)
        if refusal is None:
            view = limits_view(limits, per_hour=p.quota.rule.per_hour, left=p.quota.remaining(ctx.user_id))
        else:
            view = limits_view(limits)
        info = HelpInfo(username, refusal, view, registries, admin=is_admin(p, ctx.user_id, team_id=ctx.team_id))
        p.replies.help(ctx, info)
        metrics.REQUESTS.labels("help", "answered", p.registry).inc()
        return info
    except Exception as exc:
        report_failure(p, Facts(ctx, "help", registry=p.registry), exc)
        return None


def pending_for(p: Ports, user_id: str) -> list[PendingRequest]:
    """The user's requests still waiting for an approver, and approvals waiting for their Show my token
    (App Home offers the button too, should the DM not have reached them), oldest first."""
    if p.pending is None:
        return []
    return p.pending.pending_for(user_id, now=p.clock.now())


def tokens_of(p: Ports, user_id: str, *, now: datetime, cap: int, expired_cap: int = 0) -> TokenList:
    """A user's live tokens, newest first, and (with `expired_cap`) those that expired in the last day."""
    if p.ledger is None:
        return TokenList([])
    # One query for both lists: rows issued and not expired a day ago are the live ones and the recently
    # expired ones (the same filter as `TokenQuery(active_at=now)`, a day earlier).
    rows = p.ledger.tokens(TokenQuery(slack_user=user_id, active_at=now - EXPIRED_SHOWN_FOR))
    renewals = {e.renewed_from: e for e in rows if e.renewed_from is not None}
    live = [e for e in rows if e.live(now)]
    expired = [e for e in rows if not e.live(now)]

    several = len(p.peers) > 1
    if several:
        # Several registries: grouped in the catalogue's order (newest first within each), each naming its own.
        order = {name: i for i, name in enumerate(p.peers)}
        live.sort(key=lambda e: order.get(e.registry, len(order)))
        expired.sort(key=lambda e: order.get(e.registry, len(order)))

    def lines(entries: list[LedgerEntry], limit: int) -> list[TokenLine]:
        shown = [TokenLine.of(e, renewed_by=renewals.get(e.id)) for e in entries[:limit]]
        if not several:
            return shown
        return [msgspec.structs.replace(line, registry=e.registry) for line, e in zip(shown, entries, strict=False)]

    return TokenList(
        live=lines(live, cap),
        live_more=max(len(live) - cap, 0),
        expired=lines(expired, expired_cap),
        expired_more=max(len(expired) - expired_cap, 0) if expired_cap else 0,
    )


@tracing.traced
def show_home(p: Ports, ctx: RequestContext) -> HomeView | None:
    """Publish the user's Home tab: their live tokens, what they may ask for (or why not), whom to ask.

    Opening the Home tab is a read: it is not audited (like help). A failure still shows on the tab.
    """
    if p.surfaces is None:
        return None
    now = p.clock.now()
    try:
        home = _home(p, ctx.user_id, now)
        home = msgspec.structs.replace(
            home, holders=admin_section(p, ctx.user_id, team_id=ctx.team_id, limit=HOME_WHO_ROWS)
        )
        outcome = "published"
    except Exception:
        log.error("the Home tab could not be built", exc_info=True)
        refusal = f"The bot could not load your tokens just now; try again in a minute (reference {ctx.request_id})."
        home = HomeView(ctx.user_id, TokenList([]), limits_view(p.policy.everyone), None, refusal, p.contact, now)
        outcome = "failed"
    metrics.REQUESTS.labels("home", outcome if p.surfaces.publish_home(home) else "unpublished", p.registry).inc()
    return home


def _home(p: Ports, user_id: str, now: datetime) -> HomeView:
    tokens = tokens_of(p, user_id, now=now, cap=HOME_LIVE_CAP, expired_cap=HOME_EXPIRED_CAP)
    username, limits, refusal = whoever(p, user_id)
    if refusal is not None:
        return HomeView(user_id, tokens, limits_view(limits), None, refusal, p.contact, now)
    view = limits_view(limits, per_hour=p.quota.rule.per_hour, left=p.quota.remaining(user_id))
    pending = tuple(pending_for(p, user_id))
    return HomeView(
        user_id, tokens, view, username, None, p.contact, now, remind_before=p.remind_before, pending=pending
    )


def open_token_form(
    p: Ports, ctx: RequestContext, *, trigger: str, registries: tuple[tuple[str, str], ...] = ()
) -> TokenForm | None:
    """Open the get-token form with the durations the user may choose, or why they cannot ask.

    Slack's trigger is good for 3 seconds: the limits come from the directory's cache when warm, and
    nothing slower happens before views.open.
    """
    if p.surfaces is None:
        return None
    try:
        _, limits, refusal = whoever(p, ctx.user_id, team_id=ctx.team_id)
        view = limits_view(limits, per_hour=None if refusal else p.quota.rule.per_hour)
        form = TokenForm(view, [] if refusal else presets_for(view), refusal=refusal, registries=registries)
        if p.surfaces.open_form(trigger=trigger, form=form):
            metrics.REQUESTS.labels("form", "refused" if form.refusal else "opened", p.registry).inc()
        else:
            metrics.REQUESTS.labels("form", "failed", p.registry).inc()
            p.replies.notice(
                ctx, "The form could not be opened in time; click Get a token again, or type /rok-token 8h."
            )
        return form
    except Exception as exc:
        report_failure(p, Facts(ctx, "form", registry=p.registry), exc)
        return None


@tracing.traced
def list_tokens(p: Ports, ctx: RequestContext) -> TokenList | None:
    """`/rok-token list`: the user's live tokens, privately (never a token: their UUIDs)."""
    try:
        if p.surfaces is None or p.ledger is None:
            raise InternalError(ctx.request_id)
        tokens = tokens_of(p, ctx.user_id, now=p.clock.now(), cap=LIST_CAP)
        p.surfaces.token_list(ctx, tokens)
        metrics.REQUESTS.labels("list", "answered", p.registry).inc()
        return tokens
    except Exception as exc:
        report_failure(p, Facts(ctx, "list", registry=p.registry), exc)
        return None
