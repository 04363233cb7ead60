"""`rok-token-bot report`: who held access at an instant, and what happened in a window; the database only.

    rok-token-bot report --at 2026-12-01T09:00:00Z      every token live then: whose, for which Rok user, how
    rok-token-bot report --at -2h --format csv           granted (approved by whom, break-glass and why, CLI)
    rok-token-bot report --from -7d [--to now]           counts per outcome (refusals per reason) and per user

Like `tokens` and `audit` it needs only the database settings (no Slack, no cluster) and opens the database
read-only. The rules live in the domain (bot/domain/report.py: what is live; activity.py: what is counted;
export.py: the formats and the CSV's formula guard); this module parses the options and prints. Bad input is
one line and exit 2, before the database is opened.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, TextIO

import msgspec

from bot.domain.errors import UsageError
from bot.domain.export import FORMATS, shorten, to_csv, to_jsonl, utc_iso
from bot.domain.report import INSTANT_HELP, parse_instant

if TYPE_CHECKING:
    from bot.store import Store

EXIT_OK = 0
TIME_OPTIONS = ("--at", "--from", "--to")
_RELATIVE = re.compile(r"-\d[0-9a-zA-Z]*")


class ReportPlan(msgspec.Struct, frozen=True):
    """What to report: the tokens live `at` an instant, or the activity in [start, end)."""

    fmt: str
    registry: str | None = None
    at: datetime | None = None
    start: datetime | None = None
    end: datetime | None = None


def add_report_command(sub: argparse._SubParsersAction[Any]) -> None:
    """`report` and its options, on the CLI's subcommands."""
    report = sub.add_parser(
        "report",
        help="who held access at an instant (--at), or counts per outcome and user in a window (--from/--to)",
    )
    report.add_argument("--at", metavar="TIME", help=f"list every token live at TIME: {INSTANT_HELP}")
    report.add_argument("--from", dest="start", metavar="TIME", help="count the audit events from TIME on")
    report.add_argument("--to", dest="end", metavar="TIME", help="... up to TIME (default: now)")
    report.add_argument("--registry", metavar="NAME", help="only this registry (ROK_BOT_REGISTRIES)")
    report.add_argument("--format", default="table", help="table (default), csv (RFC 4180, guarded) or jsonl")


def joined_relative_times(argv: Sequence[str]) -> list[str]:
    """`--at -2h` as `--at=-2h`: argparse takes a value starting with `-` (other than a number) for an option
    and refuses it, so a relative time after a time option is joined to it first."""
    joined: list[str] = []
    for word in argv:
        if joined and joined[-1] in TIME_OPTIONS and _RELATIVE.fullmatch(word):
            joined[-1] = f"{joined[-1]}={word}"
        else:
            joined.append(word)
    return joined


def report_plan(args: argparse.Namespace, *, now: datetime) -> ReportPlan:
    """The options checked and read (a UsageError of one line otherwise), before any database is opened."""
    fmt = str(args.format).strip().lower()
    if fmt not in FORMATS:
        raise UsageError(f"--format: {shorten(str(args.format), 20)!r} is not one of table, csv, jsonl.")
    registry = registry_name(args.registry)
    if args.at is not None:
        if args.start is not None or args.end is not None:
            raise UsageError("Give --at TIME, or --from TIME [--to TIME], not both.")
        return ReportPlan(fmt, registry, at=parse_instant(args.at, now=now))
    if args.start is None:
        raise UsageError("Give --at TIME (who held access then) or --from TIME [--to TIME] (what happened).")
    start = parse_instant(args.start, now=now, option="--from")
    end = parse_instant(args.end, now=now, option="--to") if args.end is not None else now
    if start > end:
        raise UsageError(f"--from ({utc_iso(start)}) is after --to ({utc_iso(end)}).")
    return ReportPlan(fmt, registry, start=start, end=end)


def registry_name(name: str | None) -> str | None:
    """`--registry NAME` of `tokens` and `report`: a registry name's shape, lower-cased (the store commands do not
    read the registries file: the ledger's rows name theirs)."""
    from bot.domain.patterns import REGISTRY_NAME

    if name is None:
        return None
    if not REGISTRY_NAME.fullmatch(name.strip().lower()):
        raise UsageError(f"--registry: {shorten(name, 40)!r} is not a registry name (a-z, 0-9 and '-').")
    return name.strip().lower()


def run_report(
    store: Store, plan: ReportPlan, *, now: datetime, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    """Print the report `plan` asks for: the data on `out` (stdout), counts and warnings on `err` (stderr)."""
    out = out or sys.stdout
    err = err or sys.stderr
    if plan.at is not None:
        _live(store, plan, plan.at, out=out, err=err)
    else:
        assert plan.start is not None and plan.end is not None
        _activity(store, plan, plan.start, plan.end, out=out, err=err)
    _warn_pruned(store, plan, now=now, err=err)
    return EXIT_OK


def _live(store: Store, plan: ReportPlan, at: datetime, *, out: TextIO, err: TextIO) -> None:
    from bot.domain.report import LIVE_FIELDS, live_records, live_table

    tokens, total = store.live.live_at(at, registry=plan.registry)
    records = live_records(tokens)
    if plan.fmt == "csv":
        out.write(to_csv(LIVE_FIELDS, records))
    elif plan.fmt == "jsonl":
        out.write(to_jsonl(records))
    elif tokens:
        print(live_table(tokens), file=out)
    unseen = sum(1 for t in tokens if not t.held)
    where = f" in registry {plan.registry}" if plan.registry else ""
    note = f" ({unseen} minted but never delivered: revoke by UUID)" if unseen else ""
    print(f"{total} token{'s' if total != 1 else ''} live at {utc_iso(at)}{where}{note}", file=err)


def _activity(store: Store, plan: ReportPlan, start: datetime, end: datetime, *, out: TextIO, err: TextIO) -> None:
    from bot.domain.activity import ACTIVITY_FIELDS, activity_records, activity_table, tally
    from bot.store.report import audit_records

    activity = tally(audit_records(store.engine, start=start, end=end, registry=plan.registry), start=start, end=end)
    records = activity_records(activity)
    if plan.fmt == "csv":
        out.write(to_csv(ACTIVITY_FIELDS, records))
    elif plan.fmt == "jsonl":
        out.write(to_jsonl(records))
    else:
        print(activity_table(activity), file=out)
    events = sum(activity.totals.values())
    print(f"{events} audit event{'s' if events != 1 else ''} from {utc_iso(start)} to {utc_iso(end)}", file=err)


def _warn_pruned(store: Store, plan: ReportPlan, *, now: datetime, err: TextIO) -> None:
    """Say when the report reaches back past what the retention keeps: it cannot show what was deleted."""
    earliest = plan.at if plan.at is not None else plan.start
    assert earliest is not None
    if earliest < now - store.retention:
        kept = utc_iso(now - store.retention)
        what = "tokens that expired" if plan.at is not None else "audit events"
        print(
            f"rok-token-bot: warning: {what} before {kept} are deleted (ROK_BOT_RETENTION): this report may miss some",
            file=err,
        )
    elif plan.at is None and earliest < now - store.refusal_retention:
        kept = utc_iso(now - store.refusal_retention)
        print(
            f"rok-token-bot: warning: refusals before {kept} are deleted (ROK_BOT_REFUSAL_RETENTION): "
            "this report may count fewer refusals than there were",
            file=err,
        )
