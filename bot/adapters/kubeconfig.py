"""The Kubernetes client's configuration: a kubeconfig (KUBECONFIG or a registry's own file, at a context), else
the in-cluster service account. Made by `KubeExecutor` on its first call that needs the cluster."""

from __future__ import annotations

from typing import Any

from bot.domain.errors import ClusterError


def build_configuration(kubeconfig: str | None, *, context: str | None = None) -> Any:
    """A client Configuration from `kubeconfig` (KUBECONFIG, or a registry's own file; a colon list merges as
    kubectl does) at `context` (else its current-context), else the in-cluster service account, else
    ~/.kube/config."""
    import os

    from kubernetes import client, config

    cfg = client.Configuration()
    try:
        if kubeconfig:
            config.load_kube_config(config_file=kubeconfig, context=context, client_configuration=cfg)  # type: ignore[no-untyped-call]
        elif os.environ.get("KUBERNETES_SERVICE_HOST") and context is None:
            config.load_incluster_config(client_configuration=cfg)  # type: ignore[no-untyped-call]
        else:
            config.load_kube_config(context=context, client_configuration=cfg)  # type: ignore[no-untyped-call]
    except Exception as exc:
        # A missing or broken kubeconfig is a setup problem: one line, not a traceback.
        source = f"KUBECONFIG={kubeconfig}" if kubeconfig else "the in-cluster service account or ~/.kube/config"
        if context:
            source += f" (context {context})"
        reason = str(exc).splitlines()[0][:200] if str(exc) else ""
        raise ClusterError(
            "The Kubernetes client configuration could not be loaded; an admin must check KUBECONFIG.",
            detail=f"loading {source}: {type(exc).__name__}: {reason}",
        ) from None
    return cfg
