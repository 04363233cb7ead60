#!/usr/bin/env bash
# Gate: the Helm chart.
#   1. helm lint --strict: defaults + the required values, the example values, every option on, and
#      OpenShift (the security contexts without fixed user and group IDs).
#   2. Renders that must FAIL: defaults alone (required values missing), an unknown key (strict
#      schema), an Ingress in socket mode, two replicas without a database (SQLite is for one),
#      persistence together with a database, a retention that is not a duration.
#   3. helm template | kubernetes-validate --strict (offline schemas) for KUBE_VERSIONS. The
#      ServiceMonitor is a CRD kubernetes-validate has no schema for (it would only WARN and pass), so
#      it is split out and checked structurally below instead; any other kind without a schema fails.
#   4. Policy checks on the rendered objects: the exact kinds of the default render, nothing
#      cluster-scoped, the exact RBAC rules in the registry namespace, the pod hardening, secrets as
#      files only, checksum annotations, the NetworkPolicy shape, the ServiceMonitor wiring, the
#      `helm test` Pod (doctor with the bot's own configuration, account and hardening), and the state:
#      the data dir a volume (emptyDir, or the PVC with the Recreate strategy when persistence is on),
#      the PostgreSQL URL a projected secret file, its egress rule.
#   5. The chart README documents every value.
# Fails (never skips) when helm or kubernetes-validate is missing: run .ci/tools.sh first.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
start=$SECONDS
HELM=$ROOT/.tools/bin/helm
KV=$ROOT/.tools/bin/kubernetes-validate
PY=$ROOT/.tools/venv/bin/python   # has PyYAML (a kubernetes-validate dependency)
CHART=helm/rok-token-bot
ALL_ON=helm/ci-values-all-on.yaml
EXAMPLE=config/helm-values.example.yaml
OPENSHIFT=helm/ci-values-openshift.yaml
# The helm/kubectl toolchain here is 1.33; 1.35 is the first release that checks `create` on pods/exec.
KUBE_VERSIONS=${KUBE_VERSIONS:-1.33.0 1.35.0}
# The minimum a user must set with the chart's own Secret in socket mode (the default mode).
REQUIRED=(--set rokRegistry.url=https://rok.example.com --set slack.botToken=xoxb-ci
          --set slack.appToken=xapp-ci --set slack.sealKey=c2VhbC1rZXktZm9yLWNp)
# The state's two shapes beside the default emptyDir: SQLite on a PVC, and PostgreSQL for two replicas.
PERSISTENCE=(--set persistence.enabled=true --set persistence.storageClass=fast-ssd --set persistence.size=5Gi)
POSTGRES=(--set replicaCount=2 --set database.existingSecret=rok-pg-app)

for tool in "$HELM" "$KV" "$PY"; do
  [[ -x $tool ]] || { echo "[helm] FAIL: $tool missing (run bash .ci/tools.sh)" >&2; exit 1; }
done
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
fail() { echo "[helm] FAIL: $*" >&2; exit 1; }

# --- 1. lint -------------------------------------------------------------------------------------
"$HELM" lint --strict --quiet "$CHART" "${REQUIRED[@]}" --kube-version 1.33.0 || fail "lint (defaults + required)"
"$HELM" lint --strict --quiet "$CHART" -f "$EXAMPLE" --kube-version 1.33.0 || fail "lint ($EXAMPLE)"
"$HELM" lint --strict --quiet "$CHART" -f "$ALL_ON" --kube-version 1.33.0 || fail "lint ($ALL_ON)"
"$HELM" lint --strict --quiet "$CHART" -f "$OPENSHIFT" --kube-version 1.33.0 || fail "lint ($OPENSHIFT)"
"$HELM" lint --strict --quiet "$CHART" "${REQUIRED[@]}" "${PERSISTENCE[@]}" --kube-version 1.33.0 || fail "lint (persistence)"
"$HELM" lint --strict --quiet "$CHART" "${REQUIRED[@]}" "${POSTGRES[@]}" --kube-version 1.33.0 || fail "lint (postgres)"
echo "[helm] lint --strict: defaults+required, example, all-on, openshift, persistence, postgres OK"

