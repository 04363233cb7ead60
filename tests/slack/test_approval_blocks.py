"""The approvals' Block Kit: valid for Slack in every state, user text escaped, and App Home's pending list."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import msgspec
import pytest
from slack_sdk.models.blocks import Block

from bot.domain.approvals import PendingRequest, RequestStatus
from bot.domain.audit import AuditEvent, Outcome
from bot.domain.policy import ApprovalRules
from bot.slack.blocks import (
    approval_decided_message,
    approval_outcome_notice,
    approval_request_message,
    approval_shown_notice,
    approval_submitted_notice,
    break_glass_notice,
    pending_requests_blocks,
)
from sandbox.slack import block_problem

D = 86400
T0 = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
RULES = ApprovalRules(
    channel="C0APPROVALS", users=frozenset({"U0BOB"}), usergroups=frozenset({"S0LEADS"}), max=30 * D, expire_after=3600
)
REQUEST = PendingRequest(
    id="a" * 20,
    request_id="r1",
    team_id="T0",
    user_id="U0JDOE",
    rok_user="jdoe",
    seconds=14 * D,
    usual_max=7 * D,
    usual_source="everyone",
    reason="<!channel> & <@U0BOB> *now*",
    requested_at=T0,
    expires_at=T0 + timedelta(hours=1),
)
APPROVED = msgspec.structs.replace(
    REQUEST,
    status=RequestStatus.APPROVED,
    decided_by="U0BOB",
    decided_at=T0,
    approved_seconds=10 * D,
    claim_by=T0 + timedelta(days=1),
)
DECIDED = [
    APPROVED,
    msgspec.structs.replace(REQUEST, status=RequestStatus.DENIED, decided_by="U0BOB", decided_at=T0, note="<!here> no"),
    msgspec.structs.replace(REQUEST, status=RequestStatus.LAPSED, decided_at=T0 + timedelta(hours=1)),
    msgspec.structs.replace(APPROVED, status=RequestStatus.LAPSED),  # approved, but its token never opened
]


def _valid(blocks: Sequence[Block]) -> str:
    raw = [b.to_dict() for b in blocks]
    assert block_problem(raw) is None
    return json.dumps(raw)


def test_every_message_is_valid_block_kit_and_escapes_what_users_typed() -> None:
    texts = [_valid(approval_request_message(REQUEST, rules=RULES, minimum=300)[1])]
    texts.append(_valid(approval_submitted_notice(REQUEST, rules=RULES)[1]))
    for request in DECIDED:
        texts.append(_valid(approval_decided_message(request)[1]))
        texts.append(_valid(approval_outcome_notice(request)[1]))
    texts.append(_valid(approval_shown_notice(msgspec.structs.replace(APPROVED, claimed_at=T0))[1]))
    for text in texts:
        assert "<!channel>" not in text and "<!here>" not in text
    assert "&lt;!channel&gt; &amp; &lt;@U0BOB&gt;" in texts[0]


@pytest.mark.parametrize("request_", DECIDED, ids=lambda r: r.status.value)
def test_a_decided_message_keeps_no_button_nor_input(request_: PendingRequest) -> None:
    text = _valid(approval_decided_message(request_)[1])
    assert '"actions"' not in text and '"input"' not in text


def test_an_approval_tells_the_requester_with_a_show_my_token_button_naming_the_request_only() -> None:
    raw = _valid(approval_outcome_notice(APPROVED)[1])
    assert '"action_id": "approval_show_token"' in raw and f'"value": "{APPROVED.id}"' in raw
    assert "<@U0BOB> approved" in raw and "*10d*" in raw and "Show my token" in raw
    # Once shown (or lapsed), the message keeps no button.
    for after in (approval_shown_notice(APPROVED), approval_outcome_notice(DECIDED[-1])):
        assert '"actions"' not in _valid(after[1])
    assert "was not opened by" in _valid(approval_outcome_notice(DECIDED[-1])[1])


def test_the_break_glass_notice_is_loud_and_names_the_token_by_uuid_only() -> None:
    event = AuditEvent(
        outcome=Outcome.BREAK_GLASS,
        request_id="r9",
        slack_user="U0ONCALL",
        username="jdoe",
        duration_seconds=7200,
        expires_at=T0 + timedelta(hours=2),
        token_uuid="0b9f6c1e-0000-4000-8000-000000000001",
        reason="incident <4711>",
        occurred_at=T0,
    )
    text = _valid(break_glass_notice(event)[1])
    assert "<!here>" in text and "<@U0ONCALL>" in text and "incident &lt;4711&gt;" in text
    assert "0b9f6c1e-0000-4000-8000-000000000001" in text


def test_app_home_lists_the_users_pending_requests_or_says_there_are_none() -> None:
    assert "No request of yours" in _valid(pending_requests_blocks([], now=T0))
    text = _valid(
        pending_requests_blocks([REQUEST, msgspec.structs.replace(REQUEST, id="b" * 20, seconds=20 * D)], now=T0)
    )
    assert "*14d* for `jdoe`" in text and "*20d*" in text and "lapses in 1h" in text
    assert len(pending_requests_blocks([REQUEST] * 60, now=T0)) <= 41


def test_app_home_offers_show_my_token_for_an_approval_not_yet_opened() -> None:
    text = _valid(pending_requests_blocks([APPROVED], now=T0))
    assert '"action_id": "approval_show_token"' in text and f'"value": "{APPROVED.id}"' in text
    assert "Approved by <@U0BOB>" in text and "*10d*" in text and "lapses in" not in text
