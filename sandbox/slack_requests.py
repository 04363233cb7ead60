"""Requests as Slack sends them: signed slash commands, `payload=` bodies, Socket Mode envelopes.

The field sets come from templates in `sandbox/payloads/`, copies of Slack's documented examples, so
tests exercise the same shapes the real platform delivers.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import secrets
import time
import uuid
from functools import cache
from importlib import resources
from typing import Any, Literal
from urllib.parse import urlencode

import httpx

EnvelopeType = Literal["slash_commands", "interactive", "events_api"]
ENVELOPE_TYPES: frozenset[str] = frozenset({"slash_commands", "interactive", "events_api"})


@cache
def _template(name: str) -> dict[str, Any]:
    text = resources.files("sandbox").joinpath("payloads", name).read_text(encoding="utf-8")
    data = json.loads(text)
    assert isinstance(data, dict)
    return data


def load_template(name: str) -> dict[str, Any]:
    """Return a fresh copy of a payload template, e.g. `slash_command.json`."""
    return copy.deepcopy(_template(name))


def _trigger_id() -> str:
    return f"{secrets.randbelow(10**11)}.{secrets.randbelow(10**9)}.{secrets.token_hex(16)}"


def _slack_ts() -> str:
    return f"{time.time():.6f}"


def sign(signing_secret: str, body: str | bytes, timestamp: int | None = None) -> dict[str, str]:
    """Headers Slack adds to an HTTP request: timestamp, `v0=` HMAC-SHA256 signature and content type."""
    ts = int(time.time()) if timestamp is None else timestamp
    raw = body.encode("utf-8") if isinstance(body, str) else body
    base = f"v0:{ts}:".encode() + raw
    digest = hmac.new(signing_secret.encode("utf-8"), base, hashlib.sha256).hexdigest()
    return {
        "X-Slack-Request-Timestamp": str(ts),
        "X-Slack-Signature": f"v0={digest}",
        "Content-Type": "application/x-www-form-urlencoded",
    }


def slash_command(
    *,
    user_id: str,
    text: str,
    team_id: str,
    response_url: str,
    command: str = "/rok-token",
    channel_id: str = "C0GENERAL",
    enterprise_id: str | None = None,
    user_name: str | None = None,
) -> dict[str, str]:
    """Form fields of a slash command invocation."""
    fields = {k: str(v) for k, v in load_template("slash_command.json").items()}
    fields.update(
        user_id=user_id,
        user_name=user_name or user_id.lower(),
        text=text,
        team_id=team_id,
        response_url=response_url,
        command=command,
        channel_id=channel_id,
        trigger_id=_trigger_id(),
    )
    if enterprise_id is None:
        # Workspaces outside an Enterprise Grid get no enterprise fields at all.
        fields.pop("enterprise_id", None)
        fields.pop("enterprise_name", None)
    else:
        fields["enterprise_id"] = enterprise_id
    return fields


def form_body(fields: dict[str, str]) -> str:
    """URL-encode form fields the way Slack posts them."""
    return urlencode(fields)


def block_actions(
    *,
    user_id: str,
    team_id: str,
    action_id: str,
    value: str,
    response_url: str,
    enterprise_id: str | None = None,
    block_id: str = "verify",
    channel_id: str = "C0GENERAL",
    user_name: str | None = None,
    message_ts: str | None = None,
    state: dict[str, Any] | None = None,
    is_ephemeral: bool = True,
) -> dict[str, Any]:
    """A `block_actions` payload for a button click in an ephemeral message (or, `is_ephemeral=False`, in a
    channel message); `state` is the message's input values (`state.values`)."""
    payload = load_template("block_actions.json")
    name = user_name or user_id.lower()
    payload["user"].update(id=user_id, username=name, name=name, team_id=team_id)
    payload["team"]["id"] = team_id
    payload["enterprise"] = None if enterprise_id is None else {"id": enterprise_id, "name": "Rok Demo Grid"}
    payload["container"].update(channel_id=channel_id, message_ts=message_ts or _slack_ts(), is_ephemeral=is_ephemeral)
    if state is not None:
        payload["state"] = {"values": state}
    payload["channel"]["id"] = channel_id
    payload["trigger_id"] = _trigger_id()
    payload["response_url"] = response_url
    action = payload["actions"][0]
    action.update(action_id=action_id, block_id=block_id, value=value, action_ts=_slack_ts())
    return payload


def interactivity_body(payload: dict[str, Any]) -> str:
    """The `payload=<json>` form body Slack posts for interactions."""
    return urlencode({"payload": json.dumps(payload, separators=(",", ":"))})


def envelope(
    type_: str,
    payload: dict[str, Any],
    *,
    envelope_id: str | None = None,
    accepts_response_payload: bool = True,
    retry_attempt: int = 0,
    retry_reason: str = "",
) -> dict[str, Any]:
    """A Socket Mode envelope wrapping a payload."""
    if type_ not in ENVELOPE_TYPES:
        raise ValueError(f"unknown envelope type {type_!r}; expected one of {sorted(ENVELOPE_TYPES)}")
    return {
        "envelope_id": envelope_id or str(uuid.uuid4()),
        "type": type_,
        "payload": payload,
        "accepts_response_payload": accepts_response_payload,
        "retry_attempt": retry_attempt,
        "retry_reason": retry_reason,
    }


