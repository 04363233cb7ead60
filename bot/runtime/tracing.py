"""Opt-in OpenTelemetry traces: the tracing port the front end, the use cases and the adapters call.

Off unless the standard variables ask for it (`exporters_wanted`): OTEL_EXPORTER_OTLP_ENDPOINT or
OTEL_EXPORTER_OTLP_TRACES_ENDPOINT set, or OTEL_TRACES_EXPORTER naming an exporter other than `none`; and
OTEL_SDK_DISABLED=true wins. Off, nothing of opentelemetry is imported and `span`, `request`, `annotate`,
`outcome` and a `traced` function cost an attribute read and a return each (`python -m bench.tracing`). On, the
SDK reads everything else from the environment itself: the endpoint, headers, timeout and compression of the
exporter, OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES, OTEL_TRACES_SAMPLER(_ARG), the batch processor's
OTEL_BSP_* and the span limits. Spans are exported in batches by the SDK's BatchSpanProcessor on its own
thread: a request only appends its ended spans to a queue.

What a span may hold is decided here, not by its callers' care: attributes are IDs, names, verbs, outcomes
and counts given by keyword (strings cut to `MAX_CHARS`), and a failure leaves only its exception's class
name and, for the bot's own errors, their `kind` on the span: never an exception's message or traceback,
which may quote a command's output, a URL or a value the user sent.

Where spans come from (README "Tracing"): `request` opens a trace's root, one per Slack interaction (in its
job, after the ack: the ack path does no tracing at all) and one per audit delivery round; `traced` use cases,
the engine's exec and registry calls are its children, through the context variables the job runs in (`Jobs`
copies the submitter's context into the worker).
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import logging
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ParamSpec, TypeVar

from bot import __version__

log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")
Attribute = str | int | float | bool | Sequence[str] | None

SERVICE_NAME = "rok-token-bot"
MAX_CHARS = 100  # an attribute's string value, cut (IDs and names are far shorter)
MAX_ITEMS = 50  # a list attribute's items (the request IDs of one audit delivery)
# Keywords with a name of their own; every other keyword `k` becomes the attribute `rok.k`.
NAMES: Mapping[str, str] = {"team_id": "slack.team_id", "enterprise_id": "slack.enterprise_id"}
# How long `stop` waits for the last export: a part of the shutdown's budget (the drain and the audit come first).
STOP_SECONDS = 2.0
EXPORTER_GROUP = "opentelemetry_traces_exporter"  # the entry points the SDK's exporters register under

_OFF: contextlib.nullcontext[None] = contextlib.nullcontext()
# The root span of the request being traced in this context: `outcome` marks it as well as the current span.
_ROOT: contextvars.ContextVar[Any] = contextvars.ContextVar("rok_trace_root", default=None)


def exporters_wanted(env: Mapping[str, str]) -> tuple[str, ...]:
    """The trace exporters (entry point names) the OTEL_* variables ask for; () when tracing is off.

    `otlp` is OTLP over HTTP/protobuf (what the `otel` extra installs), or over gRPC when the OTLP protocol
    variable says `grpc` (which needs opentelemetry-exporter-otlp-proto-grpc beside it).
    """
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return ()
    names = [n.strip().lower() for n in env.get("OTEL_TRACES_EXPORTER", "").split(",") if n.strip()]
    if "none" in names:
        return ()
    if not names:
        if not (env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")):
            return ()
        names = ["otlp"]
    protocol = env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or env.get("OTEL_EXPORTER_OTLP_PROTOCOL") or ""
    otlp = "otlp_proto_grpc" if protocol.strip().lower() == "grpc" else "otlp_proto_http"
    return tuple(dict.fromkeys(otlp if n == "otlp" else n for n in names))


def attributes(given: Mapping[str, Attribute]) -> dict[str, Any]:
    """Keywords as span attributes: `rok.` names (or `NAMES`), None dropped, strings and lists bounded."""
    out: dict[str, Any] = {}
    for key, value in given.items():
        if value is None:
            continue
        name = NAMES.get(key) or f"rok.{key}"
        if isinstance(value, str):
            out[name] = value[:MAX_CHARS]
        elif isinstance(value, bool | int | float):
            out[name] = value
        else:
            out[name] = [str(item)[:MAX_CHARS] for item in list(value)[:MAX_ITEMS]]
    return out


class _Tracing:
    """Tracing while it is on: the SDK's provider and tracer, and the few API functions spans need."""

    def __init__(self, provider: Any) -> None:
        from opentelemetry import context, trace
        from opentelemetry.trace import Status, StatusCode

        self.provider = provider
        self.tracer = provider.get_tracer(SERVICE_NAME, __version__)
        self._context, self._trace = context, trace
        self._error = lambda name: Status(StatusCode.ERROR, name)

    def span(self, name: str, given: Mapping[str, Attribute], *, root: bool) -> _Span:
        # A root starts from an empty context: whatever runs around it, an interaction is a trace of its own.
        parent = self._context.Context() if root else None
        started = self.tracer.start_span(name, context=parent, attributes=attributes(given))
        return _Span(self, started, root=root)

    def current(self) -> Any:
        return self._trace.get_current_span()