# --- 2. renders --------------------------------------------------------------------------------------
render() { "$HELM" template rok "$CHART" --namespace bots --kube-version 1.33.0 "$@"; }
render "${REQUIRED[@]}" >"$out/default.yaml" || fail "template (defaults + required)"
render -f "$EXAMPLE" >"$out/example.yaml" || fail "template ($EXAMPLE)"
render -f "$ALL_ON" >"$out/all-on.yaml" || fail "template ($ALL_ON)"
render -f "$OPENSHIFT" >"$out/openshift.yaml" || fail "template ($OPENSHIFT)"
render "${REQUIRED[@]}" "${PERSISTENCE[@]}" >"$out/persistence.yaml" || fail "template (persistence)"
render "${REQUIRED[@]}" "${POSTGRES[@]}" >"$out/postgres.yaml" || fail "template (postgres)"
must_fail() {
  local what=$1 want=$2; shift 2
  if render "$@" >/dev/null 2>"$out/err"; then fail "render should fail: $what"; fi
  grep -q -- "$want" "$out/err" || { cat "$out/err" >&2; fail "render failed for the wrong reason: $what"; }
}
must_fail "defaults alone (no registry URL)" "rokRegistry.url is required"
must_fail "unknown key" "Additional property maxDurration is not allowed" "${REQUIRED[@]}" --set tokens.maxDurration=1d
must_fail "bad enum" "logging.format must be one of" "${REQUIRED[@]}" --set logging.format=xml
must_fail "unknown securityContext key" "Additional property runAsUsr is not allowed" "${REQUIRED[@]}" \
  --set podSecurityContext.runAsUsr=1
must_fail "ingress in socket mode" "requires slack.mode=http" "${REQUIRED[@]}" --set ingress.enabled=true \
  --set ingress.host=bot.example.com
must_fail "http mode without signing secret" "signingSecret is required" "${REQUIRED[@]}" --set slack.mode=http
must_fail "two replicas on SQLite" "replicaCount 2 needs database.existingSecret (PostgreSQL)" "${REQUIRED[@]}" \
  --set replicaCount=2
must_fail "persistence with PostgreSQL" "persistence.enabled is for the SQLite default" "${REQUIRED[@]}" \
  "${POSTGRES[@]}" --set persistence.enabled=true
must_fail "retention not a duration" "database.retention" "${REQUIRED[@]}" --set database.retention=forever
echo "[helm] required values, strict schema and cross-field checks refuse bad values"

# --- 3 + 4. split, validate, check ------------------------------------------------------------------
"$PY" - "$out" <<'PY'
import pathlib, sys
import yaml

out = pathlib.Path(sys.argv[1])
errors = []
def check(cond, msg):
    if not cond:
        errors.append(msg)

NAMESPACED = {"ServiceAccount", "Role", "RoleBinding", "Secret", "ConfigMap", "Service", "Deployment",
              "NetworkPolicy", "Ingress", "ServiceMonitor", "PodDisruptionBudget", "Pod", "PersistentVolumeClaim"}
CRDS = {"ServiceMonitor"}
# Pod: the `helm test` hook (templates/tests/doctor.yaml); `helm template` renders test hooks.
EXPECTED_DEFAULT = {"ServiceAccount", "Role", "RoleBinding", "Secret", "ConfigMap", "Service", "Deployment",
                    "NetworkPolicy", "Pod"}
