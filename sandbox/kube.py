"""Fake Kubernetes API server: the few REST endpoints the bot reads, and pod exec over WebSocket.

It speaks the wire protocol the official `kubernetes` client uses (JSON objects its pydantic models
accept, `v5.channel.k8s.io` / `v4.channel.k8s.io` exec framing, metav1.Status on channel 3), so the
client runs unmodified against it. Commands run in a `FakeRok`.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from aiohttp import WSMsgType, web

from sandbox.rok import ExecOutcome, FakeRok
from sandbox.server import FakeServer, ServerThread

V5_PROTOCOL = "v5.channel.k8s.io"
V4_PROTOCOL = "v4.channel.k8s.io"
SUPPORTED_PROTOCOLS = (V5_PROTOCOL, V4_PROTOCOL)

STDOUT, STDERR, STATUS = 1, 2, 3
FRAME_SIZE = 4096
# A hung exec still ends eventually, so a forgotten client cannot pin the server thread for ever.
HANG_CAP_SECONDS = 60.0
# A held exec (`FakeRok.hold`, `hold_commands`) goes on after this long even if the test never releases it.
HOLD_SECONDS = 30.0

EXEC_FAULTS = frozenset({"http500", "drop", "hang", "restart", "drip"})

DEFAULT_ALLOWED: frozenset[tuple[str, str, str]] = frozenset(
    {
        ("get", "services", ""),
        ("get", "pods", ""),
        ("list", "pods", ""),
        ("get", "pods", "exec"),
        ("create", "pods", "exec"),
    }
)


def _now() -> datetime:
    return datetime.now(UTC)


def _ts(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class FakePod:
    """A pod as the fake API server reports it; mutate fields to stage what the bot must choose."""

    name: str
    ready: bool = True
    phase: str = "Running"
    deleting: bool = False
    ready_since: datetime = field(default_factory=_now)
    containers: list[str] = field(default_factory=lambda: ["rok-registry", "sidecar"])
    annotations: dict[str, str] = field(
        default_factory=lambda: {"kubectl.kubernetes.io/default-container": "rok-registry"}
    )
    labels: dict[str, str] = field(default_factory=lambda: {"app": "rok-registry"})
    uid: str = field(default_factory=lambda: str(uuid.uuid4()))
    created_at: datetime = field(default_factory=_now)


@dataclass
class ExecRecord:
    """One exec request that reached the WebSocket upgrade."""

    pod: str
    container: str
    argv: list[str]
    protocol: str
    started_at: datetime
    ended_at: datetime | None = None


def status_body(code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    """A metav1.Status failure object, as the API server sends for errors."""
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details is not None:
        body["details"] = details
    return body


def _status_response(code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> web.Response:
    return web.json_response(status_body(code, reason, message, details), status=code)


def _matches(selector: str, labels: dict[str, str]) -> bool:
    for term in filter(None, (t.strip() for t in selector.split(","))):
        key, sep, value = term.partition("=")
        value = value.lstrip("=")  # `a==b` is the same as `a=b`
        if not sep or labels.get(key.strip()) != value.strip():
            return False
    return True


class FakeKube(FakeServer):
    """A fake Kubernetes API server on 127.0.0.1; tests flip its attributes at any time."""

    def __init__(
        self,
        rok: FakeRok,
        *,
        namespace: str = "rok-registry",
        service: str = "rok-registry",
        bearer_token: str = "fake-sa-token",  # noqa: S107 - a fake's well-known token, not a secret
    ) -> None:
        self.rok = rok
        self.namespace = namespace
        self.service = service
        self.bearer_token = bearer_token
        self.pods: list[FakePod] = [FakePod(name="rok-registry-0")]
        self.service_selector: dict[str, str] | None = {"app": "rok-registry"}
        self.service_exists = True
        self.allowed: set[tuple[str, str, str]] = set(DEFAULT_ALLOWED)
        self.denied: set[tuple[str, str, str]] = set()
        self.force_protocol: str | None = None
        self.exec_fault: str | None = None
        self.exec_fault_commands: set[str] = set()
        # "drip": the stdout frame is written one byte every `drip_interval` seconds (a slow or hostile
        # peer); after `drip_cap` seconds the fake cuts the connection mid-frame.
        self.drip_interval = 0.1
        self.drip_cap = HANG_CAP_SECONDS
        self.execs: list[ExecRecord] = []
        self.requests: list[tuple[str, str]] = []
        self.access_reviews: list[dict[str, Any]] = []
        self.current_execs = 0
        self.max_concurrent_execs = 0
        self._server = ServerThread(self._app(), name="fake-kube")

    # --- lifecycle ---------------------------------------------------------------------------------

    def reset_records(self) -> None:
        """Forget recorded execs, requests and reviews; the peak restarts from the current count."""
        self.execs.clear()
        self.requests.clear()
        self.access_reviews.clear()
        self.max_concurrent_execs = self.current_execs

    def pod(self, name: str) -> FakePod:
        """The pod with this name (KeyError if none)."""
        for p in self.pods:
            if p.name == name:
                return p
        raise KeyError(name)

    # --- kubeconfig --------------------------------------------------------------------------------

    def kubeconfig_dict(self) -> dict[str, Any]:
        """A kubeconfig for this server, with a bearer token user and the namespace in the context."""
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
            "users": [{"name": "fake-sa", "user": {"token": self.bearer_token}}],
            "contexts": [
                {
                    "name": "fake",
                    "context": {"cluster": "fake", "user": "fake-sa", "namespace": self.namespace},
                }
            ],
            "current-context": "fake",
            "preferences": {},
        }

    def write_kubeconfig(self, path: str | Path) -> Path:
        """Write `kubeconfig_dict()` as YAML to `path` and return it."""
        target = Path(path)
        target.write_text(yaml.safe_dump(self.kubeconfig_dict(), sort_keys=False))
        return target

    # --- the app -----------------------------------------------------------------------------------

    def _app(self) -> web.Application:
        app = web.Application(middlewares=[self._record_and_authenticate])
        ns = "/api/v1/namespaces/{ns}"
        app.router.add_get("/version", self._version)
        app.router.add_get("/version/", self._version)  # the generated client asks with the slash
        app.router.add_get(ns + "/services/{name}", self._get_service)
        app.router.add_get(ns + "/pods", self._list_pods)
        app.router.add_get(ns + "/pods/{name}", self._get_pod)
        app.router.add_route("*", ns + "/pods/{name}/exec", self._exec)
        app.router.add_post("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", self._access_review)
        return app

    @web.middleware
    async def _record_and_authenticate(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        self.requests.append((request.method, request.path))
        if request.headers.get("Authorization") != f"Bearer {self.bearer_token}":
            return _status_response(401, "Unauthorized", "Unauthorized")
        try:
            return await handler(request)
        except web.HTTPNotFound:
            return _status_response(
                404, "NotFound", f"the server could not find the requested resource ({request.path})"
            )
        except web.HTTPMethodNotAllowed:
            return _status_response(
                405, "MethodNotAllowed", "the server does not allow this method on the requested resource"
            )

    async def _version(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "major": "1",
                "minor": "33",
                "gitVersion": "v1.33.0-fake",
                "gitCommit": "0000000000000000000000000000000000000000",
                "gitTreeState": "clean",
                "buildDate": "2025-04-23T00:00:00Z",
                "goVersion": "go1.24.2",
                "compiler": "gc",
                "platform": "linux/amd64",
            }
        )

    async def _get_service(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if request.match_info["ns"] != self.namespace or name != self.service or not self.service_exists:
            return _status_response(404, "NotFound", f'services "{name}" not found', {"name": name, "kind": "services"})
        spec: dict[str, Any] = {
            "type": "ClusterIP",
            "clusterIP": "10.96.12.34",
            "clusterIPs": ["10.96.12.34"],
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP", "targetPort": 8080}],
            "sessionAffinity": "None",
        }
        if self.service_selector is not None:
            spec["selector"] = dict(self.service_selector)
        return web.json_response(
            {
                "kind": "Service",
                "apiVersion": "v1",
                "metadata": {
                    "name": name,
                    "namespace": self.namespace,
                    "uid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{self.namespace}/{name}")),
                    "resourceVersion": "1",
                    "creationTimestamp": "2024-01-01T00:00:00Z",
                    "labels": {"app": self.service},
                },
                "spec": spec,
                "status": {"loadBalancer": {}},
            }
        )

    async def _list_pods(self, request: web.Request) -> web.Response:
        selector = request.query.get("labelSelector", "")
        items = []
        if request.match_info["ns"] == self.namespace:
            items = [self._pod_json(p) for p in list(self.pods) if _matches(selector, p.labels)]
        return web.json_response(
            {"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": "1"}, "items": items}
        )

    async def _get_pod(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        pod = self._find_pod(request.match_info["ns"], name)
        if pod is None:
            return _pod_not_found(name)
        return web.json_response(self._pod_json(pod))

    async def _access_review(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.access_reviews.append(body)
        spec = body.get("spec") or {}
        attrs = spec.get("resourceAttributes")
        allowed = False
        if attrs is not None:
            key = (attrs.get("verb", ""), attrs.get("resource", ""), attrs.get("subresource") or "")
            # A namespaced Role grants nothing outside its namespace.
            in_namespace = attrs.get("namespace", "") == self.namespace
            allowed = in_namespace and key in self.allowed and key not in self.denied
        review_status: dict[str, Any] = {"allowed": allowed}
        if allowed:
            review_status["reason"] = 'RBAC: allowed by RoleBinding "rok-token-bot" (fake)'
        return web.json_response(
            {
                "kind": "SelfSubjectAccessReview",
                "apiVersion": "authorization.k8s.io/v1",
                "metadata": {"creationTimestamp": None},
                "spec": spec,
                "status": review_status,
            },
            status=201,
        )

    def _find_pod(self, ns: str, name: str) -> FakePod | None:
        if ns != self.namespace:
            return None
        return next((p for p in list(self.pods) if p.name == name), None)

    def _pod_json(self, pod: FakePod) -> dict[str, Any]:
        ready = "True" if pod.ready else "False"
        running = pod.phase == "Running"
        metadata: dict[str, Any] = {
            "name": pod.name,
            "namespace": self.namespace,
            "uid": pod.uid,
            "resourceVersion": "1",
            "creationTimestamp": _ts(pod.created_at),
            "labels": dict(pod.labels),
            "annotations": dict(pod.annotations),
        }
        if pod.deleting:
            metadata["deletionTimestamp"] = _ts(_now())
            metadata["deletionGracePeriodSeconds"] = 30
        return {
            "kind": "Pod",
            "apiVersion": "v1",
            "metadata": metadata,
            "spec": {
                "containers": [{"name": c, "image": f"example.invalid/{c}:fake"} for c in pod.containers],
                "restartPolicy": "Always",
                "nodeName": "fake-node",
            },
            "status": {
                "phase": pod.phase,
                "podIP": "10.244.0.10",
                "startTime": _ts(pod.created_at),
                "conditions": [
                    {"type": "Initialized", "status": "True", "lastTransitionTime": _ts(pod.created_at)},
                    {"type": "Ready", "status": ready, "lastTransitionTime": _ts(pod.ready_since)},
                    {"type": "ContainersReady", "status": ready, "lastTransitionTime": _ts(pod.ready_since)},
                    {"type": "PodScheduled", "status": "True", "lastTransitionTime": _ts(pod.created_at)},
                ],
                "containerStatuses": [
                    {
                        "name": c,
                        "image": f"example.invalid/{c}:fake",
                        "imageID": f"example.invalid/{c}@sha256:{'0' * 64}",
                        "ready": pod.ready,
                        "started": running,
                        "restartCount": 0,
                        "state": {"running": {"startedAt": _ts(pod.created_at)}} if running else {"waiting": {}},
                    }
                    for c in pod.containers
                ],
            },
        }

    # --- exec --------------------------------------------------------------------------------------

    def _fault_for(self, argv: list[str]) -> str | None:
        fault = self.exec_fault
        command = argv[1] if len(argv) > 1 else ""
        if fault is not None and self.exec_fault_commands and command not in self.exec_fault_commands:
            return None
        return fault

    async def _exec(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        argv = request.query.getall("command", [])
        container = request.query.get("container", "")
        fault = self._fault_for(argv)
        if fault == "http500":
            return _status_response(500, "InternalError", "Internal error occurred: fault injected")
        pod = self._find_pod(request.match_info["ns"], name)
        if pod is None:
            return _pod_not_found(name)
        if not container and len(pod.containers) == 1:
            container = pod.containers[0]
        if not container:
            return _status_response(
                400,
                "BadRequest",
                f"a container name must be specified for pod {name}, choose one of: [{' '.join(pod.containers)}]",
            )
        if container not in pod.containers:
            return _status_response(404, "NotFound", f"container {container} is not valid for pod {name}")
        if not argv:
            return _status_response(400, "BadRequest", "you must specify at least 1 command")
        protocol = self._choose_protocol(request.headers.get("Sec-WebSocket-Protocol", ""))
        if protocol is None:
            return _status_response(400, "BadRequest", "unsupported or missing Sec-WebSocket-Protocol")

        ws = web.WebSocketResponse(protocols=(protocol,), compress=False)
        await ws.prepare(request)
        record = ExecRecord(pod=name, container=container, argv=list(argv), protocol=protocol, started_at=_now())
        self.execs.append(record)
        self.current_execs += 1
        self.max_concurrent_execs = max(self.max_concurrent_execs, self.current_execs)
        try:
            await self._run(ws, argv, fault, request.transport)
        except ConnectionError:
            pass  # the client left first; nothing more to tell it
        finally:
            record.ended_at = _now()
            self.current_execs -= 1
            await ws.close()
        return ws

    async def _run(
        self, ws: web.WebSocketResponse, argv: list[str], fault: str | None, transport: asyncio.Transport | None
    ) -> None:
        if fault == "drop":
            return
        if fault == "hang":
            await _wait_for_client(ws)
            return
        await asyncio.sleep(self.rok.latency)
        hold = self.rok.hold
        if hold is not None and any(command in argv for command in self.rok.hold_commands):
            await asyncio.get_running_loop().run_in_executor(None, hold.wait, HOLD_SECONDS)
        outcome = self.rok.execute(list(argv))
        if fault == "restart":
            # Part of the output, then the stream ends: what a pod restarting mid-command looks like.
            await _send(ws, STDOUT, outcome.stdout[: max(1, len(outcome.stdout) // 2)])
            return
        if fault == "drip":
            await _drip(transport, STDOUT, outcome.stdout, interval=self.drip_interval, cap=self.drip_cap)
        else:
            await _send(ws, STDOUT, outcome.stdout)
        await _send(ws, STDERR, outcome.stderr)
        await ws.send_bytes(bytes([STATUS]) + json.dumps(_exec_status(argv, outcome), separators=(",", ":")).encode())

    def _choose_protocol(self, offered_header: str) -> str | None:
        offered = [p.strip() for p in offered_header.split(",") if p.strip()]
        choices = (self.force_protocol,) if self.force_protocol else SUPPORTED_PROTOCOLS
        return next((p for p in choices if p in offered), None)


def _exec_status(argv: list[str], outcome: ExecOutcome) -> dict[str, Any]:
    if outcome.internal_error is not None:
        return {
            "metadata": {},
            "status": "Failure",
            "message": f"Internal error occurred: {outcome.internal_error}",
            "reason": "InternalError",
            "details": {"causes": [{"message": outcome.internal_error}]},
            "code": 500,
        }
    if outcome.exit_code == 0:
        return {"metadata": {}, "status": "Success"}
    return {
        "metadata": {},
        "status": "Failure",
        "message": (
            f"command terminated with non-zero exit code: error executing command "
            f"[{' '.join(argv)}]: exit status {outcome.exit_code}"
        ),
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": str(outcome.exit_code)}]},
    }


async def _wait_for_client(ws: web.WebSocketResponse) -> None:
    deadline = time.monotonic() + HANG_CAP_SECONDS
    while (left := deadline - time.monotonic()) > 0:
        try:
            msg = await ws.receive(timeout=left)
        except TimeoutError:
            return
        if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
            return


async def _send(ws: web.WebSocketResponse, channel: int, text: str) -> None:
    data = text.encode()
    start = 0
    while start < len(data):
        end = min(start + FRAME_SIZE, len(data))
        # The client decodes each frame on its own: never split a UTF-8 sequence between frames.
        while end < len(data) and end > start + 1 and data[end] & 0xC0 == 0x80:
            end -= 1
        await ws.send_bytes(bytes([channel]) + data[start:end])
        start = end


async def _drip(transport: asyncio.Transport | None, channel: int, text: str, *, interval: float, cap: float) -> None:
    """Send `text` on a channel as one unmasked binary frame, one byte at a time; cut it after `cap` seconds."""
    payload = bytes([channel]) + text.encode()
    size = len(payload)
    if size < 126:
        header = bytes([0x82, size])
    elif size < 1 << 16:
        header = bytes([0x82, 126]) + size.to_bytes(2, "big")
    else:
        header = bytes([0x82, 127]) + size.to_bytes(8, "big")
    frame = header + payload
    deadline = time.monotonic() + cap
    for index in range(len(frame)):
        if transport is None or transport.is_closing():
            raise ConnectionError("the client left during a drip")
        if time.monotonic() > deadline:
            transport.abort()  # mid-frame: a close frame now would be read as payload
            raise ConnectionError("the drip ran past its cap")
        # Written under aiohttp's WebSocket writer, which keeps no state between frames (no compression).
        transport.write(frame[index : index + 1])
        await asyncio.sleep(interval)


def _pod_not_found(name: str) -> web.Response:
    return _status_response(404, "NotFound", f'pods "{name}" not found', {"name": name, "kind": "pods"})
