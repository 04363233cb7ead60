"""The Slack app manifest (config/slack-app-manifest.yaml) asks for what the bot uses, and no more."""

from __future__ import annotations

import ast
import time
from pathlib import Path
from typing import Any

import yaml
from slack_bolt import App

MANIFEST = Path(__file__).resolve().parents[2] / "config" / "slack-app-manifest.yaml"


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


# -- the manifest against what the app registers and calls ------------------------------------------------

# The scope each Web API method the bot calls needs (https://api.slack.com/methods); None: no scope of its own.
METHOD_SCOPES: dict[str, str | None] = {
    "auth.test": None,
    "apps.connections.open": None,  # the app-level token's connections:write
    "chat.postMessage": "chat:write",
    "chat.postEphemeral": "chat:write",
    "chat.update": "chat:write",
    "conversations.open": "im:write",
    "users.info": "users:read",
    "usergroups.users.list": "usergroups:read",
    "views.publish": None,
    "views.open": None,
}
# Scopes the manifest names as commented, optional lines: only some installations need them.
OPTIONAL_SCOPES = {"users:read.email", "usergroups:read"}


class RecordingApp(App):
    """The real Bolt app, recording each listener the bot registers (no behaviour changed)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.registered: set[tuple[str, str]] = set()

    def command(self, command: Any, *args: Any, **kwargs: Any) -> Any:
        self.registered.add(("command", str(command)))
        return super().command(command, *args, **kwargs)

    def event(self, event: Any, *args: Any, **kwargs: Any) -> Any:
        self.registered.add(("event", str(event)))
        return super().event(event, *args, **kwargs)

    def action(self, constraints: Any, *args: Any, **kwargs: Any) -> Any:
        self.registered.add(("action", str(constraints)))
        return super().action(constraints, *args, **kwargs)

    def view(self, constraints: Any, *args: Any, **kwargs: Any) -> Any:
        self.registered.add(("view", str(constraints)))
        return super().view(constraints, *args, **kwargs)


def _registered() -> set[tuple[str, str]]:
    from bot.runtime.jobs import Capacity, Jobs
    from bot.slack.app import SlackFrontEnd, register
    from bot.slack.dedupe import SeenRequests
    from bot.slack.lifecycle import register_lifecycle
    from tests.usecases.fakes import world

    app = RecordingApp(token="xoxb-test", signing_secret="s" * 32, token_verification_enabled=False)
    jobs = Jobs(workers=1, on_error=lambda *_: None)
    front = SlackFrontEnd(ports=world().ports, jobs=jobs, capacity=Capacity(1), seen=SeenRequests(clock=time.monotonic))
    register(app, front)
    register_lifecycle(app, front)
    return app.registered


def test_the_manifest_enables_every_listener_the_app_registers_and_nothing_else() -> None:
    manifest, registered = _manifest(), _registered()
    commands = {c["command"] for c in manifest["features"]["slash_commands"]}
    assert {name for kind, name in registered if kind == "command"} == commands
    events = set(manifest["settings"]["event_subscriptions"]["bot_events"])
    assert {name for kind, name in registered if kind == "event"} == events
    interactive = {kind for kind, _ in registered} & {"action", "view"}
    assert bool(interactive) == manifest["settings"]["interactivity"]["is_enabled"]
    assert ("event", "app_home_opened") not in registered or manifest["features"]["app_home"]["home_tab_enabled"]


def _methods_called() -> set[str]:
    """Every Web API method bot/ calls on a slack_sdk client (`client.chat_postMessage(...)`, ...)."""
    root = Path(__file__).resolve().parents[2] / "bot"
    names: set[str] = set()
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                owner = node.func.value
                owner_name = owner.attr if isinstance(owner, ast.Attribute) else getattr(owner, "id", "")
                if owner_name in ("client", "_client") and "_" in node.func.attr:
                    names.add(node.func.attr)
    known = {m.replace(".", "_"): m for m in METHOD_SCOPES}
    return {known.get(n, n) for n in names if n in known or n.split("_")[0] in ("chat", "users", "views")}


def test_the_manifest_asks_for_exactly_the_scopes_of_the_methods_the_bot_calls() -> None:
    called = _methods_called()
    unknown = called - set(METHOD_SCOPES)
    assert not unknown, f"add these methods and their scopes to METHOD_SCOPES: {sorted(unknown)}"
    needed = {METHOD_SCOPES[m] for m in called} - {None} | {"commands"}
    declared = set(_manifest()["oauth_config"]["scopes"]["bot"])
    optional = {
        line.split("#", 2)[1].strip().lstrip("-").strip()
        for line in MANIFEST.read_text(encoding="utf-8").splitlines()
        if line.strip().startswith("# - ")
    }
    assert optional == OPTIONAL_SCOPES
    assert declared == needed - OPTIONAL_SCOPES, (declared, needed)


ORG_MANIFEST = MANIFEST.with_name("slack-app-manifest-org.yaml")
ORG_EVENTS = {"team_access_granted", "team_access_revoked"}


def test_the_org_manifest_is_the_workspace_one_plus_org_deploy_and_the_access_events() -> None:
    org = yaml.safe_load(ORG_MANIFEST.read_text(encoding="utf-8"))
    workspace = _manifest()
    assert org["settings"]["org_deploy_enabled"] is True
    assert workspace["settings"]["org_deploy_enabled"] is False
    org_events = set(org["settings"]["event_subscriptions"].pop("bot_events"))
    assert org_events == set(workspace["settings"]["event_subscriptions"].pop("bot_events")) | ORG_EVENTS
    org["settings"].pop("org_deploy_enabled")
    workspace["settings"].pop("org_deploy_enabled")
    assert org == workspace


def test_the_org_listeners_are_the_org_manifests_extra_events() -> None:
    from bot.runtime.jobs import Capacity, Jobs
    from bot.slack.app import SlackFrontEnd
    from bot.slack.dedupe import SeenRequests
    from bot.slack.org import register_org
    from tests.usecases.fakes import world

    app = RecordingApp(token="xoxb-test", signing_secret="s" * 32, token_verification_enabled=False)
    front = SlackFrontEnd(
        ports=world().ports,
        jobs=Jobs(workers=1, on_error=lambda *_: None),
        capacity=Capacity(1),
        seen=SeenRequests(clock=time.monotonic),
    )
    register_org(app, front)
    assert {name for kind, name in app.registered if kind == "event"} == ORG_EVENTS
