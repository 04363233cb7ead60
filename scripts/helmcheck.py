"""The Python half of .ci/helm.sh: policy checks on the chart's renders, and its README against values.yaml.

Kept out of heredocs so that ruff and mypy see it. It runs on the gate tools' venv (.tools/venv, made by
.ci/tools.sh), not the project's: the standard library and PyYAML are all it may import.

    python scripts/helmcheck.py policy OUT_DIR    # OUT_DIR holds helm.sh's renders, <name>.yaml
    python scripts/helmcheck.py readme CHART_DIR
    python scripts/helmcheck.py package CHART.tgz    # what `helm package` wrote
"""

from __future__ import annotations

import argparse
import json
import sys
import tarfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

# One rendered Kubernetes object, or any mapping inside one: YAML gives no better type.
Doc = dict[str, Any]

NAMESPACED = {
    "ServiceAccount",
    "Role",
    "RoleBinding",
    "Secret",
    "ConfigMap",
    "Service",
    "Deployment",
    "NetworkPolicy",
    "Ingress",
    "ServiceMonitor",
    "PodDisruptionBudget",
    "Pod",
    "PersistentVolumeClaim",
    "PrometheusRule",
}
# The Prometheus Operator's kinds: kubernetes-validate has no schema for them; scripts/crdcheck.mjs validates them
# against the operator's CRD schemas (the npm package .ci/tools.sh installs), and the checks below check the wiring.
CRDS = {"ServiceMonitor", "PrometheusRule"}
# Pod: the `helm test` hook (templates/tests/doctor.yaml); `helm template` renders test hooks.
EXPECTED_DEFAULT = {
    "ServiceAccount",
    "Role",
    "RoleBinding",
    "Secret",
    "ConfigMap",
    "Service",
    "Deployment",
    "NetworkPolicy",
    "Pod",
}
# And the Grafana dashboard's ConfigMap, a second ConfigMap, checked apart (check_dashboard).
EXPECTED_ALL_ON = EXPECTED_DEFAULT - {"Secret"} | {"Ingress", "ServiceMonitor", "PodDisruptionBudget", "PrometheusRule"}
DASHBOARD_KEY = "rok-token-bot.json"
SEVERITIES = {"critical", "warning"}
# What ci-values-all-on.yaml asks for: labels on every alert, the sidecar's label and folder on the dashboard.
ALL_ON_ALERT_LABELS = {"team": "platform"}
ALL_ON_DASHBOARD_LABELS = {"grafana_dashboard": "1"}
RULES = [
    {"apiGroups": [""], "resources": ["services"], "verbs": ["get"]},  # resourceNames checked below
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]},
    {"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["get", "create"]},
]
SECRET_KEYS = {"SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN", "ROK_BOT_SEAL_KEY", "ROK_BOT_DATABASE_URL"}
# Never an env var either, though not in the chart's own Secret: the SIEM webhook's signing secret.
SIGNING_VAR = "ROK_BOT_AUDIT_WEBHOOK_SECRET"  # the variable's name, not a value
WEBHOOK_URL_VAR = "ROK_BOT_AUDIT_WEBHOOK_URL"
WEBHOOK_FORMAT_VAR = "ROK_BOT_AUDIT_WEBHOOK_FORMAT"
DATA_MOUNT = "/var/lib/rok-token-bot"
DATA_DIR = f"{DATA_MOUNT}/store"  # a directory the bot creates 0700 inside the volume, whose root is the platform's
# The PostgreSQL Secret per render (name, key) and the egress peers expected for it; absent: SQLite.
DATABASE: dict[str, tuple[str, str, list[Doc]]] = {
    "all-on": (
        "rok-token-bot-postgres",
        "uri",
        [
            {
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "databases"}},
                "podSelector": {"matchLabels": {"cnpg.io/cluster": "rok-token-bot"}},
            }
        ],
    ),
    "postgres": ("rok-pg-app", "ROK_BOT_DATABASE_URL", [{"ipBlock": {"cidr": "0.0.0.0/0"}}]),
}


def tcp(*ports: int) -> list[Doc]:
    """NetworkPolicy ports for these TCP port numbers."""
    return [{"port": p, "protocol": "TCP"} for p in ports]


@dataclass(frozen=True)
class Webhook:
    """What a render must show for the SIEM webhook: the Secret's keys, where the URL comes from, its egress."""

    secret: str
    signing_key: str
    url_key: str | None  # the URL is the projected file ROK_BOT_AUDIT_WEBHOOK_URL from this key, or
    url: str | None  # a plain URL (no credential in it) is the env var ROK_BOT_AUDIT_WEBHOOK_URL
    to: list[Doc]
    ports: list[int]
    fmt: str = "rok"  # ROK_BOT_AUDIT_WEBHOOK_FORMAT, an env var whenever the webhook is on


# The SIEM webhook per render; absent: no webhook, nothing of it projected, no egress rule for it.
WEBHOOK: dict[str, Webhook] = {
    "all-on": Webhook(
        "rok-token-bot-siem", "hmac", "hec-url", None, [{"ipBlock": {"cidr": "10.30.0.0/24"}}], [8088], "splunk_hec"
    ),
    "webhook": Webhook(
        "rok-siem",
        SIGNING_VAR,
        None,
        "https://siem.example.com/rok-bot",
        [{"ipBlock": {"cidr": "203.0.113.10/32"}}],
        [443],
    ),
}


@dataclass(frozen=True)
class Several:
    """What a render with `registries` (several registries) must show."""

    names: tuple[str, ...]  # the registries file's entries, in order
    roles: dict[str, list[str]]  # namespace -> its registry Services (the Role's resourceNames): in-cluster only
    kubeconfigs: dict[str, tuple[str, str]]  # registry -> (Secret, key) of its kubeconfig: the remote ones
    egress: list[Doc]  # the egress rules between DNS and Slack, in order: the API server, then one or two per registry


def pods_rule(namespace: str, labels: dict[str, str], *ports: int) -> Doc:
    """The egress rule to an in-cluster registry's pods: by label, in its namespace, on its ports."""
    return {
        "to": [
            {
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}},
                "podSelector": {"matchLabels": labels},
            }
        ],
        "ports": tcp(*ports),
    }


