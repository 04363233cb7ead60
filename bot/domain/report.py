"""Who held access at an instant: the tokens live at T, for the access report and the admins' view (pure).

A token is *live at T* when it was issued at or before T, expires after T, and its ledger status says a
token exists in the registry (`LIVE_STATUSES`). The ledger records no revocation (Rok revokes outside the
bot), so a token minted and never delivered counts: it is access someone could use until it expires, and it
is exactly what an auditor must see (with its status, so a report can say nobody saw it).

    issued           delivered to its requester (or printed on the admin CLI's terminal): held
    minted           token-create returned it, delivery not settled yet (a moment, or a crash in progress)
    unconfirmed      minted, the bot stopped before delivery was settled: its owner may hold it
    undelivered      minted, its owner never saw it: nobody holds it, but it works until it expires
    ---- not live ----
    reserved         nothing minted yet
    possibly_minted  token-create did not finish cleanly: no UUID, no expiry, so it cannot be placed in
                     time (the --from/--to summary counts these)

`SqlLiveTokens.live_at` (bot/store/report.py) is the query; `live_tokens` here is the same rule over rows in
memory (the use-case fakes), and the contract test holds the two together. `parse_instant` reads the
report's `--at`, `--from` and `--to`; `live_records` and `live_table` are what `rok-token-bot report --at`
prints (bot/domain/export.py turns the records into CSV or JSON lines).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Final, Protocol

import msgspec

from bot.domain.audit import Origin
from bot.domain.durations import parse_duration
from bot.domain.errors import UsageError
from bot.domain.export import Record, shorten, to_table, utc_iso
from bot.domain.ledger import LedgerEntry, TokenStatus
from bot.domain.patterns import DEFAULT_REGISTRY
from bot.domain.text import mask_token_shaped

LIVE_STATUSES = frozenset({TokenStatus.ISSUED, TokenStatus.MINTED, TokenStatus.UNCONFIRMED, TokenStatus.UNDELIVERED})
# Of those, the ones whose token reached (or may have reached) its requester.
HELD_STATUSES = frozenset({TokenStatus.ISSUED, TokenStatus.MINTED, TokenStatus.UNCONFIRMED})


class LiveToken(msgspec.Struct, frozen=True):
    """One token live at an instant: whose, for which Rok user, where, how it was granted; never the token."""

    ledger_id: int
    token_uuid: str | None  # None only for a row minted by a registry that returned no UUID
    slack_user: str  # a Slack user ID, or `cli:<operator>` for the admin CLI
    slack_team: str | None
    rok_user: str | None
    registry: str
    issued_at: datetime
    expires_at: datetime
    origin: Origin
    status: TokenStatus
    approver: str | None = None  # the approver's Slack user ID (origin `approval`)
    reason: str | None = None  # the requester's reason, cleaned (break-glass always has one)
    request_id: str = ""

    @property
    def held(self) -> bool:
        """Its requester has it (or may): False for a token minted and never delivered."""
        return self.status in HELD_STATUSES

    @classmethod
    def of(cls, entry: LedgerEntry) -> LiveToken:
        """The live token a ledger row stands for (the caller checked `is_live_at`)."""
        assert entry.issued_at is not None and entry.expires_at is not None
        return cls(
            ledger_id=entry.id,
            token_uuid=entry.token_uuid,
            slack_user=entry.slack_user or "",
            slack_team=entry.slack_team,
            rok_user=entry.rok_user,
            registry=entry.registry,
            issued_at=entry.issued_at,
            expires_at=entry.expires_at,
            origin=entry.origin,
            status=entry.status,
            approver=entry.approved_by,
            reason=entry.reason,
            request_id=entry.request_id,
        )


def is_live_at(entry: LedgerEntry, at: datetime) -> bool:
    """Issued at or before `at`, expiring after it, and a token exists (`LIVE_STATUSES`)."""
    return (
        entry.status in LIVE_STATUSES
        and entry.issued_at is not None
        and entry.expires_at is not None
        and entry.issued_at <= at < entry.expires_at
    )


def live_tokens(
    entries: Iterable[LedgerEntry], at: datetime, *, registry: str | None = None, limit: int | None = None
) -> tuple[list[LiveToken], int]:
    """The rows live at `at` (of one registry, when named), oldest issue first, the first `limit` of them, and
    how many there are in all: the rule `SqlLiveTokens.live_at` runs in SQL."""
    live = sorted(
        (e for e in entries if is_live_at(e, at) and (registry is None or e.registry == registry)),
        key=lambda e: (e.issued_at, e.id),
    )
    shown = live if limit is None else live[:limit]
    return [LiveToken.of(e) for e in shown], len(live)


class LiveTokens(Protocol):
    """The tokens live at an instant (the store's query; the admin CLI's report and the admins' Slack view)."""

    def live_at(
        self, at: datetime, *, registry: str | None = None, limit: int | None = None
    ) -> tuple[list[LiveToken], int]:
        """Tokens live at `at`, oldest issue first: at most `limit` of them, and the total count."""
        ...


# -- the report's input: an instant -----------------------------------------------------------------------------

_FURTHEST: Final = 10 * 366 * 86400  # a relative time reaches back at most ten years
INSTANT_HELP: Final = "ISO 8601 (2026-12-01T09:00:00Z; no offset: UTC), now, or relative: -2h, -30m, -1d"


def parse_instant(text: str, *, now: datetime, option: str = "--at") -> datetime:
    """An instant from what an admin types: ISO 8601 with or without an offset (without one: UTC), `now`, or
    `-` and a duration before `now` (-2h, -30m, -1d12h). A UsageError of one line otherwise."""
    word = text.strip()
    if word.lower() == "now":
        return now
    if word.startswith("-") and len(word) > 1:
        try:
            return now - timedelta(seconds=parse_duration(word[1:], maximum=_FURTHEST))
        except UsageError:
            pass  # named below, with every accepted form
    else:
        try:
            parsed = datetime.fromisoformat(word)
            return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
        except (ValueError, OverflowError):  # not ISO 8601, or an offset that leaves the years 1-9999
            pass
    shown = mask_token_shaped(shorten(word, 40))
    raise UsageError(f"{option}: {shown!r} is not a time; give {INSTANT_HELP}.", detail="bad instant")


# -- the report's output: one record per live token -------------------------------------------------------------

LIVE_FIELDS: Final = (
    "token_uuid", "slack_user", "slack_team", "rok_user", "registry", "issued_at", "expires_at",
    "origin", "approver", "reason", "status", "ledger_id", "request_id",
)  # fmt: skip


def live_records(tokens: Sequence[LiveToken]) -> list[Record]:
    """The tokens as records with `LIVE_FIELDS` (CSV columns, JSON keys); never the token, only its UUID."""
    return [
        {
            "token_uuid": t.token_uuid,
            "slack_user": t.slack_user,
            "slack_team": t.slack_team,
            "rok_user": t.rok_user,
            "registry": t.registry,
            "issued_at": t.issued_at,
            "expires_at": t.expires_at,
            "origin": str(t.origin),
            "approver": t.approver,
            "reason": t.reason,
            "status": str(t.status),
            "ledger_id": t.ledger_id,
            "request_id": t.request_id,
        }
        for t in tokens
    ]


def origin_label(token: LiveToken, *, width: int = 60) -> str:
    """How the token was granted, in a few words: `approval by U0BOSS`, `break_glass: incident 4711`, `cli`."""
    if token.origin is Origin.APPROVAL:
        return f"approval by {token.approver or 'unknown'}"
    if token.origin is Origin.BREAK_GLASS:
        return shorten(f"break_glass: {token.reason or '(no reason recorded)'}", width)
    if token.origin is Origin.MODAL:
        return "form"
    return str(token.origin)


def live_table(tokens: Sequence[LiveToken]) -> str:
    """An aligned table of live tokens for a terminal. A REGISTRY column when a token lives in a registry other
    than `default` (several registries), a STATUS column when one was not delivered as issued."""
    registries = any(t.registry != DEFAULT_REGISTRY for t in tokens)
    statuses = any(t.status is not TokenStatus.ISSUED for t in tokens)
    header = (
        *(("REGISTRY",) if registries else ()),
        "TOKEN UUID", "SLACK USER", "ROK USER", "ISSUED", "EXPIRES", "ORIGIN",
        *(("STATUS",) if statuses else ()),
    )  # fmt: skip
    rows = [
        (
            *((t.registry,) if registries else ()),
            t.token_uuid or "-",
            t.slack_user or "-",
            t.rok_user or "-",
            utc_iso(t.issued_at),
            utc_iso(t.expires_at),
            origin_label(t),
            *((str(t.status),) if statuses else ()),
        )
        for t in tokens
    ]
    return to_table(header, rows)
