"""The use cases on in-memory fakes of their ports: each decision of the issue, help and verify flows."""

from __future__ import annotations

import pytest

from bot.domain.audit import Outcome
from bot.domain.errors import CommandFailed, DurationError, ExecTimeout
from bot.domain.models import Verdict
from bot.domain.policy import UserLimits
from bot.usecases import IssueRequest, help_for, issue_for_admin, issue_token, verify_button
from tests.usecases.fakes import World, world


def _issue(w: World, user_id: str = "U0JDOE", seconds: int | None = 3600) -> object:
    return issue_token(w.ports, IssueRequest(w.ctx(user_id), seconds))


def _no_token_leaked(w: World) -> None:
    secrets = [t.token.reveal() for t in w.engine.minted]
    told = [text for _, text in w.replies.notices + w.replies.undelivered_notes]
    audited = [str(e.as_record()) for e in w.audit.events]
    assert not any(s in blob for s in secrets for blob in told + audited)


def test_a_mapped_user_gets_a_token_privately_and_the_audit_has_the_facts() -> None:
    w = world()
    issued = _issue(w)
    assert issued is not None
    [(ctx, token, value)] = w.replies.tokens
    assert ctx.user_id == "U0JDOE" and token.username == "jdoe" and value.startswith("sealed-")
    [event] = w.audit.events
    assert (event.outcome, event.username, event.duration_seconds) == (Outcome.ISSUED, "jdoe", 3600)
    assert event.token_uuid == token.token_uuid and event.request_id == "r1"
    assert w.ports.quota.remaining("U0JDOE") == 99
    _no_token_leaked(w)


def test_no_duration_means_the_users_default() -> None:
    w = world()
    _issue(w, seconds=None)
    assert w.engine.minted[0].duration_seconds == 86400


def test_an_unmapped_user_is_refused_nothing_minted_no_quota_taken() -> None:
    w = world()
    w.directory.add("U0MALLORY", email="mallory@elsewhere.test")
    assert _issue(w, "U0MALLORY") is None
    assert w.engine.minted == []
    [(_, text)] = w.replies.notices
    assert "not mapped" in text and "#help" in text
    assert w.audit.outcomes() == ["refused"]
    assert w.ports.quota.remaining("U0MALLORY") == 100


def test_a_duration_over_the_users_limit_is_refused_with_the_limit_stated() -> None:
    w = world()
    _issue(w, seconds=30 * 86400)
    assert w.engine.minted == []
    assert "longer than your limit of 7d" in w.replies.notices[0][1]
    assert w.audit.outcomes() == ["refused"]


def test_the_quota_refuses_with_the_wait_and_counts_only_what_was_minted() -> None:
    w = world(policy={"quota": {"per_hour": 2, "cooldown": 0}})
    w.engine.fail = CommandFailed(exit_code=3)
    _issue(w)  # a clean failure gives the place back
    w.engine.fail = None
    _issue(w)
    _issue(w)
    _issue(w)
    assert len(w.engine.minted) == 2
    assert "2 tokens in the last hour" in w.replies.notices[-1][1]
    assert w.audit.outcomes() == ["failed", "issued", "issued", "refused"]


def test_a_token_create_that_may_have_minted_keeps_its_place_and_says_so() -> None:
    w = world()
    w.engine.fail = ExecTimeout(detail="token-create ran past 30s").possibly_minted()
    assert _issue(w) is None
    assert w.ports.quota.remaining("U0JDOE") == 99
    [event] = w.audit.events
    assert event.outcome == Outcome.POSSIBLY_MINTED
    assert "may have been created" in w.replies.notices[0][1]


def test_a_failed_delivery_is_undelivered_with_the_token_uuid_never_the_token() -> None:
    w = world()
    w.replies.deliverable = False
    assert _issue(w) is None
    [minted] = w.engine.minted
    [(_, note)] = w.replies.undelivered_notes
    assert minted.token_uuid and minted.token_uuid in note and "#help" in note
    assert w.audit.outcomes() == ["undelivered"]
    assert w.audit.events[0].token_uuid == minted.token_uuid
    assert w.ports.quota.remaining("U0JDOE") == 99  # the token exists: it counts
    _no_token_leaked(w)


def test_a_failure_while_sealing_after_the_mint_is_undelivered_too() -> None:
    w = world()

    def broken_seal(**_: object) -> str:
        raise ValueError("sealed value exceeds Slack's button value limit")

    w.ports.sealer.seal = broken_seal  # type: ignore[method-assign]
    _issue(w)
    assert w.audit.outcomes() == ["undelivered"]


