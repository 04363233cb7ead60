"""Block Kit for "who holds tokens": `/rok-token who`'s private answer, its refusal, and the admins' section of
the Home tab. Never a token: a token is named by the first characters of its UUID.

The answer is a table block (docs.slack.dev, "Table block"): up to 100 rows of up to 20 cells, each cell
`raw_text` or `rich_text`, one table per message, and messages only. So the Home tab, a view, shows the same
facts as lines of text. Rich text cells carry what Slack should render rather than print: a user as a mention
and an expiry as a date in the reader's own time zone. Raw text cells show what a user typed (a break-glass
reason) exactly as typed, never as markup.
"""

from __future__ import annotations

from datetime import UTC

from slack_sdk.models.blocks import (
    Block,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    RichTextBlock,
    RichTextElementParts,
    RichTextSectionElement,
    SectionBlock,
    TableBlock,
)
from slack_sdk.models.blocks.basic_components import RawTextObject, TableBlockColumnSettings

from bot.domain.holders import Holding, Holdings, WhoRefusal
from bot.domain.lifecycle import short_uuid
from bot.domain.patterns import SLACK_USER_ID, group_part
from bot.slack.blocks import escape, mrkdwn, slack_date, time_left

_DATE_FORMAT = "{date_short_pretty} {time}"
REPORT_HINT = "`rok-token-bot report --at now`"
NONE = "—"  # Slack refuses an empty cell
UNDELIVERED = " (never delivered: nobody holds it)"

Cell = RawTextObject | RichTextBlock


def who_message(held: Holdings) -> tuple[str, list[Block]]:
    """Every live token as a table (at most `WHO_ROWS` of them, then how many more and where to see them)."""
    count = f"{held.total} live Rok Registry token{'' if held.total == 1 else 's'}"
    blocks: list[Block] = [
        HeaderBlock(text="Who holds Rok Registry tokens"),
        ContextBlock(elements=[mrkdwn(f"{count} at {slack_date(held.now)}. Only you see this.")]),
    ]
    if held.rows:
        blocks.append(TableBlock(block_id="holders", rows=_rows(held), column_settings=_columns(held)))
    else:
        blocks.append(SectionBlock(text=mrkdwn("Nobody holds a live token right now.")))
    if held.more:
        blocks.append(ContextBlock(block_id="more", elements=[mrkdwn(_more(held.more))]))
    footer = "Tokens are named by UUID: the bot never keeps a token. Revoke one by its UUID in Rok."
    blocks.append(ContextBlock(elements=[mrkdwn(footer)]))
    return f"{count}.", blocks


def who_refused_message(refusal: WhoRefusal, *, request_id: str) -> tuple[str, list[Block]]:
    """The refusal, with the admins as Slack renders them (their IDs come from the policy, never from a user)."""
    lines = [f":no_entry: {escape(refusal.text)}"]
    named = [f"<@{u}>" for u in refusal.users] + [f"<!subteam^{group_part(g)}>" for g in refusal.usergroups]
    if named:
        lines.append(f"*Admins:* {', '.join(named)}")
    blocks: list[Block] = [
        SectionBlock(text=mrkdwn("\n".join(lines))),
        ContextBlock(elements=[mrkdwn(f"Request `{request_id}`")]),
    ]
    return refusal.text, blocks


def holders_home_blocks(held: Holdings) -> list[Block]:
    """The admins' section of the Home tab: one line per live token, a few lines per block (the tab's 100 blocks
    are mostly the admin's own tokens), then how many more."""
    blocks: list[Block] = [
        DividerBlock(),
        # The tab is as of when it was published (its opening): the time says so.
        SectionBlock(
            block_id="holders",
            text=mrkdwn(f"*Who holds tokens* (admins only) · {held.total} live at {slack_date(held.now)}"),
        ),
    ]
    if held.problem:
        blocks.append(ContextBlock(block_id="holders-problem", elements=[mrkdwn(escape(held.problem))]))
        return blocks
    lines = [_line(h, held) for h in held.rows]
    for n, chunk in enumerate(_packed(lines)):
        blocks.append(SectionBlock(block_id=f"holders-{n}", text=mrkdwn(chunk)))
    if not lines:
        blocks.append(ContextBlock(block_id="holders-none", elements=[mrkdwn("Nobody holds a live token.")]))
    more = f"{_more(held.more)} " if held.more else ""
    hint = f"{more}`/rok-token who` shows them as a table, privately."
    blocks.append(ContextBlock(block_id="holders-more", elements=[mrkdwn(hint)]))
    return blocks


