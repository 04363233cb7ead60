"""`doctor` against the fake Slack answering as an Enterprise Grid org-wide install: it names the install's kind
and the workspaces the app is in (`auth.teams.list`), and fails on the step people miss (the app added to no
workspace) or on a ROK_BOT_SLACK_TEAMS that lists a workspace the app is not in."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.slack import FakeSlack
from sandbox.slack_org import OrgSpec
from tests.e2e.test_cli import cli, sub_env  # noqa: F401  (a fixture)
from tests.fakes import FakeKube


@pytest.fixture
def org_slack() -> Iterator[FakeSlack]:
    with FakeSlack(org=OrgSpec(enterprise_id="E0ORG", teams=("T0A", "T0B"))) as fake:
        yield fake


def _doctor(env: dict[str, str], fake: FakeSlack, tmp_path: Path, **extra: str) -> tuple[int, str]:
    env = {**env, "SLACK_BOT_TOKEN": fake.bot_token, "SLACK_API_URL": fake.api_url, **extra}
    assert cli(["db", "upgrade"], env, tmp_path).returncode == 0
    done = cli(["doctor"], env, tmp_path)
    line = next(line for line in done.stdout.splitlines() if " slack install" in line)
    return done.returncode, line


def test_doctor_names_an_org_install_and_the_workspaces_it_is_in(
    sub_env: dict[str, str],  # noqa: F811
    tmp_path: Path,
    kube: FakeKube,
    org_slack: FakeSlack,
) -> None:
    code, line = _doctor(sub_env, org_slack, tmp_path)
    assert code == 0, line
    assert line.startswith("ok ") and "org-wide install of E0ORG (is_enterprise_install: true)" in line
    assert "in 2: T0A" in line and "T0B" in line


def test_doctor_fails_an_org_install_added_to_no_workspace(
    sub_env: dict[str, str],  # noqa: F811
    tmp_path: Path,
    kube: FakeKube,
    org_slack: FakeSlack,
) -> None:
    org_slack.set_teams([])
    code, line = _doctor(sub_env, org_slack, tmp_path)
    assert code == 1 and line.startswith("FAIL ") and "an org admin must add the app to workspaces" in line


def test_doctor_fails_when_rok_bot_slack_teams_lists_a_workspace_the_app_is_not_in(
    sub_env: dict[str, str],  # noqa: F811
    tmp_path: Path,
    kube: FakeKube,
    org_slack: FakeSlack,
) -> None:
    code, line = _doctor(sub_env, org_slack, tmp_path, ROK_BOT_SLACK_TEAMS="T0A,T0C")
    assert code == 1 and "ROK_BOT_SLACK_TEAMS lists workspaces the app is not in: T0C" in line