def cidrs_rule(cidrs: list[str], *ports: int) -> Doc:
    """An egress rule to these CIDRs on these TCP ports."""
    return {"to": [{"ipBlock": {"cidr": c}} for c in cidrs], "ports": tcp(*ports)}


# The renders with `registries`: helm/ci-values-two-registries.yaml (one in-cluster, one remote), and
# registries-rbac (three in-cluster registries over two namespaces, one remote, every default left as is).
SEVERAL: dict[str, Several] = {
    "two-registries": Several(
        names=("prod", "staging"),
        roles={"rok-prod": ["rok-registry-api"]},
        kubeconfigs={"staging": ("rok-staging-kubeconfig", "kubeconfig")},
        egress=[
            cidrs_rule(["10.0.0.0/24"], 6443),
            pods_rule("rok-prod", {"app.kubernetes.io/name": "rok-registry"}, 8443),
            cidrs_rule(["198.51.100.10/32"], 6443),
            cidrs_rule(["198.51.100.20/32"], 443),
        ],
    ),
    "registries-rbac": Several(
        names=("a", "b", "c", "far"),
        roles={"rok-a": ["svc-a", "svc-b"], "rok-registry": ["rok-registry"]},
        kubeconfigs={"far": ("far-kube", "config")},
        egress=[
            cidrs_rule(["0.0.0.0/0"], 443, 6443),
            pods_rule("rok-a", {"app": "rok-registry"}, 443),
            pods_rule("rok-a", {"app": "rok-registry"}, 443),
            pods_rule("rok-registry", {"app": "rok-registry"}, 443),
            cidrs_rule(["203.0.113.0/28"], 443, 6443),
        ],
    ),
}
# The keys of the ROK_BOT_REGISTRIES file (bot.domain.registries.Registry): the chart renders no other.
REGISTRY_FILE_KEYS = {
    "name",
    "title",
    "url",
    "kubeconfig",
    "context",
    "namespace",
    "service",
    "container",
    "ca_bundle",
    "allow_http",
    "max_concurrent_execs",
    "channels",
    "user_map",
    "policy",
}
CONFIG_DIR = "/etc/rok-token-bot/config"
KUBE_DIR = "/etc/rok-token-bot/kube"
CA_DIR = "/etc/rok-token-bot/ca"
# networkPolicy.extraEgress rules per render: the last rules of the policy.
EXTRA_EGRESS = {"all-on": 1, "openshift": 1}
# NetworkPolicy egress per render: API server (CIDRs, ports), registry pods (labels, ports).
NP_API: dict[str, tuple[list[str], list[int]]] = {
    "default": (["0.0.0.0/0"], [443, 6443]),
    "persistence": (["0.0.0.0/0"], [443, 6443]),
    "postgres": (["0.0.0.0/0"], [443, 6443]),
    "webhook": (["0.0.0.0/0"], [443, 6443]),
    "example": (["10.0.0.0/24"], [6443]),
    "all-on": (["10.0.0.0/24", "172.16.0.1/32"], [443, 6443]),
    "openshift": (["10.0.0.10/32"], [6443]),
    "two-registries": (["10.0.0.0/24"], [6443]),
    "registries-rbac": (["0.0.0.0/0"], [443, 6443]),
}
NP_API_SET = {
    "default": False,
    "persistence": False,
    "postgres": False,
    "webhook": False,
    "example": True,
    "all-on": True,
    "openshift": True,
    "two-registries": True,
    "registries-rbac": False,
}
NP_REGISTRY: dict[str, tuple[dict[str, str], list[int]]] = {
    "default": ({"app": "rok-registry"}, [443]),
    "persistence": ({"app": "rok-registry"}, [443]),
    "postgres": ({"app": "rok-registry"}, [443]),
    "webhook": ({"app": "rok-registry"}, [443]),
    "example": ({"app": "rok-registry"}, [8443]),
    "all-on": ({"app.kubernetes.io/name": "rok-registry", "app.kubernetes.io/component": "api"}, [80, 8443]),
    "openshift": ({"app": "rok-registry"}, [443]),
}
# The pod hardening every render keeps (OpenShift included); the fixed IDs are checked per render.
POD_HARDENING: Doc = {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
CONTAINER_HARDENING: Doc = {
    "runAsNonRoot": True,
    "readOnlyRootFilesystem": True,
    "allowPrivilegeEscalation": False,
    "privileged": False,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}
FIXED_IDS = {"runAsUser", "runAsGroup", "fsGroup"}
# The renders helm.sh writes into OUT_DIR, in the order they are checked.
RENDERS = (
    "default",
    "example",
    "all-on",
    "openshift",
    "persistence",
    "postgres",
    "webhook",
    "two-registries",
    "registries-rbac",
)
# The renders whose ConfigMap holds policy.yaml (ROK_BOT_POLICY).
POLICY_RENDERS = {"all-on", "two-registries"}
REGISTRY_NAMESPACE = {
    "default": "rok-registry",
    "example": "rok-registry",
    "all-on": "rok-system",
    "openshift": "rok-registry",
    "persistence": "rok-registry",
    "postgres": "rok-registry",
    "webhook": "rok-registry",
}
# Values whose children the README need not list one by one (plain Kubernetes structures).
README_OPAQUE = (
    "resources",
    "livenessProbe",
    "readinessProbe",
    "podSecurityContext",
    "containerSecurityContext",
    "dashboard.labels",  # a label map with one default entry, documented as a whole
)


@dataclass
class Report:
    """The failed checks, in the order they ran."""

    errors: list[str] = field(default_factory=list)

    def check(self, cond: object, msg: str) -> None:
        """Record msg when cond is falsy."""
        if not cond:
            self.errors.append(msg)


@dataclass(frozen=True)
class BotPod:
    """The bot's Deployment and the parts of its pod the checks compare."""

    deployment: Doc
    spec: Doc
    container: Doc
    env: dict[str, Doc]
    mounts: dict[str, Doc]
    volumes: dict[str, Doc]

    @classmethod
    def of(cls, by: dict[str, Doc]) -> BotPod:
        """Pick the pod out of a render's objects (keyed by kind)."""
        dep = by["Deployment"]
        spec = dep["spec"]["template"]["spec"]
        (c,) = spec["containers"]
        return cls(
            deployment=dep,
            spec=spec,
            container=c,
            env={e["name"]: e for e in c.get("env", [])},
            mounts={m["mountPath"]: m for m in c["volumeMounts"]},
            volumes={v["name"]: v for v in spec["volumes"]},
        )


def load(out: Path, name: str) -> list[Doc]:
    """Read a render, and write its objects but the CRDs to <name>.core.yaml for kubernetes-validate, the CRDs to
    <name>.crds.json for scripts/crdcheck.mjs."""
    docs = [d for d in yaml.safe_load_all((out / f"{name}.yaml").read_text(encoding="utf-8")) if d]
    core = [d for d in docs if d["kind"] not in CRDS]
    (out / f"{name}.core.yaml").write_text(yaml.safe_dump_all(core), encoding="utf-8")
    crds = [d for d in docs if d["kind"] in CRDS]
    (out / f"{name}.crds.json").write_text(json.dumps(crds), encoding="utf-8")
    return docs


def is_dashboard(doc: Doc) -> bool:
    """The Grafana dashboard's ConfigMap (templates/dashboard.yaml), beside the bot's own ConfigMap."""
    return doc["kind"] == "ConfigMap" and DASHBOARD_KEY in (doc.get("data") or {})


def check_kinds(report: Report, name: str, docs: list[Doc]) -> None:
    """The kinds rendered, each namespaced, in its namespace, with the standard labels."""
    check = report.check
    kinds = [d["kind"] for d in docs]
    several = SEVERAL.get(name)
    # With several registries, one Role and one RoleBinding per in-cluster registry namespace (check_rbac).
    unique = [k for k in kinds if not several or k not in ("Role", "RoleBinding")]
    check(len(unique) == len(set(unique)), f"{name}: duplicate kinds {kinds}")
    for d in docs:
        where = f"{name}: {d['kind']}/{d['metadata']['name']}"
        check(d["kind"] in NAMESPACED, f"{where}: kind not in the namespaced allow-list (cluster-scoped?)")
        check(not d["kind"].startswith("Cluster"), f"{where}: cluster-scoped kind")
        ns = d["metadata"].get("namespace")
        if d["kind"] in ("Role", "RoleBinding") and several:
            check(ns in several.roles, f"{where}: namespace {ns!r}, want one of {sorted(several.roles)}")
            continue
        want = REGISTRY_NAMESPACE[name] if d["kind"] in ("Role", "RoleBinding") else "bots"
        check(ns == want, f"{where}: namespace {ns!r}, want {want!r}")
        check("app.kubernetes.io/instance" in d["metadata"].get("labels", {}), f"{where}: no standard labels")
    if name == "default":
        check(set(kinds) == EXPECTED_DEFAULT, f"default render kinds {sorted(kinds)} != {sorted(EXPECTED_DEFAULT)}")
    if name == "all-on":
        check(set(kinds) == EXPECTED_ALL_ON, f"all-on render kinds {sorted(kinds)} != {sorted(EXPECTED_ALL_ON)}")
    if name == "persistence":
        want_kinds = EXPECTED_DEFAULT | {"PersistentVolumeClaim"}
        check(set(kinds) == want_kinds, f"persistence render kinds {sorted(kinds)} != {sorted(want_kinds)}")
    check("Pod" in kinds, f"{name}: no helm test Pod")


def check_rbac(report: Report, name: str, docs: list[Doc]) -> None:
    """The exact Role rules in each registry namespace, their bindings, and no automounted account token."""
    check = report.check
    roles = {d["metadata"]["namespace"]: d for d in docs if d["kind"] == "Role"}
    bindings = {d["metadata"]["namespace"]: d for d in docs if d["kind"] == "RoleBinding"}
    several = SEVERAL.get(name)
    if several:
        # One Role and one RoleBinding per in-cluster registry namespace, none for a remote registry.
        count = sum(d["kind"] == "Role" for d in docs)
        check(count == len(roles), f"{name}: two Roles in one namespace")
        check(sorted(roles) == sorted(several.roles), f"{name}: Roles in {sorted(roles)}, want {sorted(several.roles)}")
        check(sorted(bindings) == sorted(roles), f"{name}: RoleBindings in {sorted(bindings)}, want {sorted(roles)}")
    elif roles:
        check(list(roles) == [REGISTRY_NAMESPACE[name]], f"{name}: Roles in {sorted(roles)}")
    for ns, role in roles.items():
        rules = [{k: v for k, v in r.items() if k != "resourceNames"} for r in role["rules"]]
        check(rules == RULES, f"{name}: Role rules {role['rules']}")
        names = [r.get("resourceNames") for r in role["rules"]]
        one_service = ["rok-registry-api" if name == "all-on" else "rok-registry"]
        services = several.roles.get(ns, []) if several else one_service
        check(names == [services, None, None], f"{name}: resourceNames {names}, want only {services} on services")
        rb = bindings.get(ns)
        check(rb is not None, f"{name}: no RoleBinding in {ns}")
        if rb is None:
            continue
        check(
            rb["roleRef"]
            == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role["metadata"]["name"]},
            f"{name}: RoleBinding roleRef",
        )
        check(rb["subjects"][0]["namespace"] == "bots", f"{name}: RoleBinding subject namespace")
    sa = next((d for d in docs if d["kind"] == "ServiceAccount"), None)
    if sa:
        check(sa.get("automountServiceAccountToken") is False, f"{name}: ServiceAccount automounts its token")