EXPECTED_ALL_ON = EXPECTED_DEFAULT - {"Secret"} | {"Ingress", "ServiceMonitor", "PodDisruptionBudget"}
RULES = [
    {"apiGroups": [""], "resources": ["services"], "verbs": ["get"]},  # resourceNames checked below
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]},
    {"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["get", "create"]},
]
SECRET_KEYS = {"SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN", "ROK_BOT_SEAL_KEY", "ROK_BOT_DATABASE_URL"}
DATA_DIR = "/var/lib/rok-token-bot"
# The PostgreSQL Secret per render (name, key) and the egress peers expected for it; None: SQLite.
DATABASE = {"all-on": ("rok-token-bot-postgres", "uri",
                       [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "databases"}},
                         "podSelector": {"matchLabels": {"cnpg.io/cluster": "rok-token-bot"}}}]),
            "postgres": ("rok-pg-app", "ROK_BOT_DATABASE_URL", [{"ipBlock": {"cidr": "0.0.0.0/0"}}])}
# NetworkPolicy egress per render: API server (CIDRs, ports), registry pods (labels, ports).
NP_API = {"default": (["0.0.0.0/0"], [443, 6443]), "persistence": (["0.0.0.0/0"], [443, 6443]),
          "postgres": (["0.0.0.0/0"], [443, 6443]), "example": (["10.0.0.0/24"], [6443]),
          "all-on": (["10.0.0.0/24", "172.16.0.1/32"], [443, 6443]), "openshift": (["10.0.0.10/32"], [6443])}
def tcp(*ports):
    return [{"port": p, "protocol": "TCP"} for p in ports]
NP_API_SET = {"default": False, "persistence": False, "postgres": False, "example": True, "all-on": True,
              "openshift": True}
NP_REGISTRY = {"default": ({"app": "rok-registry"}, [443]), "persistence": ({"app": "rok-registry"}, [443]),
               "postgres": ({"app": "rok-registry"}, [443]), "example": ({"app": "rok-registry"}, [8443]),
               "all-on": ({"app.kubernetes.io/name": "rok-registry", "app.kubernetes.io/component": "api"}, [80, 8443]),
               "openshift": ({"app": "rok-registry"}, [443])}
