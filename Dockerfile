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
# builder: wheels for the project and every dependency. Nothing from this stage but /wheels ships.
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
RUN python3 -m venv /opt/build-venv

# The build context is an allow-list (.dockerignore): pyproject.toml, README/LICENSE and bot/.
COPY . /src

# Every dependency ships cp311 manylinux wheels, so no compiler is needed even here; if one ever
# needs building from an sdist, this is the stage to add build tools to.
RUN /opt/build-venv/bin/pip wheel --wheel-dir /wheels /src

# ---------------------------------------------------------------------------------------------------
# runtime: the same base (no compilers), a venv at /opt/venv with the wheels installed, non-root.
FROM ${BASE_IMAGE} AS runtime

LABEL org.opencontainers.image.title="rok-token-bot" \
      org.opencontainers.image.description="Slack bot that issues short-lived Rok Registry tokens through the Kubernetes API" \
      org.opencontainers.image.licenses="Apache-2.0"

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PATH=/opt/venv/bin:$PATH

# A fixed UID/GID, so the chart's runAsUser/runAsGroup/fsGroup (10001) match the image.
RUN groupadd --system --gid 10001 rokbot \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin rokbot

# Install from the builder's wheels only (--no-index: no network in this stage), bind-mounted so
# they never land in a layer. pip and setuptools are removed afterwards: the running bot installs
# nothing. Bytecode is compiled now, because the root filesystem is read-only at run time.
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    python3 -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-index --find-links=/wheels rok-token-bot \
 && /opt/venv/bin/pip uninstall --yes pip setuptools \
 && /opt/venv/bin/python -m compileall -q /opt/venv/lib

USER 10001:10001
EXPOSE 3000

ENTRYPOINT ["rok-token-bot"]
CMD ["serve"]
