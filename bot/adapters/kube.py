"""Run a command in the Rok Registry pod through the Kubernetes API, like `kubectl exec svc/NAME -- argv`.

Only the official client is used: REST calls for the Service and its pods, and `kubernetes.stream` for the
exec WebSocket. Each exec gets its own ApiClient, because `stream()` swaps the request function on the
client it is given and would break concurrent calls sharing one.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from bot.domain.errors import (
    ClusterError,
    CommandFailed,
    ExecError,
    ExecStartError,
    ExecTimeout,
    OutputTooLarge,
    PodResolutionError,
)
from bot.domain.ports import ExecResult, PodTarget

log = logging.getLogger(__name__)

DEFAULT_CONTAINER_ANNOTATION = "kubectl.kubernetes.io/default-container"
STDOUT, STDERR, STATUS = 1, 2, 3
_STDERR_DETAIL_CHARS = 300


def build_configuration(kubeconfig: str | None) -> Any:
    """A client Configuration from KUBECONFIG, else the in-cluster service account, else ~/.kube/config."""
    import os

    from kubernetes import client, config

    cfg = client.Configuration()
    try:
        if kubeconfig:
            config.load_kube_config(config_file=kubeconfig, client_configuration=cfg)  # type: ignore[no-untyped-call]
        elif os.environ.get("KUBERNETES_SERVICE_HOST"):
            config.load_incluster_config(client_configuration=cfg)  # type: ignore[no-untyped-call]
        else:
            config.load_kube_config(client_configuration=cfg)  # type: ignore[no-untyped-call]
    except Exception as exc:
        # A missing or broken kubeconfig is a setup problem: one line, not a traceback.
        source = f"KUBECONFIG={kubeconfig}" if kubeconfig else "the in-cluster service account or ~/.kube/config"
        reason = str(exc).splitlines()[0][:200] if str(exc) else ""
        raise ClusterError(
            "The Kubernetes client configuration could not be loaded; an admin must check KUBECONFIG.",
            detail=f"loading {source}: {type(exc).__name__}: {reason}",
        ) from None
    return cfg


def _ready_since(pod: Any) -> datetime | None:
    """When the pod became Ready, or None when it is not Running, Ready and alive."""
    if pod.metadata is None or pod.metadata.deletion_timestamp is not None:
        return None
    status = pod.status
    if status is None or status.phase != "Running":
        return None
    for cond in status.conditions or []:
        if cond.type == "Ready" and cond.status == "True":
            since = cond.last_transition_time
            if isinstance(since, datetime):
                return since if since.tzinfo else since.replace(tzinfo=UTC)
            return datetime.max.replace(tzinfo=UTC)
    return None


def choose_container(pod: Any, configured: str | None) -> str:
    """The annotation's default container, else the configured one, else the first, as kubectl does."""
    names = [c.name for c in (pod.spec.containers if pod.spec else None) or []]
    annotations = (pod.metadata.annotations if pod.metadata else None) or {}
    annotated = annotations.get(DEFAULT_CONTAINER_ANNOTATION)
    for candidate in (annotated, configured):
        if candidate and candidate in names:
            return candidate
    if not names:
        raise PodResolutionError(detail=f"pod {pod.metadata.name} has no containers")
    return str(names[0])


