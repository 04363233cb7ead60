#!/usr/bin/env bash
# Build the rok-token-bot image without a registry or a Docker engine, then smoke-test it.
#
#   1. buildah + debootstrap from Debian (installed when missing; needs root).
#   2. A local base image localhost/rok-base:bookworm from `debootstrap --variant=minbase`
#      (python3 3.11 on bookworm, the same minor as python:3.11-slim). The committed base is reused
#      while it exists in buildah's storage; the rootfs is also cached under .image-build/.
#   3. `buildah bud --isolation chroot` of ./Dockerfile with BASE_IMAGE pointing at that base; the
#      host's CA bundle and pip index settings are passed in so pip reaches PyPI as the host does.
#   4. Checks: the configured user is 10001, entrypoint/cmd/port are as the chart expects, the
#      console script answers `--help` (or, while bot/__main__.py does not exist yet, `import bot`
#      works), the OCI labels (version = pyproject's = `rok-token-bot --version`), the SBOM lists every
#      installed distribution with its version, and the image is below IMAGE_MAX_MB.
#
# The labels' values: VERSION from pyproject.toml, REVISION the checked-out commit (`-dirty` with local
# changes), CREATED now (RFC 3339, UTC) unless IMAGE_CREATED is set, SOURCE from IMAGE_SOURCE (default: the
# `origin` remote's https URL without credentials, else "unknown"; a release build sets the public repository URL).
#
# Environment knobs: IMAGE (default localhost/rok-token-bot:ci), IMAGE_MAX_MB (default 450),
# BUILD_DIR (default .image-build), DEBIAN_MIRROR (default http://deb.debian.org/debian),
# KEEP_IMAGE=1 to leave the built image in buildah's storage (it is kept by default; 0 removes it).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

IMAGE=${IMAGE:-localhost/rok-token-bot:ci}
BASE=${BASE:-localhost/rok-base:bookworm}
# Measured 2026-11: 382 MB on the debootstrap base (kubernetes 37 alone is ~126 MB with bytecode:
# it ships a sync and an asyncio copy of the generated client). 450 leaves room, catches a blow-up.
IMAGE_MAX_MB=${IMAGE_MAX_MB:-450}
BUILD_DIR=${BUILD_DIR:-$ROOT/.image-build}
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
KEEP_IMAGE=${KEEP_IMAGE:-1}
ROOTFS=$BUILD_DIR/rootfs-bookworm
HOST_CA=/etc/ssl/certs/ca-certificates.crt

log() { printf '[build-image %(%H:%M:%S)T] %s\n' -1 "$*"; }
die() { printf '[build-image] FAIL: %s\n' "$*" >&2; exit 1; }

t_start=$SECONDS

# --- 1. tools ------------------------------------------------------------------------------------
if ! command -v buildah >/dev/null 2>&1 || ! command -v debootstrap >/dev/null 2>&1; then
  [[ $(id -u) -eq 0 ]] || die "buildah/debootstrap missing and not root: cannot apt-get install them"
  log "installing buildah and debootstrap from Debian"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq buildah debootstrap >/dev/null
fi
command -v buildah >/dev/null 2>&1 || die "buildah not installed"
command -v debootstrap >/dev/null 2>&1 || die "debootstrap not installed"
log "$(buildah --version)"

# --- 2. local base image -------------------------------------------------------------------------
# The committed base lives in buildah's storage (/var/lib/containers), which outlives a CI clone; the
# rootfs cache under .image-build/ only saves the debootstrap when the base must be (re)committed.
# REBUILD_BASE=1 forces a fresh debootstrap and base.
mkdir -p "$BUILD_DIR"
if [[ ${REBUILD_BASE:-0} == 1 ]]; then
  rm -rf "$ROOTFS"
  buildah rmi -f "$BASE" >/dev/null 2>&1 || true
fi
if buildah inspect --type image "$BASE" >/dev/null 2>&1; then
  log "reusing base image $BASE"
