"""Block Kit messages, built with slack_sdk's typed models. The token appears only in `token_message`."""

from __future__ import annotations

from datetime import UTC, datetime

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    HeaderBlock,
    MarkdownTextObject,
    SectionBlock,
)

from bot.domain.durations import format_duration
from bot.domain.models import HelpInfo, IssuedToken, VerifyResult

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


def _md(text: str) -> MarkdownTextObject:
    return MarkdownTextObject(text=text)


def token_message(issued: IssuedToken, *, verify_value: str, request_id: str, now: datetime) -> tuple[str, list[Block]]:
    """The private message that carries the token: code block, export line, expiry, Verify button."""
    secret = issued.token.reveal()
    uuid = f" · token `{issued.token_uuid}`" if issued.token_uuid else ""
    blocks: list[Block] = [
        HeaderBlock(text="Your Rok Registry token"),
        SectionBlock(
            text=_md(
                f"*Username:* `{escape(issued.username)}`\n"
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
    lines = [
        f"*`{command} [duration]`* gives you a Rok Registry API token, privately.",
        f"Durations: `30m`, `24h`, `7d`, `1h30m`, between *{lo}* and *{hi}*; default *{default}*.",
        f"Example: `{command} 24h`",
        f"`{command} list` lists your live tokens. The bot's *Home* tab shows them too, with a *Get a token* "
        "form and a *Renew* button on each.",
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
