#!/usr/bin/env bash
# Gate: the Helm chart.
#   1. helm lint --strict: defaults + the required values, the example values, every option on,
#      OpenShift (the security contexts without fixed user and group IDs), SQLite on a PVC, PostgreSQL,
#      the SIEM webhook with a plain URL (all-on reads its URL from the Secret), and several registries (the
#      two-registry values file; registries-rbac: four registries over two namespaces and a remote cluster).
#   2. Renders that must FAIL: defaults alone (required values missing), an unknown key (strict
#      schema), an Ingress in socket mode, two replicas without a database (SQLite is for one),
#      persistence together with a database, a retention that is not a duration, a SIEM webhook URL
#      without its signing secret, with a credential in it or in clear text, a webhook format not known, a
#      webhook without an egress rule under the NetworkPolicy, a secret passed as an env var through
#      extraEnv; with several registries, rokRegistry.url beside them, a bad or duplicate name, a missing or
#      clear-text URL, a channel claimed twice, a context without its kubeconfig, a remote registry without
#      its API server's egress rule.
#   3. helm template | kubernetes-validate --strict (offline schemas) for KUBE_VERSIONS. The
#      ServiceMonitor and the PrometheusRule are CRDs kubernetes-validate has no schema for (it would only
#      WARN and pass), so they are split out and validated by scripts/crdcheck.mjs against the Prometheus
#      Operator's CRD schemas (an npm package); any other kind without a schema fails. The all-on render has
#      every option on, the PrometheusRule and the Grafana dashboard's ConfigMap included.
#   4. Policy checks on the rendered objects: the exact kinds of the default render, nothing
#      cluster-scoped, the exact RBAC rules in the registry namespace, the pod hardening, secrets as
#      files only, checksum annotations, the NetworkPolicy shape, the ServiceMonitor wiring, the
#      `helm test` Pod (doctor with the bot's own configuration, account and hardening), and the state:
#      the data dir a volume (emptyDir, or the PVC with the Recreate strategy when persistence is on),
#      the PostgreSQL URL a projected secret file, its egress rule; the SIEM webhook's signing secret (and
#      URL, unless a plain one is given) projected secret files, its egress rule; several registries: the
#      ROK_BOT_REGISTRIES file and each path in it mounted (user maps, CAs, kubeconfig Secrets), one Role and
#      RoleBinding per in-cluster registry namespace and none for a remote one, the egress rules per registry.
#   5. The chart README documents every value.
#   6. helm package: the .tgz (in dist/) lints, renders as the directory does, holds the chart's files and no
#      other, and its Artifact Hub annotations parse.
# Steps 4 and 5 are scripts/helmcheck.py (where ruff and mypy check them), run on the tools venv's python.
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
TWO_REGISTRIES=helm/ci-values-two-registries.yaml
# The helm/kubectl toolchain here is 1.33; 1.35 is the first release that checks `create` on pods/exec.
KUBE_VERSIONS=${KUBE_VERSIONS:-1.33.0 1.35.0}
# The minimum a user must set with the chart's own Secret in socket mode (the default mode).
REQUIRED=(--set rokRegistry.url=https://rok.example.com --set slack.botToken=xoxb-ci
          --set slack.appToken=xapp-ci --set slack.sealKey=c2VhbC1rZXktZm9yLWNp)
# The state's two shapes beside the default emptyDir: SQLite on a PVC, and PostgreSQL for two replicas.
PERSISTENCE=(--set persistence.enabled=true --set persistence.storageClass=fast-ssd --set persistence.size=5Gi)
POSTGRES=(--set replicaCount=2 --set database.existingSecret=rok-pg-app)
# Several registries with every per-registry default: three in-cluster over two namespaces (one Role each, the
# Services of a namespace in one Role), and one remote (no Role; its kubeconfig Secret mounted, its API server's egress).
SLACK=(--set slack.botToken=xoxb-ci --set slack.appToken=xapp-ci --set slack.sealKey=c2VhbC1rZXktZm9yLWNp)
REGISTRIES_RBAC=(--set-json 'registries=[{"name":"a","url":"https://rok-a.example.com","namespace":"rok-a","service":"svc-a"},
  {"name":"b","url":"https://rok-b.example.com","namespace":"rok-a","service":"svc-b"},{"name":"c","url":"https://rok-c.example.com"},
  {"name":"far","url":"https://rok.far.example.com","kubeconfigSecret":"far-kube","networkPolicy":{"apiServer":{"cidrs":["203.0.113.0/28"]}}}]')
# The SIEM webhook with a plain URL (the all-on render reads the URL from the Secret instead).
WEBHOOK=(--set audit.webhook.existingSecret=rok-siem --set audit.webhook.url=https://siem.example.com/rok-bot
         --set 'networkPolicy.webhook.to[0].ipBlock.cidr=203.0.113.10/32')

for tool in "$HELM" "$KV" "$PY"; do
  [[ -x $tool ]] || { echo "[helm] FAIL: $tool missing (run bash .ci/tools.sh)" >&2; exit 1; }
