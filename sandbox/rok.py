"""In-memory fake of `rok-fort-manage` (account-list, token-create) and of the Rok token store.

The output formats below are our assumptions about the real tool; `tests/fixtures/` holds samples of
exactly what this fake prints, so a parser tested on them can later be re-tested on captured output.
"""

from __future__ import annotations

import base64
import hashlib
import random
import re
import secrets
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

EXECUTABLE = "rok-fort-manage"

FAULTS = frozenset({"exit", "garbage", "empty", "two-tokens", "not-found"})

# Token shapes the fake can mint, for leak tests: the parser accepts 16 to 4096 printable characters, so the
# bot must not assume URL-safe base64. `long` is the longest that still fits a sealed Verify button value.
TOKEN_SHAPES = frozenset({"urlsafe", "std-b64", "short", "long", "oversized"})
LONG_TOKEN_CHARS = 1200

_ACCOUNT_CREATED = datetime(2021, 11, 16, 16, 33, tzinfo=UTC)

USAGE = f"usage: {EXECUTABLE} [-h] {{account-list,token-create}} ...\n"
TOKEN_CREATE_USAGE = f"usage: {EXECUTABLE} token-create [-h] --user UUID --duration SECONDS [--no-borders]\n"

# Same wording as the kubelet/containerd message, so adapters can be tested on the real text.
NOT_FOUND_MESSAGE = (
    "error executing command in container: failed to exec in container: failed to start exec "
    '"3f1c0d8e9a7b": OCI runtime exec failed: exec failed: unable to start container process: '
    f'exec: "{EXECUTABLE}": executable file not found in $PATH: unknown'
)


@dataclass
class FakeAccount:
    """A Rok account as `account-list` shows it."""

    uuid: str
    username: str
    email: str
    kind: str = "user"
    created_at: datetime = field(default=_ACCOUNT_CREATED)


@dataclass
class MintedRecord:
    """One token minted by the fake, with the account it belongs to."""

    token_uuid: str
    token: str
    account_uuid: str
    username: str
    created_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class ExecOutcome:
    """What one run of the executable produced; `internal_error` set means it never started."""

    exit_code: int
    stdout: str
    stderr: str
    internal_error: str | None = None


def default_accounts() -> list[FakeAccount]:
    """The fixed accounts every FakeRok starts with, unless given others."""
    fixed = [
        ("4545458c-2050-415a-8af4-e8f6b041238c", "jdoe"),
        ("d722ee16-1cad-4495-b9d2-7c58bfc98141", "jdoe2"),
        ("f9bd9ca5-b79e-4ec1-b029-3b0e419c4c48", "ajdoe"),
        ("0bcfdf07-7851-4067-91ea-ff518f15ba0d", "alice"),
        ("b0c2f39b-b65b-4ed2-aa65-a8c38575f029", "bob"),
        ("a24b4cea-1e69-4dd7-9d35-5ece7db19a84", "carol"),
    ]
    return [FakeAccount(uuid=u, username=n, email=f"{n}@example.com") for u, n in fixed]


def generate_accounts(count: int, *, prefix: str = "user") -> list[FakeAccount]:
    """Deterministic extra accounts (`user000`, `user001`, ...) for large-output tests."""
    accounts = []
    for i in range(count):
        name = f"{prefix}{i:03d}"
        digest = hashlib.sha256(name.encode()).digest()[:16]
        accounts.append(
            FakeAccount(uuid=str(uuid.UUID(bytes=digest, version=4)), username=name, email=f"{name}@example.com")
        )
    return accounts


