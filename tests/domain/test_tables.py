"""Reading `rok-fort-manage` output: account lists, token-create key/value tables, and junk."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.domain.errors import AmbiguousAccountError, NoAccountError, OutputParseError
from bot.domain.models import Account
from bot.domain.tables import (
    AccountTable,
    Table,
    find_account,
    parse_accounts,
    parse_table,
    parse_token_output,
)

FIXTURES = Path(__file__).parents[1] / "fixtures"
ACCOUNT_ERRORS = (OutputParseError, NoAccountError, AmbiguousAccountError)

JDOE = "4545458c-2050-415a-8af4-e8f6b041238c"
JDOE2 = "d722ee16-1cad-4495-b9d2-7c58bfc98141"
AJDOE = "f9bd9ca5-b79e-4ec1-b029-3b0e419c4c48"
TOKEN = "Zk3xQ9-aB_cD1eF2gH3iJ4kL5mN6oP7qR8sT9uV0wXy"
TOKEN_UUID = "1b4e28ba-2fa1-11d2-883f-0016d3cca427"

ACCOUNTS_BORDERLESS = f"""\
UUID                                  Type  Username  Email                Created
{JDOE2}  user  jdoe2     jdoe2@example.com    2021-11-16 16:33
{JDOE}  user  jdoe      jdoe@example.com     2021-11-16 16:33
{AJDOE}  user  ajdoe     ajdoe@example.com    2021-11-16 16:33
"""

ACCOUNTS_BORDERED = f"""\
+--------------------------------------+------+----------+-------------------+------------------+
| UUID                                 | Type | Username | Email             | Created          |
+--------------------------------------+------+----------+-------------------+------------------+
| {JDOE2} | user | jdoe2    | jdoe2@example.com | 2021-11-16 16:33 |
| {JDOE} | user | jdoe     | jdoe@example.com  | 2021-11-16 16:33 |
| {AJDOE} | user | ajdoe    | ajdoe@example.com | 2021-11-16 16:33 |
+--------------------------------------+------+----------+-------------------+------------------+
"""

TOKEN_NO_BORDERS = f"""\
Field       Value
UUID        {TOKEN_UUID}
Token       {TOKEN}
User        jdoe
Created At  2021-11-16T16:33:16.902141+00:00
Expires At  2021-11-17T16:33:16.893054+00:00
"""

TOKEN_BORDERED = f"""\
+------------+----------------------------------------------+
| Field      | Value                                        |
+------------+----------------------------------------------+
| UUID       | {TOKEN_UUID}         |
| Token      | {TOKEN}  |
| User       | jdoe                                         |
| Created At | 2021-11-16T16:33:16.902141+00:00             |
| Expires At | 2021-11-17T16:33:16.893054+00:00             |
+------------+----------------------------------------------+
"""

EXPIRY = datetime(2021, 11, 17, 16, 33, 16, 893054, tzinfo=UTC)


def fixture(name: str) -> str:
    path = FIXTURES / name
    if not path.exists():
        pytest.skip(f"fixture {name} not written yet")
    return path.read_text()


# --- parse_table ---------------------------------------------------------------------------------


def test_borderless_table_with_header() -> None:
    table = parse_table(ACCOUNTS_BORDERLESS)
    assert table.header == ["UUID", "Type", "Username", "Email", "Created"]
    assert table.rows[1] == [JDOE, "user", "jdoe", "jdoe@example.com", "2021-11-16 16:33"]
    assert len(table.rows) == 3


def test_bordered_table_with_header() -> None:
    table = parse_table(ACCOUNTS_BORDERED)
    assert table.header == ["UUID", "Type", "Username", "Email", "Created"]
    assert table.rows[1] == [JDOE, "user", "jdoe", "jdoe@example.com", "2021-11-16 16:33"]


def test_ansi_codes_carriage_returns_and_blank_lines_are_dropped() -> None:
    text = "\x1b[1mUUID\x1b[0m  Name\r\n\r\n\x1b[32m" + JDOE + "\x1b[0m  jdoe\r\n\n"
    assert parse_table(text) == Table(header=["UUID", "Name"], rows=[[JDOE, "jdoe"]])


def test_a_row_with_a_uuid_is_never_a_header() -> None:
    text = f"+---+\n| {JDOE} | user | jdoe |\n+---+\n| {AJDOE} | user | ajdoe |\n+---+\n"
    assert parse_table(text).header is None


def test_borderless_header_under_a_dash_rule() -> None:
    text = f"Id  Login\n--  -----\n{JDOE}  jdoe\n"
    assert parse_table(text) == Table(header=["Id", "Login"], rows=[[JDOE, "jdoe"]])


def test_empty_cells_keep_columns_aligned() -> None:
    text = (
        "UUID                                  Type  Username  Email             Created\n"
        f"{JDOE2}  user  jdoe2                       2021-11-16 16:33\n"
        f"{JDOE}  user  jdoe      jdoe@example.com  2021-11-16 16:33\n"
    )
    rows = parse_table(text).rows
    assert rows[0] == [JDOE2, "user", "jdoe2", "", "2021-11-16 16:33"]
    assert rows[1][2] == "jdoe"


def test_unaligned_output_falls_back_to_whitespace() -> None:
    table = parse_table(f"{JDOE} user jdoe\n{AJDOE}  user ajdoe\n")
    assert table.rows == [[JDOE, "user", "jdoe"], [AJDOE, "user", "ajdoe"]]


def test_unicode_box_drawing_and_psql_style() -> None:
    box = f"┌──────┬──────┐\n│ UUID │ Name │\n├──────┼──────┤\n│ {JDOE} │ jdoe │\n└──────┴──────┘\n"
    assert parse_table(box) == Table(header=["UUID", "Name"], rows=[[JDOE, "jdoe"]])
    psql = f" uuid | type | username\n------+------+---------\n {JDOE} | user | jdoe\n(1 row)\n"
    assert parse_table(psql) == Table(header=["uuid", "type", "username"], rows=[[JDOE, "user", "jdoe"]])


@pytest.mark.parametrize("text", ["", "\n\n", "   \r\n", "\x1b[0m\n", "+----+\n+----+\n"])
def test_no_table_is_an_output_parse_error(text: str) -> None:
    with pytest.raises(OutputParseError):
        parse_table(text)


# --- accounts ------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", [ACCOUNTS_BORDERLESS, ACCOUNTS_BORDERED])
def test_find_account_matches_exactly(text: str) -> None:
    assert find_account(text, "jdoe") == Account(uuid=JDOE, username="jdoe", email="jdoe@example.com")
    assert find_account(text, "jdoe2") == Account(uuid=JDOE2, username="jdoe2", email="jdoe2@example.com")
    assert find_account(text, "ajdoe") == Account(uuid=AJDOE, username="ajdoe", email="ajdoe@example.com")
    for near_miss in ["JDOE", "jdo", "doe", "jdoe ", " jdoe", "jdoe3", ""]:
        with pytest.raises(NoAccountError):
            find_account(text, near_miss)


@pytest.mark.parametrize("name", ["account-list-borderless.txt", "account-list-bordered.txt"])
def test_find_account_in_fixtures(name: str) -> None:
    text = fixture(name)
    assert find_account(text, "jdoe") == Account(uuid=JDOE, username="jdoe", email="jdoe@example.com")
    assert find_account(text, "jdoe2").uuid == JDOE2
    assert find_account(text, "ajdoe").uuid == AJDOE
    with pytest.raises(NoAccountError):
        find_account(text, "mallory")
    table = parse_accounts(text)
    assert table["jdoe"] == JDOE
    assert len(table) == len(parse_table(text).rows)


def test_a_fixture_without_an_email_column_gives_accounts_without_email() -> None:
    text = fixture("account-list-no-email.txt")
    assert find_account(text, "jdoe") == Account(uuid=JDOE, username="jdoe", email=None)
    assert parse_accounts(text).lookup("carol").email is None


@pytest.mark.parametrize("title", ["Email", "E-mail", "e_mail", "EMAIL", "Email Address"])
def test_the_email_column_is_found_by_its_title(title: str) -> None:
    text = f"Username  {title}              UUID\njdoe      JDoe@Example.com   {JDOE}\n"
    assert find_account(text, "jdoe") == Account(uuid=JDOE, username="jdoe", email="JDoe@Example.com")


def test_an_email_column_with_an_empty_cell_gives_an_empty_email_not_none() -> None:
    # The column is there, so the account has a known email: none. Email-mapped users then cannot match it.
    text = (
        "UUID                                  Type  Username  Email             Created\n"
        f"{JDOE2}  user  jdoe2                       2021-11-16 16:33\n"
        f"{JDOE}  user  jdoe      jdoe@example.com  2021-11-16 16:33\n"
    )
    assert find_account(text, "jdoe2").email == ""
    assert find_account(text, "jdoe").email == "jdoe@example.com"
    short_row = f"| UUID | Type | Username | Email |\n| {JDOE} | user | jdoe |\n"
    assert find_account(short_row, "jdoe").email == ""


def test_without_a_header_there_is_no_email_column() -> None:
    text = f"{JDOE}  user  jdoe  jdoe@example.com\n"
    assert find_account(text, "jdoe").email is None
    assert find_account(f"UUID  Type  Username\n{JDOE}  user  jdoe\n", "jdoe").email is None


def test_one_account_printed_twice_with_two_emails_has_no_usable_email() -> None:
    text = f"UUID  Username  Email\n{JDOE}  jdoe  a@example.com\n{JDOE}  jdoe  b@example.com\n"
    assert find_account(text, "jdoe").email == ""


def test_header_names_locate_the_columns() -> None:
    text = f"Login  Created           ID\njdoe   2021-11-16 16:33  {JDOE}\n"
    assert find_account(text, "jdoe") == Account(uuid=JDOE, username="jdoe")
    text = f"+--+\n| user_name | uuid |\n+--+\n| jdoe | {JDOE} |\n+--+\n"
    assert find_account(text, "jdoe").uuid == JDOE


def test_without_a_header_columns_one_and_three_are_used() -> None:
    text = f"{JDOE}  user  jdoe  jdoe@example.com\n{AJDOE}  user  ajdoe  ajdoe@example.com\n"
    assert find_account(text, "ajdoe").uuid == AJDOE


def test_several_accounts_with_one_username_are_ambiguous() -> None:
    text = ACCOUNTS_BORDERLESS + f"{JDOE2.replace('d', 'e')}  user  jdoe  other@example.com  2021-11-16\n"
    with pytest.raises(AmbiguousAccountError):
        find_account(text, "jdoe")
    table = parse_accounts(text)
    assert table.ambiguous == {"jdoe"}
    assert "jdoe" not in table
    assert table.lookup("jdoe2").uuid == JDOE2


def test_the_same_account_twice_is_one_account() -> None:
    text = f"{JDOE}  user  jdoe\n{JDOE.upper()}  user  jdoe\n{JDOE}  user  jdoe\n"
    assert find_account(text, "jdoe").uuid == JDOE


def test_an_upper_case_uuid_is_read_in_lower_case() -> None:
    # UUIDs are case-insensitive (RFC 9562); the bot validates and sends the canonical lower-case form.
    assert find_account(f"{JDOE.upper()}  user  jdoe\n", "jdoe").uuid == JDOE
    assert dict(parse_accounts(f"UUID  Username\n{AJDOE.upper()}  ajdoe\n")) == {"ajdoe": AJDOE}


def test_a_row_for_the_username_without_a_valid_uuid_is_not_guessed() -> None:
    text = ACCOUNTS_BORDERLESS + "4545458c-2050-415a-8af4-e8f6b04123  user  mallory  m@example.com\n"
    with pytest.raises(OutputParseError):
        find_account(text, "mallory")
    assert find_account(text, "jdoe").uuid == JDOE
    text = ACCOUNTS_BORDERLESS + "not-a-uuid  user  jdoe  j@example.com\n"
    with pytest.raises(AmbiguousAccountError):
        find_account(text, "jdoe")


def test_a_header_only_account_list_has_no_accounts() -> None:
    with pytest.raises(NoAccountError):
        find_account("UUID  Type  Username  Email  Created\n", "jdoe")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "Error: could not connect to the database\n",
        "Traceback (most recent call last):\n  File \"x.py\", line 1\nKeyError: 'jdoe'\n",
        "jdoe\n",
        "Name  Value\nfoo   bar\n",
    ],
)
def test_output_that_is_not_an_account_list(text: str) -> None:
    with pytest.raises(OutputParseError) as info:
        find_account(text, "jdoe")
    assert "jdoe" not in info.value.user_message


def test_account_table_is_a_mapping_with_a_short_repr() -> None:
    table = AccountTable({"jdoe": JDOE}, ambiguous={"bob": 2})
    assert dict(table) == {"jdoe": JDOE}
    assert repr(table) == "AccountTable(1 accounts, 1 ambiguous usernames)"
    with pytest.raises(AmbiguousAccountError):
        table.lookup("bob")


# --- token-create --------------------------------------------------------------------------------


@pytest.mark.parametrize("text", [TOKEN_NO_BORDERS, TOKEN_BORDERED])
def test_token_output(text: str) -> None:
    minted = parse_token_output(text)
    assert minted.token.reveal() == TOKEN
    assert minted.token_uuid == TOKEN_UUID
    assert minted.expires_at == EXPIRY


@pytest.mark.parametrize("name", ["token-create-no-borders.txt", "token-create-bordered.txt"])
def test_token_output_fixtures(name: str) -> None:
    text = fixture(name)
    minted = parse_token_output(text)
    assert minted.token.reveal() in text
    assert minted.token_uuid is not None
    assert minted.token_uuid in text
    assert minted.expires_at is not None
    assert minted.expires_at.tzinfo is not None


def test_token_output_with_only_a_token_row() -> None:
    minted = parse_token_output(f"Token  {TOKEN}\n")
    assert minted.token.reveal() == TOKEN
    assert minted.token_uuid is None
    assert minted.expires_at is None


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("Expires At  2021-11-17T16:33:16.893054", EXPIRY),  # naive: assumed UTC
        ("expires_at  2021-11-17 16:33:16.893054+00:00", EXPIRY),
        ("Expiry      2021-11-17T18:33:16.893054+02:00", EXPIRY),
        ("Expires     tomorrow", None),
        ("Expires     ", None),
    ],
)
def test_expiry_keys_and_unreadable_expiry(line: str, expected: datetime | None) -> None:
    assert parse_token_output(f"Token       {TOKEN}\n{line}\n").expires_at == expected


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (f"Token UUID  {TOKEN_UUID}", TOKEN_UUID),
        (f"id          {TOKEN_UUID}", TOKEN_UUID),
        (f"UUID        {TOKEN_UUID.upper()}", TOKEN_UUID),  # read in lower case
        ("UUID        1b4e28ba-2fa1-11d2-883f", None),
        ("UUID        ", None),
    ],
)
def test_token_uuid_keys_and_malformed_uuid(line: str, expected: str | None) -> None:
    assert parse_token_output(f"{line}\nToken       {TOKEN}\n").token_uuid == expected


def test_whitespace_split_rows_still_find_two_word_keys() -> None:
    text = f"Token {TOKEN}\nToken UUID {TOKEN_UUID}\nExpires At 2021-11-17T16:33:16.893054+00:00 \n"
    minted = parse_token_output(text)
    assert minted.token.reveal() == TOKEN
    assert minted.token_uuid == TOKEN_UUID
    assert minted.expires_at == EXPIRY


@pytest.mark.parametrize(
    ("text", "shape"),
    [
        ("", "empty output"),
        ("Field  Value\nUUID   " + TOKEN_UUID + "\n", "no Token row"),
        (f"Token  {TOKEN}\nToken  {TOKEN[::-1]}\n", "2 Token rows"),
        (f"Token  {TOKEN}\nTOKEN  {TOKEN}\n", "2 Token rows"),
        ("Token  short\n", "not one word"),
        (f"Token  {TOKEN} {TOKEN}\n", "not one word"),
        (f"| Token | {TOKEN} | {TOKEN} |\n", "not one word"),
        ("| Token |  |\n", "not one word"),
        (f"Token  {TOKEN}é\n", "not one word"),
        ("Token  " + "a" * 4097 + "\n", "not one word"),
    ],
)
def test_bad_token_output_says_what_it_saw_without_the_token(text: str, shape: str) -> None:
    with pytest.raises(OutputParseError) as info:
        parse_token_output(text)
    error = info.value
    assert shape in error.detail
    for shown in (error.detail, error.user_message, str(error), repr(error)):
        assert TOKEN not in shown
        assert TOKEN[::-1] not in shown
        assert "short" not in shown


def test_unread_multi_word_keys_are_ignored() -> None:
    text = f"Token Type  bearer\nToken       {TOKEN}\n"
    assert parse_token_output(text).token.reveal() == TOKEN


# --- properties ----------------------------------------------------------------------------------

USERNAMES = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789._-", min_size=1, max_size=20)
HEADER = ["UUID", "Type", "Username", "Email", "Created"]


def render_borderless(header: list[str] | None, rows: list[list[str]]) -> str:
    table = ([header] if header else []) + rows
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    return "".join("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() + "\n" for row in table)


def render_bordered(header: list[str] | None, rows: list[list[str]]) -> str:
    table = ([header] if header else []) + rows
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    rule = "+" + "+".join("-" * (w + 2) for w in widths) + "+\n"

    def line(row: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |\n"

    head = rule + line(header) if header else ""
    return head + rule + "".join(map(line, rows)) + rule


@st.composite
def account_lists(draw: st.DrawFn) -> tuple[str, dict[str, str], dict[str, str], bool]:
    """A rendered account list (always with the jdoe/jdoe2/ajdoe trap), username -> UUID and -> email, header?"""
    names = draw(st.lists(USERNAMES, max_size=8, unique=True).map(lambda n: [*n, "jdoe", "jdoe2", "ajdoe"]))
    names = list(dict.fromkeys(names))
    names = draw(st.permutations(names))
    uuids = draw(st.lists(st.uuids(), min_size=len(names), max_size=len(names), unique=True))
    accounts = {name: str(uuid) for name, uuid in zip(names, uuids, strict=True)}
    rows = []
    emails = {}
    for name, uuid in accounts.items():
        emails[name] = draw(st.sampled_from([f"{name}@example.com", ""]))
        rows.append([uuid, "user", name, emails[name], "2021-11-16 16:33"])
    header = draw(st.sampled_from([HEADER, None]))
    render = draw(st.sampled_from([render_borderless, render_bordered]))
    text = render(header, rows)
    if draw(st.booleans()):
        text = text.replace("\n", "\r\n")
    return text, accounts, emails, header is not None


@given(account_lists())
def test_rendered_account_lists_round_trip(case: tuple[str, dict[str, str], dict[str, str], bool]) -> None:
    text, accounts, emails, header = case
    table = parse_accounts(text)
    assert dict(table) == accounts
    for name, uuid in accounts.items():
        email = emails[name] if header else None
        assert find_account(text, name) == Account(uuid=uuid, username=name, email=email)
        if name + "x" not in accounts:  # hypothesis found "0" beside "0x": a longer name may be a real one
            with pytest.raises(NoAccountError):
                table.lookup(name + "x")
    with pytest.raises(NoAccountError):
        table.lookup("JDOE")


TABLEISH = st.text(alphabet=st.sampled_from(list("| +-=\n\r\t\x1b[0m:abTokenUUIDuser jdoe4545-8c")), max_size=200)


@given(st.one_of(st.text(max_size=300), TABLEISH), st.sampled_from(["jdoe", "a", "-", "|"]))
def test_arbitrary_text_raises_only_account_errors(text: str, username: str) -> None:
    try:
        account = find_account(text, username)
    except ACCOUNT_ERRORS:
        return
    assert account.username == username
    UUID(account.uuid)
    assert account.uuid in text


@given(st.one_of(st.text(max_size=300), TABLEISH))
def test_arbitrary_text_never_yields_a_token_silently(text: str) -> None:
    try:
        minted = parse_token_output(text)
    except OutputParseError as error:
        assert "\n" not in error.detail
        return
    value = minted.token.reveal()
    assert value in text
    assert 16 <= len(value) <= 4096
    assert "token" in text.lower()


TOKENS = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_", min_size=16, max_size=80)
NOISE_ROWS = st.lists(
    st.tuples(st.sampled_from(["User", "Created At", "Token Type", "Name", "Tokens"]), USERNAMES), max_size=4
)


@st.composite
def key_value_rows(draw: st.DrawFn) -> tuple[list[str], list[list[str]]]:
    """Up to three Token rows shuffled among rows with other keys, and the tokens used."""
    tokens = draw(st.lists(TOKENS, max_size=3))
    rows = [["Token", t] for t in tokens] + [list(row) for row in draw(NOISE_ROWS)]
    return tokens, draw(st.permutations(rows)) or [["User", "jdoe"]]


@given(key_value_rows(), st.sampled_from([render_borderless, render_bordered]), st.booleans())
def test_a_token_only_from_exactly_one_token_row(
    case: tuple[list[str], list[list[str]]],
    render: Callable[[list[str] | None, list[list[str]]], str],
    header: bool,
) -> None:
    tokens, rows = case
    text = render(["Field", "Value"] if header else None, rows)
    if len(tokens) == 1:
        assert parse_token_output(text).token.reveal() == tokens[0]
        return
    with pytest.raises(OutputParseError) as info:
        parse_token_output(text)
    for token in tokens:
        assert token not in info.value.detail
        assert token not in info.value.user_message


def test_pathological_input_is_fast() -> None:
    started = time.perf_counter()
    for text in [
        "\x1b[" + "0" * 50_000,
        "\x1b]" + "x" * 50_000,
        ("\x1b[" + "1;" * 1_000) * 50,
        "a" + " " * 50_000 + "b\n" + "c d\n",
        "|" * 50_000,
        "-" * 50_000 + "\n" + "x  " * 20_000,
        ("| a |  | c |\n" + "a   b   c\n") * 5_000,
        "Token " + "t" * 50_000,
    ]:
        for parse in (parse_table, parse_token_output, lambda t: find_account(t, "jdoe")):
            with contextlib.suppress(*ACCOUNT_ERRORS):
                parse(text)
    # Linear work on ~0.5 MB in all; a quadratic path would take minutes.
    assert time.perf_counter() - started < 2
