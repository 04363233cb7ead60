"""The composition root: the one place that builds the real adapters from settings and wires them together.

`serve`, the CLI, `doctor`, the demo and the benchmark all build through here; tests wire in-memory fakes
through `build_ports`, the same function the Slack bot uses. `core` builds what every entry point needs (the
clock, the engine, the policy, the store, the ports); `serve` builds the Slack bot around them, and is loaded
on first use: the CLI's `issue` path never imports it. Heavy clients (kubernetes, slack_sdk, Bolt, SQLAlchemy)
are imported inside the builders.
"""

from typing import TYPE_CHECKING

from bot.bootstrap.core import (
    PROTECT_GRACE_SECONDS,
    Engine,
    Engines,
    build_engine,
    build_engines,
    build_policies,
    build_policy,
    build_ports,
    build_sealer,
    build_store,
    build_web_client,
    protect_token,
    registry_health,
    system_clock,
)

if TYPE_CHECKING:
    from bot.bootstrap.serve import SlackBot, build_server, build_slack_bot, build_upkeep

_SERVE = frozenset({"SlackBot", "build_server", "build_slack_bot", "build_upkeep"})


def __getattr__(name: str) -> object:
    """The Slack bot's builders, imported when first asked for (PEP 562)."""
    if name in _SERVE:
        from bot.bootstrap import serve

        return getattr(serve, name)
    raise AttributeError(f"module 'bot.bootstrap' has no attribute {name!r}")


__all__ = [
    "PROTECT_GRACE_SECONDS",
    "Engine",
    "Engines",
    "SlackBot",
    "build_engine",
    "build_engines",
    "build_policies",
    "build_policy",
    "build_ports",
    "build_sealer",
    "build_server",
    "build_slack_bot",
    "build_store",
    "build_upkeep",
    "build_web_client",
    "protect_token",
    "registry_health",
    "system_clock",
]