def check_pod(report: Report, name: str, bot: BotPod) -> None:
    """The bot's pod: checksums, hardening, IDs, probes, port, and secrets as files only."""
    check = report.check
    pod, c, env, mounts = bot.spec, bot.container, bot.env, bot.mounts
    ann = bot.deployment["spec"]["template"]["metadata"]["annotations"]
    check({"checksum/config", "checksum/secret"} <= set(ann), f"{name}: checksum annotations missing")
    check(pod.get("automountServiceAccountToken") is True, f"{name}: pod does not opt in to its token")
    psc = pod["securityContext"]
    sc = c["securityContext"]
    check(POD_HARDENING.items() <= psc.items(), f"{name}: pod securityContext {psc} lacks {POD_HARDENING}")
    check(
        CONTAINER_HARDENING.items() <= sc.items(),
        f"{name}: container securityContext {sc} lacks {CONTAINER_HARDENING}",
    )
    if name == "openshift":
        # restricted-v2 assigns the IDs from the namespace's ranges: none may be rendered.
        check(not FIXED_IDS & (set(psc) | set(sc)), f"{name}: fixed IDs rendered: pod {psc}, container {sc}")
    else:
        check({k: psc.get(k) for k in FIXED_IDS} == dict.fromkeys(FIXED_IDS, 10001), f"{name}: pod IDs {psc}")
        check(sc.get("runAsUser") == 10001 and sc.get("runAsGroup") == 10001, f"{name}: container IDs {sc}")
    check(c["livenessProbe"]["httpGet"]["path"] == "/healthz", f"{name}: liveness path")
    check(c["readinessProbe"]["httpGet"]["path"] == "/readyz", f"{name}: readiness path")
    check(c["ports"] == [{"name": "http", "containerPort": 3000, "protocol": "TCP"}], f"{name}: ports")
    check(not (SECRET_KEYS | {SIGNING_VAR}) & set(env), f"{name}: a secret is passed as an env var")
    from_secrets = [n for n, e in env.items() if "secretKeyRef" in e.get("valueFrom", {})]
    check(not from_secrets, f"{name}: env vars from a Secret {from_secrets}: secrets are files only")
    check(not c.get("envFrom"), f"{name}: envFrom used")
    check(env["ROK_BOT_SECRETS_DIR"]["value"] == "/etc/rok-token-bot/secrets", f"{name}: secrets dir")
    if name in SEVERAL:
        # The registries file only: the bot refuses it together with ROK_REGISTRY_URL, and ignores the rest.
        check(env.get("ROK_BOT_REGISTRIES", {}).get("value") == f"{CONFIG_DIR}/registries.yaml", f"{name}: file env")
        rok_registry = sorted(n for n in env if n.startswith("ROK_REGISTRY_"))
        check(not rok_registry, f"{name}: {rok_registry} set beside ROK_BOT_REGISTRIES")
    else:
        check("ROK_REGISTRY_URL" in env, f"{name}: ROK_REGISTRY_URL missing")
        check("ROK_BOT_REGISTRIES" not in env, f"{name}: ROK_BOT_REGISTRIES without registries")
    check("/tmp" in mounts, f"{name}: no /tmp mount")  # noqa: S108 - a mount path, not a temporary file
    check(mounts.get("/etc/rok-token-bot/secrets", {}).get("readOnly") is True, f"{name}: secrets mount")
    check(mounts.get("/etc/rok-token-bot/config", {}).get("readOnly") is True, f"{name}: config mount")
    projected = [i["key"] for s in bot.volumes["secrets"]["projected"]["sources"] for i in s["secret"]["items"]]
    mode = "http" if name == "all-on" else "socket"
    check(("SLACK_APP_TOKEN" in projected) == (mode == "socket"), f"{name}: SLACK_APP_TOKEN projection vs mode")