# The pod hardening every render keeps (OpenShift included); the fixed IDs are checked per render.
POD_HARDENING = {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
CONTAINER_HARDENING = {"runAsNonRoot": True, "readOnlyRootFilesystem": True, "allowPrivilegeEscalation": False,
                       "privileged": False, "capabilities": {"drop": ["ALL"]},
                       "seccompProfile": {"type": "RuntimeDefault"}}
FIXED_IDS = {"runAsUser", "runAsGroup", "fsGroup"}

def load(name):
    docs = [d for d in yaml.safe_load_all((out / f"{name}.yaml").read_text()) if d]
    core = [d for d in docs if d["kind"] not in CRDS]
    (out / f"{name}.core.yaml").write_text(yaml.safe_dump_all(core))
    return docs

renders = {n: load(n) for n in ("default", "example", "all-on", "openshift", "persistence", "postgres")}
regns = {"default": "rok-registry", "example": "rok-registry", "all-on": "rok-system", "openshift": "rok-registry",
         "persistence": "rok-registry", "postgres": "rok-registry"}

for name, docs in renders.items():
    kinds = [d["kind"] for d in docs]
    check(len(kinds) == len(set(kinds)), f"{name}: duplicate kinds {kinds}")
    by = {d["kind"]: d for d in docs}
    for d in docs:
        where = f"{name}: {d['kind']}/{d['metadata']['name']}"
        check(d["kind"] in NAMESPACED, f"{where}: kind not in the namespaced allow-list (cluster-scoped?)")
        check(not d["kind"].startswith("Cluster"), f"{where}: cluster-scoped kind")
        ns = d["metadata"].get("namespace")
        want = regns[name] if d["kind"] in ("Role", "RoleBinding") else "bots"
        check(ns == want, f"{where}: namespace {ns!r}, want {want!r}")
        check("app.kubernetes.io/instance" in d["metadata"].get("labels", {}), f"{where}: no standard labels")
    if name == "default":
        check(set(kinds) == EXPECTED_DEFAULT, f"default render kinds {sorted(kinds)} != {sorted(EXPECTED_DEFAULT)}")
    if name == "all-on":
        check(set(kinds) == EXPECTED_ALL_ON, f"all-on render kinds {sorted(kinds)} != {sorted(EXPECTED_ALL_ON)}")
    if name == "persistence":
        want = EXPECTED_DEFAULT | {"PersistentVolumeClaim"}
        check(set(kinds) == want, f"persistence render kinds {sorted(kinds)} != {sorted(want)}")
    check("Pod" in kinds, f"{name}: no helm test Pod")

    role = by.get("Role")
    if role:
        rules = [{k: v for k, v in r.items() if k != "resourceNames"} for r in role["rules"]]
        check(rules == RULES, f"{name}: Role rules {role['rules']}")
        names = [r.get("resourceNames") for r in role["rules"]]
        svc = "rok-registry-api" if name == "all-on" else "rok-registry"
        check(names == [[svc], None, None], f"{name}: resourceNames {names}, want only [{svc!r}] on services")
        rb = by["RoleBinding"]
        check(rb["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                "name": role["metadata"]["name"]}, f"{name}: RoleBinding roleRef")
        check(rb["subjects"][0]["namespace"] == "bots", f"{name}: RoleBinding subject namespace")

    sa = by.get("ServiceAccount")
    if sa:
        check(sa.get("automountServiceAccountToken") is False, f"{name}: ServiceAccount automounts its token")

    dep = by["Deployment"]
    pod = dep["spec"]["template"]["spec"]
    ann = dep["spec"]["template"]["metadata"]["annotations"]
    check({"checksum/config", "checksum/secret"} <= set(ann), f"{name}: checksum annotations missing")
    check(pod.get("automountServiceAccountToken") is True, f"{name}: pod does not opt in to its token")
    psc = pod["securityContext"]
    (c,) = pod["containers"]
    sc = c["securityContext"]
    check(POD_HARDENING.items() <= psc.items(), f"{name}: pod securityContext {psc} lacks {POD_HARDENING}")
    check(CONTAINER_HARDENING.items() <= sc.items(), f"{name}: container securityContext {sc} lacks {CONTAINER_HARDENING}")
    if name == "openshift":
        # restricted-v2 assigns the IDs from the namespace's ranges: none may be rendered.
        check(not FIXED_IDS & (set(psc) | set(sc)), f"{name}: fixed IDs rendered: pod {psc}, container {sc}")
    else:
        check({k: psc.get(k) for k in FIXED_IDS} == dict.fromkeys(FIXED_IDS, 10001), f"{name}: pod IDs {psc}")
        check(sc.get("runAsUser") == 10001 and sc.get("runAsGroup") == 10001, f"{name}: container IDs {sc}")
    check(c["livenessProbe"]["httpGet"]["path"] == "/healthz", f"{name}: liveness path")
    check(c["readinessProbe"]["httpGet"]["path"] == "/readyz", f"{name}: readiness path")
    check(c["ports"] == [{"name": "http", "containerPort": 3000, "protocol": "TCP"}], f"{name}: ports")
    env = {e["name"]: e for e in c.get("env", [])}
    check(not SECRET_KEYS & set(env), f"{name}: a secret is passed as an env var")
    check(not c.get("envFrom"), f"{name}: envFrom used")
    check(env["ROK_BOT_SECRETS_DIR"]["value"] == "/etc/rok-token-bot/secrets", f"{name}: secrets dir")
    check("ROK_REGISTRY_URL" in env, f"{name}: ROK_REGISTRY_URL missing")
    mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
    check("/tmp" in mounts, f"{name}: no /tmp mount")
    check(mounts.get("/etc/rok-token-bot/secrets", {}).get("readOnly") is True, f"{name}: secrets mount")
    check(mounts.get("/etc/rok-token-bot/config", {}).get("readOnly") is True, f"{name}: config mount")
    vols = {v["name"]: v for v in pod["volumes"]}
    projected = [i["key"] for s in vols["secrets"]["projected"]["sources"] for i in s["secret"]["items"]]
    mode = "http" if name == "all-on" else "socket"
    check(("SLACK_APP_TOKEN" in projected) == (mode == "socket"), f"{name}: SLACK_APP_TOKEN projection vs mode")

    # The state: the data dir is a volume (the root filesystem stays read-only), the database URL a secret file.
    check(mounts.get(DATA_DIR, {}).get("name") == "data", f"{name}: no data volume at {DATA_DIR}")
    check(env.get("ROK_BOT_DATA_DIR", {}).get("value") == DATA_DIR, f"{name}: ROK_BOT_DATA_DIR")
    check("ROK_BOT_RETENTION" in env, f"{name}: ROK_BOT_RETENTION missing")
    pvc = by.get("PersistentVolumeClaim")
    strategy = dep["spec"].get("strategy", {}).get("type")
    if name == "persistence":
        check(vols["data"] == {"name": "data", "persistentVolumeClaim": {"claimName": pvc["metadata"]["name"]}},
              f"{name}: data volume {vols['data']} is not the chart's PVC")
        check(pvc["spec"] == {"accessModes": ["ReadWriteOnce"], "storageClassName": "fast-ssd",
                              "resources": {"requests": {"storage": "5Gi"}}}, f"{name}: PVC spec {pvc['spec']}")
        check(strategy == "Recreate", f"{name}: a ReadWriteOnce SQLite volume needs the Recreate strategy, got {strategy}")
        check(dep["spec"]["replicas"] == 1, f"{name}: replicas")
    else:
        check(pvc is None, f"{name}: a PVC without persistence")
        check("emptyDir" in vols["data"], f"{name}: data volume {vols['data']} should be an emptyDir")
        check(strategy != "Recreate", f"{name}: Recreate without persistence")
    db_sources = [s["secret"] for s in vols["secrets"]["projected"]["sources"]
                  if any(i["path"] == "ROK_BOT_DATABASE_URL" for i in s["secret"]["items"])]
    if name in DATABASE:
        secret_name, key, _ = DATABASE[name]
        check(db_sources == [{"name": secret_name, "items": [{"key": key, "path": "ROK_BOT_DATABASE_URL"}]}],
              f"{name}: the database URL must be the projected file ROK_BOT_DATABASE_URL from {secret_name}/{key}: {db_sources}")
    else:
        check(db_sources == [], f"{name}: a database secret without database.existingSecret")
        check(dep["spec"]["replicas"] == 1, f"{name}: SQLite with {dep['spec']['replicas']} replicas")
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
        check("ROK_BOT_POLICY" not in env, f"{name}: ROK_BOT_POLICY set without a policy")
        check("ROK_REGISTRY_ALLOW_HTTP" not in env, f"{name}: plain-http registry allowed by default")

    # The `helm test` Pod: doctor with exactly the bot's configuration, account and hardening.
    labels = dep["spec"]["template"]["metadata"]["labels"]
    svc_sel = by["Service"]["spec"]["selector"]
    check(svc_sel.items() <= labels.items(), f"{name}: Service selector {svc_sel} does not match the bot's pods")
    test = by["Pod"]
    where = f"{name}: test Pod"
    tann = test["metadata"].get("annotations", {})
    check(tann.get("helm.sh/hook") == "test", f"{where}: not a helm test hook")
    check(set(tann.get("helm.sh/hook-delete-policy", "").split(",")) == {"before-hook-creation", "hook-succeeded"},
          f"{where}: hook-delete-policy {tann.get('helm.sh/hook-delete-policy')!r}")
    tspec = test["spec"]
    (tc,) = tspec["containers"]
    check(tc["args"] == ["doctor"] and not tc.get("command"), f"{where}: must run the image's `rok-token-bot doctor`")
    check(tc["image"] == c["image"], f"{where}: image {tc['image']} != the bot's {c['image']}")
    check(tspec["restartPolicy"] == "Never", f"{where}: restartPolicy must be Never (a failed check fails the test)")
    tvols = {v["name"]: v for v in tspec["volumes"]}
    check("emptyDir" in tvols.get("data", {}), f"{where}: data must be an emptyDir, never the bot's claim")
    check(tspec["serviceAccountName"] == pod["serviceAccountName"], f"{where}: not the bot's service account")
    check(tspec.get("automountServiceAccountToken") is True, f"{where}: no token for the Kubernetes API")
    check(tspec.get("securityContext") == psc, f"{where}: pod securityContext differs from the bot's")
    check(tc.get("securityContext") == sc, f"{where}: container securityContext differs from the bot's")
    check(tc.get("env") == c.get("env"), f"{where}: env differs from the bot's")
    check(tc.get("volumeMounts") == c["volumeMounts"], f"{where}: mounts differ from the bot's")
    # All but `data`: the test pod never mounts the bot's claim (checked above).
    check([v for v in tspec["volumes"] if v["name"] != "data"] == [v for v in pod["volumes"] if v["name"] != "data"],
          f"{where}: volumes differ from the bot's")
    check(not tc.get("ports") and not tc.get("envFrom"), f"{where}: ports or envFrom")
    tlabels = test["metadata"]["labels"]
    check(not svc_sel.items() <= tlabels.items(), f"{where}: the Service would send it traffic")
    pdb = by.get("PodDisruptionBudget")
    if pdb:
        psel = pdb["spec"]["selector"]["matchLabels"]
        check(psel.items() <= labels.items() and not psel.items() <= tlabels.items(),
              f"{name}: PDB selector {psel} must match the bot's pods only")
    if by.get("NetworkPolicy"):
        npsel = by["NetworkPolicy"]["spec"]["podSelector"]["matchLabels"]
        check(npsel.items() <= tlabels.items() and npsel.items() <= labels.items(),
              f"{name}: the NetworkPolicy must cover the bot's pods and the test Pod")

    sec = by.get("Secret")
    if sec:
        check(set(sec["data"]) <= SECRET_KEYS, f"{name}: Secret keys {sorted(sec['data'])}")

    svc = by["Service"]
    check(svc["spec"]["type"] == "ClusterIP", f"{name}: Service type")
    np = by.get("NetworkPolicy")
    if np:
        check(np["spec"]["policyTypes"] == ["Ingress", "Egress"], f"{name}: NetworkPolicy policyTypes")
        for rule in np["spec"].get("ingress") or []:
            check(rule.get("from") and rule["ports"] == [{"port": 3000, "protocol": "TCP"}],
                  f"{name}: NetworkPolicy ingress must be port 3000 from listed peers")
        egress = np["spec"]["egress"]
        anywhere = [{"ipBlock": {"cidr": "0.0.0.0/0"}}]
        dns, api, registry, slack = egress[:4]
        database_rule = egress[4] if name in DATABASE else None
        if name in DATABASE:
            check(database_rule == {"to": DATABASE[name][2], "ports": tcp(5432)},
                  f"{name}: PostgreSQL egress {database_rule}, want {DATABASE[name][2]} on 5432")
        check(dns["ports"] == [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}],
              f"{name}: first egress rule must be DNS on 53 only")
        want_api = NP_API[name]
        check(api == {"to": [{"ipBlock": {"cidr": c}} for c in want_api[0]], "ports": tcp(*want_api[1])},
              f"{name}: API server egress {api}, want {want_api}")
        # Finding 13: the registry is reached by pod label and port, never as a whole namespace on every port.
        labels, ports = NP_REGISTRY[name]
        check(registry == {"to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": regns[name]}},
                                   "podSelector": {"matchLabels": labels}}], "ports": tcp(*ports)},
              f"{name}: registry egress {registry}, want pods {labels} on {ports} in {regns[name]}")
        check(slack["ports"] == tcp(443), f"{name}: Slack egress must be 443 only")
        for i, rule in enumerate(egress):
            check(rule.get("ports"), f"{name}: egress rule {i} allows every port")
            for peer in rule.get("to") or [{}]:
                check("podSelector" in peer or "ipBlock" in peer,
                      f"{name}: egress rule {i} allows a whole namespace or everything: {peer}")
                if peer.get("ipBlock", {}).get("cidr") in ("0.0.0.0/0", "::/0"):
                    check(rule is slack or (rule is api and not NP_API_SET[name]) or (rule is database_rule and name == "postgres"),
                          f"{name}: egress rule {i} is open to any address")
        if name == "default":
            # The exact default that docs/SECURITY.md ("Network") describes.
            check(egress == [dns, {"to": anywhere, "ports": tcp(443, 6443)},
                             {"to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "rok-registry"}},
                                      "podSelector": {"matchLabels": {"app": "rok-registry"}}}], "ports": tcp(443)},
                             {"to": anywhere, "ports": tcp(443)}],
                  f"default: NetworkPolicy egress differs from the documented default: {egress}")

    smon = by.get("ServiceMonitor")
    if smon:
        check(smon["apiVersion"] == "monitoring.coreos.com/v1", f"{name}: ServiceMonitor apiVersion")
        sel = smon["spec"]["selector"]["matchLabels"]
        check(all(svc["metadata"]["labels"].get(k) == v for k, v in sel.items()),
              f"{name}: ServiceMonitor selector does not match the Service labels")
        ports = {p["name"] for p in svc["spec"]["ports"]}
        for ep in smon["spec"]["endpoints"]:
            check(ep["port"] in ports and ep["path"] == "/metrics", f"{name}: ServiceMonitor endpoint {ep}")
        check(smon["spec"]["namespaceSelector"]["matchNames"] == ["bots"], f"{name}: ServiceMonitor namespace")

