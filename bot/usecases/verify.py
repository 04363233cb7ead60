"""Verify: a user's click on the Verify button of their token message asks the registry about that token."""

from __future__ import annotations

import hashlib

from bot.domain.audit import Outcome
from bot.domain.errors import SealError
from bot.domain.models import RequestContext, VerifyResult
from bot.runtime import metrics, tracing
from bot.usecases.context import Facts, Ports, first_time, log, report_failure


@tracing.traced
def verify_button(p: Ports, ctx: RequestContext, value: str) -> VerifyResult | None:
    """Open a sealed Verify value for its owner and ask the registry, at most once per cooldown per token."""
    facts = Facts(ctx, "verify", registry=p.registry)
    if not first_time(p, ctx):
        return None
    try:
        sealed = p.sealer.open(value, user_id=ctx.user_id, now=p.clock.now().timestamp())
        facts = facts.but(token_uuid=sealed.token_uuid, username=sealed.username, registry=sealed.registry)
        # The registry that minted the token answers for it; one this bot does not serve (any more) is refused.
        q = p.at(sealed.registry)
        if q is None:
            raise SealError(
                "This token's registry is not served by this bot any more: it cannot be verified here.",
                detail=f"sealed for registry {sealed.registry[:20]!r}, not configured",
            )
        token = sealed.token
        # Keyed by a digest held in memory only: clicking one token's button again and again gets the last
        # answer, not another registry call and another audit post.
        key = (ctx.user_id, hashlib.sha256(token.reveal().encode()).hexdigest())
        result, age = p.checks.get(key, lambda: q.engine.verify(token))
        if age is not None:
            ago = max(int(age), 1)
            metrics.REQUESTS.labels("verify", "cached", facts.registry).inc()
            tracing.outcome("cached", registry=facts.registry)
            log.info("verify answered from the last check", extra={"checked_seconds_ago": ago})
            p.replies.verified(ctx, result, checked_ago=ago)
            return result
        p.replies.verified(ctx, result, checked_ago=None)
        metrics.REQUESTS.labels("verify", result.verdict.value, facts.registry).inc()
        event = facts.event(
            Outcome.VERIFIED, at=p.clock.now(), reason=result.verdict.value, expires_at=result.expires_at
        )
        p.audit.record(event)
        return result
    except Exception as exc:
        report_failure(p, facts, exc)
        return None
