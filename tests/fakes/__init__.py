"""Fakes for tests: the sandbox servers that `rok-token-bot demo` also runs, re-exported in one place."""

# The Slack fakes (Web API and Socket Mode) come from sandbox.slack; import them from there.
from sandbox.kube import ExecRecord, FakeKube, FakePod
from sandbox.registry import FakeRegistry
from sandbox.rok import ExecOutcome, FakeAccount, FakeRok, MintedRecord, generate_accounts

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