def signed_post(
    url: str,
    body: str,
    secret: str,
    timestamp: int | None = None,
    *,
    client: httpx.Client | None = None,
    timeout: float = 10.0,
) -> httpx.Response:
    """POST a body to a running app (e.g. `.../slack/events`) with Slack's signature headers."""
    headers = sign(secret, body, timestamp)
    if client is not None:
        return client.post(url, content=body.encode("utf-8"), headers=headers, timeout=timeout)
    with httpx.Client() as own:
        return own.post(url, content=body.encode("utf-8"), headers=headers, timeout=timeout)


# -- the token's life in Slack: App Home events, clicks in views and bot messages, view submissions ---------


def app_home_opened(
    *, user_id: str, team_id: str, channel_id: str, view: dict[str, Any] | None = None, api_app_id: str = "A0ROKBOT"
) -> dict[str, Any]:
    """The Events API callback Slack sends each time a user opens the app's Home tab."""
    payload = load_template("app_home_opened.json")
    payload.update(team_id=team_id, api_app_id=api_app_id, event_id=f"Ev{secrets.token_hex(5).upper()}")
    payload["event_time"] = int(time.time())
    payload["authorizations"][0]["team_id"] = team_id
    event = payload["event"]
    event.update(user=user_id, channel=channel_id, event_ts=_slack_ts())
    if view is not None:
        # Slack includes the Home view last published for this user, when there is one.
        event["view"] = view
    return payload


def _interaction_user(payload: dict[str, Any], user_id: str, team_id: str, user_name: str | None) -> None:
    name = user_name or user_id.lower()
    payload["user"].update(id=user_id, username=name, name=name, team_id=team_id)
    payload["team"]["id"] = team_id


def view_block_actions(
    *, user_id: str, team_id: str, view: dict[str, Any], action_id: str, value: str | None, block_id: str
) -> dict[str, Any]:
    """A button click in a view (the Home tab, a modal): no channel and no response_url, a trigger_id."""
    payload = load_template("block_actions.json")
    _interaction_user(payload, user_id, team_id, None)
    payload["container"] = {"type": "view", "view_id": view.get("id", "")}
    payload.pop("channel", None)
    payload.pop("response_url", None)
    payload["view"] = view
    payload["trigger_id"] = _trigger_id()
    action = payload["actions"][0]
    action.update(action_id=action_id, block_id=block_id, action_ts=_slack_ts())
    if value is None:
        action.pop("value", None)
    else:
        action["value"] = value
    return payload


def message_block_actions(
    *,
    user_id: str,
    team_id: str,
    channel_id: str,
    message: dict[str, Any],
    action_id: str,
    value: str,
    block_id: str,
    response_url: str,
) -> dict[str, Any]:
    """A button click in an ordinary (not ephemeral) message, such as a reminder in the DM with the bot."""
    payload = load_template("block_actions.json")
    _interaction_user(payload, user_id, team_id, None)
    payload["container"] = {
        "type": "message",
        "message_ts": message.get("ts", ""),
        "channel_id": channel_id,
        "is_ephemeral": False,
    }
    payload["channel"] = {"id": channel_id, "name": "directmessage"}
    payload["message"] = message
    payload["trigger_id"] = _trigger_id()
    payload["response_url"] = response_url
    payload["actions"][0].update(action_id=action_id, block_id=block_id, value=value, action_ts=_slack_ts())
    return payload


def view_submission(
    *, user_id: str, team_id: str, view: dict[str, Any], values: dict[str, dict[str, dict[str, Any]]]
) -> dict[str, Any]:
    """A modal's submission: the view as Slack stores it, with the user's input in `state.values`
    (`{block_id: {action_id: {"type": ..., "value" or "selected_option": ...}}}`)."""
    payload = load_template("view_submission.json")
    _interaction_user(payload, user_id, team_id, None)
    submitted = copy.deepcopy(view)
    submitted["state"] = {"values": values}
    payload["view"] = submitted
    payload["trigger_id"] = _trigger_id()
    return payload


def json_body(payload: dict[str, Any]) -> str:
    """The JSON body of an Events API request."""
    return json.dumps(payload, separators=(",", ":"))


def signed_json_post(
    url: str, body: str, secret: str, *, client: httpx.Client | None = None, timeout: float = 10.0
) -> httpx.Response:
    """POST an Events API JSON body with Slack's signature headers."""
    headers = sign(secret, body) | {"Content-Type": "application/json"}
    if client is not None:
        return client.post(url, content=body.encode("utf-8"), headers=headers, timeout=timeout)
    with httpx.Client() as own:
        return own.post(url, content=body.encode("utf-8"), headers=headers, timeout=timeout)
