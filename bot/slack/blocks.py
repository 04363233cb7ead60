"""Block Kit messages, built with slack_sdk's typed models. The token appears only in `token_message`."""

from __future__ import annotations

from datetime import UTC, datetime

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    HeaderBlock,
    InputBlock,
    MarkdownTextObject,
    Option,
    PlainTextInputElement,
    PlainTextObject,
    SectionBlock,
    StaticSelectElement,
)

from bot.domain.approvals import PendingRequest, RequestStatus, duration_choices
from bot.domain.audit import AuditEvent
from bot.domain.durations import format_duration
from bot.domain.models import HelpInfo, IssuedToken, VerifyResult
from bot.domain.patterns import DEFAULT_REGISTRY, group_part
from bot.domain.policy import ApprovalRules
from bot.domain.text import REASON_MAX

VERIFY_ACTION_ID = "verify_token"


def slack_date(when: datetime, *, fmt: str = "{date_short_pretty} at {time}") -> str:
    """Slack date formatting: each reader sees their own time zone; the fallback is UTC ISO 8601."""
    epoch = int(when.timestamp())
    fallback = when.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{epoch}^{fmt}|{fallback}>"


def time_left(until: datetime, now: datetime) -> str:
    """A human "time left": whole minutes once it is over a minute (23h59m, not 23h59m59s)."""
    left = max(int((until - now).total_seconds()), 0)
    return format_duration(left - left % 60 if left >= 60 else left)