class _Span:
    """One span made current for a `with` block, ended at its end; a failure recorded without its message."""

    __slots__ = ("_on", "_root", "_span", "_tokens")

    def __init__(self, on: _Tracing, span: Any, *, root: bool) -> None:
        self._on, self._span, self._root = on, span, root
        self._tokens: tuple[Any, Any] | None = None

    def __enter__(self) -> None:
        attached = self._on._context.attach(self._on._trace.set_span_in_context(self._span))
        self._tokens = (attached, _ROOT.set(self._span) if self._root else None)

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        if exc is not None:
            failed(self._span, exc, self._on._error)
        assert self._tokens is not None
        attached, root = self._tokens
        if root is not None:
            _ROOT.reset(root)
        self._on._context.detach(attached)
        self._span.end()


def failed(span: Any, exc: BaseException, status: Callable[[str], Any]) -> None:
    """Mark a span failed by the exception's class and `kind` only: its message may quote what must not leave."""
    name = type(exc).__name__
    span.set_status(status(name))
    span.set_attribute("error.type", name)
    kind = getattr(exc, "kind", None)
    if isinstance(kind, str):
        span.set_attribute("rok.error", kind[:MAX_CHARS])


class _State:
    """Whether tracing is on (`on`), and how many servers started it and have not stopped it yet (an
    in-process replica set has several): a holder, so that functions change it without `global`."""

    def __init__(self) -> None:
        self.on: _Tracing | None = None
        self.users = 0
        self.lock = threading.Lock()


_state = _State()


def span(name: str, **given: Attribute) -> contextlib.AbstractContextManager[None]:
    """A child span of the current one around a `with` block (a no-op when tracing is off)."""
    on = _state.on
    if on is None:
        return _OFF
    return on.span(name, given, root=False)


def request(name: str, **given: Attribute) -> contextlib.AbstractContextManager[None]:
    """The root span of a new trace (a Slack interaction, an audit delivery) around a `with` block."""
    on = _state.on
    if on is None:
        return _OFF
    return on.span(name, given, root=True)


def traced(fn: Callable[P, R]) -> Callable[P, R]:
    """A use case as a span named `usecase <its name>`, child of the request's."""
    name = f"usecase {fn.__name__}"

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        on = _state.on
        if on is None:
            return fn(*args, **kwargs)
        with on.span(name, {}, root=False):
            return fn(*args, **kwargs)

    return wrapper


def annotate(**given: Attribute) -> None:
    """More attributes on the current span (learnt while it ran: an exit code, a verdict)."""
    on = _state.on
    if on is not None:
        on.current().set_attributes(attributes(given))


def outcome(value: str, **given: Attribute) -> None:
    """The request's outcome (and what else its audit event names) on the current span and the trace's root."""
    on = _state.on
    if on is None:
        return
    marks = attributes({"outcome": value, **given})
    on.current().set_attributes(marks)
    root = _ROOT.get()
    if root is not None:
        root.set_attributes(marks)


def doctor_line(env: Mapping[str, str]) -> tuple[bool, str] | None:
    """What `serve` will do about traces, for doctor: None when no variable asks for them; (False, why not) when
    it cannot (the extra or an exporter missing: serve warns and runs untraced); else (True, where spans go)."""
    wanted = exporters_wanted(env)
    if not wanted:
        return None
    import importlib.util
    from importlib.metadata import entry_points

    try:
        installed = importlib.util.find_spec("opentelemetry.sdk.trace") is not None
    except ImportError:
        installed = False
    if not installed:
        return False, "OTEL_* variables ask for traces but the otel extra is not installed: serve runs untraced"
    missing = [n for n in wanted if not list(entry_points(group=EXPORTER_GROUP, name=n))]
    if missing:
        return False, f"OTEL_TRACES_EXPORTER: {', '.join(missing)} not installed: serve leaves it out"
    where = ", ".join(_destination(name, env) for name in wanted)
    sampler = env.get("OTEL_TRACES_SAMPLER") or "parentbased_always_on"
    return True, f"on: {where}; sampler {sampler}"