done
[[ -f $ROOT/.tools/node/.installed ]] || { echo "[helm] FAIL: .tools/node missing (run bash .ci/tools.sh)" >&2; exit 1; }
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
"$HELM" lint --strict --quiet "$CHART" "${REQUIRED[@]}" "${WEBHOOK[@]}" --kube-version 1.33.0 || fail "lint (webhook)"
"$HELM" lint --strict --quiet "$CHART" -f "$TWO_REGISTRIES" --kube-version 1.33.0 || fail "lint ($TWO_REGISTRIES)"
"$HELM" lint --strict --quiet "$CHART" "${SLACK[@]}" "${REGISTRIES_RBAC[@]}" --kube-version 1.33.0 || fail "lint (registries-rbac)"
echo "[helm] lint --strict: defaults+required, example, all-on, openshift, persistence, postgres, webhook, two-registries, registries-rbac OK"
# The database in a directory the bot creates 0700 inside the volume; a claim from chart 0.1.0 keeps its root.
data_dir() { "$HELM" template ci "$CHART" "${REQUIRED[@]}" "$@" | grep -A1 'name: ROK_BOT_DATA_DIR' | sed -n 's/.*value: //p' | sort -u; }
[[ $(data_dir) == '"/var/lib/rok-token-bot/store"' ]] || fail "the default data dir is not the volume's store/"
[[ $(data_dir "${PERSISTENCE[@]}" --set persistence.dataSubdir=) == '"/var/lib/rok-token-bot"' ]] \
  || fail "persistence.dataSubdir=\"\" does not keep the claim's root"

# --- 2. renders --------------------------------------------------------------------------------------
render() { "$HELM" template rok "$CHART" --namespace bots --kube-version 1.33.0 "$@"; }
render "${REQUIRED[@]}" >"$out/default.yaml" || fail "template (defaults + required)"
render -f "$EXAMPLE" >"$out/example.yaml" || fail "template ($EXAMPLE)"
render -f "$ALL_ON" >"$out/all-on.yaml" || fail "template ($ALL_ON)"
render -f "$OPENSHIFT" >"$out/openshift.yaml" || fail "template ($OPENSHIFT)"
render "${REQUIRED[@]}" "${PERSISTENCE[@]}" >"$out/persistence.yaml" || fail "template (persistence)"
render "${REQUIRED[@]}" "${POSTGRES[@]}" >"$out/postgres.yaml" || fail "template (postgres)"
render "${REQUIRED[@]}" "${WEBHOOK[@]}" >"$out/webhook.yaml" || fail "template (webhook)"
render -f "$TWO_REGISTRIES" >"$out/two-registries.yaml" || fail "template ($TWO_REGISTRIES)"
render "${SLACK[@]}" "${REGISTRIES_RBAC[@]}" >"$out/registries-rbac.yaml" || fail "template (registries-rbac)"
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
must_fail "webhook URL without its signing secret" "audit.webhook.url needs audit.webhook.existingSecret" \
  "${REQUIRED[@]}" --set audit.webhook.url=https://siem.example.com/rok-bot
must_fail "webhook without an egress rule" "networkPolicy.webhook.to is required" "${REQUIRED[@]}" \
  --set audit.webhook.existingSecret=rok-siem
must_fail "webhook URL with a key in its query" "audit.webhook.url carries a credential" "${REQUIRED[@]}" \
  "${WEBHOOK[@]}" --set 'audit.webhook.url=https://siem.example.com/hook?token=0b7c1ad4'
must_fail "webhook URL with a password" "audit.webhook.url carries a credential" "${REQUIRED[@]}" \
  "${WEBHOOK[@]}" --set 'audit.webhook.url=https://rok:hunter2@siem.example.com/hook'
must_fail "webhook URL in clear text" "audit.webhook.url must be an https:// URL" "${REQUIRED[@]}" \
  "${WEBHOOK[@]}" --set audit.webhook.url=http://siem.example.com/hook
must_fail "unknown webhook format" "audit.webhook.format must be one of" "${REQUIRED[@]}" \
  "${WEBHOOK[@]}" --set audit.webhook.format=splunk
must_fail "a secret as an env var" "extraEnv: ROK_BOT_AUDIT_WEBHOOK_SECRET is a secret" "${REQUIRED[@]}" \
  --set 'extraEnv[0].name=ROK_BOT_AUDIT_WEBHOOK_SECRET' --set 'extraEnv[0].valueFrom.secretKeyRef.name=bot' \
  --set 'extraEnv[0].valueFrom.secretKeyRef.key=ROK_BOT_AUDIT_WEBHOOK_SECRET'
# Several registries: each refusal names the registry.
one() { echo "--set-json=registries=[$1]"; }
must_fail "registries and rokRegistry.url" "set one, not both" -f "$TWO_REGISTRIES" --set rokRegistry.url=https://rok.example.com
must_fail "registries and rokRegistry.allowHttp" "are for one registry" -f "$TWO_REGISTRIES" --set rokRegistry.allowHttp=true
must_fail "a registry name starting with -" "registries.0.name: Does not match pattern" "${SLACK[@]}" \
  "$(one '{"name":"-prod","url":"https://rok.example.com"}')"
