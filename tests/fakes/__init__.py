"""Fakes for tests: the sandbox servers that `rok-token-bot demo` also runs, re-exported in one place."""

# The Slack fakes (Web API and Socket Mode) come from bot.sandbox.slack; import them from there.
from bot.sandbox.kube import ExecRecord, FakeKube, FakePod
from bot.sandbox.registry import FakeRegistry
from bot.sandbox.rok import ExecOutcome, FakeAccount, FakeRok, MintedRecord, generate_accounts

__all__ = [
    "ExecOutcome",
    "ExecRecord",
    "FakeAccount",
    "FakeKube",
    "FakePod",
    "FakeRegistry",
    "FakeRok",
    "MintedRecord",
    "generate_accounts",
]
