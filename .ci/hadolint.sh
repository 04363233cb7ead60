#!/usr/bin/env bash
# Gate: hadolint on the Dockerfile. Fails (never skips) when hadolint is not installed:
# run .ci/tools.sh first.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
start=$SECONDS
HADOLINT=.tools/bin/hadolint
[[ -x $HADOLINT ]] || { echo "[hadolint] FAIL: $HADOLINT missing (run bash .ci/tools.sh)" >&2; exit 1; }
# Strictest threshold: any finding, down to style level, fails the gate.
"$HADOLINT" --no-color --failure-threshold style Dockerfile
echo "[hadolint] OK: $("$HADOLINT" --version) in $((SECONDS - start))s"
