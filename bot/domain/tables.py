"""Talking to `rok-fort-manage`: the argv it is given, and the tables it prints (`account-list`, `token-create`).

The formats are not public, so the parser is tolerant about layout and strict about meaning:

- layout: bordered (`+---+` rules, `| a | b |` rows, also psql-style `a | b`) or borderless (columns
  aligned with 2+ spaces, an optional `----` rule under the header); ANSI colours and `\\r` are dropped;
- meaning: an account is found by an *exact* username match in the username column, never a substring
  (the admin doc's `grep jdoe` also matches `jdoe2`), and its UUID must be canonical (read in lower
  case, as are token UUIDs: a UUID's case carries no meaning); its email is read when a header names
  an email column (identity checks compare it), else it is unknown (None); a token is taken only from
  exactly one `Token` row holding exactly one plausible word.

Output may hold secrets, so no error message or `detail` here quotes an output line, a cell or a
token: they describe the shape of what was read instead.

Every regular expression is linear (no nested or adjacent unbounded quantifiers that could overlap).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Final

import msgspec

from bot.domain.errors import AmbiguousAccountError, NoAccountError, OutputParseError
from bot.domain.models import Account, MintedToken
from bot.domain.patterns import PLACEHOLDER, UUID
from bot.domain.secret import Token

# CSI sequences (colours, cursor moves), OSC sequences (titles, hyperlinks), then any other escape.
_ANSI: Final = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-_]?")
_WIDE_GAP: Final = re.compile(r" {2,}")
_TITLE_EXTRA: Final = frozenset(" _-")

# Box-drawing characters some table libraries use instead of ASCII.
_BOX_TRANSLATION: Final = str.maketrans(dict.fromkeys("│┃║", "|") | dict.fromkeys("─━═", "-"))
_RULE_CHARS: Final = frozenset("+-=|: ┌┐└┘├┤┬┴┼╞╡╪╒╕╘╛╔╗╚╝╠╣╦╩╬┏┓┗┛┣┫┳┻╋")

_UUID_HEADERS: Final = ("uuid", "id")
_USERNAME_HEADERS: Final = ("username", "user name", "login")
# Read only under a header: without one, the email's column cannot be told from any other.
_EMAIL_HEADERS: Final = ("email", "e mail", "email address", "e mail address")

_TOKEN_KEY: Final = "token"  # noqa: S105 (the name of a row, not a secret)
_TOKEN_UUID_KEYS: Final = ("token uuid", "uuid", "id")  # in order of preference
_EXPIRY_KEYS: Final = ("expires at", "expiry", "expires", "expiration")
_KNOWN_KEYS: Final = frozenset((_TOKEN_KEY, *_TOKEN_UUID_KEYS, *_EXPIRY_KEYS))
_TOKEN_MIN, _TOKEN_MAX = 16, 4096


class Table(msgspec.Struct, frozen=True):
    """Cells of a parsed table; rows of a borderless table that fell back to whitespace may be ragged."""

    header: list[str] | None
    rows: list[list[str]]


def parse_table(text: str) -> Table:
    """The header (if any) and rows of a bordered or borderless table; `OutputParseError` if none."""
    lines = [line for line in _clean_lines(text) if line.strip()]
    if not lines:
        raise OutputParseError(detail="empty output: no table")
    is_rule = [_is_rule(line) for line in lines]
    content = [line for line, rule in zip(lines, is_rule, strict=True) if not rule]
    if not content:
        raise OutputParseError(detail=f"no table: {len(lines)} lines, all rules")

    piped = sum("|" in line for line in content) * 2 > len(content)
    # In a piped table, lines without a pipe are noise around the table (warnings, "(3 rows)").
    kept = [rule or not piped or "|" in line for line, rule in zip(lines, is_rule, strict=True)]
    layout = [rule for rule, keep in zip(is_rule, kept, strict=True) if keep]
    content = [line for line, rule, keep in zip(lines, is_rule, kept, strict=True) if keep and not rule]

    cells = [_split_piped(line) for line in content] if piped else _split_borderless(content)
    # A row holding a UUID is an account or a token, never a header, whatever rules surround it.
    titled = _header_by_rule(layout) or _looks_like_titles(cells[0])
    if titled and not any(UUID.fullmatch(cell) for cell in cells[0]):
        return Table(header=cells[0], rows=cells[1:])
    return Table(header=None, rows=cells)


class AccountTable(Mapping[str, str]):
    """Usernames to account UUIDs from one `account-list`, remembering usernames that are not unique.

    `emails` is None when the list has no email column; otherwise a username missing from it has an
    empty email.
    """

    __slots__ = ("_ambiguous", "_emails", "_unreadable", "_uuids")

    def __init__(
        self,
        uuids: Mapping[str, str],
        *,
        ambiguous: Mapping[str, int] | None = None,
        unreadable: Iterable[str] = (),
        emails: Mapping[str, str] | None = None,
    ) -> None:
        self._uuids = dict(uuids)
        self._ambiguous = dict(ambiguous or {})
        self._unreadable = frozenset(unreadable)
        self._emails = None if emails is None else dict(emails)

    def __getitem__(self, username: str) -> str:
        return self._uuids[username]

    def __iter__(self) -> Iterator[str]:
        return iter(self._uuids)

    def __len__(self) -> int:
        return len(self._uuids)

    def __repr__(self) -> str:
        return f"AccountTable({len(self._uuids)} accounts, {len(self._ambiguous)} ambiguous usernames)"

    @property
    def ambiguous(self) -> frozenset[str]:
        """Usernames held by several accounts: `lookup` refuses them."""
        return frozenset(self._ambiguous)

    def lookup(self, username: str) -> Account:
        """The one account with exactly this (case-sensitive) username, or an `AccountError`."""
        if username in self._ambiguous:
            raise AmbiguousAccountError(detail=f"{self._ambiguous[username]} accounts have the username {username!r}")
        uuid = self._uuids.get(username)
        if username in self._unreadable:
            # A row with this username but no readable UUID: guessing could pick the wrong account.
            if uuid is not None:
                raise AmbiguousAccountError(
                    detail=f"the username {username!r} is on a row with a UUID and on one without"
                )
            raise OutputParseError(detail=f"the row for the username {username!r} has no valid UUID")
        if uuid is None:
            raise NoAccountError(detail=f"no account with the username {username!r} among {len(self)}")
        email = None if self._emails is None else self._emails.get(username, "")
        return Account(uuid=uuid, username=username, email=email)


def parse_accounts(text: str) -> AccountTable:
    """Every account of an `account-list` output; `OutputParseError` if it is not such a table."""
    table = parse_table(text)
    uuid_col, user_col = 0, 2
    email_col: int | None = None
    header_known = False
    if table.header is not None:
        names = [_normalise_key(cell) for cell in table.header]
        found_uuid = _first_index(names, _UUID_HEADERS)
        found_user = _first_index(names, _USERNAME_HEADERS)
        email_col = _first_index(names, _EMAIL_HEADERS)
        header_known = found_uuid is not None and found_user is not None
        uuid_col = found_uuid if found_uuid is not None else uuid_col
        user_col = found_user if found_user is not None else user_col

    # username -> its distinct UUIDs, in lower case: UUIDs are case-insensitive (RFC 9562), and the
    # service validates and sends only the canonical lower-case form, which any UUID parser accepts.
    uuids_by_user: dict[str, set[str]] = {}
    emails_by_user: dict[str, set[str]] = {}
    unreadable: set[str] = set()
    for row in table.rows:
        if len(row) <= max(uuid_col, user_col) or not row[user_col]:
            continue
        username, uuid = row[user_col], row[uuid_col]
        if UUID.fullmatch(uuid):
            # The same row printed twice is one account, not two: count distinct UUIDs.
            uuids_by_user.setdefault(username, set()).add(uuid.lower())
            if email_col is not None:
                emails_by_user.setdefault(username, set()).add(row[email_col] if email_col < len(row) else "")
        else:
            unreadable.add(username)

    if not uuids_by_user and not (header_known and not table.rows):
        raise OutputParseError(
            detail=f"not an account list: none of {len(table.rows)} rows has a UUID in column {uuid_col + 1}"
            f" and a username in column {user_col + 1} (header {'found' if table.header else 'absent'})"
        )
    unique = {user: next(iter(ids)) for user, ids in uuids_by_user.items() if len(ids) == 1}
    ambiguous = {user: len(ids) for user, ids in uuids_by_user.items() if len(ids) > 1}
    # One account printed with two emails has none we can trust: "" matches no Slack email.
    emails = None if email_col is None else {user: _only(found) for user, found in emails_by_user.items()}
    return AccountTable(unique, ambiguous=ambiguous, unreadable=unreadable, emails=emails)


def _only(values: set[str]) -> str:
    return next(iter(values)) if len(values) == 1 else ""


def find_account(text: str, username: str) -> Account:
    """The one account in an `account-list` output whose username is exactly `username`."""
    return parse_accounts(text).lookup(username)


def parse_token_output(text: str) -> MintedToken:
    """The token, its UUID and expiry from `token-create` key/value output, bordered or not."""
    table = parse_table(text)
    # A header row is read like any other: "Field  Value" matches no key, and a misdetected one keeps
    # its data.
    rows = ([table.header] if table.header is not None else []) + table.rows
    values: dict[str, list[list[str]]] = {}
    for row in rows:
        split = _split_key_value(row)
        if split is not None:
            values.setdefault(split[0], []).append(split[1])

    token_rows = values.get(_TOKEN_KEY, [])
    if len(token_rows) != 1:
        shape = f"{len(token_rows)} Token rows" if token_rows else "no Token row"
        raise OutputParseError(detail=f"{shape} in {len(rows)} rows of output")
    token_cells = token_rows[0]
    if len(token_cells) != 1 or not _plausible_token(token_cells[0]):
        raise OutputParseError(
            detail=f"the Token row's value is not one word of 16 to 4096 token characters "
            f"({len(token_cells)} cells, {sum(map(len, token_cells))} characters)"
        )
    return MintedToken(
        token=Token(token_cells[0]),
        token_uuid=_token_uuid(values),
        expires_at=_expiry(values),
    )


def _clean_lines(text: str) -> list[str]:
    """Lines without ANSI codes or carriage returns, box-drawing turned to ASCII, tabs to a wide gap."""
    text = _ANSI.sub("", text).replace("\r", "").translate(_BOX_TRANSLATION)
    # Two spaces, not expandtabs(): a tab is always a column break, whatever column it falls in.
    return [line.replace("\t", "  ").rstrip() for line in text.split("\n")]


def _is_rule(line: str) -> bool:
    """Whether a line is a border or separator such as `+----+----+`, `|---|---|` or `----  ----`."""
    chars = set(line.strip())
    return chars <= _RULE_CHARS and bool(chars & {"-", "="})


def _split_piped(line: str) -> list[str]:
    """Cells of `| a | b |` (or psql's `a | b`), keeping empty inner cells."""
    inner = line.strip()
    inner = inner.removeprefix("|").removesuffix("|")
    return [cell.strip() for cell in inner.split("|")]


def _split_borderless(lines: list[str]) -> list[list[str]]:
    """Cells of aligned lines: wide gaps, else column positions, else any whitespace."""
    wide = [_WIDE_GAP.split(line.strip()) for line in lines]
    widest = max(len(cells) for cells in wide)
    if widest > 1 and all(len(cells) == widest for cells in wide):
        return wide
    # Some rows have fewer wide gaps, most likely an empty cell: cut every line at the columns that
    # are blank in all lines, if that reproduces the full rows' column count.
    spans = _column_spans(lines)
    if len(spans) == widest > 1:
        return [[line[start:end].strip() for start, end in spans] for line in lines]
    return [line.split() for line in lines]


def _column_spans(lines: list[str]) -> list[tuple[int, int]]:
    """[start, end) of each column: runs of used positions, split only where 2+ positions are blank."""
    width = max(len(line) for line in lines)
    used = [False] * width
    for line in lines:
        for position, char in enumerate(line):
            if char != " ":
                used[position] = True
    spans: list[tuple[int, int]] = []
    start: int | None = None
    blank_run = 0
    for position, is_used in enumerate(used):
        if is_used:
            if start is None:
                start = position
            elif blank_run >= 2:
                spans.append((start, position - blank_run))
                start = position
            blank_run = 0
        else:
            blank_run += 1
    if start is not None:
        spans.append((start, width - blank_run))
    return spans


def _header_by_rule(layout: list[bool]) -> bool:
    """Whether the first content row is followed by a rule that has more content after it."""
    content_seen = 0
    for index, rule in enumerate(layout):
        if not rule:
            content_seen += 1
        elif content_seen:
            return content_seen == 1 and not all(layout[index:])
    return False


def _looks_like_titles(cells: list[str]) -> bool:
    """Whether a row reads like column titles: letters, spaces, `_` and `-` only, at least one letter."""
    text = "".join(cells)
    return any(c.isalpha() for c in text) and all(c.isalpha() or c in _TITLE_EXTRA for c in text)


def _normalise_key(cell: str) -> str:
    """`Created_At`, `created-at` and `Created  At` all become `created at`."""
    return " ".join(cell.lower().replace("_", " ").replace("-", " ").split())


def _first_index(names: list[str], wanted: tuple[str, ...]) -> int | None:
    """The index of the most preferred of `wanted` among `names`."""
    for name in wanted:
        if name in names:
            return names.index(name)
    return None


def _split_key_value(row: list[str]) -> tuple[str, list[str]] | None:
    """(known key, value cells) of a key/value row, or None for a row with no key we read."""
    if not row:
        return None
    # Whitespace-split rows break "Token UUID" into two cells: the two-word key wins over "Token".
    # No key we read has more than two words.
    if len(row) > 2 and " " not in row[0].strip():
        key = _normalise_key(" ".join(row[:2]))
        if key in _KNOWN_KEYS:
            return key, [cell for cell in row[2:] if cell]
    key = _normalise_key(row[0])
    if key in _KNOWN_KEYS:
        return key, [cell for cell in row[1:] if cell]
    return None  # includes whole multi-word key cells we do not read, e.g. "Token Type"


def _plausible_token(value: str) -> bool:
    """Printable ASCII without spaces, of a length a token can have."""
    return _TOKEN_MIN <= len(value) <= _TOKEN_MAX and all("!" <= c <= "~" for c in value)


def _token_uuid(values: dict[str, list[list[str]]]) -> str | None:
    """The token's UUID from the most specific key present, or None if missing, malformed or conflicting."""
    for key in _TOKEN_UUID_KEYS:
        rows = values.get(key)
        if rows:
            found = {cells[0].lower() for cells in rows if len(cells) == 1 and UUID.fullmatch(cells[0])}
            return found.pop() if len(found) == 1 and len(rows) == 1 else None
    return None


def _expiry(values: dict[str, list[list[str]]]) -> datetime | None:
    """The expiry as an aware datetime (UTC if the output gave none), or None if absent or unreadable."""
    rows = [cells for key in _EXPIRY_KEYS for cells in values.get(key, [])]
    if len(rows) != 1 or not rows[0]:
        return None
    try:
        expires = datetime.fromisoformat(" ".join(rows[0]))
    except ValueError:
        return None
    return expires if expires.tzinfo is not None else expires.replace(tzinfo=UTC)


def render_argv(template: list[str], values: dict[str, str]) -> list[str]:
    """Fill `{name}` placeholders inside single argv items; a value can never add or split arguments."""
    return [PLACEHOLDER.sub(lambda m: values[m.group(1)], item) for item in template]
