"""A sandbox of several registries: one fake cluster, `rok-fort-manage` and registry each, each answering alone.

Checked with the bot's own adapters (the official Kubernetes client, httpx) against the fakes, and with the
bot's own loader for the files the sandbox writes. No bot runs here: wiring it is the bot's business.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from kubernetes import client, config

from bot.adapters.kube import KubeExecutor
from bot.adapters.registry import RegistryClient
from bot.domain.models import Verdict
from bot.domain.registries import load_registries
from bot.domain.secret import Token
from sandbox.clusters import RegistrySpec, account_uuid
from sandbox.rok import FakeAccount, default_accounts
from sandbox.slack import wait_for
from sandbox.world import Sandbox

ACCOUNT_LIST = ["rok-fort-manage", "account-list"]


@pytest.fixture
def box(tmp_path: Path) -> Iterator[Sandbox]:
    specs = (
        RegistrySpec(
            "prod", title="Production", channels=("C0PRODOPS",), policy={"limits": {"max": "1d"}}, exec_latency=0.0
        ),
        RegistrySpec(
            "staging",
            accounts=(FakeAccount("7e1f1c3e-0d0e-4a4e-9f5e-111111111111", "jdoe", "jdoe@example.com"),),
            own_kubeconfig=True,
        ),
    )
    with Sandbox(registries=specs, start_bot=False, workdir=tmp_path) as sandbox:
        yield sandbox


def executor(box: Sandbox, name: str, *, context: str | None = None, kubeconfig: str | None = None) -> KubeExecutor:
    """The bot's executor for one registry, configured the way the registries file says (a context, or a file)."""
    entry = box.settings().registries()[name]
    cfg = client.Configuration()
    config.load_kube_config(
        config_file=kubeconfig or str(entry.kubeconfig or box.env["KUBECONFIG"]),
        context=context or entry.context or None,
        client_configuration=cfg,
    )
    return KubeExecutor(
        configure=lambda: cfg,
        namespace=entry.namespace,
        service=entry.service,
        container=entry.container or None,
        timeout=10.0,
        output_limit=1 << 20,
        clock=time.monotonic,
    )


def test_the_registries_file_parses_with_the_bots_loader_and_names_each_cluster(box: Sandbox) -> None:
    assert "ROK_REGISTRY_URL" not in box.env
    registries = load_registries(Path(box.env["ROK_BOT_REGISTRIES"]), kubeconfig=box.env["KUBECONFIG"])
    assert registries.names() == ("prod", "staging")
    prod, staging = registries["prod"], registries["staging"]
    assert (prod.title, prod.url, prod.namespace, prod.service) == (
        "Production",
        box.registry_of("prod").url,
        "rok-prod",
        "rok-prod",
    )
    assert prod.context == "prod" and prod.kubeconfig is None  # a context of KUBECONFIG
    assert staging.kubeconfig is not None and staging.context is None  # a file of its own, its current-context
    assert registries.default_for("C0PRODOPS") is prod and registries.default_for("C0GENERAL") is None
    assert not prod.policy.empty and staging.policy.empty
    # The bot's settings take it as they would in production: the file, not ROK_REGISTRY_*.
    assert box.settings().registries().names() == ("prod", "staging")
    assert "C0PRODOPS" in box.slack.channels


def test_each_kubeconfig_context_reaches_its_own_cluster_and_only_it(box: Sandbox) -> None:
    combined = yaml.safe_load(Path(box.env["KUBECONFIG"]).read_text())
    assert [c["name"] for c in combined["contexts"]] == ["prod"]  # staging has a file of its own
    prod = executor(box, "prod")
    assert prod.api_host == box.kube_of("prod").url
    staging = executor(box, "staging")
    assert staging.api_host == box.kube_of("staging").url
    assert prod.resolve().pod == "rok-prod-0" and staging.resolve().pod == "rok-staging-0"
    # prod's credentials are refused by staging's API server: a bot that mixed them up would fail loudly.
    staging_file = Path(str(box.settings().registries()["staging"].kubeconfig))
    crossed = yaml.safe_load(staging_file.read_text())
    crossed["users"][0]["user"]["token"] = box.kube_of("prod").bearer_token
    (box._dir / "crossed").write_text(yaml.safe_dump(crossed))
    before = len(box.kube_of("staging").requests)
    with pytest.raises(Exception, match="not allowed"):  # its 401, as the bot's executor words it
        executor(box, "staging", kubeconfig=str(box._dir / "crossed")).resolve()
    assert len(box.kube_of("staging").requests) > before


