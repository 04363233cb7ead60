"""`rok_bot_ready` says what /readyz says (the chart's RokBotNotReady alert reads it)."""

from __future__ import annotations

from typing import Any, cast

from prometheus_client import REGISTRY

from bot.slack.server import Assembled, Health


class _Bot:
    """Only the readiness part of the assembled bot."""

    def __init__(self, ok: bool) -> None:
        self.ok = ok

    def health(self) -> tuple[bool, dict[str, Any]]:
        return self.ok, {"store": "ok" if self.ok else "failing: disk full"}


def bot(*, ok: bool) -> Assembled:
    return cast(Assembled, _Bot(ok))


def _ready_metric() -> float | None:
    return REGISTRY.get_sample_value("rok_bot_ready")


def test_the_ready_gauge_follows_every_readiness_answer() -> None:
    health = Health(slack_auth="ok", bot=bot(ok=True))
    assert health.ready()[0] is True and _ready_metric() == 1.0
    health.draining = True
    assert health.ready()[0] is False and _ready_metric() == 0.0
    health.draining, health.bot = False, bot(ok=False)
    assert health.ready()[0] is False and _ready_metric() == 0.0
    health.bot, health.slack_auth = bot(ok=True), "failing: invalid_auth"
    assert health.ready()[0] is False and _ready_metric() == 0.0
    health.slack_auth = "ok"
    assert health.ready()[0] is True and _ready_metric() == 1.0
