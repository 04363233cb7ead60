"""Percentiles and summaries; every duration is in seconds until the table renders it."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any


def percentile(values: Iterable[float], q: float) -> float:
    """Linear-interpolated percentile (q in 0..1), as numpy's default; NaN for no values."""
    data = sorted(values)
    if not data:
        return math.nan
    rank = (len(data) - 1) * q
    low = math.floor(rank)
    high = min(low + 1, len(data) - 1)
    return data[low] + (data[high] - data[low]) * (rank - low)


def summarize(values: Iterable[float]) -> dict[str, Any]:
    """n, p50, p99, max and mean of a sample."""
    data = list(values)
    if not data:
        return {"n": 0, "p50": None, "p99": None, "max": None, "mean": None}
    return {
        "n": len(data),
        "p50": percentile(data, 0.50),
        "p99": percentile(data, 0.99),
        "max": max(data),
        "mean": sum(data) / len(data),
    }


def ms(summary: dict[str, Any], keys: tuple[str, ...] = ("p50", "p99", "max")) -> str:
    """`p50/p99/max` in milliseconds, or `-` when the sample is empty."""
    if not summary or not summary.get("n"):
        return "-"
    return "/".join(f"{summary[k] * 1000:.1f}" for k in keys)


def median(values: Iterable[float]) -> float:
    """The middle value (the mean of the two middle ones for an even count); NaN for no values."""
    return percentile(values, 0.50)


def across_runs(summaries: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Each figure of several runs' summaries as its median over the runs, with its spread (`p99_min`...)."""
    ok = [s for s in summaries if s and s.get("n")]
    if not ok:
        return {"n": 0, "runs": 0, "p50": None, "p99": None, "max": None, "mean": None}
    out: dict[str, Any] = {"n": ok[0]["n"], "runs": len(ok)}
    for key in ("p50", "p99", "max", "mean"):
        values = [s[key] for s in ok]
        out[key] = median(values)
        out[f"{key}_min"] = min(values)
        out[f"{key}_max"] = max(values)
        out[f"{key}_runs"] = values
    return out