def _destination(exporter: str, env: Mapping[str, str]) -> str:
    """Where an exporter sends spans, as its SDK package reads the variables (for doctor's line only)."""
    if not exporter.startswith("otlp"):
        return exporter
    if url := env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        return f"{exporter} to {url}"
    base = env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or "http://localhost:4318"
    return f"{exporter} to {base.rstrip('/')}/v1/traces" if exporter == "otlp_proto_http" else f"{exporter} to {base}"


# -- on and off ------------------------------------------------------------------------------------


def start() -> bool:
    """Turn tracing on if the OTEL_* variables ask for it; True when it is on. Each True needs one `stop()`.

    The extra missing, an exporter not installed or a setting the SDK refuses: one warning, tracing off."""
    wanted = exporters_wanted(os.environ)
    if not wanted:
        return False
    with _state.lock:
        if _state.on is None:
            _state.on = _configure(wanted)
        if _state.on is None:
            return False
        _state.users += 1
        return True


def stop(timeout: float = STOP_SECONDS) -> None:
    """One `start()` less; the last one exports what is queued, for `timeout` seconds at most: a collector that
    does not answer must not hold the shutdown (the exporter's own retries last OTEL_EXPORTER_OTLP_TIMEOUT)."""
    with _state.lock:
        on = _state.on
        if on is None or _state.users == 0:
            return
        _state.users -= 1
        if _state.users:
            return
        _state.on = None
    last = threading.Thread(target=on.provider.shutdown, name="tracing-stop", daemon=True)
    last.start()
    last.join(timeout)
    if last.is_alive():
        log.warning("tracing: the collector did not take the last spans in %.1f s; they are dropped", timeout)


def flush(timeout: float = 10.0) -> bool:
    """Export the ended spans now (tests, a demo); True when done in time or when tracing is off."""
    on = _state.on
    return True if on is None else bool(on.provider.force_flush(int(timeout * 1000)))


def _configure(wanted: Sequence[str]) -> _Tracing | None:
    """The SDK's provider, with a batch processor per exporter asked for; None (and one warning) if it cannot."""
    try:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        log.warning(
            "OTEL_* variables ask for traces but the otel extra is not installed "
            "(pip install 'rok-token-bot[otel]'): tracing is off"
        )
        return None
    classes = _exporters(wanted)
    if not classes:
        return None
    try:
        found = Resource.create()  # OTEL_RESOURCE_ATTRIBUTES, OTEL_SERVICE_NAME
        defaults: dict[str, str] = {}
        if str(found.attributes.get("service.name", "")).startswith("unknown_service"):
            defaults["service.name"] = SERVICE_NAME
        if "service.version" not in found.attributes:
            defaults["service.version"] = __version__
        provider = TracerProvider(resource=found.merge(Resource(defaults)))  # the sampler from OTEL_TRACES_SAMPLER
        for exporter in classes:
            provider.add_span_processor(BatchSpanProcessor(exporter()))  # endpoint, headers, ... from OTEL_*
        on = _Tracing(provider)
    except Exception as exc:  # a value the SDK refuses: the bot runs untraced rather than not at all
        log.warning("tracing is off: the OpenTelemetry SDK refused its settings", extra={"error": _short(exc)})
        return None
    log.info("tracing on", extra={"exporters": ",".join(wanted)})
    return on


def _exporters(wanted: Sequence[str]) -> list[Any]:
    """The exporter classes the SDK's packages register under these names; a missing one is a warning."""
    from importlib.metadata import entry_points

    classes = []
    for name in wanted:
        found = list(entry_points(group=EXPORTER_GROUP, name=name))
        try:
            classes.append(found[0].load())
        except Exception as exc:  # absent (IndexError) or broken: that exporter is left out
            log.warning(
                "OTEL_TRACES_EXPORTER: exporter %r is not installed or does not load; it is left out",
                name,
                extra={"error": _short(exc)},
            )
    return classes


def _short(exc: BaseException) -> str:
    first = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {first[:200]}"