class KubeExecutor:
    """Resolves the Service to a pod and runs argv lists in it, bounded in time and output size."""

    def __init__(
        self,
        *,
        configuration: Any,
        namespace: str,
        service: str,
        container: str | None,
        timeout: float,
        output_limit: int,
        pod_cache_seconds: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        from kubernetes import client

        self._cfg = configuration
        self._namespace = namespace
        self._service = service
        self._container = container
        self._timeout = timeout
        self._output_limit = output_limit
        self._pod_cache_seconds = pod_cache_seconds
        self._clock = clock
        # REST calls share one client (urllib3 pools are thread-safe); execs never use it.
        self._rest = client.CoreV1Api(client.ApiClient(configuration))
        self._lock = threading.Lock()
        self._cached: tuple[PodTarget, float] | None = None

    @property
    def configuration(self) -> Any:
        return self._cfg

    @property
    def where(self) -> str:
        return f"namespace {self._namespace!r}, Service {self._service!r}"

    def resolve(self, *, fresh: bool = False) -> PodTarget:
        """Pick a Running, Ready pod behind the Service (the one ready longest), like `kubectl exec svc/`."""
        now = self._clock()
        with self._lock:
            if not fresh and self._cached and now - self._cached[1] < self._pod_cache_seconds:
                return self._cached[0]
        target = self._resolve_uncached()
        with self._lock:
            self._cached = (target, now)
        return target

    def forget(self, target: PodTarget) -> None:
        """Drop a cached pod that just failed, so the next exec resolves again."""
        with self._lock:
            if self._cached and self._cached[0] == target:
                self._cached = None

    def _resolve_uncached(self) -> PodTarget:
        from kubernetes.client.exceptions import ApiException

        request_timeout = min(self._timeout, 10.0)
        try:
            svc = self._rest.read_namespaced_service(self._service, self._namespace, _request_timeout=request_timeout)
        except ApiException as exc:
            if exc.status == 404:
                raise PodResolutionError(
                    "The Rok Registry Service was not found; an admin must check the bot's settings.",
                    detail=f"Service not found in {self.where}",
                ) from None
            raise _api_failure(exc, f"reading the Service in {self.where}") from None
        except Exception as exc:
            raise ExecStartError(detail=f"reading the Service in {self.where}: {type(exc).__name__}") from None
        selector = (svc.spec.selector if svc.spec else None) or {}
        if not selector:
            raise PodResolutionError(
                "The Rok Registry Service has no pod selector; an admin must check the bot's settings.",
                detail=f"the Service in {self.where} has no selector",
            )
        label_selector = ",".join(f"{k}={v}" for k, v in sorted(selector.items()))
        try:
            pods = self._rest.list_namespaced_pod(
                self._namespace, label_selector=label_selector, _request_timeout=request_timeout
            )
        except ApiException as exc:
            raise _api_failure(exc, f"listing pods ({label_selector}) in {self.where}") from None
        except Exception as exc:
            raise ExecStartError(detail=f"listing pods in {self.where}: {type(exc).__name__}") from None
        items = list(pods.items or [])
        if not items:
            raise PodResolutionError(detail=f"no pods match {label_selector} for {self.where}")
        ready = [(since, pod) for pod in items if (since := _ready_since(pod)) is not None]
        if not ready:
            raise PodResolutionError(detail=f"none of {len(items)} pod(s) for {self.where} is Running and Ready")
        ready.sort(key=lambda pair: (pair[0], str(pair[1].metadata.name if pair[1].metadata else "")))
        pod: Any = ready[0][1]
        return PodTarget(pod=str(pod.metadata.name), container=choose_container(pod, self._container))

    def run(self, argv: list[str], *, target: PodTarget | None = None) -> ExecResult:
        """Run argv (no shell) in the pod; raise an ExecError subclass unless the command exited."""
        from websocket import WebSocketException

        target = target or self.resolve()
        started = time.monotonic()
        ws = self._open(argv, target)
        stdout: list[str] = []
        stderr: list[str] = []
        size = 0
        deadline = started + self._timeout
        try:
            while ws.is_open():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise ExecTimeout(detail=f"{argv[:2]} in pod {target.pod} ran past {self._timeout:.0f}s")
                try:
                    ws.update(timeout=min(remaining, 1.0))
                    for channel, sink in ((STDOUT, stdout), (STDERR, stderr)):
                        chunk = ws.read_channel(channel)
                        if chunk:
                            sink.append(chunk)
                            size += len(chunk)
                except (OSError, WebSocketException) as exc:
                    # A reset socket mid-command: the command may have run, so this is not retried.
                    raise ExecError(
                        "The connection to the Rok Registry pod dropped; try again in a minute.",
                        detail=f"{argv[:2]} in pod {target.pod}: {type(exc).__name__} while reading",
                    ) from None
                if size > self._output_limit:
                    raise OutputTooLarge(detail=f"{argv[:2]} printed more than {self._output_limit} bytes")
            status_text = ws.read_channel(STATUS)
        finally:
            ws.close()
        seconds = time.monotonic() - started
        for channel, sink in ((STDOUT, stdout), (STDERR, stderr)):
            # Frames that arrived with the close are still buffered.
            chunk = ws.read_channel(channel)
            if chunk:
                sink.append(chunk)
        exit_code = _exit_code(status_text, argv, target)
        return ExecResult(exit_code, "".join(stdout), "".join(stderr), target, seconds)

    def _open(self, argv: list[str], target: PodTarget) -> Any:
        from kubernetes import client
        from kubernetes.client.exceptions import ApiException
        from kubernetes.stream import stream

        api = client.CoreV1Api(client.ApiClient(self._cfg))
        try:
            return stream(
                api.connect_get_namespaced_pod_exec,
                target.pod,
                self._namespace,
                command=list(argv),
                container=target.container,
                stderr=True,
                stdin=False,
                stdout=True,
                tty=False,
                _preload_content=False,
            )
        except ApiException as exc:
            # The upgrade failed: nothing ran in the pod.
            raise ExecStartError(detail=f"exec into pod {target.pod}: {_short_reason(exc)}") from None
        except Exception as exc:
            raise ExecStartError(detail=f"exec into pod {target.pod}: {type(exc).__name__}") from None


def _short_reason(exc: Any) -> str:
    reason = str(getattr(exc, "reason", "") or exc).splitlines()[0]
    # websocket-client appends the response headers after " -+-+- ": keep only the status.
    return reason.split(" -+-+- ")[0][:200]


def _api_failure(exc: Any, doing: str) -> ExecStartError:
    if exc.status in (401, 403):
        return ExecStartError(
            "The bot is not allowed to reach the Rok Registry pod; an admin must check its RBAC.",
            detail=f"{doing}: HTTP {exc.status}",
        )
    return ExecStartError(detail=f"{doing}: HTTP {exc.status} {_short_reason(exc)}")


def _exit_code(status_text: str, argv: list[str], target: PodTarget) -> int:
    """Read the exit code from the status channel's metav1.Status (the client's returncode is unreliable)."""
    if not status_text:
        raise ExecError(
            "The connection to the Rok Registry pod dropped; try again in a minute.",
            detail=f"{argv[:2]} in pod {target.pod}: connection closed without a status",
        )
    try:
        status = json.loads(status_text)
    except ValueError:
        raise ExecError(detail=f"{argv[:2]}: unreadable status channel") from None
    if not isinstance(status, dict):
        raise ExecError(detail=f"{argv[:2]}: unreadable status channel")
    if status.get("status") == "Success":
        return 0
    if status.get("reason") == "NonZeroExitCode":
        for cause in (status.get("details") or {}).get("causes") or []:
            if cause.get("reason") == "ExitCode":
                try:
                    return int(cause.get("message"))
                except (TypeError, ValueError):
                    break
        return 1
    message = str(status.get("message", ""))[:_STDERR_DETAIL_CHARS]
    raise CommandFailed(detail=f"{argv[:2]} could not run in pod {target.pod}: {status.get('reason')}: {message}")