def check_state(report: Report, name: str, by: dict[str, Doc], bot: BotPod) -> None:
    """The data dir a volume (the root filesystem stays read-only), the database URL a secret file."""
    check = report.check
    dep, env, vols = bot.deployment, bot.env, bot.volumes
    check(bot.mounts.get(DATA_MOUNT, {}).get("name") == "data", f"{name}: no data volume at {DATA_MOUNT}")
    check(env.get("ROK_BOT_DATA_DIR", {}).get("value") == DATA_DIR, f"{name}: ROK_BOT_DATA_DIR")
    check("ROK_BOT_RETENTION" in env, f"{name}: ROK_BOT_RETENTION missing")
    strategy = dep["spec"].get("strategy", {}).get("type")
    if name == "persistence":
        pvc = by["PersistentVolumeClaim"]
        check(
            vols["data"] == {"name": "data", "persistentVolumeClaim": {"claimName": pvc["metadata"]["name"]}},
            f"{name}: data volume {vols['data']} is not the chart's PVC",
        )
        check(
            pvc["spec"]
            == {
                "accessModes": ["ReadWriteOnce"],
                "storageClassName": "fast-ssd",
                "resources": {"requests": {"storage": "5Gi"}},
            },
            f"{name}: PVC spec {pvc['spec']}",
        )
        check(
            strategy == "Recreate", f"{name}: a ReadWriteOnce SQLite volume needs the Recreate strategy, got {strategy}"
        )
        check(dep["spec"]["replicas"] == 1, f"{name}: replicas")
    else:
        check("PersistentVolumeClaim" not in by, f"{name}: a PVC without persistence")
        check("emptyDir" in vols["data"], f"{name}: data volume {vols['data']} should be an emptyDir")
        check(strategy != "Recreate", f"{name}: Recreate without persistence")
    db_sources = [
        s["secret"]
        for s in vols["secrets"]["projected"]["sources"]
        if any(i["path"] == "ROK_BOT_DATABASE_URL" for i in s["secret"]["items"])
    ]
    if name in DATABASE:
        secret_name, key, _ = DATABASE[name]
        check(
            db_sources == [{"name": secret_name, "items": [{"key": key, "path": "ROK_BOT_DATABASE_URL"}]}],
            f"{name}: the database URL must be the projected file ROK_BOT_DATABASE_URL from "
            f"{secret_name}/{key}: {db_sources}",
        )
    else:
        check(db_sources == [], f"{name}: a database secret without database.existingSecret")
        check(dep["spec"]["replicas"] == 1, f"{name}: SQLite with {dep['spec']['replicas']} replicas")


