"""One failure contract: every use case reports its own failures once and returns; the job guard is for bugs.

And a use case that delivers a token ends by refreshing the requester's Home tab, whatever asked for it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest

from bot.domain.approvals import RequestStatus
from bot.domain.audit import Origin, Outcome
from bot.domain.models import RequestContext
from bot.runtime.jobs import Jobs
from bot.usecases import (
    Command,
    Decision,
    Issued,
    IssueRequest,
    Ports,
    ShowToken,
    decide_request,
    help_for,
    issue_token,
    open_token_form,
    report,
    show_approved_token,
    show_home,
)
from tests.usecases.fakes import FakeDirectory
from tests.usecases.fakes_lifecycle import LifeWorld, life_world

APPROVALS: dict[str, Any] = {
    "quota": {"per_hour": 100, "cooldown": 0},
    "approvals": {"channel": "C0APPROVALS", "approvers": {"users": ["U0BOB"]}, "max": "30d"},
}


class BrokenDirectory(FakeDirectory):
    """Slack's users.info fails with something nobody expected (a bug, a library change)."""

    def profile(self, user_id: str) -> Mapping[str, Any] | None:
        raise RuntimeError("users.info exploded")

    def groups_of(self, user_id: str, groups: frozenset[str], *, team_id: str | None = None) -> frozenset[str]:
        raise RuntimeError("usergroups.users.list exploded")


def _broken() -> LifeWorld:
    from dataclasses import replace

    w = life_world()
    w.base.ports = replace(w.base.ports, directory=BrokenDirectory())
    return w


def _under_the_job_guard(ports: Ports, command: Command, ctx: RequestContext, work: Callable[[], object]) -> None:
    """Run `work` as the Slack front end does: on a job whose guard reports whatever escapes it."""

    def on_error(exc: BaseException, job: Any) -> None:
        report(ports, command=job[0], ctx=job[1], error=exc)

    def job() -> None:  # a job returns nothing: the use case's result is dropped, as the front end drops it
        work()

    jobs = Jobs(workers=1, on_error=on_error)
    assert jobs.submit(job, context=(command, ctx))
    assert jobs.drain(10)


CASES: dict[str, tuple[Command, Callable[[Ports, RequestContext], object]]] = {
    "help": ("help", help_for),
    "issue": ("issue", lambda p, ctx: issue_token(p, IssueRequest(ctx, 3600))),
    "form": ("form", lambda p, ctx: open_token_form(p, ctx, trigger="t1")),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_use_case_that_fails_tells_the_user_once_and_audits_once(name: str) -> None:
    """Issue 20, bug 2: help_for reported a failure and re-raised: two notices, two `failed` events."""
    w = _broken()
    command, call = CASES[name]
    ctx = w.ctx()
    _under_the_job_guard(w.ports, command, ctx, lambda: call(w.ports, ctx))
    notices = [text for c, text in w.base.replies.notices if c.user_id == "U0JDOE"]
    assert len(notices) == 1 and "reference r1" in notices[0], notices
    assert w.base.audit.outcomes() == [Outcome.FAILED]


def test_the_job_guard_still_reports_a_bug_that_escapes_once() -> None:
    w = life_world()
    ctx = w.ctx()

    def bug() -> object:
        raise KeyError("a bug outside any use case")

    _under_the_job_guard(w.ports, "issue", ctx, bug)
    assert len(w.base.replies.notices) == 1 and w.base.audit.outcomes() == [Outcome.FAILED]


def test_every_way_to_a_token_ends_with_the_requesters_home_tab_refreshed() -> None:
    w = life_world()
    assert isinstance(issue_token(w.ports, IssueRequest(w.ctx(), 3600)), Issued)
    [home] = w.surfaces.homes
    assert home.user_id == "U0JDOE" and [t.duration_seconds for t in home.tokens.live] == [3600]


def test_an_approved_token_refreshes_the_requesters_home_tab() -> None:
    """Issue 20, bug 3: the refresh lived in the listeners' closures, and the approval path had none."""
    w = life_world(policy=APPROVALS)
    w.base.directory.add("U0BOB", email="bob@example.com")
    request = issue_token(w.ports, IssueRequest(w.ctx(), 14 * 86400, reason="training run X"))
    assert not isinstance(request, Issued) and request is not None
    before = len(w.surfaces.homes)  # asking published the tab with the request waiting
    click = RequestContext("click-1", "U0BOB", Origin.APPROVAL, reply_to="https://hooks.example/b")
    assert decide_request(w.ports, Decision(click, request.id, approve=True)) is not None
    [decided] = w.surfaces.homes[before:]
    # Shown as approved, with Show my token (a fallback for a DM that did not arrive), not as waiting.
    assert decided.user_id == "U0JDOE" and [r.status for r in decided.pending] == [RequestStatus.APPROVED]
    show = RequestContext("click-2", "U0JDOE", Origin.APPROVAL, reply_to="https://hooks.example/j")
    assert isinstance(show_approved_token(w.ports, ShowToken(show, request.id)), Issued)
    refreshed = w.surfaces.homes[before + 1 :]
    assert [h.user_id for h in refreshed] == ["U0JDOE"]
    assert [t.duration_seconds for t in refreshed[0].tokens.live] == [14 * 86400]
    assert refreshed[0].pending == ()


def test_opening_the_home_tab_that_fails_still_shows_the_tab_and_is_not_audited() -> None:
    w = _broken()
    home = show_home(w.ports, w.ctx(request_id="ref9"))
    assert home is not None and home.refusal is not None and "ref9" in home.refusal
    assert w.base.audit.events == []
