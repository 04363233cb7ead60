# rok-token-bot container image.
#
# BASE_IMAGE: the default is the official python:3.11-slim-bookworm pinned by digest, so a rebuild
# gets the same base until someone bumps the digest on purpose (refresh it with
# `docker buildx imagetools inspect python:3.11-slim-bookworm` and review the diff). No registry is
# reachable from the machine this was written on, so the digest below (as used in public Dockerfiles)
# is unverified here: check it once from a machine that can pull.
# CI has no registry and no Docker engine: scripts/build-image.sh builds with buildah against a local
# Debian bookworm base made by debootstrap (`--build-arg BASE_IMAGE=localhost/rok-base:bookworm`).
# That base has python3 at /usr/bin, the official one at /usr/local/bin; everything below goes
# through `python3 -m venv /opt/venv` and /opt/venv/bin, so both bases work unchanged.
# RUN --mount needs BuildKit (Docker 23+ by default) or buildah; no remote `# syntax=` frontend is used.
ARG BASE_IMAGE=python:3.11-slim-bookworm@sha256:a36c24f9cbdf4fd0f52d67f0823eeac19c2028c637cecc392d97f980d4fec56b

# ---------------------------------------------------------------------------------------------------
# builder: wheels for the project and every dependency, and the build tools. Nothing from this stage ships;
# nothing is resolved here: every download is a pin of a lock with its hashes (scripts/lock refreshes them).
FROM ${BASE_IMAGE} AS builder

# Index settings forwarded from the build host (scripts/build-image.sh passes what the host uses);
# unset by default, so pip's defaults apply.
ARG PIP_INDEX_URL
ARG PIP_EXTRA_INDEX_URL
ARG PIP_TRUSTED_HOST
ARG PIP_CERT
ARG PIP_DEFAULT_TIMEOUT=60

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /src

# The locks first, so that a change to bot/ alone reuses these layers. requirements-build.lock: setuptools
# (builds the project's wheel, without build isolation) and cyclonedx-bom (the SBOM). requirements.lock: the
# runtime set, as wheels only (--only-binary: nothing is compiled; every pin ships cp311 manylinux wheels).
COPY requirements.lock requirements-build.lock /src/
RUN python3 -m venv /opt/build-venv \
 && /opt/build-venv/bin/pip install --require-hashes --no-deps -r requirements-build.lock \
 && /opt/build-venv/bin/pip download --require-hashes --no-deps --only-binary=:all: --dest /wheels \
        -r requirements.lock \
 && cp requirements.lock /wheels/

# The build context is an allow-list (.dockerignore): pyproject.toml, README/LICENSE, the locks and bot/.
COPY . /src
RUN /opt/build-venv/bin/pip wheel --no-deps --no-build-isolation --wheel-dir /wheels/project /src

# ---------------------------------------------------------------------------------------------------
# app: the same base (no compilers), a venv at /opt/venv with exactly the locked wheels and the project.
FROM ${BASE_IMAGE} AS app

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PATH=/opt/venv/bin:$PATH

# A fixed UID/GID, so the chart's runAsUser/runAsGroup/fsGroup (10001) match the image.
RUN groupadd --system --gid 10001 rokbot \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin rokbot

# From the builder's wheels only (--no-index: no network in this stage), bind-mounted so they never land in a
# layer: the lock with its hashes checked again, then the project alone (--no-deps: the lock is the whole set).
# pip and setuptools are removed afterwards: the running bot installs nothing. Bytecode is compiled now,
# because the root filesystem is read-only at run time.
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    python3 -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-index --find-links=/wheels --require-hashes --no-deps \
        -r /wheels/requirements.lock \
 && /opt/venv/bin/pip install --no-index --no-deps /wheels/project/rok_token_bot-*.whl \
 && /opt/venv/bin/pip uninstall --yes pip setuptools \
 && /opt/venv/bin/python -m compileall -q /opt/venv/lib

# ---------------------------------------------------------------------------------------------------
# sbom: CycloneDX JSON of /opt/venv as it ships (after pip and setuptools left), by the builder's
# cyclonedx-py, bind-mounted so the tool never enters an image layer. --output-reproducible: no serial number
# and no timestamp, so the same lock gives the same file.
FROM app AS sbom
RUN --mount=type=bind,from=builder,source=/opt/build-venv,target=/opt/build-venv \
    --mount=type=bind,from=builder,source=/src/pyproject.toml,target=/tmp/pyproject.toml \
    mkdir -p /sbom \
 && /opt/build-venv/bin/cyclonedx-py environment --output-reproducible --pyproject /tmp/pyproject.toml \
        --output-format JSON --output-file /sbom/sbom.cdx.json /opt/venv/bin/python

# ---------------------------------------------------------------------------------------------------
# runtime: the app stage, its SBOM at a documented path, its labels, non-root.
FROM app AS runtime

# The OCI labels (https://specs.opencontainers.org/image-spec/annotations/): CI passes VERSION (pyproject's, the
# one `rok-token-bot --version` prints), REVISION (the git commit), CREATED (RFC 3339) and SOURCE.
ARG VERSION=unset
ARG REVISION=unset
ARG CREATED=unset
ARG SOURCE=unset
LABEL org.opencontainers.image.title="rok-token-bot" \
      org.opencontainers.image.description="Slack bot that issues short-lived Rok Registry tokens through the Kubernetes API" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.source="${SOURCE}"

COPY --from=sbom /sbom/sbom.cdx.json /usr/share/doc/rok-token-bot/sbom.cdx.json

USER 10001:10001
EXPOSE 3000

ENTRYPOINT ["rok-token-bot"]
CMD ["serve"]