def check_webhook(report: Report, name: str, bot: BotPod) -> None:
    """The SIEM webhook: its signing secret (and URL, unless a plain one is given) projected secret files."""
    check = report.check
    sources = [
        s["secret"]
        for s in bot.volumes["secrets"]["projected"]["sources"]
        if any(i["path"] in (WEBHOOK_URL_VAR, SIGNING_VAR) for i in s["secret"]["items"])
    ]
    url_env = bot.env.get(WEBHOOK_URL_VAR)
    format_env = bot.env.get(WEBHOOK_FORMAT_VAR)
    want = WEBHOOK.get(name)
    if want is None:
        check(
            sources == [] and url_env is None and format_env is None,
            f"{name}: webhook settings without audit.webhook: {sources} {url_env} {format_env}",
        )
        return
    want_format = {"name": WEBHOOK_FORMAT_VAR, "value": want.fmt}
    check(format_env == want_format, f"{name}: webhook format env {format_env}, want {want_format}")
    items = [{"key": want.signing_key, "path": SIGNING_VAR}]
    if want.url_key:
        items.insert(0, {"key": want.url_key, "path": WEBHOOK_URL_VAR})
    check(
        sources == [{"name": want.secret, "items": items}],
        f"{name}: the webhook's secrets must be the projected files {items} from {want.secret}: {sources}",
    )
    want_env = {"name": WEBHOOK_URL_VAR, "value": want.url} if want.url else None
    check(url_env == want_env, f"{name}: webhook URL env {url_env}, want {want_env}")


def check_config(report: Report, name: str, by: dict[str, Doc], bot: BotPod) -> None:
    """The ConfigMap and the settings only the all-on render turns on (policy, CA, HTTP mode's Ingress)."""
    check = report.check
    env = bot.env
    cm = by["ConfigMap"]
    check("user-map.yaml" in cm["data"], f"{name}: user-map.yaml missing")
    if name == "all-on":
        check(env["ROK_BOT_POLICY"]["value"] == "/etc/rok-token-bot/config/policy.yaml", "all-on: policy env")
        check("policy.yaml" in cm["data"], "all-on: policy.yaml missing")
        check(env["ROK_REGISTRY_CA_BUNDLE"]["value"] == "/etc/rok-token-bot/ca/ca-bundle.pem", "all-on: CA env")
        check(env["ROK_BOT_EMAIL_DOMAINS"]["value"] == "example.com,corp.example.org", "all-on: email domains")
        check(env["ROK_REGISTRY_ALLOW_HTTP"]["value"] == "true", "all-on: allowHttp")
        ing = by["Ingress"]
        paths = [p for r in ing["spec"]["rules"] for p in r["http"]["paths"]]
        check([p["path"] for p in paths] == ["/slack/events"], "all-on: Ingress must expose /slack/events only")
    else:
        policy_env = env.get("ROK_BOT_POLICY", {}).get("value")
        want_policy = f"{CONFIG_DIR}/policy.yaml" if name in POLICY_RENDERS else None
        check(policy_env == want_policy, f"{name}: ROK_BOT_POLICY {policy_env!r}, want {want_policy!r}")
        check(("policy.yaml" in cm["data"]) == (name in POLICY_RENDERS), f"{name}: policy.yaml vs policy")
        check("ROK_REGISTRY_ALLOW_HTTP" not in env, f"{name}: plain-http registry allowed by default")


def check_registries(report: Report, name: str, by: dict[str, Doc], bot: BotPod) -> None:
    """The ROK_BOT_REGISTRIES file in the ConfigMap, each path in it where the pod mounts that file: a registry's
    user map a key of the ConfigMap, its CA an item of the CA volume, a remote registry's kubeconfig the item of
    its Secret in the kubeconfigs volume (secret files, 0440). Without `registries`: none of it."""
    check = report.check
    data = by["ConfigMap"]["data"]
    several = SEVERAL.get(name)
    if not several:
        check("registries.yaml" not in data, f"{name}: registries.yaml without registries")
        check("kubeconfigs" not in bot.volumes, f"{name}: kubeconfigs without registries")
        return
    doc = yaml.safe_load(data.get("registries.yaml", "{}")) or {}
    entries = doc.get("registries") or []
    check(set(doc) == {"registries"}, f"{name}: registries.yaml keys {sorted(doc)}")
    check(tuple(e.get("name") for e in entries) == several.names, f"{name}: registries {entries}")
    ca_items = {
        f"{CA_DIR}/{i['path']}"
        for src in bot.volumes.get("registry-ca", {}).get("projected", {}).get("sources", [])
        for i in src["configMap"]["items"]
    }
    kube = bot.volumes.get("kubeconfigs", {}).get("projected", {})
    kube_items = {
        f"{KUBE_DIR}/{i['path']}": (src["secret"]["name"], i["key"])
        for src in kube.get("sources", [])
        for i in src["secret"]["items"]
    }
    want_kube = {f"{KUBE_DIR}/{reg}/config": secret for reg, secret in several.kubeconfigs.items()}
    check(kube_items == want_kube, f"{name}: kubeconfig items {kube_items}, want {want_kube}")
    if want_kube:
        check(kube.get("defaultMode") == 0o440, f"{name}: kubeconfigs mode {kube.get('defaultMode')}")
        mount = bot.mounts.get(KUBE_DIR, {})
        check(mount == {"name": "kubeconfigs", "mountPath": KUBE_DIR, "readOnly": True}, f"{name}: {mount}")
    for entry in entries:
        where = f"{name}: registry {entry.get('name')}"
        check(set(entry) <= REGISTRY_FILE_KEYS, f"{where}: unknown keys {sorted(set(entry) - REGISTRY_FILE_KEYS)}")
        check(str(entry.get("url", "")).startswith("https://"), f"{where}: url {entry.get('url')}")
        check(isinstance(entry.get("max_concurrent_execs"), int), f"{where}: max_concurrent_execs")
        kubeconfig = entry.get("kubeconfig")
        check(
            (kubeconfig in want_kube) if entry["name"] in several.kubeconfigs else kubeconfig is None,
            f"{where}: kubeconfig {kubeconfig!r} is not the mounted Secret {several.kubeconfigs.get(entry['name'])}",
        )
        user_map = entry.get("user_map")
        if user_map is not None:
            key = user_map.removeprefix(f"{CONFIG_DIR}/")
            check(key != user_map and key in data, f"{where}: user_map {user_map} is not a key of the ConfigMap")
        if entry.get("ca_bundle") is not None:
            check(entry["ca_bundle"] in ca_items, f"{where}: ca_bundle {entry['ca_bundle']} is not in {ca_items}")


