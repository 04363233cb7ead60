"""Prometheus metrics. Labels are low-cardinality names only: never a user, a username or a token.

`registry` is a name from the registries catalogue (bounded by the file; `default` with one registry): the
metrics of the work one registry does (its execs, its mints, its verifications) carry it.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

REQUESTS = Counter(
    "rok_bot_requests_total",
    "Requests handled, by command, outcome and registry (empty: before one was chosen, as a chooser).",
    ["command", "outcome", "registry"],
)
ISSUE_SECONDS = Histogram(
    "rok_bot_issue_seconds",
    "Time to issue a token, from the request to the minted token, by registry.",
    ["registry"],
    buckets=_LATENCY_BUCKETS,
)
EXEC_SECONDS = Histogram(
    "rok_bot_exec_seconds",
    "Time of one exec in the Rok Registry pod, by subcommand and registry.",
    ["command", "registry"],
    buckets=_LATENCY_BUCKETS,
)
EXEC_WAIT_SECONDS = Histogram(
    "rok_bot_exec_wait_seconds",
    "Time waiting for a free exec slot (the registry's concurrency limit), by registry.",
    ["registry"],
    buckets=_LATENCY_BUCKETS,
)
EXEC_FAILURES = Counter(
    "rok_bot_exec_failures_total", "Failed execs, by subcommand, kind and registry.", ["command", "kind", "registry"]
)
EXECS_IN_FLIGHT = Gauge("rok_bot_execs_in_flight", "Execs running now, by registry.", ["registry"])
CACHE_LOOKUPS = Counter(
    "rok_bot_cache_lookups_total", "Cache lookups, by cache (accounts, users_info) and result.", ["cache", "result"]
)
VERIFY_OUTCOMES = Counter(
    "rok_bot_verify_total", "Token verifications, by verdict and registry.", ["verdict", "registry"]
)
SLACK_API_ERRORS = Counter(
    "rok_bot_slack_api_errors_total", "Slack Web API errors, by method and error.", ["method", "error"]
)
AUDIT_FAILURES = Counter("rok_bot_audit_failures_total", "Audit posts that failed.")
DELIVERY_FAILURES = Counter("rok_bot_delivery_failures_total", "Tokens minted but not delivered.")
ACK_SECONDS = Histogram(
    "rok_bot_ack_seconds",
    "Time from receiving a Slack request to its ack, by mode.",
    ["mode"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 3.0),
)
DUPLICATES = Counter(
    "rok_bot_duplicate_requests_total",
    "Slack requests acked and ignored because the same trigger_id or event_id was already handled.",
    ["kind"],
)
AUDIT_BACKLOG = Gauge("rok_bot_audit_backlog", "Audit events not yet delivered, by sink.", ["sink"])
AUDIT_OLDEST_SECONDS = Gauge(
    "rok_bot_audit_oldest_seconds", "Age of the oldest audit event not yet delivered, by sink.", ["sink"]
)
STORE_ROWS = Gauge(
    "rok_bot_store_rows",
    "Rows per table of the store, counted after each retention pass (at start, then hourly): alert on growth.",
    ["table"],
)
REGISTRY_UP = Gauge(
    "rok_bot_registry_up",
    "1 while the registry's Kubernetes API answers the bot's periodic probe, 0 while it does not, by registry.",
    ["registry"],
)
READY = Gauge(
    "rok_bot_ready",
    "1 while the bot is ready (what /readyz answers: Slack connected, the store working, a registry up), else 0; "
    "refreshed at every /readyz and every scrape.",
)