else
  if [[ -f $ROOTFS/.complete ]]; then
    log "reusing cached rootfs $ROOTFS"
  else
    log "debootstrap bookworm (minbase + python3) into $ROOTFS"
    rm -rf "$ROOTFS" "$ROOTFS.tmp"
    t0=$SECONDS
    debootstrap --variant=minbase \
      --include=python3,python3-venv,python3-pip,ca-certificates \
      bookworm "$ROOTFS.tmp" "$DEBIAN_MIRROR" >"$BUILD_DIR/debootstrap.log" 2>&1 \
      || { tail -n 30 "$BUILD_DIR/debootstrap.log" >&2; die "debootstrap failed (log: $BUILD_DIR/debootstrap.log)"; }
    # Trim what an image does not need: downloaded .debs, apt lists, docs, man pages.
    rm -rf "$ROOTFS.tmp"/var/cache/apt/archives/*.deb "$ROOTFS.tmp"/var/lib/apt/lists/* \
           "$ROOTFS.tmp"/usr/share/doc/* "$ROOTFS.tmp"/usr/share/man/* "$ROOTFS.tmp"/usr/share/info/*
    touch "$ROOTFS.tmp/.complete"
    mv "$ROOTFS.tmp" "$ROOTFS"
    log "debootstrap took $((SECONDS - t0))s"
  fi
  log "committing $ROOTFS as $BASE"
  ctr=$(buildah from scratch)
  mnt=$(buildah mount "$ctr")
  tar -C "$ROOTFS" --exclude=./.complete -cf - . | tar -C "$mnt" -xpf -
  buildah umount "$ctr" >/dev/null
  buildah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --env LANG=C.UTF-8 --cmd /bin/bash "$ctr"
  buildah commit --quiet --rm "$ctr" "$BASE" >/dev/null
fi

# --- 3. build ------------------------------------------------------------------------------------
# pip inside the build must reach PyPI the way the host does: the host's CA bundle (which trusts
# whatever sits between this machine and PyPI) is bind-mounted over the base's, and the host's index
# settings are forwarded as build args. file:// indexes and find-links are host-local directories
# that do not exist inside the build, so they are not forwarded.
host_pip() { python3 -m pip config get "$1" 2>/dev/null || true; }
pip_args=()
index_url=${PIP_INDEX_URL:-$(host_pip global.index-url)}
extra_urls=${PIP_EXTRA_INDEX_URL:-$(host_pip global.extra-index-url)}
trusted=${PIP_TRUSTED_HOST:-$(host_pip global.trusted-host)}
if [[ -n $index_url && $index_url != file:* ]]; then pip_args+=(--build-arg "PIP_INDEX_URL=$index_url"); fi
extra_http=$(tr ' \n' '\n\n' <<<"$extra_urls" | grep -E '^https?://' | paste -sd' ' - || true)
if [[ -n $extra_http ]]; then pip_args+=(--build-arg "PIP_EXTRA_INDEX_URL=$extra_http"); fi
if [[ -n $trusted ]]; then pip_args+=(--build-arg "PIP_TRUSTED_HOST=$trusted"); fi
mounts=()
if [[ -f $HOST_CA ]]; then
  mounts+=(-v "$HOST_CA:$HOST_CA:ro")
  # The official image's pip uses its bundled certifi, not the system bundle: point it at the mount.
  pip_args+=(--build-arg "PIP_CERT=$HOST_CA")
fi
log "pip build args: ${pip_args[*]:-(none)}"
# The OCI labels' values (the Dockerfile's VERSION, REVISION, CREATED and SOURCE build args).
VERSION=$(python3 -c 'import sys, tomllib; print(tomllib.load(open(sys.argv[1], "rb"))["project"]["version"])' pyproject.toml)
REVISION=$(git rev-parse HEAD 2>/dev/null || echo unknown)
if [[ $REVISION != unknown && -n $(git status --porcelain --untracked-files=no 2>/dev/null) ]]; then REVISION+=-dirty; fi
CREATED=${IMAGE_CREATED:-$(date -u +%Y-%m-%dT%H:%M:%SZ)}
# The origin remote only when it is a public-looking https URL (credentials stripped): a CI clone's origin is a
# local path, which names nothing a reader of the label could open.
origin=$(git config --get remote.origin.url 2>/dev/null | sed -E 's#://[^/@]*@#://#' | grep -E '^https://' || true)
SOURCE=${IMAGE_SOURCE:-${origin:-unknown}}
label_args=(--build-arg "VERSION=$VERSION" --build-arg "REVISION=$REVISION" --build-arg "CREATED=$CREATED"
            --build-arg "SOURCE=$SOURCE")
log "labels: version=$VERSION revision=$REVISION created=$CREATED source=$SOURCE"

log "buildah bud -> $IMAGE"
t0=$SECONDS
# The previous build of this tag becomes an untagged image: remember it and remove it afterwards, so
# repeated CI runs on one machine do not fill /var/lib/containers.
old_id=$(buildah inspect --type image --format '{{.FromImageID}}' "$IMAGE" 2>/dev/null || true)
buildah bud --isolation chroot \
  --build-arg "BASE_IMAGE=$BASE" \
  "${pip_args[@]}" "${label_args[@]}" "${mounts[@]}" \
  -f Dockerfile -t "$IMAGE" . >"$BUILD_DIR/bud.log" 2>&1 \
  || { tail -n 40 "$BUILD_DIR/bud.log" >&2; die "buildah bud failed (log: $BUILD_DIR/bud.log)"; }
log "buildah bud took $((SECONDS - t0))s"
new_id=$(buildah inspect --type image --format '{{.FromImageID}}' "$IMAGE")
if [[ -n $old_id && $old_id != "$new_id" ]]; then buildah rmi "$old_id" >/dev/null 2>&1 || true; fi

# --- 4. checks -----------------------------------------------------------------------------------
# buildah 1.28's --format has no `json` function: read the OCI config from the JSON dump instead.
read -r user entry cmd ports < <(buildah inspect --type image "$IMAGE" | python3 -c '
import json, sys
c = json.load(sys.stdin)["OCIv1"]["config"]
print(c.get("User", ""), json.dumps(c.get("Entrypoint"), separators=(",", ":")),
      json.dumps(c.get("Cmd"), separators=(",", ":")), ",".join(sorted(c.get("ExposedPorts") or {})))')
log "user=$user entrypoint=$entry cmd=$cmd ports=$ports"
[[ ${user%%:*} == 10001 ]] || die "image user is '$user', want 10001"
[[ $entry == '["rok-token-bot"]' ]] || die "entrypoint is $entry, want [\"rok-token-bot\"]"
[[ $cmd == '["serve"]' ]] || die "cmd is $cmd, want [\"serve\"]"
[[ ,$ports, == *,3000/tcp,* ]] || die "port 3000 not exposed: $ports"
# The OCI labels, exactly (docker inspect shows the same Config.Labels).
buildah inspect --type image "$IMAGE" | python3 -c '
import json, sys
want = dict(zip(("version", "revision", "created", "source"), sys.argv[1:]), title="rok-token-bot",
            licenses="Apache-2.0",
            description="Slack bot that issues short-lived Rok Registry tokens through the Kubernetes API")
labels = json.load(sys.stdin)["OCIv1"]["config"].get("Labels") or {}
got = {k.removeprefix("org.opencontainers.image."): v for k, v in labels.items() if k.startswith("org.opencontainers.image.")}
if got != want:
    sys.exit(f"OCI labels are {got}, want {want}")' "$VERSION" "$REVISION" "$CREATED" "$SOURCE" \
  || die "the image's OCI labels are not the build's"
log "OCI labels: version $VERSION, revision $REVISION, created $CREATED, source $SOURCE, licenses, title, description"

ctr=$(buildah from --quiet "$IMAGE")
cleanup() { buildah umount "$ctr" >/dev/null 2>&1 || true; buildah rm "$ctr" >/dev/null 2>&1 || true; }
trap cleanup EXIT
# `buildah run` runs as the image's USER (10001): the checks run unprivileged, as in a pod.
run() { buildah run --isolation chroot --env ROK_BOT_SECRETS_DIR=/tmp "$ctr" -- "$@"; }
[[ $(run id -u) == 10001 ]] || die "process does not run as UID 10001"
run python3 -c 'import sys; assert sys.version_info[:2] == (3, 11), sys.version' \
  || die "image python is not 3.11"
if [[ -f bot/__main__.py ]]; then
  run rok-token-bot --help >"$BUILD_DIR/help.txt" 2>&1 \
    || { cat "$BUILD_DIR/help.txt" >&2; die "rok-token-bot --help failed in the image"; }
  log "rok-token-bot --help: OK ($(head -n 1 "$BUILD_DIR/help.txt"))"
else
  log "WARNING: bot/__main__.py does not exist yet; checking 'import bot' instead of --help"
  run python3 -c 'import bot; print("import bot OK, version", bot.__version__)' \
    || die "'import bot' failed in the image"
  run sh -c 'command -v rok-token-bot' >/dev/null || die "console script rok-token-bot not on PATH"
fi
# The one version: the label's is what the console script prints.
[[ $(run rok-token-bot --version) == "rok-token-bot $VERSION" ]] \
  || die "rok-token-bot --version in the image is '$(run rok-token-bot --version)', want rok-token-bot $VERSION"
# The SBOM (CycloneDX JSON, made in the build's sbom stage) lists every distribution installed in the image's
# environment with its version, no more and no less (pip is not in the image: importlib.metadata reads the same
# records `pip list` would).
run python3 -c '
import json, re
from importlib.metadata import distributions
def key(name): return re.sub(r"[-_.]+", "-", name).lower()
bom = json.load(open("/usr/share/doc/rok-token-bot/sbom.cdx.json"))
assert bom["bomFormat"] == "CycloneDX", bom.get("bomFormat")
listed = {(key(c["name"]), c["version"]) for c in [bom["metadata"]["component"], *bom["components"]]}
installed = {(key(d.metadata["Name"]), d.version) for d in distributions()}
if listed != installed:
    raise SystemExit(f"SBOM lacks {sorted(installed - listed)}; lists what is not installed: {sorted(listed - installed)}")
print(bom["specVersion"], len(installed))' >"$BUILD_DIR/sbom.txt" 2>&1 \
  || { cat "$BUILD_DIR/sbom.txt" >&2; die "the SBOM does not match the image's environment"; }
read -r sbom_spec sbom_count <"$BUILD_DIR/sbom.txt"
log "SBOM: CycloneDX $sbom_spec at /usr/share/doc/rok-token-bot/sbom.cdx.json lists all $sbom_count installed distributions"
# The runtime dependencies import (catches a wheel that installed but cannot load, e.g. a libc clash).
run python3 -c 'import slack_bolt, slack_sdk, kubernetes, httpx, h11, pydantic, pydantic_settings, yaml, aiohttp, prometheus_client, cryptography.hazmat.primitives.ciphers.aead' \
  || die "a runtime dependency does not import"
# No compiler and no pip in the runtime venv.
if run sh -c 'command -v gcc || command -v cc || test -e /opt/venv/bin/pip' >/dev/null 2>&1; then
  die "runtime image carries a compiler or pip in /opt/venv"
fi

mnt=$(buildah mount "$ctr")
# Read-only root, as in the pod (readOnlyRootFilesystem, an emptyDir at /tmp): a private mount
# namespace bind-mounts the image read-only, adds a tmpfs /tmp, and chroots as 10001:10001.
ro_root=$BUILD_DIR/ro-root
mkdir -p "$ro_root"
run_ro() {
  # RO_EXEC=1: replace the calling shell, so a signal to the caller reaches the program (smoke test).
  local how=()
  if [[ ${RO_EXEC:-0} == 1 ]]; then how=(exec); fi
  "${how[@]}" timeout "${RO_TIMEOUT:-180}" unshare --mount sh -ec '
    mount --bind "$1" "$2"; mount -o remount,bind,ro "$2"
    mount -t tmpfs -o size=64m,mode=1777 tmpfs "$2/tmp"
    if [ -n "${SMOKE_DIR:-}" ]; then mkdir -p "$2/tmp/smoke"; mount --bind -o ro "$SMOKE_DIR" "$2/tmp/smoke"; fi
    mount -t proc proc "$2/proc"; mount --rbind /dev "$2/dev"
    root=$2; shift 2
    exec chroot --userspec=10001:10001 "$root" /usr/bin/env -i PATH=/opt/venv/bin:/usr/bin:/bin \
      HOME=/nonexistent LANG=C.UTF-8 PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
      ROK_BOT_SECRETS_DIR=/tmp "$@"' sh "$mnt" "$ro_root" "$@"
}
run_ro sh -c '! touch /probe 2>/dev/null' || die "read-only root check is not read-only"
run_ro rok-token-bot --help >/dev/null || die "rok-token-bot --help fails on a read-only root"
# Every module of the package imports on a read-only root (catches import-time writes and
# modules that need test-only dependencies).
run_ro python3 -c '
import importlib, pkgutil, bot
# Alembic loads the migration scripts itself (env.py needs its context): the smoke test below migrates.
mods = [m.name for m in pkgutil.walk_packages(bot.__path__, "bot.") if ".store.migrations" not in m.name]
for name in mods:
    importlib.import_module(name)
print(len(mods))' >"$BUILD_DIR/imports.txt" 2>&1 \
  || { cat "$BUILD_DIR/imports.txt" >&2; die "a bot module fails to import in the image (read-only root)"; }
log "read-only root: --help OK, all $(tail -n 1 "$BUILD_DIR/imports.txt") bot modules import"
# The image ships bot/ only: no fakes, no sandbox signing secret. The demo says so in one line.
run_ro python3 -c 'import importlib.util, sys; sys.exit(importlib.util.find_spec("sandbox") is not None)' \
  || die "the image contains the sandbox package (the fakes must stay out of the production image)"
if run_ro rok-token-bot demo >"$BUILD_DIR/demo.log" 2>&1; then die "rok-token-bot demo ran in the image"; fi
grep -q "source checkout" "$BUILD_DIR/demo.log" || { cat "$BUILD_DIR/demo.log" >&2; die "demo refusal is not one clear line"; }
log "read-only root: no sandbox in the image; 'demo' refuses in one line"
# The image still starts and works: `serve` on the read-only root, as UID 10001, against the fakes running
# on the host (the build sandbox shares the host's network): a signed /rok-token gets a token privately,
# and SIGTERM drains and exits 0.
PYTHON_HOST=${PYTHON_HOST:-.venv/bin/python}
if [[ -x $PYTHON_HOST ]] && "$PYTHON_HOST" -c 'import sandbox' 2>/dev/null; then
  t0=$SECONDS
  SMOKE_DIR=$BUILD_DIR/smoke
  rm -rf "$SMOKE_DIR"
  export SMOKE_DIR mnt ro_root
  export -f run_ro
  "$PYTHON_HOST" -m sandbox.smoke --dir "$SMOKE_DIR" --inner /tmp/smoke -- env RO_EXEC=1 bash -c 'run_ro "$@"' run_ro \
    >"$BUILD_DIR/smoke.log" 2>&1 || { cat "$BUILD_DIR/smoke.log" >&2; die "serve in the image failed the smoke test"; }
  log "read-only root: serve answered a signed /rok-token with a private token and exited 0 on SIGTERM in $((SECONDS - t0))s ($(head -n 1 "$BUILD_DIR/smoke.log"))"
else
  die "no host Python with the sandbox ($PYTHON_HOST): run the README's install first"
fi
size_kb=$(du -sxk "$mnt" | cut -f1)
venv_kb=$(du -sxk "$mnt/opt/venv" | cut -f1)
buildah umount "$ctr" >/dev/null
size_mb=$((size_kb / 1024))
log "image size (unpacked rootfs): ${size_mb} MB, of which /opt/venv $((venv_kb / 1024)) MB (limit ${IMAGE_MAX_MB} MB)"
((size_mb <= IMAGE_MAX_MB)) || die "image is ${size_mb} MB, above ${IMAGE_MAX_MB} MB"

if [[ $KEEP_IMAGE == 0 ]]; then buildah rmi -f "$IMAGE" >/dev/null 2>&1 || true; fi
log "OK: $IMAGE in $((SECONDS - t_start))s"