def check_test_pod(report: Report, name: str, by: dict[str, Doc], bot: BotPod) -> None:
    """The `helm test` Pod: doctor with exactly the bot's configuration, account and hardening."""
    check = report.check
    pod, c = bot.spec, bot.container
    labels = bot.deployment["spec"]["template"]["metadata"]["labels"]
    svc_sel = by["Service"]["spec"]["selector"]
    check(svc_sel.items() <= labels.items(), f"{name}: Service selector {svc_sel} does not match the bot's pods")
    test = by["Pod"]
    where = f"{name}: test Pod"
    tann = test["metadata"].get("annotations", {})
    check(tann.get("helm.sh/hook") == "test", f"{where}: not a helm test hook")
    check(
        set(tann.get("helm.sh/hook-delete-policy", "").split(",")) == {"before-hook-creation", "hook-succeeded"},
        f"{where}: hook-delete-policy {tann.get('helm.sh/hook-delete-policy')!r}",
    )
    tspec = test["spec"]
    (tc,) = tspec["containers"]
    check(tc["args"] == ["doctor"] and not tc.get("command"), f"{where}: must run the image's `rok-token-bot doctor`")
    check(tc["image"] == c["image"], f"{where}: image {tc['image']} != the bot's {c['image']}")
    check(tspec["restartPolicy"] == "Never", f"{where}: restartPolicy must be Never (a failed check fails the test)")
    tvols = {v["name"]: v for v in tspec["volumes"]}
    check("emptyDir" in tvols.get("data", {}), f"{where}: data must be an emptyDir, never the bot's claim")
    check(tspec["serviceAccountName"] == pod["serviceAccountName"], f"{where}: not the bot's service account")
    check(tspec.get("automountServiceAccountToken") is True, f"{where}: no token for the Kubernetes API")
    check(
        tspec.get("securityContext") == pod["securityContext"], f"{where}: pod securityContext differs from the bot's"
    )
    check(
        tc.get("securityContext") == c["securityContext"], f"{where}: container securityContext differs from the bot's"
    )
    check(tc.get("env") == c.get("env"), f"{where}: env differs from the bot's")
    check(tc.get("volumeMounts") == c["volumeMounts"], f"{where}: mounts differ from the bot's")
    # All but `data`: the test pod never mounts the bot's claim (checked above).
    check(
        [v for v in tspec["volumes"] if v["name"] != "data"] == [v for v in pod["volumes"] if v["name"] != "data"],
        f"{where}: volumes differ from the bot's",
    )
    check(not tc.get("ports") and not tc.get("envFrom"), f"{where}: ports or envFrom")
    tlabels = test["metadata"]["labels"]
    check(not svc_sel.items() <= tlabels.items(), f"{where}: the Service would send it traffic")
    pdb = by.get("PodDisruptionBudget")
    if pdb:
        psel = pdb["spec"]["selector"]["matchLabels"]
        check(
            psel.items() <= labels.items() and not psel.items() <= tlabels.items(),
            f"{name}: PDB selector {psel} must match the bot's pods only",
        )
    if by.get("NetworkPolicy"):
        npsel = by["NetworkPolicy"]["spec"]["podSelector"]["matchLabels"]
        check(
            npsel.items() <= tlabels.items() and npsel.items() <= labels.items(),
            f"{name}: the NetworkPolicy must cover the bot's pods and the test Pod",
        )


def check_secret_and_service(report: Report, name: str, by: dict[str, Doc]) -> None:
    """The chart's own Secret holds only the known keys; the Service stays inside the cluster."""
    sec = by.get("Secret")
    if sec:
        report.check(set(sec["data"]) <= SECRET_KEYS, f"{name}: Secret keys {sorted(sec['data'])}")
    report.check(by["Service"]["spec"]["type"] == "ClusterIP", f"{name}: Service type")