def render_table(header: Sequence[str], rows: Sequence[Sequence[str]], *, bordered: bool) -> str:
    """Render rows as the tool does: aligned columns, or a `+---+` bordered grid."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    if not bordered:
        lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in [header, *rows]]
        return "\n".join(lines) + "\n"
    rule = "+" + "+".join("-" * (w + 2) for w in widths) + "+"

    def line(r: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |"

    return "\n".join([rule, line(header), rule, *(line(r) for r in rows), rule]) + "\n"


class FakeRok:
    """Fake `rok-fort-manage` plus token store; flip `latency`, `fault`, `token_shape`, ... at any time."""

    def __init__(
        self,
        accounts: list[FakeAccount] | None = None,
        *,
        latency: float = 0.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        name: str = "default",
        token_prefix: str = "",
    ) -> None:
        # Which registry installation this is, and what starts each of its tokens: in a world of several
        # registries a test tells by the token alone which one minted it ("" mints exactly as one registry does).
        self.name = name
        self.token_prefix = token_prefix
        self.accounts: list[FakeAccount] = default_accounts() if accounts is None else list(accounts)
        self.latency = latency
        # The registry's clock: the sandbox gives it the bot's (a manual clock), so both agree on expiry.
        self.clock = clock
        self.bordered_account_list = False
        # Rok versions may not print an email column; the bot then cannot compare emails.
        self.account_list_email = True
        # Print UUIDs in upper case (account-list and token-create): a plausible format of another version.
        self.upper_case_uuids = False
        self.fault: str | None = None
        self.fault_commands: set[str] = set()
        self.token_shape = "urlsafe"  # nosec B105 (a shape name, not a secret)
        self.minted: list[MintedRecord] = []
        self._by_token: dict[str, MintedRecord] = {}
        self._lock = threading.Lock()
        # A test holds `token-create` here (the exec waits until it is set, at most HOLD_SECONDS): something can
        # happen while a token is being minted (the database goes away) without a real-time latency.
        self.hold: threading.Event | None = None
        # The commands `hold` holds: `hang()` adds account-list, so that nothing of this registry's answers.
        self.hold_commands: frozenset[str] = frozenset({"token-create"})

    def account(self, username: str) -> FakeAccount:
        """The account with this username (KeyError if none), a convenience for tests."""
        for acc in self.accounts:
            if acc.username == username:
                return acc
        raise KeyError(username)

    # --- token store -------------------------------------------------------------------------------

    def mint(self, account_uuid: str, seconds: int) -> str:
        """Create a token for an account, valid for `seconds`; KeyError for an unknown account."""
        acc = self._account_by_uuid(account_uuid)
        if acc is None:
            raise KeyError(account_uuid)
        return self._mint(acc, seconds).token

    def _mint(self, acc: FakeAccount, seconds: int) -> MintedRecord:
        now = self.clock()
        rec = MintedRecord(
            token_uuid=str(uuid.uuid4()),
            token=self.token_prefix + new_token(self.token_shape),
            account_uuid=acc.uuid,
            username=acc.username,
            created_at=now,
            expires_at=now + timedelta(seconds=seconds),
        )
        with self._lock:
            self.minted.append(rec)
            self._by_token[rec.token] = rec
        return rec

    def lookup(self, token: str) -> MintedRecord | None:
        """The live record for a token; None when unknown or expired."""
        with self._lock:
            rec = self._by_token.get(token)
        if rec is None or rec.expires_at <= self.clock():
            return None
        return rec

    def expire(self, token: str) -> None:
        """Make one token expired from now on."""
        with self._lock:
            rec = self._by_token.get(token)
            if rec is not None:
                rec.expires_at = self.clock() - timedelta(microseconds=1)

    def expire_all(self) -> None:
        """Make every minted token expired."""
        past = self.clock() - timedelta(microseconds=1)
        with self._lock:
            for rec in self.minted:
                rec.expires_at = past

    def _account_by_uuid(self, account_uuid: str) -> FakeAccount | None:
        # The tool parses the UUID it is given, so its case does not matter.
        wanted = account_uuid.lower()
        return next((a for a in self.accounts if a.uuid.lower() == wanted), None)

    def _shown(self, uuid_text: str) -> str:
        return uuid_text.upper() if self.upper_case_uuids else uuid_text

    # --- the executable ----------------------------------------------------------------------------

    def execute(self, argv: list[str]) -> ExecOutcome:
        """Run `rok-fort-manage` with this argv, without sleeping (the caller applies `latency`)."""
        if not argv or argv[0] != EXECUTABLE:
            name = argv[0] if argv else ""
            return ExecOutcome(127, "", "", NOT_FOUND_MESSAGE.replace(f'"{EXECUTABLE}"', f'"{name}"'))
        command = argv[1] if len(argv) > 1 else ""
        fault = self.fault
        if fault is not None and self.fault_commands and command not in self.fault_commands:
            fault = None
        if fault == "not-found":
            return ExecOutcome(127, "", "", NOT_FOUND_MESSAGE)
        if fault == "exit":
            return ExecOutcome(3, "", f"Error: cannot connect to the Rok database (fault injected in {command})\n")
        if fault == "garbage":
            return ExecOutcome(0, _garbage(), "")
        if fault == "empty":
            return ExecOutcome(0, "", "")
        if command == "account-list" and len(argv) == 2:
            return ExecOutcome(0, self._account_list(), "")
        if command == "token-create":
            return self._token_create(argv[2:], two_tokens=fault == "two-tokens")
        if command in ("account-list", "token-create"):
            extra = " ".join(argv[2:])
            return ExecOutcome(2, "", f"{USAGE}{EXECUTABLE}: error: unrecognized arguments: {extra}\n")
        return ExecOutcome(
            2,
            "",
            f"{USAGE}{EXECUTABLE}: error: argument command: invalid choice: '{command}' "
            "(choose from 'account-list', 'token-create')\n",
        )

    def _account_list(self) -> str:
        header = ["UUID", "Type", "Username", "Email", "Created"]
        rows = [
            [self._shown(a.uuid), a.kind, a.username, a.email, a.created_at.strftime("%Y-%m-%d %H:%M")]
            for a in self.accounts
        ]
        if not self.account_list_email:
            header, rows = [c for c in header if c != "Email"], [r[:3] + r[4:] for r in rows]
        return render_table(header, rows, bordered=self.bordered_account_list)

    def _token_create(self, args: list[str], *, two_tokens: bool) -> ExecOutcome:
        def usage_error(msg: str) -> ExecOutcome:
            return ExecOutcome(2, "", f"{TOKEN_CREATE_USAGE}{EXECUTABLE} token-create: error: {msg}\n")

        opts: dict[str, str] = {}
        no_borders = False
        i = 0
        while i < len(args):
            arg = args[i]
            name, eq, inline = arg.partition("=")
            if arg == "--no-borders":
                no_borders = True
                i += 1
            elif name in ("--user", "--duration"):
                if eq:
                    value = inline
                    i += 1
                elif i + 1 < len(args):
                    value = args[i + 1]
                    i += 2
                else:
                    return usage_error(f"argument {name}: expected one argument")
                if name in opts:
                    return usage_error(f"argument {name}: given twice")
                opts[name] = value
            else:
                return usage_error(f"unrecognized arguments: {arg}")
        missing = [n for n in ("--user", "--duration") if n not in opts]
        if missing:
            return usage_error(f"the following arguments are required: {', '.join(missing)}")
        try:
            seconds = int(opts["--duration"])
        except ValueError:
            return usage_error(f"argument --duration: invalid int value: '{opts['--duration']}'")
        if seconds <= 0:
            return usage_error("argument --duration: must be a positive number of seconds")
        acc = self._account_by_uuid(opts["--user"])
        if acc is None:
            return ExecOutcome(1, "", f"Error: Account with UUID '{opts['--user']}' not found\n")
        rec = self._mint(acc, seconds)
        rows = [
            ["UUID", self._shown(rec.token_uuid)],
            ["Token", rec.token],
            ["User", rec.username],
            ["Created At", rec.created_at.isoformat()],
            ["Expires At", rec.expires_at.isoformat()],
        ]
        if two_tokens:
            # The second token is never minted: only the ambiguity matters to a parser.
            rows.insert(2, ["Token", secrets.token_urlsafe(32)])
        return ExecOutcome(0, render_table(["Field", "Value"], rows, bordered=not no_borders), "")


def new_token(shape: str = "urlsafe") -> str:
    """A fresh random token of one of `TOKEN_SHAPES`."""
    if shape == "urlsafe":
        return secrets.token_urlsafe(32)  # 43 characters of [A-Za-z0-9_-]
    if shape == "short":
        return secrets.token_urlsafe(15)  # 20 characters
    if shape == "oversized":
        return secrets.token_urlsafe(1125)  # 1,500 characters: too long to seal into a button value
    if shape in ("std-b64", "long"):
        size = 32 if shape == "std-b64" else LONG_TOKEN_CHARS * 3 // 4 - 1
        while True:
            # Standard base64 with '=' padding (32 bytes: 44 characters) with a '+' and a '/'; a short one
            # also without a run of 24 URL-safe characters, the kind a pattern for URL-safe tokens misses.
            value = base64.b64encode(secrets.token_bytes(size)).decode()
            runs = re.split(r"[^A-Za-z0-9_-]", value)
            if "+" in value and "/" in value and (shape == "long" or max(map(len, runs)) < 24):
                return value
    raise ValueError(f"unknown token shape {shape!r}; one of {sorted(TOKEN_SHAPES)}")


def _garbage() -> str:
    # Junk output for a fault switch: no secret here, so the plain PRNG is right.
    rng = random.Random()  # nosec B311
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789#@!%&*()[]{}<>~^ \t"
    lines = ["".join(rng.choice(alphabet) for _ in range(rng.randint(5, 70))) for _ in range(rng.randint(1, 6))]
    return "\n".join(lines) + "\n"