def test_two_clusters_answer_independently_with_their_own_accounts_and_tokens(box: Sandbox) -> None:
    prod, staging = executor(box, "prod"), executor(box, "staging")
    prod_list, staging_list = prod.run(ACCOUNT_LIST).stdout, staging.run(ACCOUNT_LIST).stdout
    # The same person has another account UUID in each installation; staging knows only jdoe.
    assert account_uuid("prod", "jdoe") in prod_list and "alice" in prod_list
    assert "7e1f1c3e-0d0e-4a4e-9f5e-111111111111" in staging_list and "alice" not in staging_list
    assert default_accounts()[0].uuid not in prod_list
    made = prod.run(["rok-fort-manage", "token-create", "--user", account_uuid("prod", "jdoe"), "--duration", "60"])
    assert made.exit_code == 0
    token = box.rok_of("prod").minted[-1].token
    assert token.startswith("prod_") and box.minted_by(token) == "prod"
    # prod's account UUID means nothing in staging.
    wrong = staging.run(["rok-fort-manage", "token-create", "--user", account_uuid("prod", "jdoe"), "--duration", "60"])
    assert wrong.exit_code != 0 and box.rok_of("staging").minted == []
    assert [len(box.kube_of(n).execs) for n in ("prod", "staging")] == [2, 2]
    # Verify: prod's registry knows the token, staging's does not.
    for name, verdict in (("prod", Verdict.VALID), ("staging", Verdict.REJECTED)):
        registry = RegistryClient(registry_url=box.registry_of(name).url)
        try:
            assert registry.verify(Token(token)).verdict is verdict, name
        finally:
            registry.close()
    assert box.minted_by("not-a-token") is None


def test_hang_holds_every_exec_of_one_registry_while_the_other_answers(box: Sandbox) -> None:
    prod, staging = executor(box, "prod"), executor(box, "staging")
    prod.resolve(), staging.resolve()
    results: list[int] = []
    with box.hang("prod") as release:
        held = threading.Thread(target=lambda: results.append(prod.run(ACCOUNT_LIST).exit_code), daemon=True)
        held.start()
        wait_for(lambda: box.kube_of("prod").current_execs == 1, 10)
        assert staging.run(ACCOUNT_LIST).exit_code == 0  # staging is not held
        assert results == [] and held.is_alive()
        release.set()
        held.join(10)
    assert results == [0]
    assert box.rok_of("prod").hold is None  # the hook is gone with the block


def test_a_registry_named_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="named twice"):
        Sandbox(registries=("prod", "prod"), start_bot=False)


def test_accounts_added_to_every_registry_get_uuids_of_their_own(tmp_path: Path) -> None:
    with Sandbox(registries=("eu-1", "us-1"), start_bot=False, workdir=tmp_path) as box:
        box.add_accounts([FakeAccount("00000000-0000-4000-8000-000000000001", "zed", "zed@example.com")])
        uuids = {box.rok_of(n).account("zed").uuid for n in ("eu-1", "us-1")}
        assert uuids == {account_uuid("eu-1", "zed"), account_uuid("us-1", "zed")}
        assert box.kube_of("eu-1").url != box.kube_of("us-1").url


def test_without_registries_the_sandbox_is_the_single_registry_world_of_before(tmp_path: Path) -> None:
    with Sandbox(start_bot=False, workdir=tmp_path) as box:
        assert box.env["ROK_REGISTRY_URL"] == box.registry.url and "ROK_BOT_REGISTRIES" not in box.env
        assert list(box.clusters) == ["default"]
        assert box.rok_of("default") is box.rok and box.kube_of("default") is box.kube
        assert box.kube.namespace == "rok-registry" and box.rok.token_prefix == ""
        assert box.settings().registries().names() == ("default",)
