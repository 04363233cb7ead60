"""The admin CLI with several registries (ROK_BOT_REGISTRIES): two fake clusters, two fake Rok installations and
two fake registries on loopback, one registries file, a kubeconfig per registry (staging's found by its context).

`--registry` is required with several and refused when unknown (the error lists the names, nothing runs in any
cluster); `issue` mints in the named one and records it in the ledger and the audit event; `verify` asks that
registry only; `tokens` filters by it; `doctor` checks each one and names the failing one.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from bot import __version__
from bot.cli import main
from tests.e2e.registries import Site, two_sites, write_world
from tests.fakes import FakeRok

ERROR_PREFIX = "rok-token-bot: error: "


@pytest.fixture
def sites() -> Iterator[dict[str, Site]]:
    """prod (namespace rok-registry) and staging (namespace rok-staging), each started."""
    with two_sites() as built:
        yield built


@pytest.fixture
def run(
    clean_env: dict[str, str],
    sites: dict[str, Site],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Callable[..., tuple[int, str, str]]:
    """The CLI in-process with ROK_BOT_REGISTRIES naming prod and staging; returns (exit code, stdout, stderr)."""
    monkeypatch.setenv("ROK_BOT_REGISTRIES", str(write_world(sites, tmp_path)))

    def call(*argv: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    return call


def _execs(sites: dict[str, Site]) -> dict[str, int]:
    return {name: len(site.kube.execs) for name, site in sites.items()}


@pytest.mark.parametrize("argv", [["issue", "jdoe"], ["verify"]])
def test_with_several_registries_the_registry_is_required_and_the_error_lists_them(
    run: Callable[..., tuple[int, str, str]],
    sites: dict[str, Site],
    monkeypatch: pytest.MonkeyPatch,
    argv: list[str],
) -> None:
    monkeypatch.setenv("ROK_REGISTRY_TOKEN", sites["prod"].rok.mint(sites["prod"].rok.account("jdoe").uuid, 3600))
    code, out, err = run(*argv)
    assert (code, out) == (2, "")
    assert err == f"{ERROR_PREFIX}Several registries are configured: name one with --registry (prod, staging).\n"
    assert _execs(sites) == {"prod": 0, "staging": 0}
    assert [site.registry.requests for site in sites.values()] == [0, 0]  # the token went nowhere


@pytest.mark.parametrize("argv", [["issue", "jdoe", "--registry", "dev"], ["verify", "--registry", "dev"]])
def test_an_unknown_registry_is_refused_with_the_names_and_nothing_runs(
    run: Callable[..., tuple[int, str, str]], sites: dict[str, Site], argv: list[str]
) -> None:
    code, out, err = run(*argv)
    assert (code, out) == (2, "")
    assert err == f"{ERROR_PREFIX}No registry is named 'dev'; the registries are: prod, staging.\n"
    assert _execs(sites) == {"prod": 0, "staging": 0}


def test_issue_mints_in_the_named_registry_and_records_it(
    run: Callable[..., tuple[int, str, str]], sites: dict[str, Site]
) -> None:
    code, out, err = run("issue", "jdoe", "--registry", "staging", "--duration", "1h", "--json")
    assert code == 0, err
    issued = json.loads(out)
    [minted] = sites["staging"].rok.minted
    assert sites["prod"].rok.minted == [] and _execs(sites)["prod"] == 0
    assert (issued["token"], issued["registry"]) == (minted.token, "staging")
    assert any("/namespaces/rok-staging/pods/" in path for _, path in sites["staging"].kube.requests)
    assert err.startswith("issued a 1h token for jdoe in registry staging (token uuid")
    assert minted.token not in err

    code, out, _ = run("tokens", "--json")
    [row] = [json.loads(line) for line in out.splitlines()]
    assert (row["registry"], row["token_uuid"], row["origin"]) == ("staging", minted.token_uuid, "cli")
    code, out, _ = run("audit", "--json")
    [event] = [json.loads(line) for line in out.splitlines() if json.loads(line)["outcome"] == "issued"]
    assert (event["registry"], event["token_uuid"]) == ("staging", minted.token_uuid)
    assert minted.token not in out


def test_verify_asks_the_named_registry_only(
    run: Callable[..., tuple[int, str, str]], sites: dict[str, Site], monkeypatch: pytest.MonkeyPatch
) -> None:
    staging = sites["staging"]
    monkeypatch.setenv("ROK_REGISTRY_TOKEN", staging.rok.mint(staging.rok.account("jdoe").uuid, 3600))
    code, out, err = run("verify", "--registry", "staging")
    assert code == 0, err
    assert out.startswith("valid: ")
    assert (staging.registry.requests, sites["prod"].registry.requests) == (1, 0)
    code, out, _ = run("verify", "--registry", "PROD")  # names are lower case: PROD finds prod
    assert code == 1 and not out.startswith("valid")  # prod does not know staging's token
    assert (staging.registry.requests, sites["prod"].registry.requests) == (1, 1)


def test_tokens_filters_by_registry_and_shows_the_column(
    run: Callable[..., tuple[int, str, str]], sites: dict[str, Site]
) -> None:
    for name in ("prod", "staging", "prod"):
        assert run("issue", "jdoe", "--registry", name, "--duration", "1h")[0] == 0
    code, out, _ = run("tokens")
    header, *rows = out.splitlines()
    assert header.split()[:2] == ["REGISTRY", "ISSUED"]
    assert sorted(row.split()[0] for row in rows) == ["prod", "prod", "staging"]
    code, out, _ = run("tokens", "--registry", "staging", "--json")
    assert [json.loads(line)["registry"] for line in out.splitlines()] == ["staging"]
    code, out, err = run("tokens", "--registry", "dev")
    assert (code, out) == (0, "")
    assert err == "no tokens of registry dev (the ledger has: prod, staging)\n"
    code, _, err = run("tokens", "--registry", "not_a name")
    assert code == 2 and "is not a registry name" in err


def test_doctor_checks_every_registry(run: Callable[..., tuple[int, str, str]], sites: dict[str, Site]) -> None:
    assert run("db", "upgrade")[0] == 0
    code, out, err = run("doctor")
    assert code == 0, out + err
    lines = out.splitlines()
    for name in ("prod", "staging"):
        mine = [line for line in lines if f" registry {name}: " in line]
        assert [line.split()[1] for line in mine] == [
            "settings", "cluster", "rbac", "rbac", "rbac", "rbac", "rbac", "pod", "accounts", "registry",
        ]  # fmt: skip
    assert "in rok-staging" in out and "6 account(s)" in out
    assert err.strip() == f"rok-token-bot {__version__}: 21 ok, 0 failed"
    assert len(sites["staging"].kube.access_reviews) == 5


@pytest.mark.parametrize("breakage", ["cluster", "rbac", "registry"])
def test_doctor_names_the_failing_registry_and_fails(
    run: Callable[..., tuple[int, str, str]], sites: dict[str, Site], breakage: str
) -> None:
    staging = sites["staging"]
    if breakage == "cluster":
        staging.kube.stop()
    elif breakage == "rbac":
        staging.kube.denied.add(("create", "pods", "exec"))
    else:
        staging.registry.stop()
    code, out, err = run("doctor")
    assert code == 1
    failed = [line for line in out.splitlines() if line.startswith("FAIL")]
    assert failed and all(" registry staging: " in line for line in failed)
    assert any(line.split()[1] == breakage for line in failed)
    if breakage == "cluster":  # nothing else of that cluster is asked: one line, not eight
        assert [line.split()[1] for line in out.splitlines() if " registry staging: " in line] == [
            "settings", "cluster", "registry",
        ]  # fmt: skip
    assert all(line.startswith("ok ") for line in out.splitlines() if " registry prod: " in line)
    assert err.strip().endswith("; failing registry: staging")


def test_a_registry_whose_client_cannot_be_configured_is_named_and_the_others_are_checked(
    run: Callable[..., tuple[int, str, str]], tmp_path: Path
) -> None:
    shared = tmp_path / "shared.kubeconfig"
    config = yaml.safe_load(shared.read_text())
    cluster = config["clusters"][1]["cluster"]
    cluster["server"] = cluster["server"].replace("http://", "https://")
    cluster["certificate-authority"] = str(tmp_path / "absent-ca.crt")
    shared.write_text(yaml.safe_dump(config))  # the context is there (the start accepts it); its CA file is not
    code, out, err = run("doctor")
    assert code == 1
    [failed] = [line for line in out.splitlines() if line.startswith("FAIL")]
    assert failed.split()[1:4] == ["cluster", "registry", "staging:"]
    assert "context staging" in failed and failed.count("registry staging") == 1
    assert any(line.startswith("ok    accounts  registry prod: ") for line in out.splitlines())
    assert "failing registry: staging" in err


def test_one_registry_keeps_the_cli_of_before(
    core_env: dict[str, str], rok: FakeRok, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without the file: `--registry default` is accepted, another name is refused naming `default`, and the
    tokens table has no REGISTRY column."""
    assert main(["issue", "jdoe", "--registry", "default", "--duration", "1h"]) == 0
    _, err = capsys.readouterr()
    assert err.startswith("issued a 1h token for jdoe (token uuid")
    assert main(["issue", "jdoe", "--registry", "prod"]) == 2
    assert capsys.readouterr().err == f"{ERROR_PREFIX}No registry is named 'prod'; the registries are: default.\n"
    assert main(["tokens"]) == 0
    assert capsys.readouterr().out.split()[0] == "ISSUED"
    assert len(rok.minted) == 1