must_fail "a registry name of 21 characters" "registries.0.name: Does not match pattern" "${SLACK[@]}" \
  "$(one '{"name":"abcdefghijklmnopqrstu","url":"https://rok.example.com"}')"
must_fail "a registry without url" "registries.0: url is required" "${SLACK[@]}" "$(one '{"name":"prod"}')"
must_fail "an unknown registry key" "registries.0: Additional property kubeconfig is not allowed" "${SLACK[@]}" \
  "$(one '{"name":"prod","url":"https://rok.example.com","kubeconfig":"/etc/kube"}')"
must_fail "a registry URL in clear text" "registries\[0\] (prod): url must be https://" "${SLACK[@]}" \
  "$(one '{"name":"prod","url":"http://rok.example.com"}')"
must_fail "two registries of one name" "registries\[1\] (prod): the name prod is already the name of registries\[0\]" \
  "${SLACK[@]}" "$(one '{"name":"prod","url":"https://a.example.com"},{"name":"prod","url":"https://b.example.com"}')"
must_fail "a channel claimed twice" "channel C0OPS is already the default of registry prod" "${SLACK[@]}" \
  "$(one '{"name":"prod","url":"https://a.example.com","channels":["C0OPS"]},{"name":"qa","url":"https://b.example.com","channels":["C0OPS"]}')"
must_fail "a context without its kubeconfig" "registries\[0\] (prod): context needs kubeconfigSecret" "${SLACK[@]}" \
  "$(one '{"name":"prod","url":"https://rok.example.com","context":"prod"}')"
must_fail "a remote registry without its API server's egress" \
  "registries\[0\] (far): networkPolicy.apiServer.cidrs is required for a remote registry" "${SLACK[@]}" \
  "$(one '{"name":"far","url":"https://rok.example.com","kubeconfigSecret":"far-kube"}')"
echo "[helm] required values, strict schema and cross-field checks refuse bad values"

# --- 3 + 4. split, validate, check ------------------------------------------------------------------
# Splits the ServiceMonitor out of each render (<name>.core.yaml) and runs the policy checks of step 4.
"$PY" "$ROOT/scripts/helmcheck.py" policy "$out"

for v in $KUBE_VERSIONS; do
  for r in default example all-on openshift persistence postgres webhook two-registries registries-rbac; do
    if ! "$KV" --strict --quiet -k "$v" "$out/$r.core.yaml" >"$out/kv.log" 2>&1; then
      cat "$out/kv.log" >&2; fail "kubernetes-validate --strict -k $v ($r render)"
    fi
    # kubernetes-validate only WARNs (exit 0) on a kind it has no schema for: treat that as failure.
    if grep -q "Couldn't find schema" "$out/kv.log"; then cat "$out/kv.log" >&2; fail "unvalidated kind in $r render"; fi
  done
done
echo "[helm] kubernetes-validate --strict OK for Kubernetes $KUBE_VERSIONS"
# The ServiceMonitor and the PrometheusRule against the Prometheus Operator's CRD schemas (helmcheck.py wrote them
# out of each render as <name>.crds.json; its policy step checked their wiring).
node "$ROOT/scripts/crdcheck.mjs" "$ROOT/.tools/node" "$out"/*.crds.json >"$out/crd.log" 2>&1 \
  || { cat "$out/crd.log" >&2; fail "a Prometheus Operator object fails its CRD schema"; }
grep -q "all-on.crds.json: 1 PrometheusRule, 1 ServiceMonitor valid" "$out/crd.log" \
  || { cat "$out/crd.log" >&2; fail "the all-on render's ServiceMonitor and PrometheusRule were not validated"; }
echo "[helm] ServiceMonitor and PrometheusRule valid against the Prometheus Operator's CRD schemas (npm $(cat "$ROOT/.tools/node/.installed"))"

# --- 5. README ---------------------------------------------------------------------------------------
"$PY" "$ROOT/scripts/helmcheck.py" readme "$CHART"

# --- 6. package ------------------------------------------------------------------------------------
# The chart as its users get it (`helm push` to an OCI registry, README "Verify what you run"): packaged into
# DIST (default dist/, gitignored), linted and rendered from the .tgz, which must render exactly as the directory.
DIST=${DIST:-$ROOT/dist}
mkdir -p "$DIST"
chart_version=$(sed -n 's/^version: //p' "$CHART/Chart.yaml")
pkg=$DIST/rok-token-bot-$chart_version.tgz
rm -f "$pkg"
"$HELM" package "$CHART" --destination "$DIST" >/dev/null || fail "helm package"
[[ -f $pkg ]] || fail "helm package wrote no $pkg"
"$HELM" lint --strict --quiet "$pkg" -f "$ALL_ON" --kube-version 1.33.0 || fail "lint (the package)"
"$HELM" template rok "$pkg" --namespace bots --kube-version 1.33.0 -f "$ALL_ON" >"$out/package.yaml" \
  || fail "template (the package)"
cmp -s "$out/package.yaml" "$out/all-on.yaml" || fail "the package renders differently from $CHART"
"$PY" "$ROOT/scripts/helmcheck.py" package "$pkg"
echo "[helm] OK in $((SECONDS - start))s"
