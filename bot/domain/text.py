"""User-typed text as the bot keeps it: the one cleaner for every reason and note people type.

The slash command's reason, the get-token form's reason, an approver's note: each ends up in the approvals
channel, the audit channel, the store and a SIEM. So each is made one printable line, bounded, with its
quotes trimmed, and anything token-shaped masked (a UUID excepted: admins need token and account UUIDs).
A user who pastes a live token into a reason does not publish it.
"""

from __future__ import annotations

from typing import Final

from bot.domain.patterns import TOKEN_SHAPED, UUID

REASON_MAX: Final = 300  # characters of a reason or a note that are kept
MASKED: Final = "[masked]"
_QUOTES: Final = "\"'\u201c\u201d\u2018\u2019 "


def mask_token_shaped(text: str, mask: str = MASKED) -> str:
    """Every token-shaped run in `text` replaced by `mask`, UUIDs kept."""
    return TOKEN_SHAPED.sub(lambda m: m.group(0) if UUID.fullmatch(m.group(0)) else mask, text)


def clean_text(text: str | None, *, limit: int = REASON_MAX) -> str:
    """One printable line, nothing token-shaped, quotes trimmed, at most `limit` characters ("" for none).

    Masked before it is cut: a token cut in two at the limit would no longer look like one.
    """
    if not text:
        return ""
    flat = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    return mask_token_shaped(flat).strip(_QUOTES)[:limit].strip()
