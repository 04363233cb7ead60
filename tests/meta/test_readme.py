"""The README is a contract: its commands are the ones CI runs, and it documents every setting."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

from pydantic import AliasChoices

from bot.settings import Settings
from bot.slack.directory import SlackDirectory

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _commands() -> list[str]:
    block = re.search(r"```sh\n(.*?)```", README, re.S)
    assert block, "README must open with a sh block of commands"
    return [line for line in block.group(1).splitlines() if line.strip()]


def test_readme_opens_with_two_commands_and_ci_runs_the_test_command() -> None:
    assert README.index("```sh") < 200, "the commands come first"
    install_and_run, run_tests = _commands()
    assert "rok-token-bot demo" in install_and_run
    assert run_tests.endswith(" scripts/test") and "pytest" in (ROOT / "scripts" / "test").read_text(encoding="utf-8")
    assert run_tests in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def test_every_setting_is_documented() -> None:
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        assert isinstance(alias, AliasChoices), name
        variable = str(alias.choices[0])
        assert f"`{variable}`" in README, f"{variable} is not documented in README.md"


def test_every_test_the_threat_model_cites_exists() -> None:
    """docs/SECURITY.md names the test behind each mitigation: those tests must exist."""
    security = (ROOT / "docs" / "SECURITY.md").read_text(encoding="utf-8")
    cited = set(re.findall(r"\b(test_[a-z0-9_]+)\b(?!\.py)", security))
    assert len(cited) > 15
    sources = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "tests").rglob("test_*.py"))
    missing = sorted(name for name in cited if f"def {name}(" not in sources)
    assert not missing, f"docs/SECURITY.md cites tests that do not exist: {missing}"


def test_the_threat_model_says_group_membership_is_trusted_and_cached() -> None:
    """Per-group limits and the group allowlist trust Slack's user groups, as the bot caches them: the docs say so."""
    ttl = inspect.signature(SlackDirectory.__init__).parameters["ttl"].default
    minutes = f"{ttl / 60:g} minutes"
    security = (ROOT / "docs" / "SECURITY.md").read_text(encoding="utf-8")
    rows = [line for line in security.splitlines() if line.startswith("| T") and "user-group membership" in line]
    assert rows, "no threat row says what trusting Slack user-group membership means"
    assert minutes in rows[0], f"the row must state the membership cache ({minutes})"
    assert "per replica" in rows[0]
    residual = security.split("## Residual risks", 1)[1].split("\n## ", 1)[0]
    bullets = [b for b in residual.split("\n- ") if "user-group membership" in b]
    assert bullets, "no residual risk about user-group membership"
    assert minutes in bullets[0]
    assert "admins" in bullets[0], "the bullet must say who should restrict editing user groups"


def test_every_variable_the_chart_sets_is_a_setting() -> None:
    """The Helm chart speaks the same contract: no env var in its templates that the bot would ignore."""
    aliases = {
        str(f.validation_alias.choices[0])
        for f in Settings.model_fields.values()
        if isinstance(f.validation_alias, AliasChoices)
    } | {"ROK_BOT_SECRETS_DIR"}  # read by load_settings() before the model, to find the secret files
    templates = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "helm").rglob("templates/**/*") if p.is_file())
    used = set(re.findall(r"\b((?:ROK_BOT|ROK_REGISTRY|SLACK)_[A-Z_]*[A-Z])\b", templates))
    assert used, "the chart sets no variable at all?"
    assert not sorted(used - aliases), f"the chart sets variables the bot does not read: {sorted(used - aliases)}"
