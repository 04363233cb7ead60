"""Run a command in the Rok Registry pod through the Kubernetes API, like `kubectl exec svc/NAME -- argv`.

Only the official client is used: its `ApiClient` serializes and authenticates every request (bearer
tokens, exec-plugin refresh, client certificates, the CA), REST answers are read as plain JSON, and the exec
runs on `kubernetes.stream.ws_client.WSClient`, the WebSocket client `kubernetes.stream.stream()` uses
inside. Two reasons not to go through `CoreV1Api` and `stream()`:

- `stream()` swaps the request function of the ApiClient it is given, so concurrent calls that share one
  break ("Handshake status 200 OK"); opening the WSClient directly touches no shared state at all.
- `kubernetes.client.api.core_v1_api` is a 4.4 MB module: importing it costs about 0.7 s and 22 MiB, which
  is most of the CLI's start-up and of the bot's idle memory.

ROK_BOT_EXEC_TIMEOUT bounds the whole exec with a watchdog thread that shuts the socket down at the
deadline, not with socket timeouts: a socket timeout bounds one `recv()`, and websocket-client reads a
frame with as many `recv()` calls as the peer cares to split it into (and `WSClient.update` keeps reading
while frames keep coming), so a peer sending one byte just inside the timeout held an exec slot for as
long as it liked. Re-arming the timeout before every read would need hooks inside websocket-client;
`shutdown()` from another thread wakes a blocked `recv()` (closing the descriptor would not).
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from bot.domain.errors import (
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


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _ready_since(pod: dict[str, Any]) -> datetime | None:
    """When the pod became Ready, or None when it is not Running, Ready and alive."""
    if _dict(pod.get("metadata")).get("deletionTimestamp"):
        return None
    status = _dict(pod.get("status"))
    if status.get("phase") != "Running":
        return None
    for raw in status.get("conditions") or []:
        cond = _dict(raw)
        if cond.get("type") == "Ready" and cond.get("status") == "True":
            try:
                since = datetime.fromisoformat(str(cond.get("lastTransitionTime")).replace("Z", "+00:00"))
            except ValueError:
                return datetime.max.replace(tzinfo=UTC)
            return since if since.tzinfo else since.replace(tzinfo=UTC)
    return None


def _pod_name(pod: dict[str, Any]) -> str:
    return str(_dict(pod.get("metadata")).get("name") or "")


def choose_container(pod: dict[str, Any], configured: str | None) -> str:
    """The annotation's default container, else the configured one, else the first, as kubectl does."""
    names = [str(_dict(c).get("name")) for c in _dict(pod.get("spec")).get("containers") or []]
    annotations = _dict(_dict(pod.get("metadata")).get("annotations"))
    annotated = annotations.get(DEFAULT_CONTAINER_ANNOTATION)
    for candidate in (annotated, configured):
        if candidate and candidate in names:
            return str(candidate)
    if not names:
        raise PodResolutionError(detail=f"pod {_pod_name(pod)} has no containers")
    return names[0]