def check_network_policy(report: Report, name: str, np: Doc) -> None:
    """The NetworkPolicy: ingress on the bot's port only, egress rule by rule (DNS, API, registry, Slack, DB)."""
    check = report.check
    check(np["spec"]["policyTypes"] == ["Ingress", "Egress"], f"{name}: NetworkPolicy policyTypes")
    for rule in np["spec"].get("ingress") or []:
        check(
            rule.get("from") and rule["ports"] == [{"port": 3000, "protocol": "TCP"}],
            f"{name}: NetworkPolicy ingress must be port 3000 from listed peers",
        )
    egress = np["spec"]["egress"]
    anywhere = [{"ipBlock": {"cidr": "0.0.0.0/0"}}]
    # Between DNS and Slack: the API server and the registry's pods, or with several registries their rules.
    several = SEVERAL.get(name)
    cluster_rules = len(several.egress) if several else 2
    dns, slack = egress[0], egress[min(1 + cluster_rules, len(egress) - 1)]
    cluster = egress[1 : 1 + cluster_rules]
    after = 2 + cluster_rules  # the index of the first rule after Slack's
    database_rule = egress[after] if name in DATABASE else None
    if name in DATABASE:
        check(
            database_rule == {"to": DATABASE[name][2], "ports": tcp(5432)},
            f"{name}: PostgreSQL egress {database_rule}, want {DATABASE[name][2]} on 5432",
        )
    # Finding 21.9: the SIEM webhook gets its own rule, after the database's, to the peers and ports given.
    want_webhook = WEBHOOK.get(name)
    count = after + (name in DATABASE) + (want_webhook is not None) + EXTRA_EGRESS.get(name, 0)
    check(len(egress) == count, f"{name}: {len(egress)} egress rules, want {count}")
    if want_webhook is not None and len(egress) > after + (name in DATABASE):
        webhook_rule = egress[after + (name in DATABASE)]
        want_rule = {"to": want_webhook.to, "ports": tcp(*want_webhook.ports)}
        check(webhook_rule == want_rule, f"{name}: webhook egress {webhook_rule}, want {want_rule}")
    check(
        dns["ports"] == [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}],
        f"{name}: first egress rule must be DNS on 53 only",
    )
    api = cluster[0]
    want_api = NP_API[name]
    check(
        api == cidrs_rule(want_api[0], *want_api[1]),
        f"{name}: API server egress {api}, want {want_api}",
    )
    if several:
        # One rule per in-cluster registry (its pods), one or two per remote one (its API server; its URL's peers).
        check(cluster == several.egress, f"{name}: registries egress {cluster}, want {several.egress}")
    else:
        # Finding 13: the registry is reached by pod label and port, never as a whole namespace on every port.
        registry = cluster[1]
        labels, ports = NP_REGISTRY[name]
        regns = REGISTRY_NAMESPACE[name]
        check(
            registry == pods_rule(regns, labels, *ports),
            f"{name}: registry egress {registry}, want pods {labels} on {ports} in {regns}",
        )
    check(slack["ports"] == tcp(443), f"{name}: Slack egress must be 443 only")
    # The rules that may be open to any address: Slack, the API server unless its CIDRs are set, the
    # database when it is reached by address (the postgres render).
    open_ok = [slack] + ([api] if not NP_API_SET[name] else []) + ([database_rule] if name == "postgres" else [])
    check_egress_peers(report, name, egress, open_ok)
    if name == "default":
        # The exact default that docs/SECURITY.md ("Network") describes.
        check(
            egress
            == [
                dns,
                {"to": anywhere, "ports": tcp(443, 6443)},
                pods_rule("rok-registry", {"app": "rok-registry"}, 443),
                {"to": anywhere, "ports": tcp(443)},
            ],
            f"default: NetworkPolicy egress differs from the documented default: {egress}",
        )


def check_egress_peers(report: Report, name: str, egress: list[Doc], open_ok: list[Doc | None]) -> None:
    """Every egress rule names its ports and its peers; only the rules in open_ok may reach any address."""
    for i, rule in enumerate(egress):
        report.check(rule.get("ports"), f"{name}: egress rule {i} allows every port")
        for peer in rule.get("to") or [{}]:
            report.check(
                "podSelector" in peer or "ipBlock" in peer,
                f"{name}: egress rule {i} allows a whole namespace or everything: {peer}",
            )
            if peer.get("ipBlock", {}).get("cidr") in ("0.0.0.0/0", "::/0"):
                # Identity, not equality: two rules may be equal, yet only this one is allowed.
                report.check(any(rule is ok for ok in open_ok), f"{name}: egress rule {i} is open to any address")


def check_service_monitor(report: Report, name: str, smon: Doc, svc: Doc) -> None:
    """The ServiceMonitor (a CRD kubernetes-validate cannot check) scrapes the bot's Service on /metrics."""
    check = report.check
    check(smon["apiVersion"] == "monitoring.coreos.com/v1", f"{name}: ServiceMonitor apiVersion")
    sel = smon["spec"]["selector"]["matchLabels"]
    check(
        all(svc["metadata"]["labels"].get(k) == v for k, v in sel.items()),
        f"{name}: ServiceMonitor selector does not match the Service labels",
    )
    ports = {p["name"] for p in svc["spec"]["ports"]}
    for ep in smon["spec"]["endpoints"]:
        check(ep["port"] in ports and ep["path"] == "/metrics", f"{name}: ServiceMonitor endpoint {ep}")
    check(smon["spec"]["namespaceSelector"]["matchNames"] == ["bots"], f"{name}: ServiceMonitor namespace")


def check_prometheus_rule(report: Report, name: str, rule: Doc, svc: Doc) -> None:
    """The alerts read this release's series (job = the Service's name, as a ServiceMonitor labels them; its
    namespace), each with a severity, a summary and a description, and the values' extra labels on each."""
    check = report.check
    job, ns = svc["metadata"]["name"], svc["metadata"]["namespace"]
    rules = [r for group in rule["spec"]["groups"] for r in group["rules"]]
    check(len(rules) >= 8, f"{name}: PrometheusRule has {len(rules)} rules")
    for r in rules:
        where = f"{name}: PrometheusRule alert {r.get('alert')}"
        expr = r["expr"]
        check("__JOB__" not in expr and "__NAMESPACE__" not in expr, f"{where}: a placeholder left in {expr!r}")
        selectors = expr.count("{")
        check(
            selectors > 0 and expr.count(f'job="{job}", namespace="{ns}"') == selectors,
            f"{where}: not every selector is scoped to job={job}, namespace={ns}: {expr!r}",
        )
        check(r["labels"].get("severity") in SEVERITIES, f"{where}: severity {r['labels'].get('severity')!r}")
        check({"summary", "description"} <= set(r.get("annotations", {})), f"{where}: summary or description missing")
        if name == "all-on":
            check(ALL_ON_ALERT_LABELS.items() <= r["labels"].items(), f"{where}: alertLabels not applied")


def check_dashboard(report: Report, name: str, cm: Doc) -> None:
    """The dashboard's ConfigMap: in the release's namespace, labelled for the sidecar, a dashboard with panels."""
    check = report.check
    where = f"{name}: ConfigMap/{cm['metadata']['name']}"
    check(cm["metadata"].get("namespace") == "bots", f"{where}: namespace")
    labels = cm["metadata"].get("labels", {})
    check("app.kubernetes.io/instance" in labels, f"{where}: no standard labels")
    check(ALL_ON_DASHBOARD_LABELS.items() <= labels.items(), f"{where}: not labelled for the Grafana sidecar")
    dashboard = json.loads(cm["data"][DASHBOARD_KEY])
    panels = dashboard.get("panels", [])
    check(dashboard.get("uid") == "rok-token-bot" and len(panels) >= 8, f"{where}: not the bot's dashboard")
    check(all(p.get("targets") for p in panels), f"{where}: a panel without a query")


