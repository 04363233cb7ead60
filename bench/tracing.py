"""What tracing costs a request: each call of the tracing port with tracing off (the default) and on.

    .venv/bin/python -m bench.tracing            # ~15 s: off, then on

Off, every call is one attribute read and a return (`span` and `request` hand back one shared null
context); the table adds them up for one `/rok-token` request, which makes 10 calls: its root, three use
cases, two execs with an exit code each, and one outcome (its audit delivery adds a root on the sender's
thread). On, the same calls create, end and queue real SDK spans; the batch processor's exporter here drops
what it gets (an OTLP exporter's encoding and POST run on the SDK's batch thread, not in the request), so the
row is the cost on the request's own thread. Each row is the best of 5 timeit runs, in nanoseconds per call.
"""

from __future__ import annotations

import os
import sys
import time
import timeit
from collections.abc import Callable, Sequence
from typing import Any

from bot.runtime import tracing

NUMBER = 200_000


@tracing.traced
def _use_case(x: int) -> int:
    return x


def _plain(x: int) -> int:
    return x


def _span() -> None:
    with tracing.span("exec token-create", verb="token-create", registry="default", attempt=1):
        pass


def _request() -> None:
    with tracing.request("slack issue", request_id="0123456789ab", command="issue", origin="command", team_id="T1"):
        pass


def _annotate() -> None:
    tracing.annotate(exit_code=0)


def _outcome() -> None:
    tracing.outcome("issued", registry="default")


def _traced_call() -> None:
    _use_case(1)


def _plain_call() -> None:
    _plain(1)


CALLS: dict[str, Callable[[], None]] = {
    "plain function call (baseline)": _plain_call,
    "traced use case call": _traced_call,
    "span (4 attributes)": _span,
    "request (5 attributes)": _request,
    "annotate": _annotate,
    "outcome": _outcome,
}
# One /rok-token request: request, 3 traced use cases, 2 exec spans, 2 annotate, 1 outcome.
PER_REQUEST = {"request (5 attributes)": 1, "traced use case call": 3, "span (4 attributes)": 2, "annotate": 2}
PER_REQUEST["outcome"] = 1


def _ns(fn: Callable[[], None], number: int) -> float:
    return min(timeit.repeat(fn, number=number, repeat=5)) / number * 1e9


def _measure(number: int) -> dict[str, float]:
    return {name: _ns(fn, number) for name, fn in CALLS.items()}


def _on_with_a_dropping_exporter() -> None:
    """Tracing on as `start()` sets it up, but the batch processor's exporter drops the spans."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    class Drop(SpanExporter):
        def export(self, spans: Sequence[Any]) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    # A queue for every span the timing loops make: the default (2048) drops spans under a loop this tight.
    provider.add_span_processor(BatchSpanProcessor(Drop(), max_queue_size=100_000))
    tracing._state.on = tracing._Tracing(provider)


def main() -> None:
    for name in [n for n in os.environ if n.startswith("OTEL_")]:
        del os.environ[name]
    off = _measure(NUMBER)
    loaded = sorted(m for m in sys.modules if m.split(".")[0] == "opentelemetry")
    # What turning it on costs once, at start: importing the SDK and the exporter, building the provider.
    os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = "http://127.0.0.1:9"  # never reached: stopped before any export
    began = time.perf_counter()
    assert tracing.start()
    started = time.perf_counter() - began
    tracing._state.on = None
    tracing._state.users = 0
    _on_with_a_dropping_exporter()
    on = _measure(NUMBER // 20)
    tracing._state.on = None
    print(f"{'call':<32}{'off ns':>10}{'on ns':>10}")
    for name in CALLS:
        print(f"{name:<32}{off[name]:>10.0f}{on[name]:>10.0f}")
    base = off["plain function call (baseline)"]
    extra_off = sum(n * off[k] for k, n in PER_REQUEST.items()) - 3 * base
    extra_on = sum(n * on[k] for k, n in PER_REQUEST.items()) - 3 * base
    print(f"one /rok-token request: +{extra_off / 1000:.2f} us off, +{extra_on / 1000:.1f} us on")
    print(f"opentelemetry modules loaded while off: {len(loaded)}; tracing.start() on: {started * 1000:.0f} ms")


if __name__ == "__main__":
    main()