class _HttpStatus(Exception):
    """A non-2xx answer from the API server."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"HTTP {status} {reason}")
        self.status, self.reason = status, reason


class KubeExecutor:
    """Resolves the Service to a pod and runs argv lists in it, bounded in time and output size.

    `configure` makes the client configuration (`bot.adapters.kubeconfig`): it runs, and the kubernetes package is
    imported, on the first call that needs the cluster or on `connect()`, so a `serve` start does not wait for
    either (the registry's first health probe, right after the start, makes it). A failure there is the
    ClusterError of that call (a broken kubeconfig: the registry's probe reports it, a mint answers with it);
    the next call tries again.
    """

    def __init__(
        self,
        *,
        configure: Callable[[], Any],
        namespace: str,
        service: str,
        container: str | None,
        timeout: float,
        output_limit: int,
        pod_cache_seconds: float = 30.0,
        clock: Callable[[], float],
    ) -> None:
        self._configure = configure
        self._namespace = namespace
        self._service = service
        self._container = container
        self._timeout = timeout
        self._output_limit = output_limit
        self._pod_cache_seconds = pod_cache_seconds
        self._clock = clock
        self._client_lock = threading.Lock()
        self._client: tuple[Any, Any] | None = None
        self._lock = threading.Lock()
        self._cached: tuple[PodTarget, float] | None = None

    def connect(self) -> None:
        """Make the client now (the CLI, before its store opens beside the first exec); ClusterError if it can't."""
        self._connection()

    def _connection(self) -> tuple[Any, Any]:
        """The client configuration and its ApiClient, made once."""
        with self._client_lock:
            if self._client is None:
                import websocket
                from kubernetes.client.api_client import ApiClient

                configuration = self._configure()
                # The exec WebSocket's connect and reads use websocket-client's default timeout: bound them too.
                websocket.setdefaulttimeout(self._timeout)
                # One ApiClient for everything: its urllib3 pool is thread-safe, and nothing here swaps its internals.
                self._client = (configuration, ApiClient(configuration))
            return self._client

    @property
    def _cfg(self) -> Any:
        return self._connection()[0]

    @property
    def _api(self) -> Any:
        return self._connection()[1]

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

    def _serialize(
        self,
        path: str,
        path_params: dict[str, str],
        query: list[tuple[str, Any]],
        *,
        method: str = "GET",
        body: dict[str, Any] | None = None,
    ) -> tuple[str, dict[str, str], Any]:
        """URL, headers (with fresh credentials) and body, as the generated API methods build them."""
        header_params = {"Accept": "application/json"}
        if body is not None:
            header_params["Content-Type"] = "application/json"
        _method, url, headers, serialized, _post = self._api.param_serialize(
            method,
            path,
            path_params=path_params,
            query_params=query,
            header_params=header_params,
            body=body,
            auth_settings=["BearerToken"],
            collection_formats={"command": "multi"},
        )
        return url, headers, serialized

    def _get_json(
        self,
        path: str,
        path_params: dict[str, str],
        query: list[tuple[str, Any]],
        *,
        method: str = "GET",
        body: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        url, headers, serialized = self._serialize(path, path_params, query, method=method, body=body)
        response = self._api.call_api(method, url, headers, serialized, _request_timeout=min(self._timeout, 10.0))
        data = response.read()
        if not 200 <= response.status < 300:
            raise _HttpStatus(response.status, str(response.reason or ""))
        return _dict(json.loads(data))

    # -- for `doctor` -----------------------------------------------------------------------------

    @property
    def api_host(self) -> str:
        """The API server's URL from the client configuration."""
        return str(self._cfg.host)

    def server_version(self) -> str:
        """The API server's version (GET /version): proves the connection and the credentials' TLS."""
        try:
            return str(self._get_json("/version", {}, []).get("gitVersion") or "unknown")
        except _HttpStatus as exc:
            raise _api_failure(exc.status, exc.reason, "reading /version") from None

    def can_i(self, verb: str, resource: str, *, subresource: str = "", name: str | None = None) -> bool:
        """Whether the bot may `verb` the resource in the registry's namespace (SelfSubjectAccessReview)."""
        attributes: dict[str, Any] = {"namespace": self._namespace, "verb": verb, "resource": resource}
        if subresource:
            attributes["subresource"] = subresource
        if name:
            attributes["name"] = name
        review = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SelfSubjectAccessReview",
            "spec": {"resourceAttributes": attributes},
        }
        try:
            answer = self._get_json(
                "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", {}, [], method="POST", body=review
            )
        except _HttpStatus as exc:
            raise _api_failure(exc.status, exc.reason, "asking SelfSubjectAccessReview") from None
        return bool(_dict(answer.get("status")).get("allowed"))

    def _resolve_uncached(self) -> PodTarget:
        ns = {"namespace": self._namespace}
        doing = f"reading the Service in {self.where}"
        try:
            svc = self._get_json("/api/v1/namespaces/{namespace}/services/{name}", {**ns, "name": self._service}, [])
            selector = _dict(_dict(svc.get("spec")).get("selector"))
            if not selector:
                raise PodResolutionError(
                    "The Rok Registry Service has no pod selector; an admin must check the bot's settings.",
                    detail=f"the Service in {self.where} has no selector",
                )
            label_selector = ",".join(f"{k}={v}" for k, v in sorted(selector.items()))
            doing = f"listing pods ({label_selector}) in {self.where}"
            pods = self._get_json("/api/v1/namespaces/{namespace}/pods", ns, [("labelSelector", label_selector)])
        except _HttpStatus as exc:
            if exc.status == 404 and doing.startswith("reading the Service"):
                raise PodResolutionError(
                    "The Rok Registry Service was not found; an admin must check the bot's settings.",
                    detail=f"Service not found in {self.where}",
                ) from None
            raise _api_failure(exc.status, exc.reason, doing) from None
        except PodResolutionError:
            raise
        except Exception as exc:
            raise ExecStartError(detail=f"{doing}: {type(exc).__name__}") from None
        items = [_dict(item) for item in pods.get("items") or []]
        if not items:
            raise PodResolutionError(detail=f"no pods match {label_selector} for {self.where}")
        ready = [(since, pod) for pod in items if (since := _ready_since(pod)) is not None]
        if not ready:
            raise PodResolutionError(detail=f"none of {len(items)} pod(s) for {self.where} is Running and Ready")
        ready.sort(key=lambda pair: (pair[0], _pod_name(pair[1])))
        pod = ready[0][1]
        return PodTarget(pod=_pod_name(pod), container=choose_container(pod, self._container))

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
        watchdog = _Watchdog(ws, deadline - time.monotonic())
        timed_out = ExecTimeout(detail=f"{argv[:2]} in pod {target.pod} ran past {self._timeout:.0f}s")
        try:
            while ws.is_open():
                remaining = deadline - time.monotonic()
                if remaining <= 0 or watchdog.expired:
                    raise timed_out
                try:
                    ws.update(timeout=min(remaining, 1.0))
                    for channel, sink in ((STDOUT, stdout), (STDERR, stderr)):
                        chunk = ws.read_channel(channel)
                        if chunk:
                            sink.append(chunk)
                            size += len(chunk)
                except (OSError, WebSocketException) as exc:
                    if watchdog.expired:
                        raise timed_out from None
                    # A reset socket mid-command: the command may have run, so this is not retried.
                    raise ExecError(
                        "The connection to the Rok Registry pod dropped; try again in a minute.",
                        detail=f"{argv[:2]} in pod {target.pod}: {type(exc).__name__} while reading",
                    ) from None
                if size > self._output_limit:
                    raise OutputTooLarge(detail=f"{argv[:2]} printed more than {self._output_limit} bytes")
            status_text = ws.read_channel(STATUS)
        except ExecTimeout:
            # Cut now: ws.close() would otherwise wait up to 3 s for a slow peer's close frame.
            watchdog.expire()
            raise
        finally:
            watchdog.cancel()
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
        from kubernetes.stream.ws_client import WSClient, get_websocket_url

        try:
            url, headers, _ = self._serialize(
                "/api/v1/namespaces/{namespace}/pods/{name}/exec",
                {"namespace": self._namespace, "name": target.pod},
                [
                    ("command", list(argv)),
                    ("container", target.container),
                    ("stderr", True),
                    ("stdin", False),
                    ("stdout", True),
                    ("tty", False),
                ],
            )
            # The client offers v5.channel.k8s.io and v4.channel.k8s.io and sends only the authorization header.
            return WSClient(self._cfg, get_websocket_url(url), headers, capture_all=False)  # type: ignore[no-untyped-call]
        except Exception as exc:
            # The upgrade failed (refused, 403, 404, unreachable): nothing ran in the pod.
            raise ExecStartError(detail=f"exec into pod {target.pod}: {_short_reason(exc)}") from None


class _Watchdog:
    """Shuts an exec's socket down at its deadline, whatever read websocket-client is blocked in."""

    def __init__(self, ws: Any, seconds: float) -> None:
        self._ws = ws
        self._expired = threading.Event()
        self._timer = threading.Timer(max(seconds, 0.0), self.expire)
        self._timer.daemon = True
        self._timer.start()

    @property
    def expired(self) -> bool:
        return self._expired.is_set()

    def expire(self) -> None:
        """Mark the exec as timed out and shut its socket down (a blocked read then fails at once)."""
        self._expired.set()
        raw = getattr(getattr(self._ws, "sock", None), "sock", None)
        if isinstance(raw, socket.socket):
            with contextlib.suppress(OSError):
                # The base class's shutdown: SSLSocket's own also drops its TLS object, under a reader that
                # could then read raw TLS records as WebSocket bytes.
                socket.socket.shutdown(raw, socket.SHUT_RDWR)

    def cancel(self) -> None:
        self._timer.cancel()


def _short_reason(exc: Any) -> str:
    reason = (str(getattr(exc, "reason", "") or exc).splitlines() or [type(exc).__name__])[0]
    # websocket-client appends the response headers after " -+-+- ": keep only the status.
    return reason.split(" -+-+- ")[0][:200]


def _api_failure(status: int, reason: str, doing: str) -> ExecStartError:
    if status in (401, 403):
        return ExecStartError(
            "The bot is not allowed to reach the Rok Registry pod; an admin must check its RBAC.",
            detail=f"{doing}: HTTP {status}",
        )
    return ExecStartError(detail=f"{doing}: HTTP {status} {reason[:200]}")


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
