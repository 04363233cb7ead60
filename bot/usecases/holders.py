"""Who holds tokens, for the policy's admins: `/rok-token who` and the section of their Home tab.

Reads only, like the Home tab: nothing is minted, and an admin's answer is not audited (the audit channel would
fill with lookups). A refusal is: anyone in the workspace can type `/rok-token who`, and a security team wants
to know who tried. The refusal names who may use it, so the asker knows whom to ask instead.
"""

from __future__ import annotations

from bot.domain.errors import InternalError, NotAnAdmin
from bot.domain.holders import WHO_ROWS, Holding, Holdings, WhoRefusal
from bot.domain.models import RequestContext
from bot.runtime import metrics
from bot.usecases.context import Facts, Ports, log, report_failure


def who_holds(p: Ports, ctx: RequestContext) -> Holdings | None:
    """`/rok-token who`: every live token, privately, to an admin (at most WHO_ROWS, with the total); anyone else
    is refused (audited) and told who may. None when refused or failed (reported)."""
    facts = Facts(ctx, "who", registry=p.registry)
    try:
        if not is_admin(p, ctx.user_id, team_id=ctx.team_id):
            raise NotAnAdmin(_refusal_text(p), detail="not an admin")
        if p.holders is None or p.surfaces is None:
            raise InternalError(ctx.request_id)
        held = live_tokens(p, limit=WHO_ROWS)
        p.surfaces.who(ctx, held)
        metrics.REQUESTS.labels("who", "answered", p.registry).inc()
        return held
    except NotAnAdmin as refusal:
        report_failure(p, facts, refusal, tell=lambda text: _refuse(p, ctx, text))
    except Exception as exc:
        report_failure(p, facts, exc)
    return None


def is_admin(p: Ports, user_id: str, *, team_id: str | None = None) -> bool:
    """Whether the policy's `admins` name the user, by ID or through a user group (read in the request's
    workspace `team_id` on an org-wide install, as the approvers' groups are)."""
    admins = p.policy.admins
    if admins is None:
        return False
    if user_id in admins.users:
        return True
    if not admins.usergroups:
        return False
    return admins.may_see(user_id, p.directory.groups_of(user_id, admins.usergroups, team_id=team_id))


def live_tokens(p: Ports, *, limit: int) -> Holdings:
    """The live tokens now (oldest issue first), at most `limit` of them, and how many there are."""
    assert p.holders is not None  # both callers check it first
    now = p.clock.now()
    rows, total = p.holders.live_at(now, limit=limit)
    shown = tuple(Holding.of(token) for token in rows[:limit])
    return Holdings(shown, max(total, len(shown)), now, several=len(p.peers) > 1)


def admin_section(p: Ports, user_id: str, *, team_id: str | None, limit: int) -> Holdings | None:
    """The Home tab's "who holds tokens" for an admin; None for anyone else. A failure is logged and shown as a
    line of the section: the admin's own tokens still show."""
    if p.policy.admins is None or p.holders is None:
        return None
    try:
        if not is_admin(p, user_id, team_id=team_id):
            return None
        return live_tokens(p, limit=limit)
    except Exception:
        log.error("the admins' section of the Home tab could not be built", exc_info=True)
        problem = "The live tokens could not be read just now; open the tab again in a minute."
        return Holdings((), 0, p.clock.now(), problem=problem)


def _refusal_text(p: Ports) -> str:
    if p.policy.admins is None:
        return f"Nobody may see who holds tokens here: the bot's policy names no admins; ask {p.contact}."
    return "Only the bot's admins may see who holds tokens; ask one of them."


def _refuse(p: Ports, ctx: RequestContext, text: str) -> None:
    """The refusal, naming the admins (Slack renders the IDs as mentions and user-group handles)."""
    admins = p.policy.admins
    users = tuple(sorted(admins.users)) if admins else ()
    groups = tuple(sorted(admins.usergroups)) if admins else ()
    if p.surfaces is None:
        p.replies.notice(ctx, text)
        return
    p.surfaces.who(ctx, WhoRefusal(text, users, groups))