def check_render(report: Report, name: str, docs: list[Doc]) -> None:
    """Every policy check on one render, in a fixed order (the order of the failures printed)."""
    dashboards = [d for d in docs if is_dashboard(d)]
    docs = [d for d in docs if not is_dashboard(d)]
    for cm in dashboards:
        check_dashboard(report, name, cm)
    report.check(bool(dashboards) == (name == "all-on"), f"{name}: a dashboard ConfigMap only in the all-on render")
    check_kinds(report, name, docs)
    by = {d["kind"]: d for d in docs}
    check_rbac(report, name, docs)
    bot = BotPod.of(by)
    check_pod(report, name, bot)
    check_state(report, name, by, bot)
    check_webhook(report, name, bot)
    check_config(report, name, by, bot)
    check_registries(report, name, by, bot)
    check_test_pod(report, name, by, bot)
    check_secret_and_service(report, name, by)
    np = by.get("NetworkPolicy")
    if np:
        check_network_policy(report, name, np)
    smon = by.get("ServiceMonitor")
    if smon:
        check_service_monitor(report, name, smon, by["Service"])
    rule = by.get("PrometheusRule")
    if rule:
        check_prometheus_rule(report, name, rule, by["Service"])


def policy(out: Path) -> int:
    """Split the CRDs out of each render in out (for kubernetes-validate) and run the policy checks."""
    renders = {name: load(out, name) for name in RENDERS}
    report = Report()
    for name, docs in renders.items():
        check_render(report, name, docs)
    for e in report.errors:
        print(f"[helm] FAIL: {e}", file=sys.stderr)
    if report.errors:
        return 1
    print("[helm] policy checks OK: default kinds =", ", ".join(sorted(EXPECTED_DEFAULT)))
    print("[helm]                   all-on kinds  =", ", ".join(sorted(EXPECTED_ALL_ON)))
    print("[helm]                   openshift: no runAsUser/runAsGroup/fsGroup, the rest of the hardening kept")
    return 0


def leaves(values: Doc, prefix: str = "") -> Iterator[str]:
    """The dotted path of every value a user sets, the opaque Kubernetes structures as one value each."""
    for k, v in values.items():
        path = f"{prefix}{k}"
        if isinstance(v, dict) and v and path not in README_OPAQUE:
            yield from leaves(v, path + ".")
        else:
            yield path


def readme(chart: Path) -> int:
    """Fail unless the chart's README names every value of its values.yaml (as `a.b.c`)."""
    values = yaml.safe_load((chart / "values.yaml").read_text(encoding="utf-8"))
    text = (chart / "README.md").read_text(encoding="utf-8")
    missing = [p for p in leaves(values) if f"`{p}`" not in text]
    if missing:
        print(f"[helm] FAIL: values missing from {chart}/README.md: {', '.join(missing)}", file=sys.stderr)
        return 1
    print("[helm] README documents every value")
    return 0


# What the packaged chart must hold (beside templates/), and the Artifact Hub annotations it must carry.
PACKAGE_FILES = {
    "Chart.yaml",
    "values.yaml",
    "values.schema.json",
    "README.md",
    "files/prometheus-rules.yaml",
    "files/grafana-dashboard.json",
}
ARTIFACT_HUB = {"artifacthub.io/images", "artifacthub.io/license", "artifacthub.io/changes"}
CHANGE_KINDS = {"added", "changed", "deprecated", "removed", "fixed", "security"}


def package(tgz: Path) -> int:
    """Fail unless the packaged chart holds the chart's files under one directory, and its annotations parse."""
    with tarfile.open(tgz) as tar:
        names = {m.name for m in tar.getmembers() if m.isfile()}
        chart_file = tar.extractfile("rok-token-bot/Chart.yaml")
        assert chart_file is not None
        chart = yaml.safe_load(chart_file.read())
    report = Report()
    inside = {n.removeprefix("rok-token-bot/") for n in names}
    report.check(all(n.startswith("rok-token-bot/") for n in names), f"{tgz.name}: a file outside rok-token-bot/")
    report.check(inside >= PACKAGE_FILES, f"{tgz.name}: missing {sorted(PACKAGE_FILES - inside)}")
    report.check(any(n.startswith("templates/tests/") for n in inside), f"{tgz.name}: no helm test hook")
    report.check(tgz.name == f"rok-token-bot-{chart['version']}.tgz", f"{tgz.name}: not the chart's version")
    annotations = chart.get("annotations", {})
    report.check(set(annotations) >= ARTIFACT_HUB, f"{tgz.name}: Artifact Hub annotations missing")
    images = yaml.safe_load(annotations.get("artifacthub.io/images", "[]"))
    report.check(
        [i["image"] for i in images] == [f"rok-token-bot:{chart['appVersion']}"], f"{tgz.name}: images {images}"
    )
    changes = yaml.safe_load(annotations.get("artifacthub.io/changes", "[]"))
    report.check(bool(changes), f"{tgz.name}: no artifacthub.io/changes for this version")
    report.check(all(c.get("kind") in CHANGE_KINDS and c.get("description") for c in changes), f"{tgz.name}: changes")
    for e in report.errors:
        print(f"[helm] FAIL: {e}", file=sys.stderr)
    if report.errors:
        return 1
    print(f"[helm] package {tgz.name}: {len(names)} files, Artifact Hub annotations OK")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand; the exit code is 1 when a check failed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("policy", help="split and check the renders in OUT_DIR").add_argument("out_dir", type=Path)
    sub.add_parser("readme", help="check CHART_DIR/README.md against its values.yaml").add_argument(
        "chart_dir", type=Path
    )
    sub.add_parser("package", help="check a `helm package` .tgz").add_argument("tgz", type=Path)
    args = parser.parse_args(argv)
    if args.command == "policy":
        return policy(args.out_dir)
    if args.command == "package":
        return package(args.tgz)
    return readme(args.chart_dir)


if __name__ == "__main__":
    sys.exit(main())
