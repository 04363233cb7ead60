"""Several Rok registries in one sandbox: one fake cluster, `rok-fort-manage` and registry per installation.

`Sandbox(registries=("prod", "staging"))` gives each name a `Cluster`: its own FakeRok (tokens that start with
`prod_`, account UUIDs of its own), its own FakeKube (its own port, bearer token, namespace `rok-prod`, service
`rok-prod`, pod `rok-prod-0`) and its own FakeRegistry (Verify). The sandbox then writes one kubeconfig with a
context per registry (KUBECONFIG), or a file of its own for a registry that asks (`own_kubeconfig`), and the
`ROK_BOT_REGISTRIES` file that names them all, in the format `bot.domain.registries.load_registries` reads.

Everything differs between two clusters on purpose: a bot that sent prod's account UUID to staging, used
prod's credentials on staging's API server or verified a staging token at prod's registry gets an error,
not a lucky success.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from sandbox.kube import FakeKube, FakePod
from sandbox.registry import FakeRegistry
from sandbox.rok import FakeAccount, FakeRok, default_accounts


@dataclass(frozen=True)
class RegistrySpec:
    """One registry of a sandbox: its entry in the registries file, and how its fakes behave.

    `accounts`: its account list (None: the demo accounts, with UUIDs of this registry's own). `exec_latency`:
    seconds per exec of its `rok-fort-manage` (None: the sandbox's). `policy`: the entry's `policy:` overrides.
    `own_kubeconfig`: a kubeconfig file of its own (the entry's `kubeconfig:`) instead of a context in KUBECONFIG.
    `extra`: any other key of the entry, as written (`user_map`, `container`, ...).
    """

    name: str
    title: str = ""
    channels: tuple[str, ...] = ()
    policy: Mapping[str, Any] | None = None
    accounts: tuple[FakeAccount, ...] | None = None
    exec_latency: float | None = None
    max_concurrent_execs: int | None = None
    own_kubeconfig: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict)


def as_spec(item: str | RegistrySpec) -> RegistrySpec:
    """A registry given by its name alone is a spec with every default."""
    return item if isinstance(item, RegistrySpec) else RegistrySpec(name=item)


def accounts_of(registry: str, accounts: Sequence[FakeAccount]) -> list[FakeAccount]:
    """The same people with UUIDs of this registry's own (deterministic): `jdoe` in prod is not `jdoe` in staging."""
    return [replace(a, uuid=account_uuid(registry, a.username)) for a in accounts]


def account_uuid(registry: str, username: str) -> str:
    digest = hashlib.sha256(f"{registry}/{username}".encode()).digest()[:16]
    return str(uuid.UUID(bytes=digest, version=4))


class Cluster:
    """One registry installation's outside world: its `rok-fort-manage`, Kubernetes API and Rok Registry."""

    def __init__(self, name: str, rok: FakeRok, kube: FakeKube, registry: FakeRegistry) -> None:
        self.name = name
        self.rok = rok
        self.kube = kube
        self.registry = registry
        self.spec = RegistrySpec(name=name)

    @classmethod
    def of(cls, spec: RegistrySpec, *, latency: float, clock: Callable[[], datetime]) -> Cluster:
        """A cluster of its own for one registry of a several-registry sandbox."""
        name = spec.name
        accounts = list(spec.accounts) if spec.accounts is not None else accounts_of(name, default_accounts())
        rok = FakeRok(
            accounts,
            latency=latency if spec.exec_latency is None else spec.exec_latency,
            clock=clock,
            name=name,
            token_prefix=f"{name.replace('-', '_')}_",
        )
        kube = FakeKube(rok, namespace=f"rok-{name}", service=f"rok-{name}", bearer_token=f"fake-sa-token-{name}")
        kube.pods = [FakePod(name=f"rok-{name}-0")]
        cluster = cls(name, rok, kube, FakeRegistry(rok, prefix=f"/{name}/registry"))
        cluster.spec = spec
        return cluster

    def start(self) -> None:
        self.kube.start()
        self.registry.start()

    def stop(self) -> None:
        self.registry.stop()
        self.kube.stop()

    def kubeconfig_parts(self) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        """This cluster's (cluster, user, context) entries of a kubeconfig, each named after the registry."""
        name = self.name
        cluster = {"name": f"{name}-cluster", "cluster": {"server": self.kube.url}}
        user = {"name": f"{name}-sa", "user": {"token": self.kube.bearer_token}}
        context = {
            "name": name,
            "context": {"cluster": f"{name}-cluster", "user": f"{name}-sa", "namespace": self.kube.namespace},
        }
        return cluster, user, context

    def entry(self, *, kubeconfig: Path | None) -> dict[str, Any]:
        """This registry's entry of the registries file: a context of KUBECONFIG, or its own kubeconfig file."""
        spec = self.spec
        entry: dict[str, Any] = {"name": self.name}
        if spec.title:
            entry["title"] = spec.title
        entry["url"] = self.registry.url
        if kubeconfig is not None:
            entry["kubeconfig"] = str(kubeconfig)  # its current-context: no `context:` needed
        else:
            entry["context"] = self.name
        entry["namespace"] = self.kube.namespace
        entry["service"] = self.kube.service
        if spec.max_concurrent_execs is not None:
            entry["max_concurrent_execs"] = spec.max_concurrent_execs
        if spec.channels:
            entry["channels"] = list(spec.channels)
        if spec.policy:
            entry["policy"] = dict(spec.policy)
        entry.update(spec.extra)
        return entry


def kubeconfig(clusters: Sequence[Cluster], *, current: str) -> dict[str, Any]:
    """One kubeconfig with a cluster, a user and a context per registry; `current` is the current-context."""
    parts = [c.kubeconfig_parts() for c in clusters]
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [p[0] for p in parts],
        "users": [p[1] for p in parts],
        "contexts": [p[2] for p in parts],
        "current-context": current,
        "preferences": {},
    }


def write_world(clusters: Sequence[Cluster], directory: Path) -> tuple[Path, Path]:
    """Write the kubeconfig(s) and the registries file into `directory`; (KUBECONFIG, ROK_BOT_REGISTRIES)."""
    shared = [c for c in clusters if not c.spec.own_kubeconfig]
    combined = directory / "kubeconfig"
    _write_yaml(combined, kubeconfig(shared or clusters, current=(shared or clusters)[0].name))
    entries = []
    for cluster in clusters:
        own = None
        if cluster.spec.own_kubeconfig:
            own = directory / f"kubeconfig-{cluster.name}"
            _write_yaml(own, kubeconfig([cluster], current=cluster.name))
        entries.append(cluster.entry(kubeconfig=own))
    registries = directory / "registries.yaml"
    _write_yaml(registries, {"registries": entries})
    return combined, registries


def _write_yaml(path: Path, data: Mapping[str, Any]) -> None:
    path.write_text(yaml.safe_dump(dict(data), sort_keys=False), encoding="utf-8")
