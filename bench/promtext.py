"""Read the bot's /metrics: the server-side view of ack time and exec-slot wait, to cross-check the client's."""

from __future__ import annotations

from typing import Any

from prometheus_client.parser import text_string_to_metric_families

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return out


def _get(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def histogram_delta(before: Samples, after: Samples, name: str, le: str, **labels: str) -> dict[str, Any]:
    """count, mean and the share at or under bucket `le` of what a histogram observed between two scrapes."""
    count = _get(after, f"{name}_count", **labels) - _get(before, f"{name}_count", **labels)
    total = _get(after, f"{name}_sum", **labels) - _get(before, f"{name}_sum", **labels)
    under = _get(after, f"{name}_bucket", le=le, **labels) - _get(before, f"{name}_bucket", le=le, **labels)
    return {
        "count": int(count),
        "mean": total / count if count else None,
        "sum": total,
        f"share_le_{le}": under / count if count else None,
    }
