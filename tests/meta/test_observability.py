"""The chart's alerts and dashboard read only what the bot exports: every series name and every label they use.

The exported names come from the metric objects of `bot.runtime.metrics` (a metric renamed or a label dropped there
fails here), not from a list kept by hand. Every expression is parsed as PromQL (promql-parser): a selector, a
matcher, a `by (...)` or a `label_values(...)` naming anything else fails. Prometheus's own `up` and the target
labels a ServiceMonitor adds (job, namespace, pod, ...) are the only names from elsewhere.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import promql_parser
import pytest
import yaml
from prometheus_client.metrics import MetricWrapperBase

from bot.runtime import metrics

CHART = Path(__file__).resolve().parents[2] / "helm" / "rok-token-bot"
RULES = CHART / "files" / "prometheus-rules.yaml"
DASHBOARD = CHART / "files" / "grafana-dashboard.json"
# Labels Prometheus adds to every scraped series (a ServiceMonitor's target labels), and its own series.
TARGET_LABELS = {"job", "namespace", "pod", "instance", "service", "endpoint", "container"}
PROMETHEUS_SERIES: dict[str, set[str]] = {"up": set()}
SUFFIXES = {"counter": ("_total", "_created"), "gauge": ("",), "histogram": ("_bucket", "_count", "_sum", "_created")}


def exported() -> dict[str, set[str]]:
    """Every series name the bot's metrics module exposes, with its labels (`le` on histogram buckets)."""
    series: dict[str, set[str]] = {}
    for metric in vars(metrics).values():
        if not isinstance(metric, MetricWrapperBase):
            continue
        labels = set(metric._labelnames)
        for family in metric.collect():
            for suffix in SUFFIXES[family.type]:
                series[family.name + suffix] = labels | ({"le"} if suffix == "_bucket" else set())
    return series


def known() -> dict[str, set[str]]:
    return {name: labels | TARGET_LABELS for name, labels in (exported() | PROMETHEUS_SERIES).items()}


def promql(expr: str) -> str:
    """An expression as Prometheus sees it: the chart's placeholders and Grafana's variables filled in."""
    return expr.replace("__JOB__", "rok-token-bot").replace("__NAMESPACE__", "bots").replace("$__rate_interval", "5m")


def problems(expr: str, series: dict[str, set[str]]) -> list[str]:
    """What `expr` names that `series` does not have: a series, a label in a matcher, a label it groups by."""
    found: list[str] = []

    def selectors(node: Any) -> list[Any]:
        picked: list[Any] = []
        promql_parser.walk(node, lambda n: picked.append(n) if isinstance(n, promql_parser.VectorSelector) else None)
        return picked

    def visit(node: Any) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            if node.name not in series:
                found.append(f"series {node.name} is not exported")
                return
            for matcher in node.matchers.matchers:
                if matcher.name not in series[node.name]:
                    found.append(f"{node.name} has no label {matcher.name}")
        elif isinstance(node, promql_parser.AggregateExpr) and node.modifier is not None:
            inside = set().union(*(series.get(v.name, set()) for v in selectors(node.expr)))
            found.extend(
                f"{node.op} by {label}: no series below has it" for label in node.modifier.labels if label not in inside
            )

    promql_parser.walk(promql_parser.parse(promql(expr)), visit)
    return found


def rules() -> list[dict[str, Any]]:
    data = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    return [rule for group in data["groups"] for rule in group["rules"]]


def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))


def panel_queries() -> Iterator[tuple[str, str]]:
    for panel in dashboard()["panels"]:
        for target in panel.get("targets", []):
            yield panel["title"], target["expr"]


def test_the_exported_names_come_from_the_metrics_module() -> None:
    series = exported()
    assert series["rok_bot_requests_total"] == {"command", "outcome", "registry"}
    assert series["rok_bot_issue_seconds_bucket"] == {"registry", "le"}
    assert series["rok_bot_audit_oldest_seconds"] == {"sink"} and series["rok_bot_ready"] == set()
    assert "rok_bot_requests" not in series  # a counter is exposed with _total


def test_every_alert_reads_only_what_the_bot_exports() -> None:
    series = known()
    for rule in rules():
        assert problems(rule["expr"], series) == [], rule["alert"]


def test_every_panel_and_variable_reads_only_what_the_bot_exports() -> None:
    series = known()
    queries = list(panel_queries())
    assert len(queries) >= 12
    for title, expr in queries:
        assert problems(expr, series) == [], title
    for variable in dashboard()["templating"]["list"]:
        if variable["type"] != "query":
            continue
        match = re.fullmatch(r"label_values\((.+), (\w+)\)", variable["query"]["query"])
        assert match, variable["name"]
        selector, label = match.groups()
        assert problems(selector, series) == [], variable["name"]
        parsed = promql_parser.parse(promql(selector))
        assert isinstance(parsed, promql_parser.VectorSelector), variable["name"]
        name = str(parsed.name)
        assert label in series[name], f"variable {variable['name']}: {name} has no label {label}"


def test_the_alerts_the_issue_asks_for_are_there() -> None:
    by_name = {rule["alert"]: rule for rule in rules()}
    assert set(by_name) >= {
        "RokBotAuditBacklog",
        "RokBotClusterUnreachable",
        "RokBotRegistryUnreachable",
        "RokBotExecFailures",
        "RokBotNotReady",
        "RokBotTokenUndelivered",
        "RokBotTokenPossiblyMinted",
    }
    assert "rok_bot_audit_oldest_seconds" in by_name["RokBotAuditBacklog"]["expr"]
    assert "> 600" in by_name["RokBotAuditBacklog"]["expr"]  # ten minutes
    assert 'outcome="undelivered"' in by_name["RokBotTokenUndelivered"]["expr"]
    assert 'outcome="possibly_minted"' in by_name["RokBotTokenPossiblyMinted"]["expr"]
    for rule in by_name.values():
        assert rule["labels"]["severity"] in {"critical", "warning"}
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]


def test_the_panels_the_issue_asks_for_are_there() -> None:
    queries = "\n".join(expr for _, expr in panel_queries())
    titles = {panel["title"] for panel in dashboard()["panels"]}
    assert {"Requests by outcome", "Time to token", "Exec latency", "Exec concurrency", "Audit backlog"} <= titles
    for name in ("rok_bot_requests_total", "rok_bot_issue_seconds_bucket", "rok_bot_exec_seconds_bucket"):
        assert name in queries
    for name in ("rok_bot_execs_in_flight", "rok_bot_audit_backlog", "rok_bot_audit_oldest_seconds"):
        assert name in queries


@pytest.mark.parametrize(
    ("expr", "problem"),
    [
        ("rate(rok_bot_request_total[5m])", "series rok_bot_request_total is not exported"),
        ('rok_bot_requests_total{outcom="issued"}', "rok_bot_requests_total has no label outcom"),
        ("sum by (sink) (rok_bot_ready)", "sum by sink: no series below has it"),
        ("rok_bot_requests", "series rok_bot_requests is not exported"),
        ("histogram_quantile(0.9, sum by (le) (rate(rok_bot_issue_seconds[5m])))", "rok_bot_issue_seconds is not"),
    ],
)
def test_the_check_catches_a_name_the_bot_does_not_export(expr: str, problem: str) -> None:
    assert any(problem in p for p in problems(expr, known()))