for e in errors:
    print(f"[helm] FAIL: {e}", file=sys.stderr)
if errors:
    sys.exit(1)
print("[helm] policy checks OK: default kinds =", ", ".join(sorted(EXPECTED_DEFAULT)))
print("[helm]                   all-on kinds  =", ", ".join(sorted(EXPECTED_ALL_ON)))
print("[helm]                   openshift: no runAsUser/runAsGroup/fsGroup, the rest of the hardening kept")
PY

for v in $KUBE_VERSIONS; do
  for r in default example all-on openshift persistence postgres; do
    if ! "$KV" --strict --quiet -k "$v" "$out/$r.core.yaml" >"$out/kv.log" 2>&1; then
      cat "$out/kv.log" >&2; fail "kubernetes-validate --strict -k $v ($r render)"
    fi
    # kubernetes-validate only WARNs (exit 0) on a kind it has no schema for: treat that as failure.
    if grep -q "Couldn't find schema" "$out/kv.log"; then cat "$out/kv.log" >&2; fail "unvalidated kind in $r render"; fi
  done
done
echo "[helm] kubernetes-validate --strict OK for Kubernetes $KUBE_VERSIONS (ServiceMonitor checked structurally)"

# --- 5. README ---------------------------------------------------------------------------------------
"$PY" - "$CHART" <<'PY'
import pathlib, sys, yaml
chart = pathlib.Path(sys.argv[1])
values = yaml.safe_load((chart / "values.yaml").read_text())
readme = (chart / "README.md").read_text()
def leaves(d, prefix=""):
    for k, v in d.items():
        path = f"{prefix}{k}"
        if isinstance(v, dict) and v and path not in ("resources", "livenessProbe", "readinessProbe",
                                                      "podSecurityContext", "containerSecurityContext"):
            yield from leaves(v, path + ".")
        else:
            yield path
missing = [p for p in leaves(values) if f"`{p}`" not in readme]
if missing:
    sys.exit(f"[helm] FAIL: values missing from {chart}/README.md: {', '.join(missing)}")
print("[helm] README documents every value")
PY
echo "[helm] OK in $((SECONDS - start))s"
