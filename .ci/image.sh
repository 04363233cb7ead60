#!/usr/bin/env bash
# Gate: build the container image with buildah (no registry, no Docker engine) and smoke-test it.
# scripts/build-image.sh installs buildah/debootstrap from Debian when missing and fails otherwise.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
start=$SECONDS
bash scripts/build-image.sh
echo "[image] OK in $((SECONDS - start))s"
