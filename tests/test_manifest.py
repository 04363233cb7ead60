"""The Slack app manifest (config/slack-app-manifest.yaml) asks for what the bot uses, and no more."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

MANIFEST = Path(__file__).resolve().parents[1] / "config" / "slack-app-manifest.yaml"


def _manifest() -> dict[str, Any]:
    data = yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_the_home_tab_is_on_and_its_event_is_subscribed() -> None:
    manifest = _manifest()
    home = manifest["features"]["app_home"]
    assert home["home_tab_enabled"] is True
    # The token messages and the reminders go to the Messages tab: it must stay on.
    assert home["messages_tab_enabled"] is True
    assert manifest["settings"]["event_subscriptions"]["bot_events"] == ["app_home_opened"]
    assert manifest["settings"]["interactivity"]["is_enabled"] is True


def test_the_scopes_are_the_four_the_bot_uses() -> None:
    """views.publish, views.open and chat.update need no scope of their own; reminders use chat:write and
    im:write, which the token message already needs."""
    scopes = _manifest()["oauth_config"]["scopes"]["bot"]
    assert scopes == ["commands", "chat:write", "im:write", "users:read"]
