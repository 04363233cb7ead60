"""The token's life in Slack, on in-memory fakes: the Home tab, the form, the list, reminders, Renew, Dismiss.

Each test is one decision of a use case in bot/service.py; the Block Kit each produces is validated with
slack_sdk's models, as Slack would (tests/slack/test_lifecycle_views.py draws them in full).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import msgspec
import pytest

from bot.domain.audit import Origin, Outcome
from bot.domain.ledger import LedgerEntry, TokenStatus
from bot.domain.lifecycle import (
    HOME_EXPIRED_CAP,
    HOME_LIVE_CAP,
    Deferred,
    ReminderPace,
    presets_for,
    reminder_due_at,
    reminder_lead,
    sweep_interval,
)
from bot.domain.models import Limits
from bot.usecases import (
    Issued,
    IssueRequest,
    RenewRequest,
    dismiss_reminder,
    issue_token,
    list_tokens,
    open_token_form,
    renew_token,
    show_home,
)
from tests.usecases.fakes import START
from tests.usecases.fakes_lifecycle import LifeWorld, life_world

NOW = START  # the worlds' clock, so the rolling hour does not depend on the time of day the tests run


def _issue(w: LifeWorld, seconds: int = 3600, *, user: str = "U0JDOE", rid: str = "r1") -> LedgerEntry:
    issued = issue_token(w.ports, IssueRequest(w.ctx(user, rid), seconds))
    assert isinstance(issued, Issued)  # no approvals configured: minted, not a PendingRequest
    return next(r for r in w.ledger.rows if r.token_uuid == issued.token_uuid)


def _no_token_anywhere(w: LifeWorld) -> None:
    secrets = [t.token.reveal() for t in w.base.engine.minted]
    seen = str([w.surfaces.homes, w.surfaces.forms, w.surfaces.lists, w.surfaces.reminders, w.surfaces.edits])
    seen += str([e.as_record() for e in w.base.audit.events]) + str(w.base.replies.notices)
    assert not any(s in seen for s in secrets)


# -- pure rules ---------------------------------------------------------------------------------------


def test_a_token_is_reminded_a_lead_before_expiry_or_when_a_quarter_of_a_short_life_is_left() -> None:
    assert reminder_lead(86400, 3600) == 3600  # a day: an hour before
    assert reminder_lead(4 * 3600, 3600) == 3600
    assert reminder_lead(60, 50) == 15  # a minute with a 50 s lead: 15 s before
    assert reminder_lead(3600, 3600) == 900
    assert reminder_lead(86400, 0) == 0
    assert sweep_interval(3600, 300) == 15.0  # default lead, 5-minute minimum: every 15 s
    assert sweep_interval(50, 60) == 3.0
    assert sweep_interval(3600, 8) == 1.0 and sweep_interval(86400 * 7, 86400 * 7) == 30.0
    assert sweep_interval(0, 300) == 0.0


def test_the_form_offers_the_presets_inside_the_range_and_the_default() -> None:
    assert presets_for(Limits(86400, 300, 7 * 86400, "everyone")) == [3600, 28800, 86400, 604800]
    assert presets_for(Limits(600, 60, 7200, "short")) == [600, 3600]
    assert presets_for(Limits(90, 60, 120, "tiny")) == [90]


# -- the Home tab and the list ------------------------------------------------------------------------


def test_home_lists_the_users_live_tokens_newest_first_and_the_expired_of_the_last_day() -> None:
    w = life_world()
    first, second = _issue(w, rid="a"), _issue(w, 7200, rid="b")
    old = w.ledger.add_issued("U0JDOE", seconds=600, issued_at=NOW - timedelta(hours=2), token_uuid="deadbeef-aaaa")
    w.ledger.add_issued("U0JDOE", seconds=600, issued_at=NOW - timedelta(days=3), token_uuid="cafecafe-bbbb")
    w.ledger.add_issued("U0ALICE", seconds=86400, issued_at=NOW, token_uuid="a1a1a1a1-cccc")
    home = show_home(w.ports, w.ctx())
    assert home is not None and w.surfaces.homes[-1] == home  # the issues published it too
    assert [line.entry_id for line in home.tokens.live] == [second.id, first.id]
    assert [line.short_uuid for line in home.tokens.expired] == ["deadbeef"] and home.tokens.expired[0].entry_id == old
    assert home.username == "jdoe" and home.refusal is None and home.contact == "#help"
    assert (home.limits.min, home.limits.max, home.limits.left, home.limits.per_hour) == (300, 604800, 98, 100)
    assert home.remind_before == 3600
    _no_token_anywhere(w)


def test_home_caps_both_lists_and_counts_the_rest() -> None:
    w = life_world()
    for n in range(HOME_LIVE_CAP + 7):
        w.ledger.add_issued("U0JDOE", seconds=86400, issued_at=NOW - timedelta(seconds=n), token_uuid=f"{n:08d}-live")
    for n in range(HOME_EXPIRED_CAP + 3):
        w.ledger.add_issued(
            "U0JDOE", seconds=60, issued_at=NOW - timedelta(hours=1, seconds=n), token_uuid=f"{n:08d}-x"
        )
    home = show_home(w.ports, w.ctx())
    assert home is not None
    assert (len(home.tokens.live), home.tokens.live_more) == (HOME_LIVE_CAP, 7)
    assert (len(home.tokens.expired), home.tokens.expired_more) == (HOME_EXPIRED_CAP, 3)
    assert home.tokens.live[0].short_uuid == "00000000"  # newest first


def test_home_of_an_unmapped_user_says_why_and_whom_to_ask() -> None:
    w = life_world()
    w.base.directory.add("U0MALLORY", email="mallory@elsewhere.test")
    home = show_home(w.ports, w.ctx("U0MALLORY"))
    assert home is not None and home.username is None
    assert home.refusal and "not mapped" in home.refusal and "#help" in home.refusal
    assert home.tokens.live == []


def test_a_home_that_cannot_be_built_still_shows_a_sentence_with_a_reference() -> None:
    w = life_world()

    def broken(query: object) -> list[LedgerEntry]:
        raise RuntimeError("database down")

    w.ledger.tokens = broken  # type: ignore[method-assign]
    home = show_home(w.ports, w.ctx(request_id="ref42"))
    assert home is not None and home.refusal and "reference ref42" in home.refusal


def test_a_renewed_token_says_by_which_one_instead_of_offering_renew() -> None:
    w = life_world()
    old = _issue(w)
    new = renew_token(w.ports, RenewRequest(w.ctx(request_id="r2", origin=Origin.RENEW), old.id))
    assert isinstance(new, Issued) and new.token_uuid
    home = show_home(w.ports, w.ctx())
    assert home is not None
    by_id = {line.entry_id: line for line in home.tokens.live}
    assert by_id[old.id].renewed_by == new.token_uuid[:8]


def test_list_answers_privately_with_the_live_tokens_only() -> None:
    w = life_world()
    live = _issue(w)
    w.ledger.add_issued("U0JDOE", seconds=60, issued_at=NOW - timedelta(hours=1), token_uuid="deadbeef-aaaa")
    tokens = list_tokens(w.ports, w.ctx())
    assert tokens is not None and [line.entry_id for line in tokens.live] == [live.id] and tokens.expired == []
    [(ctx, listed)] = w.surfaces.lists
    assert ctx.user_id == "U0JDOE" and listed == tokens


# -- the form ----------------------------------------------------------------------------------------


def test_the_form_opens_with_the_users_range_or_says_why_not() -> None:
    w = life_world(policy={"quota": {"per_hour": 100, "cooldown": 0}, "limits": {"max": "1d"}})
    form = open_token_form(w.ports, w.ctx(origin=Origin.MODAL), trigger="trig-1")
    assert form is not None and form.refusal is None
    assert form.presets == [3600, 28800, 86400] and form.limits.max == 86400
    w.base.directory.add("U0MALLORY", email="mallory@elsewhere.test")
    refused = open_token_form(w.ports, w.ctx("U0MALLORY", origin=Origin.MODAL), trigger="trig-2")
    assert refused is not None and refused.refusal and "not mapped" in refused.refusal and refused.presets == []
    assert [t for t, _ in w.surfaces.forms] == ["trig-1", "trig-2"]


def test_a_form_slack_would_not_open_is_told_privately() -> None:
    w = life_world()
    w.surfaces.open_ok = False
    open_token_form(w.ports, w.ctx(origin=Origin.MODAL), trigger="late")
    [(_, text)] = w.base.replies.notices
    assert "could not be opened in time" in text


def test_a_form_request_is_issue_token_with_its_origin_and_reason_in_the_audit() -> None:
    w = life_world()
    issued = issue_token(w.ports, IssueRequest(w.ctx(origin=Origin.MODAL), 28800, note="nightly pipeline"))
    assert issued is not None and issued.seconds == 28800
    [event] = w.base.audit.events
    assert (event.outcome, event.origin, event.reason) == (Outcome.ISSUED, "modal", "nightly pipeline")
    assert w.ledger.rows[0].origin is Origin.MODAL


# -- Renew ---------------------------------------------------------------------------------------------


def test_renew_gives_the_owner_a_token_of_the_same_length_linked_to_the_old_one() -> None:
    w = life_world()
    old = _issue(w, 7200)
    new = renew_token(w.ports, RenewRequest(w.ctx(request_id="r2", origin=Origin.RENEW), old.id))
    assert isinstance(new, Issued) and new.seconds == 7200
    row = next(r for r in w.ledger.rows if r.token_uuid == new.token_uuid)
    assert (row.renewed_from, row.origin, row.status) == (old.id, Origin.RENEW, TokenStatus.ISSUED)
    event = w.base.audit.events[-1]
    assert (event.outcome, event.origin, event.reason) == (Outcome.ISSUED, "renew", f"renews token {old.token_uuid}")
    assert len(w.base.replies.tokens) == 2  # delivered privately, with its Verify value
    _no_token_anywhere(w)


def test_only_the_owner_may_renew_and_nothing_is_minted_otherwise() -> None:
    w = life_world()
    old = _issue(w)
    w.base.directory.add("U0ALICE", email="alice@example.com")
    for entry_id in (old.id, 999, None):
        assert (
            renew_token(w.ports, RenewRequest(w.ctx("U0ALICE", f"x{entry_id}", origin=Origin.RENEW), entry_id)) is None
        )
    assert len(w.base.engine.minted) == 1
    assert {text for _, text in w.base.replies.notices} == {
        "This Renew button is not for you: only the person a token was issued to can renew it."
    }
    assert w.base.audit.outcomes() == ["issued", "refused", "refused", "refused"]


def test_a_token_is_renewed_once() -> None:
    w = life_world()
    old = _issue(w)
    first = renew_token(w.ports, RenewRequest(w.ctx(request_id="r2", origin=Origin.RENEW), old.id))
    assert isinstance(first, Issued) and first.token_uuid
    assert renew_token(w.ports, RenewRequest(w.ctx(request_id="r3", origin=Origin.RENEW), old.id)) is None
    assert f"renewed already: the new one is `{first.token_uuid[:8]}`" in w.base.replies.notices[-1][1]
    assert len(w.base.engine.minted) == 2


def test_a_renewal_is_checked_against_the_policy_and_the_quota_again_and_says_why() -> None:
    w = life_world(policy={"quota": {"per_hour": 2, "cooldown": 0}})
    old = _issue(w)
    _issue(w, rid="r2")
    assert renew_token(w.ports, RenewRequest(w.ctx(request_id="r3", origin=Origin.RENEW), old.id)) is None
    assert "2 tokens in the last hour" in w.base.replies.notices[-1][1]
    # The refusal gave the renewal back: once the quota allows, the same button works.
    w.base.clock.advance(3601)
    assert renew_token(w.ports, RenewRequest(w.ctx(request_id="r4", origin=Origin.RENEW), old.id)) is not None


def test_renew_edits_the_reminder_when_there_is_one() -> None:
    w = life_world()
    old = _issue(w)
    w.ledger.reminder_posted(old.id, channel="D0JDOE", ts="1700000000.000001")
    w.ledger.claim_reminder(old.id, now=NOW)
    new = renew_token(w.ports, RenewRequest(w.ctx(request_id="r2", origin=Origin.RENEW), old.id))
    assert isinstance(new, Issued)
    [(what, posted, uuid)] = w.surfaces.edits
    assert (what, posted.ts, uuid) == ("renewed", "1700000000.000001", new.token_uuid)


class _Once:
    """OnceClaims in a set (the store's, across replicas, is tested in tests/store)."""

    def __init__(self) -> None:
        self.keys: set[str] = set()

    def claim(self, key: str, *, holder: str, now: datetime, ttl_seconds: float) -> bool:
        if key in self.keys:
            return False
        self.keys.add(key)
        return True


def test_a_replayed_renew_click_acts_once() -> None:
    w = life_world()
    old = _issue(w)
    ports = replace(w.ports, once=_Once())
    ctx = msgspec.structs.replace(w.ctx(request_id="r2", origin=Origin.RENEW), once_key="trigger:abc")
    assert renew_token(ports, RenewRequest(ctx, old.id)) is not None
    assert renew_token(ports, RenewRequest(ctx, old.id)) is None
    assert len(w.base.engine.minted) == 2 and w.base.replies.notices == []


# -- reminders -------------------------------------------------------------------------------------------


def test_a_reminder_goes_once_to_the_owner_a_lead_before_expiry_and_is_audited() -> None:
    w = life_world(remind_before=3600)
    entry = _issue(w, 86400)
    assert entry.expires_at is not None
    due = reminder_due_at(entry, 3600)
    assert due == entry.expires_at - timedelta(hours=1)
    assert w.remind_at(due - timedelta(seconds=1)) == 0
    assert w.remind_at(due) == 1
    assert w.remind_at(due + timedelta(seconds=5)) == 0
    [reminder] = w.surfaces.reminders
    assert (reminder.user_id, reminder.short_uuid, reminder.duration_seconds) == ("U0JDOE", entry.token_uuid[:8], 86400)  # type: ignore[index]
    row = w.ledger.entry(entry.id)
    assert row is not None and row.reminded_at == due and row.reminder_ts == "1700000000.000001"
    event = w.base.audit.events[-1]
    assert (event.outcome, event.token_uuid, event.request_id, event.origin) == (
        Outcome.REMINDED, entry.token_uuid, entry.request_id, "system",
    )  # fmt: skip
    assert (event.team_id, event.enterprise_id) == (entry.slack_team, entry.slack_enterprise)  # the row's
    _no_token_anywhere(w)


def test_a_short_token_is_reminded_when_a_quarter_of_its_life_is_left() -> None:
    w = life_world(remind_before=50, policy={"limits": {"min": "1m"}, "quota": {"per_hour": 100, "cooldown": 0}})
    entry = _issue(w, 60)
    assert entry.expires_at is not None
    assert w.remind_at(entry.expires_at - timedelta(seconds=16)) == 0
    assert w.remind_at(entry.expires_at - timedelta(seconds=15)) == 1


def test_no_reminder_for_a_renewed_or_expired_token_or_when_reminders_are_off() -> None:
    w = life_world(remind_before=3600)
    renewed, expired = _issue(w, 7200, rid="a"), _issue(w, 600, rid="b")
    w.base.clock.advance(3600)  # renewed an hour later: the renewal ends an hour after the first
    renew_token(w.ports, RenewRequest(w.ctx(request_id="c", origin=Origin.RENEW), renewed.id))
    assert renewed.expires_at is not None and expired.expires_at is not None
    at = renewed.expires_at - timedelta(minutes=30)
    assert at > expired.expires_at
    sent = w.remind_at(at)
    # Only the renewal itself (2 h, issued at the renewal) could be due, and it is not yet.
    assert sent == 0 and w.surfaces.reminders == []
    off = life_world(remind_before=0)
    entry = _issue(off, 600)
    assert entry.expires_at is not None
    assert off.remind_at(entry.expires_at - timedelta(seconds=1)) == 0


def test_a_reminder_slack_refused_is_claimed_anyway_logged_and_audited() -> None:
    w = life_world()
    entry = _issue(w, 86400)
    w.surfaces.post_ok = False
    assert entry.expires_at is not None
    now = entry.expires_at - timedelta(minutes=30)
    assert w.remind_at(now) == 0
    assert w.remind_at(now + timedelta(minutes=1)) == 0
    assert len(w.surfaces.reminders) == 1  # at most once: never a second message
    assert w.base.audit.events[-1].reason == "the reminder could not be posted to the user"


def test_a_reminder_slack_could_not_take_is_released_and_sent_once_on_a_later_round() -> None:
    """A 429 (or a 5xx, or Slack unreachable) posted nothing: the claim is released, the round stops there,
    and with a pace no round calls Slack before the Retry-After; then each reminder goes exactly once."""
    w = life_world()
    entries = [_issue(w, 86400, rid=f"r{n}") for n in range(4)]
    due = max(e.expires_at for e in entries if e.expires_at is not None) - timedelta(minutes=30)
    pace = ReminderPace()
    w.surfaces.deferrals = [Deferred(retry_after=None), Deferred(retry_after=60.0)]
    assert w.remind_at(due, pace=pace) == 0  # an outage: released, the round stops, the next one tries again
    assert all(w.ledger.entry(e.id).reminded_at is None for e in entries)  # type: ignore[union-attr]
    assert w.remind_at(due + timedelta(seconds=15), pace=pace) == 0  # a 429 with Retry-After: 60
    assert w.remind_at(due + timedelta(seconds=60), pace=pace) == 0  # paced: Slack is not called at all
    assert w.surfaces.reminders == []
    assert w.remind_at(due + timedelta(seconds=76), pace=pace) == 4
    assert w.remind_at(due + timedelta(seconds=90), pace=pace) == 0
    assert sorted(r.entry_id for r in w.surfaces.reminders) == sorted(e.id for e in entries)  # once each
    reminded = [e for e in w.base.audit.events if e.outcome == Outcome.REMINDED]
    assert len(reminded) == 4 and all(e.reason is None for e in reminded)  # a deferral is no failure


def test_dismiss_edits_the_owners_reminder_and_refuses_anyone_else() -> None:
    w = life_world()
    entry = _issue(w, 86400)
    assert entry.expires_at is not None
    w.remind_at(entry.expires_at - timedelta(minutes=30))
    w.base.directory.add("U0ALICE", email="alice@example.com")
    assert not dismiss_reminder(w.ports, w.ctx("U0ALICE", origin=Origin.HOME), entry.id)
    assert "not for you" in w.base.replies.notices[-1][1]
    assert dismiss_reminder(w.ports, w.ctx(origin=Origin.HOME), entry.id)
    [(what, posted, _)] = w.surfaces.edits
    assert what == "dismissed" and posted.ts == "1700000000.000001"
    assert len(w.base.engine.minted) == 1


@pytest.mark.parametrize("lead", [3600, 50])
def test_the_sweep_leaves_the_admin_clis_tokens_alone(lead: int) -> None:
    w = life_world(remind_before=lead)
    w.ledger.add_issued("cli:root", seconds=60, issued_at=NOW, token_uuid="c1c1c1c1-dddd")
    assert w.remind_at(NOW + timedelta(seconds=59)) == 0
