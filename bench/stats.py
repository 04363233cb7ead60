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
