"""A registry whose Kubernetes client cannot be configured (a broken kubeconfig): the bot starts and serves the
other registries; that one is reported by /readyz and the registry's metric, and a request for it is answered
with the cluster's sentence (issue 26: the client is made on first use, by the registry's first probe, so a
start waits for neither kubernetes nor a kubeconfig)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from sandbox.clusters import RegistrySpec
from sandbox.world import Sandbox


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    broken = tmp_path_factory.mktemp("kube") / "staging-kubeconfig"
    # What the settings can check holds (YAML, the context is there); the CA file it names does not exist: only
    # the Kubernetes client's loader refuses it.
    broken.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: staging\n"
        "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:1', certificate-authority: /nonexistent/ca.crt}}]\n"
        "users: [{name: u, user: {token: not-a-real-token}}]\n"
        "contexts: [{name: staging, context: {cluster: c, user: u}}]\n",
        encoding="utf-8",
    )
    staging = RegistrySpec("staging", extra={"kubeconfig": str(broken)})
    with Sandbox(registries=("prod", staging)) as started:
        yield started


def _registries(box: Sandbox) -> tuple[int, dict[str, str]]:
    response = httpx.get(box.url + "/readyz", timeout=5)
    states: dict[str, str] = response.json()["checks"]["registries"]
    return response.status_code, states


def test_the_bot_is_ready_and_readyz_names_the_registry_it_cannot_reach(box: Sandbox) -> None:
    box.slack.wait_for(lambda: "pending" not in _registries(box)[1].values(), 10)
    status, states = _registries(box)
    assert status == 200
    assert states == {"prod": "ok", "staging": "failing: cluster_error"}
    metrics = httpx.get(box.url + "/metrics", timeout=5).text
    assert 'rok_bot_registry_up{registry="staging"} 0.0' in metrics
    assert 'rok_bot_registry_up{registry="prod"} 1.0' in metrics


def test_the_other_registry_mints_and_the_broken_one_answers_with_the_cluster_sentence(box: Sandbox) -> None:
    box.slash("U0JDOE", "prod 1h")
    assert box.wait_private("U0JDOE")[-1].token is not None
    _, _, response_url = box.slash("U0JDOE", "staging 1h")
    reply = box.wait_reply(response_url)
    assert "could not be reached" in reply.text
    assert "Traceback" not in reply.text
