"""The command line: `rok-token-bot serve | issue | verify | doctor | demo | db | tokens | audit | report`.

Exit codes: 0 ok, 1 failure, 2 usage. Only the token (or the `--json` object) goes to stdout, so that
`export ROK_REGISTRY_TOKEN=$(rok-token-bot issue jdoe --duration 24h)` works; everything else is stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from bot.domain.errors import RokBotError, UsageError
from bot.report import add_report_command, joined_relative_times, registry_name, report_plan, run_report
from bot.runtime.startup import resume
from bot.settings import SettingsError

if TYPE_CHECKING:
    from bot.bootstrap.background import OpenStore
    from bot.domain.ports import Quota
    from bot.domain.registries import Registry
    from bot.settings import Settings
    from bot.store import Store

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2
REGISTRY_HELP = "the registry (ROK_BOT_REGISTRIES) to use; required when several are configured"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    from bot import __version__

    parser = _Parser(prog="rok-token-bot", description=__doc__.splitlines()[0] if __doc__ else None)
    # pyproject's version, as installed: the same one the image's OCI label, doctor and the `started` event carry.
    parser.add_argument("--version", action="version", version=f"rok-token-bot {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    sub.add_parser("serve", help="run the Slack app (Socket Mode if SLACK_APP_TOKEN is set, else HTTP)")
    issue = sub.add_parser("issue", help="mint a token for a Rok Registry username; the token alone on stdout")
    issue.add_argument("username", help="the exact Rok Registry username")
    issue.add_argument("--duration", help="how long the token lives, e.g. 30m, 24h, 7d (default: settings)")
    issue.add_argument("--json", action="store_true", help="print a JSON object instead of the bare token")
    issue.add_argument("--registry", metavar="NAME", help=REGISTRY_HELP)
    verify = sub.add_parser(
        "verify", help="check a token read from ROK_REGISTRY_TOKEN or stdin (never from the command line)"
    )
    verify.add_argument("--registry", metavar="NAME", help=REGISTRY_HELP)
    # Caught only to refuse it without echoing it: argparse would print an unknown argument on stderr.
    verify.add_argument("token_argument", nargs="*", help=argparse.SUPPRESS)
    sub.add_parser("doctor", help="check settings, cluster access, RBAC, the pod and the registry")
    demo = sub.add_parser("demo", help="run the real app against built-in fakes and play a short story")
    demo.add_argument("--interactive", action="store_true", help="keep running and read commands")
    demo.add_argument("--open", action="store_true", help="also serve a page that renders the messages")
    demo.add_argument("--registries", action="store_true", help="two registries, prod and staging, and their story")
    _add_store_commands(sub)
    return parser


def _fail(message: str, code: int = EXIT_FAIL) -> int:
    print(f"rok-token-bot: error: {message}", file=sys.stderr)
    return code


def _settings() -> Settings:
    from bot.settings import load_settings

    return load_settings()


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(joined_relative_times(argv) if "report" in argv else argv)
    if args.command == "demo":
        resume()
        try:
            from sandbox.demo import run_demo
        except ImportError:
            # The production image ships bot/ only: the fakes live in the source checkout.
            return _fail("the demo needs the sandbox from a source checkout (pip install -e . in the repository)")
        return int(run_demo(interactive=args.interactive, open_page=args.open, registries=args.registries))
    if args.command in STORE_COMMANDS:
        resume()  # they may read many rows: the collector runs (`serve` resumes it once ready)
    command = _store_command if args.command in STORE_COMMANDS else _command
    try:
        return command(args)
    except SettingsError as exc:
        return _fail(str(exc), EXIT_USAGE)
    except UsageError as exc:
        return _fail(exc.user_message, EXIT_USAGE)
    except RokBotError as exc:
        detail = f" ({exc.detail})" if exc.detail else ""
        return _fail(f"{exc.user_message}{detail}")
    except KeyboardInterrupt:
        return EXIT_FAIL


def _command(args: argparse.Namespace) -> int:
    """serve, issue, verify and doctor: the full settings."""
    settings = _settings()
    from bot.runtime.logs import setup_logging

    # The CLI keeps stderr for its one line: library logs only from ERROR unless asked for more
    # (a warning such as "retrying on a fresh pod" would otherwise add a second line).
    cli_level = settings.log_level if args.command == "serve" or "ROK_BOT_LOG_LEVEL" in os.environ else "ERROR"
    setup_logging(
        level=cli_level,
        fmt=settings.log_format if args.command == "serve" else "text",
        secrets=settings.secrets(),
        # `issue` prints the token alone on stdout, `doctor` its report: only `serve` may log there.
        stream=settings.log_stream if args.command == "serve" else "stderr",
    )
    if args.command == "serve":
        from bot.bootstrap import build_server
        from bot.slack.server import serve

        return serve(build_server(settings))
    if args.command == "issue":
        return _issue(settings, args.username, args.duration, registry=args.registry, as_json=args.json)
    if args.command == "verify":
        if args.token_argument:
            raise UsageError("Give the token in ROK_REGISTRY_TOKEN or on stdin, never as an argument.")
        return _verify(settings, registry=args.registry)
    if args.command == "doctor":
        from bot.doctor import run_doctor

        return run_doctor(settings)
    return EXIT_USAGE


def chosen_registry(settings: Settings, name: str | None) -> Registry:
    """The registry `--registry NAME` names; without it, the only one (several: a usage error listing them)."""
    registries = settings.registries()
    names = ", ".join(registries.names())
    if name is None:
        if registries.single:
            return next(iter(registries))
        raise UsageError(f"Several registries are configured: name one with --registry ({names}).")
    found = registries.get(name)
    if found is None:
        raise UsageError(f"No registry is named {name[:40]!r}; the registries are: {names}.")
    return found


def _issue(settings: Settings, username: str, duration: str | None, *, registry: str | None, as_json: bool) -> int:
    import getpass
    import secrets

    from bot.bootstrap import build_engine, system_clock
    from bot.bootstrap.background import BackgroundStore, DeferredQuota
    from bot.domain.audit import Origin
    from bot.domain.durations import format_duration, parse_duration
    from bot.domain.models import RequestContext
    from bot.domain.policy import UserLimits
    from bot.usecases import ADMIN_RULE, issue_for_admin

    target = chosen_registry(settings, registry)
    seconds = (
        parse_duration(duration, minimum=settings.min_duration, maximum=settings.max_duration)
        if duration is not None
        else None
    )
    limits = UserLimits(
        default=settings.default_duration, min=settings.min_duration, max=settings.max_duration, source="settings"
    )
    clock = system_clock()
    operator = getpass.getuser() if hasattr(os, "getuid") else "admin"
    ctx = RequestContext(f"cli-{secrets.token_hex(6)}", f"cli:{operator}"[:64], Origin.CLI)
    engine = build_engine(settings, target, clock=clock)
    engine.executor.connect()  # the cluster client first: the store's thread then overlaps the first exec alone
    # The ledger records admin tokens too; their audit events wait in the outbox for the serving bot's senders,
    # one row for each sink it recorded at its start (and each this shell names). The store opens on its own
    # thread while the account lookup's exec runs; the quota's reserve, before the mint, waits for it.
    opening = BackgroundStore(lambda: _open_store(settings))

    def ledger_quota() -> Quota:
        from bot.adapters.quota import LedgerQuota

        return LedgerQuota(ledger=opening.result().store.ledger, rule=ADMIN_RULE, clock=clock, registry=target.name)

    try:
        issued = issue_for_admin(
            engine.engine,
            username=username,
            seconds=seconds,
            limits=limits,
            clock=clock,
            quota=DeferredQuota(ledger_quota, rule=ADMIN_RULE),
            ctx=ctx,
            registry=target.name,
        )
        audited = {s: s for s in settings.audit_sinks} | opening.result().recorded_sinks  # the bot's descriptions win
    finally:
        engine.close()
        opening.close()
    expires = issued.expires_at.isoformat()
    if as_json:
        print(
            json.dumps(
                {
                    "token": issued.token.reveal(),
                    "token_uuid": issued.token_uuid,
                    "username": issued.username,
                    "expires_at": expires,
                    "duration_seconds": issued.duration_seconds,
                    "registry": target.name,
                }
            )
        )
    else:
        print(issued.token.reveal())
    where = "" if settings.registries().single else f" in registry {target.name}"
    print(
        f"issued a {format_duration(issued.duration_seconds)} token for {issued.username}{where} "
        f"(token uuid {issued.token_uuid or 'unknown'}, expires {expires})"
        + (f"; audited to {', '.join(audited.values())}" if audited else ""),
        file=sys.stderr,
    )
    if not audited:
        print(NO_SINK_WARNING, file=sys.stderr)
    return EXIT_OK


def _open_store(settings: Settings) -> OpenStore:
    """The store at head (migrated when behind) and the sinks the serving bot recorded in it."""
    from bot.bootstrap import build_store
    from bot.bootstrap.background import OpenStore

    store = build_store(settings)
    try:
        store.ensure_schema()
        return OpenStore(store, store.outbox.recorded_sinks())
    except BaseException:
        store.close()
        raise


NO_SINK_WARNING = (
    "rok-token-bot: warning: no audit sink is recorded in this database and none is set here: this `issued` "
    "event is kept in the database (`rok-token-bot audit`) but posted nowhere. Start the bot on this database "
    "once (it records its audit channel and webhook there), or set ROK_BOT_AUDIT_CHANNEL."
)


def _read_token() -> str:
    value = os.environ.get("ROK_REGISTRY_TOKEN", "").strip()
    if value:
        return value
    if sys.stdin is None or sys.stdin.isatty():
        raise UsageError("Give the token in ROK_REGISTRY_TOKEN or on stdin (never as an argument).")
    value = sys.stdin.read(8192).strip()
    if not value:
        raise UsageError("No token on stdin and ROK_REGISTRY_TOKEN is empty.")
    return value


def _verify(settings: Settings, *, registry: str | None) -> int:
    from datetime import UTC, datetime

    from bot.adapters.registry import RegistryClient
    from bot.bootstrap import protect_token
    from bot.domain.durations import format_duration
    from bot.domain.errors import RegistryUnreachable
    from bot.domain.models import Verdict
    from bot.domain.secret import Token
    from bot.usecases import VERIFY_PROTECTION

    target = chosen_registry(settings, registry)  # before reading the token: never send it to a guessed registry
    try:
        token = Token(_read_token())
    except ValueError:
        raise UsageError("The token must be one word with no spaces.") from None
    protect_token(token, datetime.now(UTC) + VERIFY_PROTECTION)
    client = RegistryClient(registry_url=target.url, ca_bundle=target.ca_bundle)
    try:
        result = client.verify(token)
    finally:
        client.close()
    if result.verdict is Verdict.UNREACHABLE:
        # Not a verdict on the token: a failure, reported like every other one.
        raise RegistryUnreachable(result.message, detail=client.url)
    line = f"{result.verdict.value}: {result.message}"
    if result.ok and result.expires_at is not None:
        left = int((result.expires_at - datetime.now(UTC)).total_seconds())
        line += f" Expires {result.expires_at.isoformat()} (in {format_duration(max(left, 0))})."
        if result.token_uuid:
            line += f" Token uuid {result.token_uuid}."
    print(line)
    return EXIT_OK if result.ok else EXIT_FAIL


# -- the store's commands: they need only the database settings (no Slack, no registry, no cluster) --------

STORE_COMMANDS = frozenset({"db", "tokens", "audit", "report"})
_MAX_SINCE = 10 * 366 * 86400


def _add_store_commands(sub: argparse._SubParsersAction[_Parser]) -> None:
    db = sub.add_parser(
        "db",
        help="the bot's database: `db upgrade` migrates it, `db current` shows its revision, "
        "`db downgrade REVISION` migrates it back (before rolling back to an older release)",
    )
    db.add_argument("action", choices=["upgrade", "current", "downgrade"])
    db.add_argument("revision", nargs="?", help="downgrade: the revision to go back to (the older release's head)")
    tokens = sub.add_parser("tokens", help="list the token ledger (never the tokens themselves), newest first")
    tokens.add_argument("--active", action="store_true", help="only tokens issued and not yet expired")
    tokens.add_argument("--user", metavar="SLACK_ID", help="only this Slack user ID's tokens")
    tokens.add_argument("--rok-user", metavar="NAME", help="only tokens for this exact Rok username")
    tokens.add_argument("--since", metavar="DURATION", help="only requests in this past window, e.g. 7d, 24h")
    tokens.add_argument("--registry", metavar="NAME", help="only tokens of this registry (ROK_BOT_REGISTRIES)")
    tokens.add_argument("--limit", type=int, default=1000, help="at most this many rows (default 1000)")
    tokens.add_argument("--json", action="store_true", help="one JSON object per line instead of a table")
    audit = sub.add_parser("audit", help="list audit events from the bot's outbox, newest last")
    audit.add_argument("--since", metavar="DURATION", default="24h", help="how far back (default 24h)")
    audit.add_argument("--limit", type=int, default=1000, help="at most the newest this many (default 1000)")
    audit.add_argument("--json", action="store_true", help="one JSON object per line instead of a table")
    add_report_command(sub)  # bot/report.py


def _store_command(args: argparse.Namespace) -> int:
    from bot.settings import load_store_settings

    settings = load_store_settings()
    from bot.runtime.logs import setup_logging

    setup_logging(level=os.environ.get("ROK_BOT_LOG_LEVEL", "ERROR"), fmt="text", secrets=settings.store_secrets())
    since = _since(args.since) if getattr(args, "since", None) else None
    now = datetime.now(UTC)
    plan = report_plan(args, now=now) if args.command == "report" else None  # bad input: exit 2, no database
    if getattr(args, "limit", 1) < 1:
        raise UsageError("--limit must be at least 1.")
    if args.command == "db" and (args.action == "downgrade") != (args.revision is not None):
        raise UsageError("`db downgrade` takes the revision to go back to; `db upgrade` and `db current` take none.")
    from bot.bootstrap import build_store

    # Only upgrade and downgrade write: the rest open the database read-only, and never create the SQLite file.
    store = build_store(settings, read_only=args.command != "db" or args.action == "current")
    try:
        with store.translating():  # a driver error is one line naming its fix, not a traceback
            if args.command == "db":
                return _db(store, args.action, args.revision)
            store.check()  # a missing or stale schema is one line, not a traceback
            if plan is not None:
                return run_report(store, plan, now=now)
            if args.command == "tokens":
                return _tokens(store, args, since)
            return _audit(store, args, since)
    finally:
        store.close()


def _since(text: str) -> datetime:
    from bot.domain.durations import parse_duration

    return datetime.now(UTC) - timedelta(seconds=parse_duration(text, minimum=1, maximum=_MAX_SINCE))


def _db(store: Store, action: str, revision: str | None) -> int:
    if action == "upgrade":
        revision = store.upgrade()
        print(revision)
        print(f"{store.url}: schema at revision {revision} (head)", file=sys.stderr)
        return EXIT_OK
    if action == "downgrade":
        assert revision is not None
        was, now = store.downgrade(revision)
        print(now)
        print(f"{store.url}: schema at revision {now} (was {was}); start the release whose head it is", file=sys.stderr)
        return EXIT_OK
    from bot.store.migrate import known

    at, head = store.current(), store.head()
    if at == head:
        state = "head"
    else:
        state = f"head is {head}" if at is None or known(at) else f"newer than this release's {head}"
    print(f"{at or 'none'} ({state})")
    print(f"database: {store.url}", file=sys.stderr)
    return EXIT_OK


def _tokens(store: Store, args: argparse.Namespace, since: datetime | None) -> int:
    from bot.domain.ports import TokenQuery
    from bot.store.admin import ledger_registries, token_record, tokens_table

    now = datetime.now(UTC)
    registry = registry_name(args.registry)
    query = TokenQuery(
        slack_user=args.user,
        rok_user=args.rok_user,
        since=since,
        active_at=now if args.active else None,
        registry=registry,
        limit=args.limit,
    )
    entries = store.ledger.tokens(query)
    if args.json:
        for entry in entries:
            print(json.dumps(token_record(entry)))
    elif entries:
        print(tokens_table(entries, now=now))
    elif registry is not None and registry not in (known := ledger_registries(store)):
        print(f"no tokens of registry {registry} (the ledger has: {', '.join(known) or 'none'})", file=sys.stderr)
    else:
        print("no tokens match", file=sys.stderr)
    return EXIT_OK


def _audit(store: Store, args: argparse.Namespace, since: datetime | None) -> int:
    from bot.store.admin import audit_table, list_audit

    lines = list_audit(store, since=since or datetime.now(UTC), limit=args.limit)
    if args.json:
        for line in lines:
            print(line.as_json())
    elif lines:
        print(audit_table(lines))
    else:
        print("no audit events in that window", file=sys.stderr)
    return EXIT_OK