# A section's text holds 3000 characters; a line is at most ~450 (a 128-character Rok user, an 80-character reason).
_SECTION_TEXT = 2900


def _packed(lines: list[str]) -> list[str]:
    """The lines joined into as few section texts as fit, in order."""
    chunks: list[str] = []
    for line in lines:
        if chunks and len(chunks[-1]) + 1 + len(line) <= _SECTION_TEXT:
            chunks[-1] += "\n" + line
        else:
            chunks.append(line[:_SECTION_TEXT])
    return chunks


def _more(more: int) -> str:
    return f"…and {more} more: use {REPORT_HINT} for all of them."


# -- the table ----------------------------------------------------------------------------------------


def _columns(held: Holdings) -> list[TableBlockColumnSettings]:
    # User, Rok user, [registry], token, expires, how: only "how" (a reason) may be long enough to wrap.
    count = 6 if held.several else 5
    return [TableBlockColumnSettings(is_wrapped=i == count - 1) for i in range(count)]


def _rows(held: Holdings) -> list[list[Cell]]:
    header = ["Slack user", "Rok user", *(["Registry"] if held.several else []), "Token", "Expires", "How"]
    rows: list[list[Cell]] = [[_raw(title) for title in header]]
    for h in held.rows:
        registry = [_raw(h.registry)] if held.several else []
        uuid = short_uuid(h.token_uuid)
        rows.append([_user(h), _raw(h.rok_user), *registry, _raw(uuid), _expires(h, held), _how(h)])
    return rows


def _raw(text: str | None) -> RawTextObject:
    return RawTextObject(text=text or NONE)


def _rich(*parts: RichTextElementParts.Text | RichTextElementParts.User | RichTextElementParts.Date) -> RichTextBlock:
    return RichTextBlock(elements=[RichTextSectionElement(elements=list(parts))])


def _mention(user_id: str | None) -> RichTextElementParts.User | None:
    """A Slack user as a mention, when the ID has a Slack user's shape (the CLI's `cli:<user>` has not)."""
    if user_id and SLACK_USER_ID.fullmatch(user_id):
        return RichTextElementParts.User(user_id=user_id)
    return None


def _user(h: Holding) -> Cell:
    mention = _mention(h.slack_user)
    return _rich(mention) if mention is not None else _raw(h.requester or h.slack_user)


def _expires(h: Holding, held: Holdings) -> RichTextBlock:
    fallback = h.expires_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    when = RichTextElementParts.Date(timestamp=int(h.expires_at.timestamp()), format=_DATE_FORMAT, fallback=fallback)
    return _rich(when, RichTextElementParts.Text(text=f" (in {time_left(h.expires_at, held.now)})"))


def _unheld(h: Holding) -> str:
    """What a token minted and never delivered adds: it works until it expires, yet nobody holds it."""
    return "" if h.held else UNDELIVERED


def _how(h: Holding) -> Cell:
    approver = _mention(h.approver)
    if approver is not None:
        after = [RichTextElementParts.Text(text=_unheld(h))] if _unheld(h) else []
        return _rich(RichTextElementParts.Text(text=f"{h.how} by "), approver, *after)
    if h.shown_reason:
        return _raw(f"{h.how}: {h.shown_reason}{_unheld(h)}")
    return _raw(h.how + _unheld(h))


# -- the Home tab's lines -----------------------------------------------------------------------------


def _line(h: Holding, held: Holdings) -> str:
    who = f"<@{h.slack_user}>" if _mention(h.slack_user) else escape(h.requester or h.slack_user or NONE)
    parts = [who, f"`{escape(h.rok_user or NONE)}`"]
    if held.several:
        parts.append(f"registry `{escape(h.registry)}`")
    if uuid := short_uuid(h.token_uuid):
        parts.append(f"`{uuid}`")
    parts.append(f"expires {slack_date(h.expires_at)} (in {time_left(h.expires_at, held.now)})")
    how = escape(h.how)
    if _mention(h.approver):
        how += f" by <@{h.approver}>"
    elif h.shown_reason:
        how += f": {escape(h.shown_reason)}"
    parts.append(how + _unheld(h))
    return " · ".join(parts)