def escape(text: str) -> str:
    """Escape the three characters Slack's mrkdwn treats as control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def mrkdwn(text: str) -> MarkdownTextObject:
    """Text the bot formats, marked `verbatim`: Slack shows it as written and never turns what a user typed
    (a URL, a #channel, an @name in a reason) into a link or a mention; the bot's own `<@U…>`, `<#C…>` and
    `<!here>` still work. Whatever a user typed goes in through `escape`."""
    return MarkdownTextObject(text=text, verbatim=True)


_md = mrkdwn


def token_message(issued: IssuedToken, *, verify_value: str, request_id: str, now: datetime) -> tuple[str, list[Block]]:
    """The private message that carries the token: code block, export line, expiry, Verify button."""
    secret = issued.token.reveal()
    uuid = f" · token `{issued.token_uuid}`" if issued.token_uuid else ""
    blocks: list[Block] = [
        HeaderBlock(text="Your Rok Registry token"),
        SectionBlock(
            text=_md(
                (f"*Registry:* {escape(issued.registry)}\n" if issued.registry else "")
                + f"*Username:* `{escape(issued.username)}`\n"
                f"*Expires:* {slack_date(issued.expires_at)} (in {time_left(issued.expires_at, now)})"
            )
        ),
        SectionBlock(text=_md(f"```{secret}```")),
        SectionBlock(text=_md(f"*Use it in a shell:*\n```export ROK_REGISTRY_TOKEN={secret}```")),
        ActionsBlock(
            block_id="verify",
            elements=[
                ButtonElement(text="Verify", action_id=VERIFY_ACTION_ID, value=verify_value, style="primary"),
            ],
        ),
        ContextBlock(
            elements=[
                _md(
                    "Shown once, to you only: copy it now (this message vanishes when Slack reloads). "
                    f"Request `{request_id}`{uuid}."
                )
            ]
        ),
    ]
    # The fallback text shows in notifications: it never carries the token.
    text = f"Your Rok Registry token for {issued.username} (expires {issued.expires_at:%Y-%m-%d %H:%M} UTC)"
    return text, blocks


def notice(text: str, *, request_id: str | None = None) -> tuple[str, list[Block]]:
    """A one-sentence private answer (refusals, errors, progress), with the request ID when there is one."""
    blocks: list[Block] = [SectionBlock(text=_md(escape(text)))]
    if request_id:
        blocks.append(ContextBlock(elements=[_md(f"Request `{request_id}`")]))
    return text, blocks


def help_message(info: HelpInfo, *, command: str) -> tuple[str, list[Block]]:
    """Usage, the caller's allowed range and quota left, and the Rok username they are mapped to."""
    lim = info.limits
    lo, hi, default = format_duration(lim.min), format_duration(lim.max), format_duration(lim.default)
    who = f"You are Rok Registry user `{escape(info.username)}`." if info.username else escape(info.refusal or "")
    usage = f"{command} [registry] [duration] [reason]" if info.registries else f"{command} [duration]"
    lines = [
        f"*`{usage}`* gives you a Rok Registry API token, privately.",
        f"Durations: `30m`, `24h`, `7d`, `1h30m` or in words (`2 days`, `90 minutes`), between *{lo}* and *{hi}*; "
        f"default *{default}*.",
        f"Example: `{command} 24h`",
        f"`{command} list` lists your live tokens. The bot's *Home* tab shows them too, with a *Get a token* "
        "form and a *Renew* button on each.",
        f"`{command} who` shows who holds live tokens (everyone's: you are one of the bot's admins)."
        if info.admin
        else "",
        escape(info.registries),
        who,
    ]
    if info.username and lim.per_hour is not None:
        lines.append(f"Your limits ({escape(lim.source)}): up to {lim.per_hour} tokens an hour, {lim.left} left now.")
    text = f"Usage: {command} [duration], between {lo} and {hi}"
    return text, [SectionBlock(text=_md("\n".join(line for line in lines if line)))]


def verify_message(result: VerifyResult, *, now: datetime, checked_ago: int | None = None) -> tuple[str, list[Block]]:
    """The private answer to a Verify click; `checked_ago` seconds when it repeats the last answer."""
    if result.ok:
        lines = [":white_check_mark: *The token is valid.*"]
        if result.expires_at is not None:
            lines.append(f"Expires {slack_date(result.expires_at)}, in {time_left(result.expires_at, now)}.")
        if result.token_uuid:
            lines.append(f"Token `{result.token_uuid}`")
        text = "The token is valid."
    elif result.verdict.value == "rejected":
        lines = [":x: *The registry rejected the token:* expired or malformed. Run `/rok-token` again."]
        text = "The token was rejected: expired or malformed. Run /rok-token again."
    else:
        lines = [":warning: *The Rok Registry could not be reached* to check the token; try again later."]
        text = "The Rok Registry could not be reached; try again later."
    if checked_ago is not None:
        lines.append(f"_Checked {format_duration(checked_ago)} ago; click again in a few seconds for a new check._")
        text = f"Checked {format_duration(checked_ago)} ago: {text}"
    return text, [SectionBlock(text=_md("\n".join(lines)))]


# -- approvals -------------------------------------------------------------------------------------------
# The approvals channel sees who asks for what and why, never a token: the token only ever goes to the
# requester's private message (token_message).

APPROVE_ACTION_ID = "approval_approve"
DENY_ACTION_ID = "approval_deny"
# The requester's button in the DM that says their request was approved: its value is the request's ID (not
# a secret; the click counts only from the requester's own Slack user ID), never a token.
SHOW_TOKEN_ACTION_ID = "approval_show_token"  # noqa: S105  # nosec B105: an action ID, not a password
# Input blocks in the request's message: their values arrive in the Approve/Deny click's `state.values`.
APPROVAL_SECONDS_BLOCK = "approval_seconds"
APPROVAL_SECONDS_ACTION = "seconds"
APPROVAL_NOTE_BLOCK = "approval_note"
APPROVAL_NOTE_ACTION = "note"


def approvers_mrkdwn(rules: ApprovalRules) -> str:
    """The approvers as Slack renders them: user mentions and user-group handles (IDs from the policy)."""
    who = [f"<@{u}>" for u in sorted(rules.users)] + [f"<!subteam^{group_part(g)}>" for g in sorted(rules.usergroups)]
    return ", ".join(who)


def _request_facts(request: PendingRequest) -> str:
    reason = escape(request.reason) if request.reason else "_none given_"
    return (
        f"<@{request.user_id}> asks for a *{format_duration(request.seconds)}* Rok Registry token "
        f"for Rok user `{escape(request.rok_user)}`"
        f"{'' if request.registry == DEFAULT_REGISTRY else f' in registry `{escape(request.registry)}`'}.\n"
        f"*Their usual limit:* {format_duration(request.usual_max)} ({escape(request.usual_source)})\n"
        f"*Reason:* {reason}"
    )


def approval_request_message(request: PendingRequest, *, rules: ApprovalRules, minimum: int) -> tuple[str, list[Block]]:
    """The request in the approvals channel: the facts, a duration to grant, a denial note, Approve and Deny."""
    choices = duration_choices(request, minimum=minimum)
    options = [Option(text=format_duration(s), value=str(s)) for s in choices]
    blocks: list[Block] = [
        HeaderBlock(text="Token request above the usual limit"),
        SectionBlock(text=_md(_request_facts(request))),
        InputBlock(
            block_id=APPROVAL_SECONDS_BLOCK,
            label="Approve for",
            element=StaticSelectElement(action_id=APPROVAL_SECONDS_ACTION, options=options, initial_option=options[0]),
            hint="The requester's request, or less.",
        ),
        InputBlock(
            block_id=APPROVAL_NOTE_BLOCK,
            label="Reason for a denial",
            element=PlainTextInputElement(action_id=APPROVAL_NOTE_ACTION, max_length=REASON_MAX),
            hint="Optional; sent to the requester.",
            optional=True,
        ),
        ActionsBlock(
            block_id="approval_decide",
            elements=[
                ButtonElement(
                    text="Approve",
                    action_id=APPROVE_ACTION_ID,
                    value=request.id,
                    style="primary",
                    confirm=ConfirmObject(
                        title="Approve this request?",
                        text=PlainTextObject(
                            text=f"A token for Rok user {request.rok_user} goes to the requester, privately."
                        ),
                        confirm="Approve",
                        deny="Cancel",
                    ),
                ),
                ButtonElement(text="Deny", action_id=DENY_ACTION_ID, value=request.id, style="danger"),
            ],
        ),
        ContextBlock(
            elements=[
                _md(
                    f"Request `{request.request_id}` · lapses {slack_date(request.expires_at)} · "
                    f"approvers: {approvers_mrkdwn(rules)}. The first decision counts; nobody approves their own "
                    "request. The token never appears here."
                )
            ]
        ),
    ]
    text = (
        f"Token request: <@{request.user_id}> asks for {format_duration(request.seconds)} "
        f"(usual limit {format_duration(request.usual_max)})"
    )
    return text, blocks


def _outcome_line(request: PendingRequest) -> str:
    when = slack_date(request.decided_at) if request.decided_at is not None else "now"
    granted = format_duration(request.approved_seconds or request.seconds)
    approved = f":white_check_mark: *Approved* by <@{request.decided_by}> at {when}, for *{granted}*"
    deadline = slack_date(request.claim_by) if request.claim_by is not None else "its deadline"
    if request.status in (RequestStatus.APPROVED, RequestStatus.CLAIMED):
        return approved + f"; <@{request.user_id}> gets the token privately with *Show my token* (until {deadline})."
    if request.status is RequestStatus.DENIED:
        note = f": {escape(request.note)}" if request.note else "."
        return f":no_entry_sign: *Denied* by <@{request.decided_by}> at {when}{note}"
    if request.decided_by is not None:
        return approved + f", but <@{request.user_id}> did not open the token by {deadline}: *lapsed*, nothing minted."
    waited = format_duration(max(int((request.expires_at - request.requested_at).total_seconds()), 1))
    return f":hourglass: *Lapsed* at {when}: nobody decided within {waited}."


def approval_decided_message(request: PendingRequest) -> tuple[str, list[Block]]:
    """The request's message once decided or lapsed: the facts and the outcome, no buttons."""
    blocks: list[Block] = [
        HeaderBlock(text="Token request above the usual limit"),
        SectionBlock(text=_md(_request_facts(request))),
        SectionBlock(text=_md(_outcome_line(request))),
        ContextBlock(elements=[_md(f"Request `{request.request_id}`")]),
    ]
    return f"Token request of <@{request.user_id}>: {request.status.value}", blocks


def approval_submitted_notice(request: PendingRequest, *, rules: ApprovalRules) -> tuple[str, list[Block]]:
    """What the requester is told when the request goes to approval: why, to whom, and what happens next."""
    lines = [
        f"*{format_duration(request.seconds)}* is above your limit of {format_duration(request.usual_max)} "
        f"({escape(request.usual_source)}), so your request went to the approvers ({approvers_mrkdwn(rules)}) "
        f"in <#{rules.channel}>.",
        f"If one of them approves it by {slack_date(request.expires_at)}, you get a *Show my token* button here.",
    ]
    text = f"Your request for {format_duration(request.seconds)} went to approval (request {request.request_id})"
    return text, [
        SectionBlock(text=_md("\n".join(lines))),
        ContextBlock(elements=[_md(f"Request `{request.request_id}`")]),
    ]


def approval_outcome_notice(request: PendingRequest) -> tuple[str, list[Block]]:
    """What the requester is told in their DM once their request is decided or lapsed (never the token); an
    approval carries the Show my token button, which mints while they are there to see it."""
    asked = f"your request for a {format_duration(request.seconds)} Rok Registry token"
    granted = format_duration(request.approved_seconds or request.seconds)
    deadline = slack_date(request.claim_by) if request.claim_by is not None else "its deadline"
    context = ContextBlock(elements=[_md(f"Request `{request.request_id}`")])
    text = f"Your token request {request.request_id} was {request.status.value}"
    if request.status is RequestStatus.APPROVED:
        line = (
            f":white_check_mark: <@{request.decided_by}> approved {asked} (Rok user `{escape(request.rok_user)}`), "
            f"for *{granted}*.\nClick *Show my token* to get it here, privately: it is created when you click and "
            f"shown once. The button works until {deadline}."
        )
        button = ButtonElement(text="Show my token", action_id=SHOW_TOKEN_ACTION_ID, value=request.id, style="primary")
        return text, [SectionBlock(text=_md(line)), ActionsBlock(block_id="approval_show", elements=[button]), context]
    if request.status is RequestStatus.DENIED:
        note = f": {escape(request.note)}" if request.note else "."
        line = f":no_entry_sign: <@{request.decided_by}> denied {asked}{note}"
    elif request.decided_by is not None:
        line = (
            f":hourglass: <@{request.decided_by}> approved {asked}, but its token was not opened by {deadline}, "
            "so the approval lapsed and nothing was created. Ask again if you still need it."
        )
    else:
        line = (
            f":hourglass: Nobody decided on {asked} in time, so it lapsed. Ask again, or for at most "
            f"{format_duration(request.usual_max)} without an approval."
        )
    return text, [SectionBlock(text=_md(line)), context]


def approval_shown_notice(request: PendingRequest) -> tuple[str, list[Block]]:
    """The requester's approval message once its token was shown: no button left, never the token."""
    granted = format_duration(request.approved_seconds or request.seconds)
    when = slack_date(request.claimed_at) if request.claimed_at is not None else "now"
    line = (
        f":white_check_mark: <@{request.decided_by}> approved your request, for *{granted}*. Its token was shown "
        f"to you at {when}, once: copy it from that message, or ask again."
    )
    text = f"Your approved token request {request.request_id}: shown"
    return text, [SectionBlock(text=_md(line)), ContextBlock(elements=[_md(f"Request `{request.request_id}`")])]


def break_glass_notice(event: AuditEvent) -> tuple[str, list[Block]]:
    """The loud notice of a break-glass token (the approvals channel, else the audit channel): who, for whom,
    how long, why."""
    expires = f", expires {slack_date(event.expires_at)}" if event.expires_at is not None else ""
    why = escape(event.reason or "no reason given")
    duration = format_duration(event.duration_seconds or 0)
    blocks: list[Block] = [
        HeaderBlock(text=":rotating_light: Break-glass token"),
        SectionBlock(
            text=_md(
                f"<!here> <@{event.slack_user}> took a *{duration}* token for Rok user "
                f"`{escape(event.username or '?')}` without an approval{expires}.\n*Reason:* {why}"
            )
        ),
        ContextBlock(
            elements=[
                _md(
                    f"Request `{event.request_id}`"
                    + (f" · token `{event.token_uuid}` (revoke it in Rok by this UUID)" if event.token_uuid else "")
                )
            ]
        ),
    ]
    return f"Break-glass: <@{event.slack_user}> took a {duration} token ({event.request_id})", blocks


PENDING_CAP = 5  # one live request per user is the rule; a few fit beside 60 token lines


def _approved_line(request: PendingRequest, reason: str) -> SectionBlock:
    """An approval not opened yet, on App Home: who approved it, until when, and its Show my token."""
    granted = format_duration(request.approved_seconds or request.seconds)
    until = slack_date(request.claim_by) if request.claim_by is not None else "its deadline"
    return SectionBlock(
        text=_md(
            f":white_check_mark: *{granted}* for `{escape(request.rok_user)}`: Approved by <@{request.decided_by}>; "
            f"open it by {until}{reason}"
        ),
        accessory=ButtonElement(
            text="Show my token", action_id=SHOW_TOKEN_ACTION_ID, value=request.id, style="primary"
        ),
    )


def pending_requests_blocks(requests: list[PendingRequest], *, now: datetime) -> list[Block]:
    """The user's requests waiting for an approver, and approvals waiting for their Show my token, for App Home
    (`bot.usecases.pending_for` gives them)."""
    blocks: list[Block] = [HeaderBlock(text="Waiting for approval")]
    if not requests:
        blocks.append(ContextBlock(elements=[_md("No request of yours is waiting for an approver.")]))
        return blocks
    for request in requests[:PENDING_CAP]:  # App Home holds 100 blocks: leave room for the rest of the page
        reason = f" · {escape(request.reason)}" if request.reason else ""
        if request.status is RequestStatus.APPROVED:
            blocks.append(_approved_line(request, reason))
            blocks.append(ContextBlock(elements=[_md(f"Request `{request.request_id}`")]))
            continue
        blocks.append(
            SectionBlock(
                text=_md(
                    f"*{format_duration(request.seconds)}* for `{escape(request.rok_user)}`, asked "
                    f"{slack_date(request.requested_at)}; lapses in {time_left(request.expires_at, now)}{reason}"
                )
            )
        )
        blocks.append(ContextBlock(elements=[_md(f"Request `{request.request_id}`")]))
    return blocks
