"""Two registry installations for the end-to-end tests: prod and staging, each with its own fake Rok, fake
cluster (staging in namespace rok-staging) and fake registry, and the ROK_BOT_REGISTRIES file naming them."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml

from tests.fakes import FakeKube, FakeRegistry, FakeRok


@dataclass
class Site:
    """One registry installation: its Rok, its cluster, its registry's HTTP API."""

    rok: FakeRok
    kube: FakeKube
    registry: FakeRegistry


def _site(namespace: str) -> Site:
    rok = FakeRok()
    return Site(rok, FakeKube(rok, namespace=namespace).start(), FakeRegistry(rok).start())


@contextlib.contextmanager
def two_sites() -> Iterator[dict[str, Site]]:
    """prod (namespace rok-registry) and staging (namespace rok-staging), each started, stopped at the end."""
    built = {"prod": _site("rok-registry"), "staging": _site("rok-staging")}
    try:
        yield built
    finally:
        for site in built.values():
            site.kube.stop()
            site.registry.stop()


def write_world(sites: dict[str, Site], tmp_path: Path) -> Path:
    """The registries file: prod with a kubeconfig of its own; staging by its context in a kubeconfig whose
    current-context is prod's cluster (so a context ignored would reach the wrong cluster)."""
    prod, staging = sites["prod"], sites["staging"]
    prod_config = prod.kube.write_kubeconfig(tmp_path / "prod.kubeconfig")
    shared = prod.kube.kubeconfig_dict()
    other = staging.kube.kubeconfig_dict()
    shared["clusters"].append({"name": "staging", "cluster": other["clusters"][0]["cluster"]})
    shared["users"].append({"name": "staging-sa", "user": other["users"][0]["user"]})
    shared["contexts"].append({"name": "staging", "context": {"cluster": "staging", "user": "staging-sa"}})
    shared_config = tmp_path / "shared.kubeconfig"
    shared_config.write_text(yaml.safe_dump(shared, sort_keys=False))
    entries = [
        {"name": "prod", "url": prod.registry.url, "kubeconfig": str(prod_config)},
        {
            "name": "staging",
            "url": staging.registry.url,
            "kubeconfig": str(shared_config),
            "context": "staging",
            "namespace": "rok-staging",
            "max_concurrent_execs": 2,
        },
    ]
    path = tmp_path / "registries.yaml"
    path.write_text(yaml.safe_dump({"registries": entries}, sort_keys=False))
    return path