def test_an_unexpected_exception_gets_a_reference_and_a_failed_audit_event() -> None:
    w = world()
    w.engine.fail = None

    def boom(username: str) -> object:
        raise RuntimeError("a bug")

    w.engine.account = boom  # type: ignore[assignment,method-assign]
    _issue(w)
    assert "reference r1" in w.replies.notices[0][1]
    [event] = w.audit.events
    assert event.outcome == Outcome.FAILED and event.reason and event.reason.startswith("internal_error")


def test_an_email_mapped_user_needs_the_accounts_email() -> None:
    w = world(user_map={}, email_domains=["example.com"])
    w.engine.accounts.clear()
    w.engine.add("jdoe", email="john@example.com")
    _issue(w)
    assert w.engine.minted == []
    assert "not the email of the Rok Registry account jdoe" in w.replies.notices[0][1]
    assert w.audit.outcomes() == ["refused"]


def test_help_shows_the_callers_own_limits_and_quota_left_or_why_not() -> None:
    w = world()
    _issue(w)
    info = help_for(w.ports, w.ctx("U0JDOE"))
    assert info is not None  # None would mean help failed and was reported
    assert (info.username, info.limits.per_hour, info.limits.left) == ("jdoe", 100, 99)
    w.directory.add("U0MALLORY")
    info = help_for(w.ports, w.ctx("U0MALLORY"))
    assert info is not None
    assert info.username is None and info.refusal and "not mapped" in info.refusal


def test_verify_reuses_the_last_answer_for_a_while_and_audits_once() -> None:
    w = world()
    _issue(w)
    value = w.replies.tokens[0][2]
    for _ in range(5):
        assert verify_button(w.ports, w.ctx("U0JDOE"), value) is not None
    assert w.engine.verify_calls == 1
    assert [ago is None for _, ago in w.replies.verdicts] == [True, False, False, False, False]
    assert w.audit.outcomes() == ["issued", "verified"]


def test_verify_refuses_someone_elses_value_without_asking_the_registry() -> None:
    w = world()
    _issue(w)
    w.directory.add("U0ALICE")
    assert verify_button(w.ports, w.ctx("U0ALICE"), w.replies.tokens[0][2]) is None
    assert w.engine.verify_calls == 0
    assert w.audit.outcomes() == ["issued", "refused"]


def test_unreachable_is_not_reused() -> None:
    w = world()
    _issue(w)
    w.engine.verdict = Verdict.UNREACHABLE
    verify_button(w.ports, w.ctx("U0JDOE"), w.replies.tokens[0][2])
    w.engine.verdict = Verdict.VALID
    verify_button(w.ports, w.ctx("U0JDOE"), w.replies.tokens[0][2])
    assert w.engine.verify_calls == 2


def test_the_admin_path_checks_the_settings_range_once_and_mints() -> None:
    w = world()
    limits = UserLimits(default=3600, min=300, max=86400, source="settings")
    issued = issue_for_admin(w.engine, username="jdoe", seconds=None, limits=limits, clock=w.clock)
    assert issued.duration_seconds == 3600
    with pytest.raises(DurationError, match="longer than your limit of 1d"):
        issue_for_admin(w.engine, username="jdoe", seconds=2 * 86400, limits=limits, clock=w.clock)


@pytest.mark.parametrize("fails", [False, True])
def test_the_admin_path_audits_the_registry_it_minted_in(fails: bool) -> None:
    """`rok-token-bot issue --registry staging`: the issued (or possibly-minted) event names staging."""
    from bot.adapters.quota import MemoryQuota
    from bot.domain.ledger import QuotaRule

    w = world()
    quota = MemoryQuota(rule=QuotaRule(100, 0), audit=w.audit, clock=w.clock, registry="staging")
    limits = UserLimits(default=3600, min=300, max=86400, source="settings")
    if fails:
        w.engine.fail = ExecTimeout(detail="token-create ran past 30s").possibly_minted()
        with pytest.raises(ExecTimeout):
            issue_for_admin(
                w.engine, username="jdoe", seconds=None, limits=limits, clock=w.clock,
                quota=quota, ctx=w.ctx("cli:root"), registry="staging",
            )  # fmt: skip
    else:
        issue_for_admin(
            w.engine, username="jdoe", seconds=None, limits=limits, clock=w.clock,
            quota=quota, ctx=w.ctx("cli:root"), registry="staging",
        )  # fmt: skip
    [event] = w.audit.events
    assert event.outcome == (Outcome.POSSIBLY_MINTED if fails else Outcome.ISSUED)
    assert event.registry == "staging"
