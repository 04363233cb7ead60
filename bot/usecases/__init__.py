"""The use cases: what the bot does for a requester, whichever front end asked. This module is their API.

Each use case is one function that reads top to bottom and takes an immutable request: the Slack listeners,
the CLI and the upkeep loops only translate their input into one of these calls. They talk to the outside
world only through the ports in `bot.domain.ports` and the token engine, so the unit tests run them on
in-memory fakes. No Slack, Kubernetes, HTTP or database import in this package (tests/meta/test_layers.py).

Features depend one way: `context` (ports, facts, the failure reporter) under `holders` (the admins' view of
every live token), `home` (on `holders`: an admin's tab shows them) and `verify`, `issue`
on `home` (a delivered token refreshes the Home tab), `renewal` on `issue`, `approvals` on both (an
approved renewal edits the token's reminder).
"""

from bot.usecases.approvals import Decision, ShowToken, decide_request, lapse_due, show_approved_token
from bot.usecases.context import ADMIN_RULE, Command, Ports, new_checks, report
from bot.usecases.engine import VERIFY_PROTECTION, TokenEngine
from bot.usecases.fleet import (
    Fleet,
    TokenAsk,
    form_with_registries,
    help_with_registries,
    request_token,
    worker_share,
)
from bot.usecases.holders import is_admin, who_holds
from bot.usecases.home import help_for, list_tokens, open_token_form, pending_for, show_home, tokens_of
from bot.usecases.issue import Issued, IssueRequest, issue_for_admin, issue_token
from bot.usecases.renewal import RenewRequest, dismiss_reminder, renew_token, send_reminders
from bot.usecases.verify import verify_button

__all__ = [
    "ADMIN_RULE",
    "VERIFY_PROTECTION",
    "Command",
    "Decision",
    "Fleet",
    "IssueRequest",
    "Issued",
    "Ports",
    "RenewRequest",
    "ShowToken",
    "TokenAsk",
    "TokenEngine",
    "decide_request",
    "dismiss_reminder",
    "form_with_registries",
    "help_for",
    "help_with_registries",
    "is_admin",
    "issue_for_admin",
    "issue_token",
    "lapse_due",
    "list_tokens",
    "new_checks",
    "open_token_form",
    "pending_for",
    "renew_token",
    "report",
    "request_token",
    "send_reminders",
    "show_approved_token",
    "show_home",
    "tokens_of",
    "verify_button",
    "who_holds",
    "worker_share",
]
