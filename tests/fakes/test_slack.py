"""The fake Slack speaks the real protocols: the official slack_sdk clients talk to it unmodified."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from aiohttp import web
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.models.blocks import ActionsBlock, ButtonElement, SectionBlock
from slack_sdk.signature import SignatureVerifier
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from slack_sdk.webhook import WebhookClient

from sandbox import slack_requests
from sandbox.server import ServerThread
from sandbox.slack import FakeSlack, block_problem

SECRET = "fake-signing-secret"


@pytest.fixture(scope="module")
def fake_server() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


@pytest.fixture
def fake(fake_server: FakeSlack) -> Iterator[FakeSlack]:
    fake_server.reset()
    fake_server.users.clear()
    fake_server.usergroups.clear()
    fake_server.add_user("U0ALICE", email="alice@example.com", name="alice")
    yield fake_server
    fake_server.reset()


@pytest.fixture
def client(fake: FakeSlack) -> WebClient:
    return WebClient(token=fake.bot_token, base_url=fake.api_url, timeout=5)


def verify_blocks() -> list[Any]:
    return [
        SectionBlock(text="Your token: `rok-xyz`"),
        ActionsBlock(
            block_id="verify",
            elements=[ButtonElement(text="Verify", action_id="verify_token", value="sealed")],
        ),
    ]


# -- Web API --------------------------------------------------------------------------------------------


def test_auth_test_reports_bot_identity(fake: FakeSlack, client: WebClient) -> None:
    resp = client.auth_test()
    assert resp["user_id"] == "UROKBOT"
    assert resp["team_id"] == "T0ROKDEMO"
    assert resp["is_enterprise_install"] is False
    (call,) = fake.calls_to("auth.test")
    assert call.headers["Authorization"] == f"Bearer {fake.bot_token}"


def test_conversations_open_is_stable_per_user(fake: FakeSlack, client: WebClient) -> None:
    first = client.conversations_open(users="U0ALICE")["channel"]["id"]
    second = client.conversations_open(users=["U0ALICE"])["channel"]["id"]
    assert first == second
    assert first.startswith("D")
    assert client.chat_postMessage(channel=first, text="hi")["channel"] == first


def test_post_ephemeral_with_typed_blocks(fake: FakeSlack, client: WebClient) -> None:
    resp = client.chat_postEphemeral(channel="C0GENERAL", user="U0ALICE", text="token", blocks=verify_blocks())
    assert resp["message_ts"]
    (call,) = fake.calls_to("chat.postEphemeral")
    assert call.params["user"] == "U0ALICE"
    assert call.params["blocks"][1]["elements"][0]["action_id"] == "verify_token"


def test_post_message_channel_rules(fake: FakeSlack, client: WebClient) -> None:
    fake.add_channel("C0AUDIT")
    fake.add_channel("C0OTHER", member=False)
    resp = client.chat_postMessage(channel="C0AUDIT", text="issued", blocks=verify_blocks()[:1])
    assert resp["channel"] == "C0AUDIT"
    assert resp["message"]["blocks"][0]["type"] == "section"
    for channel, error in [("C0OTHER", "not_in_channel"), ("C0NOPE", "channel_not_found")]:
        with pytest.raises(SlackApiError) as info:
            client.chat_postMessage(channel=channel, text="x")
        assert info.value.response["error"] == error


def test_form_encoded_blocks_are_decoded(fake: FakeSlack) -> None:
    blocks = json.dumps([{"type": "section", "text": {"type": "mrkdwn", "text": "hi"}}])
    resp = httpx.post(
        f"{fake.api_url}chat.postMessage",
        data={"token": fake.bot_token, "channel": "C0GENERAL", "blocks": blocks},
    )
    assert resp.json()["ok"] is True
    (call,) = fake.calls_to("chat.postMessage")
    assert call.params["blocks"][0]["text"]["text"] == "hi"
    assert "token" not in call.params


def test_users_info_and_usergroups(fake: FakeSlack, client: WebClient) -> None:
    fake.add_user("U0GUEST", ultra_restricted=True, team_id="T0OTHER")
    fake.usergroups["S0ADMINS"] = ["U0ALICE"]
    alice = client.users_info(user="U0ALICE")["user"]
    assert alice["profile"]["email"] == "alice@example.com"
    assert alice["is_restricted"] is False
    guest = client.users_info(user="U0GUEST")["user"]
    assert (guest["is_restricted"], guest["is_ultra_restricted"], guest["team_id"]) == (True, True, "T0OTHER")
    assert client.usergroups_users_list(usergroup="S0ADMINS")["users"] == ["U0ALICE"]
    with pytest.raises(SlackApiError, match="user_not_found"):
        client.users_info(user="U0NOBODY")
    with pytest.raises(SlackApiError, match="no_such_subteam"):
        client.usergroups_users_list(usergroup="S0NOPE")


@pytest.mark.parametrize(
    ("token", "error"),
    [("xoxb-wrong", "invalid_auth"), ("xapp-fake-app-token", "not_allowed_token_type")],
)
def test_wrong_token_is_refused(fake: FakeSlack, token: str, error: str) -> None:
    with pytest.raises(SlackApiError) as info:
        WebClient(token=token, base_url=fake.api_url).auth_test()
    assert info.value.response["error"] == error


def test_apps_connections_open_needs_app_token(fake: FakeSlack, client: WebClient) -> None:
    url = client.apps_connections_open(app_token=fake.app_token)["url"]
    assert url.startswith(fake.url.replace("http://", "ws://") + "/socket-mode?ticket=")
    with pytest.raises(SlackApiError, match="not_allowed_token_type"):
        client.apps_connections_open(app_token=fake.bot_token)


def test_unknown_method(client: WebClient) -> None:
    with pytest.raises(SlackApiError, match="unknown_method"):
        client.api_call("chat.nope")


# -- faults and limits -------------------------------------------------------------------------------------


def test_fault_applies_a_limited_number_of_times(fake: FakeSlack, client: WebClient) -> None:
    fake.fail("users.info", error="fatal_error", http_status=500, times=1)
    with pytest.raises(SlackApiError) as info:
        client.users_info(user="U0ALICE")
    assert info.value.response.status_code == 500
    assert client.users_info(user="U0ALICE")["ok"] is True
    assert [c.status for c in fake.calls_to("users.info")] == [500, 200]


def test_rate_limit_is_retried_after_retry_after(fake: FakeSlack) -> None:
    fake.fail("chat.postEphemeral", error="ratelimited", http_status=429, retry_after=0, times=1)
    client = WebClient(token=fake.bot_token, base_url=fake.api_url)
    client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=1))
    assert client.chat_postEphemeral(channel="C0GENERAL", user="U0ALICE", text="t")["ok"] is True
    first, second = fake.calls_to("chat.postEphemeral")
    assert (first.status, first.response["error"], second.status) == (429, "ratelimited", 200)


def test_rate_limit_carries_retry_after_header(fake: FakeSlack) -> None:
    fake.fail("chat.postMessage", error="ratelimited", http_status=429, retry_after=7)
    resp = httpx.post(f"{fake.api_url}chat.postMessage", data={"token": fake.bot_token, "channel": "C0GENERAL"})
    assert resp.status_code == 429
    assert resp.headers["Retry-After"] == "7"
    fake.clear_faults()
    assert WebClient(token=fake.bot_token, base_url=fake.api_url).chat_postMessage(channel="C0GENERAL", text="x")


def test_latency_knob(fake: FakeSlack, client: WebClient) -> None:
    fake.latency = 0.2
    started = time.monotonic()
    client.auth_test()
    assert time.monotonic() - started >= 0.2


@pytest.mark.parametrize(
    ("blocks", "reason"),
    [
        ([{"type": "section"}], "text or fields"),
        ([{"type": "no_such_block"}], "unsupported type"),
        ([{"type": "section", "text": {"type": "mrkdwn", "text": "x"}}] * 51, "no more than 50"),
        ([{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}], "3000"),
        (
            [
                {
                    "type": "actions",
                    "elements": [
                        {"type": "button", "text": {"type": "plain_text", "text": "a"}, "action_id": "a" * 256}
                    ],
                }
            ],
            "action_id",
        ),
        (
            [
                {
                    "type": "actions",
                    "elements": [
                        {
                            "type": "button",
                            "text": {"type": "plain_text", "text": "a"},
                            "action_id": "a",
                            "value": "v" * 2001,
                        }
                    ],
                }
            ],
            "value",
        ),
    ],
)
def test_invalid_blocks_are_rejected(
    fake: FakeSlack, client: WebClient, blocks: list[dict[str, Any]], reason: str
) -> None:
    with pytest.raises(SlackApiError, match="invalid_blocks"):
        client.chat_postEphemeral(channel="C0GENERAL", user="U0ALICE", text="t", blocks=blocks)
    (error,) = fake.block_errors
    assert reason in error


def test_valid_blocks_pass() -> None:
    assert block_problem([b.to_dict() for b in verify_blocks()]) is None


# -- response_url -------------------------------------------------------------------------------------------


def test_response_url_posts_are_recorded(fake: FakeSlack) -> None:
    url = fake.new_response_url()
    resp = WebhookClient(url).send(text="done", replace_original=True)
    assert (resp.status_code, resp.body) == (200, "ok")
    (post,) = fake.responses
    assert post.id == url.rsplit("/", 1)[1]
    assert post.body == {"text": "done", "replace_original": True}


def test_response_url_faults_and_use_limit(fake: FakeSlack) -> None:
    url = fake.new_response_url()
    fake.fail_responses(404, times=1)
    assert WebhookClient(url).send(text="x").status_code == 404
    statuses = [WebhookClient(url).send(text="x").status_code for _ in range(5)]
    assert statuses == [200, 200, 200, 200, 404]
    assert len(fake.wait_for_responses(count=6)) == 6


def test_response_url_rejects_invalid_blocks(fake: FakeSlack) -> None:
    resp = WebhookClient(fake.new_response_url()).send(text="x", blocks=[{"type": "section"}])
    assert (resp.status_code, resp.body) == (400, "invalid_blocks")


# -- request builders ----------------------------------------------------------------------------------------


def test_signature_verifies_with_slack_sdk() -> None:
    fields = slack_requests.slash_command(
        user_id="U0ALICE", text="2h", team_id="T0ROKDEMO", response_url="http://127.0.0.1/r"
    )
    body = slack_requests.form_body(fields)
    headers = slack_requests.sign(SECRET, body)
    verifier = SignatureVerifier(SECRET)
    assert verifier.is_valid_request(body, headers)
    assert not SignatureVerifier("other").is_valid_request(body, headers)
    stale = slack_requests.sign(SECRET, body, timestamp=int(time.time()) - 600)
    assert not verifier.is_valid_request(body, stale)


def test_slash_command_fields() -> None:
    fields = slack_requests.slash_command(
        user_id="U0BOB", text="1h", team_id="T0X", response_url="http://r", enterprise_id="E0X"
    )
    parsed = {k: v[0] for k, v in parse_qs(slack_requests.form_body(fields), keep_blank_values=True).items()}
    assert parsed["command"] == "/rok-token"
    assert (parsed["user_id"], parsed["team_id"], parsed["enterprise_id"]) == ("U0BOB", "T0X", "E0X")
    plain = slack_requests.slash_command(user_id="U0BOB", text="", team_id="T0X", response_url="http://r")
    assert "enterprise_id" not in plain
    assert set(plain) >= {"token", "channel_id", "api_app_id", "trigger_id", "is_enterprise_install"}


def test_block_actions_body() -> None:
    payload = slack_requests.block_actions(
        user_id="U0BOB", team_id="T0X", action_id="verify_token", value="sealed", response_url="http://r"
    )
    body = slack_requests.interactivity_body(payload)
    decoded = json.loads(parse_qs(body)["payload"][0])
    assert decoded["type"] == "block_actions"
    assert decoded["container"]["is_ephemeral"] is True
    (action,) = decoded["actions"]
    assert (action["action_id"], action["value"], action["block_id"]) == ("verify_token", "sealed", "verify")
    assert decoded["user"]["id"] == "U0BOB"
    assert decoded["enterprise"] is None


def test_signed_post_verifies_at_the_receiver() -> None:
    seen: list[bool] = []

    async def events(request: web.Request) -> web.Response:
        body = (await request.read()).decode()
        seen.append(SignatureVerifier(SECRET).is_valid_request(body, dict(request.headers)))
        return web.Response(text="")

    app = web.Application()
    app.router.add_post("/slack/events", events)
    payload = slack_requests.block_actions(
        user_id="U0BOB", team_id="T0X", action_id="verify_token", value="v", response_url="http://r"
    )
    with ServerThread(app) as server:
        resp = slack_requests.signed_post(
            f"{server.url}/slack/events", slack_requests.interactivity_body(payload), SECRET
        )
    assert resp.status_code == 200
    assert seen == [True]


# -- Socket Mode ----------------------------------------------------------------------------------------------


def _close_in_background(client: Any) -> None:
    # Both clients block in close() on their own socket timeouts (3 s builtin, up to 10 s websocket-client);
    # the server already sees the disconnect, so the test need not wait for the client's threads.
    threading.Thread(target=client.close, daemon=True).start()


def _acking_listener(client: Any, req: SocketModeRequest) -> None:
    client.send_socket_mode_response(SocketModeResponse(envelope_id=req.envelope_id, payload={"seen": req.type}))


def test_socket_mode_round_trip_builtin(fake: FakeSlack) -> None:
    from slack_sdk.socket_mode import SocketModeClient

    web = WebClient(token=fake.bot_token, base_url=fake.api_url)
    hello = threading.Event()
    sm = SocketModeClient(app_token=fake.app_token, web_client=web)
    sm.message_listeners.append(lambda c, m, raw: hello.set() if m.get("type") == "hello" else None)
    sm.socket_mode_request_listeners.append(_acking_listener)
    try:
        sm.connect()
        fake.wait_for_connection(timeout=5)
        assert hello.wait(5)
        payload = slack_requests.slash_command(
            user_id="U0ALICE", text="", team_id="T0ROKDEMO", response_url=fake.new_response_url()
        )
        ack = fake.send_envelope("slash_commands", dict(payload), timeout=5)
        assert ack.payload == {"seen": "slash_commands"}
        assert ack.latency_seconds < 5
        assert fake.acks == [ack]
    finally:
        _close_in_background(sm)
    # The builtin client holds its receive lock through a 3 s socket timeout; a server close frees it at once.
    fake.wait_for(lambda: sm.closed)
    fake.close_connections()
    fake.wait_for(lambda: fake.socket_connections == 0, timeout=5)


def test_socket_mode_round_trip_websocket_client(fake: FakeSlack) -> None:
    from slack_sdk.socket_mode.websocket_client import SocketModeClient

    web = WebClient(token=fake.bot_token, base_url=fake.api_url)
    sm = SocketModeClient(app_token=fake.app_token, web_client=web)
    sm.socket_mode_request_listeners.append(_acking_listener)
    try:
        sm.connect()
        fake.wait_for_connection(timeout=5)
        payload = slack_requests.block_actions(
            user_id="U0ALICE",
            team_id="T0ROKDEMO",
            action_id="verify_token",
            value="v",
            response_url=fake.new_response_url(),
        )
        ack = fake.send_envelope("interactive", payload, timeout=5)
        assert ack.payload == {"seen": "interactive"}
    finally:
        _close_in_background(sm)
    fake.wait_for(lambda: fake.socket_connections == 0, timeout=5)


def test_send_envelope_times_out_without_ack(fake: FakeSlack) -> None:
    with pytest.raises(TimeoutError):
        fake.send_envelope("events_api", {"event": {}}, timeout=0.2)


def test_socket_mode_refuses_unknown_ticket(fake: FakeSlack) -> None:
    resp = httpx.get(f"{fake.url}/socket-mode?ticket=forged")
    assert resp.status_code == 401


def test_bolt_socket_mode_handler_end_to_end(fake: FakeSlack) -> None:
    from slack_bolt import Ack, App, Respond
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    app = App(client=WebClient(token=fake.bot_token, base_url=fake.api_url))

    @app.command("/rok-token")
    def command(ack: Ack, body: dict[str, Any], client: WebClient, respond: Respond) -> None:
        ack("working")
        client.chat_postEphemeral(channel=body["channel_id"], user=body["user_id"], text="token")
        respond("done")

    handler = SocketModeHandler(app, fake.app_token)
    try:
        handler.connect()
        fake.wait_for_connection()
        fields = slack_requests.slash_command(
            user_id="U0ALICE", text="", team_id=fake.team_id, response_url=fake.new_response_url()
        )
        ack = fake.send_envelope("slash_commands", dict(fields))
        assert ack.payload == {"text": "working"}
        assert fake.wait_for_calls("chat.postEphemeral")[0].ok
        assert fake.wait_for_responses()[0].body == {"text": "done"}
    finally:
        _close_in_background(handler.client)
    fake.wait_for(lambda: handler.client.closed)
    fake.close_connections()
    fake.wait_for(lambda: fake.socket_connections == 0)


# -- the token's life in Slack: views and edits ----------------------------------------------------------


def _home(blocks: int = 1) -> dict[str, Any]:
    return {
        "type": "home",
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": f"{n}"}} for n in range(blocks)],
    }


def test_views_publish_stores_the_home_tab_and_refuses_more_than_100_blocks(fake: FakeSlack, client: WebClient) -> None:
    view = client.views_publish(user_id="U0ALICE", view=_home(100))["view"]
    assert view["id"].startswith("V") and view["hash"] and len(view["blocks"]) == 100
    assert fake.home_view("U0ALICE") == view
    again = client.views_publish(user_id="U0ALICE", view=_home(2))["view"]
    assert again["id"] == view["id"]  # one Home tab per user, replaced
    with pytest.raises(SlackApiError) as too_many:
        client.views_publish(user_id="U0ALICE", view=_home(101))
    assert too_many.value.response["error"] == "invalid_arguments"
    assert "between 1 and 100 blocks" in fake.block_errors[-1]
    with pytest.raises(SlackApiError) as modal:
        client.views_publish(
            user_id="U0ALICE", view={**_home(), "type": "modal", "title": {"type": "plain_text", "text": "x"}}
        )
    assert modal.value.response["error"] == "invalid_arguments"
    with pytest.raises(SlackApiError) as nobody:
        client.views_publish(user_id="U0NOBODY", view=_home())
    assert nobody.value.response["error"] == "user_not_found"


def test_views_open_takes_a_trigger_once_within_its_window(fake: FakeSlack, client: WebClient) -> None:
    modal = {"type": "modal", "title": {"type": "plain_text", "text": "Get a token"}, "blocks": _home()["blocks"]}
    with pytest.raises(SlackApiError) as unknown:
        client.views_open(trigger_id="123.456.abc", view=modal)
    assert unknown.value.response["error"] == "invalid_trigger_id"
    fake.register_trigger("123.456.abc", "U0ALICE")
    opened = client.views_open(trigger_id="123.456.abc", view=modal | {"private_metadata": '{"min": 60}'})["view"]
    assert opened["private_metadata"] == '{"min": 60}' and opened["state"] == {"values": {}}
    assert fake.opened_views("U0ALICE") == [opened]
    with pytest.raises(SlackApiError) as reused:
        client.views_open(trigger_id="123.456.abc", view=modal)
    assert reused.value.response["error"] == "expired_trigger_id"
    fake.trigger_seconds = 0.0
    fake.register_trigger("123.456.def", "U0ALICE")
    with pytest.raises(SlackApiError) as late:
        client.views_open(trigger_id="123.456.def", view=modal)
    assert late.value.response["error"] == "expired_trigger_id"
    fake.trigger_seconds = 3.0


def test_view_problem_checks_what_slack_checks() -> None:
    from sandbox.slack import view_problem

    title = {"type": "plain_text", "text": "Get a token"}
    field = {"type": "input", "block_id": "d", "label": {"type": "plain_text", "text": "Duration"},
             "element": {"type": "plain_text_input", "action_id": "d"}}  # fmt: skip
    assert view_problem({"type": "modal", "title": title, "submit": title, "blocks": [field]}) is None
    assert "needs a submit" in str(view_problem({"type": "modal", "title": title, "blocks": [field]}))
    assert "title" in str(
        view_problem({"type": "modal", "title": {"type": "plain_text", "text": "x" * 25}, "blocks": [field]})
    )
    assert "private_metadata" in str(view_problem({**_home(), "private_metadata": "x" * 3001}))
    assert "json-pointer:/view/blocks/0" in str(view_problem({"type": "home", "blocks": [{"type": "nope"}]}))


def test_chat_update_edits_a_message_the_bot_posted(fake: FakeSlack, client: WebClient) -> None:
    channel = client.conversations_open(users="U0ALICE")["channel"]["id"]
    posted = client.chat_postMessage(channel=channel, text="expires soon", blocks=verify_blocks())
    edited = client.chat_update(channel=channel, ts=posted["ts"], text="renewed", blocks=[SectionBlock(text="done")])
    assert edited["ts"] == posted["ts"] and edited["message"]["text"] == "renewed"
    (message,) = fake.messages_in(channel)
    assert message["text"] == "renewed" and message["blocks"][0]["text"]["text"] == "done" and "edited" in message
    with pytest.raises(SlackApiError) as missing:
        client.chat_update(channel=channel, ts="1.000001", text="x")
    assert missing.value.response["error"] == "message_not_found"
    with pytest.raises(SlackApiError) as invalid:
        client.chat_update(channel=channel, ts=posted["ts"], text="x", blocks=[{"type": "nope"}])
    assert invalid.value.response["error"] == "invalid_blocks"


def test_app_home_opened_view_click_and_view_submission_payloads() -> None:
    event = slack_requests.app_home_opened(user_id="U0BOB", team_id="T1", channel_id="D1")
    assert (event["type"], event["event"]["type"], event["event"]["user"], event["event"]["tab"]) == (
        "event_callback", "app_home_opened", "U0BOB", "home",
    )  # fmt: skip
    assert event["event_id"].startswith("Ev") and "view" not in event["event"]
    view = {"id": "V1", "type": "home", "blocks": []}
    click = slack_requests.view_block_actions(
        user_id="U0BOB", team_id="T1", view=view, action_id="get_token", value=None, block_id="b"
    )
    assert click["container"] == {"type": "view", "view_id": "V1"} and "response_url" not in click
    assert "value" not in click["actions"][0] and click["trigger_id"]
    values = {"duration": {"duration": {"type": "plain_text_input", "value": "2h"}}}
    submission = slack_requests.view_submission(user_id="U0BOB", team_id="T1", view=view, values=values)
    assert submission["type"] == "view_submission" and submission["view"]["state"]["values"] == values
    assert submission["user"]["id"] == "U0BOB" and view.get("state") is None  # the caller's view is not changed
    body = slack_requests.json_body(event)
    headers = slack_requests.sign(SECRET, body)
    assert SignatureVerifier(SECRET).is_valid(body, headers["X-Slack-Request-Timestamp"], headers["X-Slack-Signature"])


# -- chat.update (the approvals channel) ------------------------------------------------------------------


def test_chat_update_edits_a_posted_message_and_refuses_what_slack_refuses(fake: FakeSlack, client: WebClient) -> None:
    posted = client.chat_postMessage(channel="C0GENERAL", text="first", blocks=verify_blocks())
    ts = str(posted["ts"])
    updated = client.chat_update(channel="C0GENERAL", ts=ts, text="second", blocks=[SectionBlock(text="done")])
    assert updated["ok"] and updated["ts"] == ts
    current = fake.message("C0GENERAL", ts)
    assert current is not None and current["text"] == "second" and "edited" in current
    assert [b["type"] for b in current["blocks"]] == ["section"]
    for channel, stamp, error in (
        ("C0GENERAL", "1.000000", "message_not_found"),  # never posted (or ephemeral: those are never kept)
        ("C0NOWHERE", ts, "channel_not_found"),
    ):
        with pytest.raises(SlackApiError) as refused:
            client.chat_update(channel=channel, ts=stamp, text="x")
        assert refused.value.response["error"] == error
    with pytest.raises(SlackApiError) as invalid:
        client.chat_update(channel="C0GENERAL", ts=ts, text="x", blocks=[{"type": "nonsense"}])
    assert invalid.value.response["error"] == "invalid_blocks"


# -- the table block ----------------------------------------------------------------------------------------


def _cell(text: str = "x") -> dict[str, Any]:
    return {"type": "raw_text", "text": text}


def _table(rows: int = 2, cells: int = 3, **extra: Any) -> dict[str, Any]:
    return {"type": "table", "rows": [[_cell() for _ in range(cells)] for _ in range(rows)], **extra}


def test_a_documented_table_passes_as_slack_sdk_builds_it() -> None:
    from slack_sdk.models.blocks import RichTextBlock, RichTextElementParts, RichTextSectionElement, TableBlock
    from slack_sdk.models.blocks.basic_components import RawTextObject, TableBlockColumnSettings

    mention = RichTextBlock(elements=[RichTextSectionElement(elements=[RichTextElementParts.User(user_id="U0A")])])
    table = TableBlock(
        rows=[[RawTextObject(text="Who"), RawTextObject(text="How")], [mention, RawTextObject(text="command")]],
        column_settings=[None, TableBlockColumnSettings(align="right", is_wrapped=True)],
    )
    assert block_problem([table.to_dict()]) is None
    assert block_problem([_table(rows=100, cells=20)]) is None


@pytest.mark.parametrize(
    ("table", "reason"),
    [
        (_table(rows=101), "1 to 100 rows"),
        ({"type": "table", "rows": []}, "rows"),
        (_table(cells=21), "1 to 20 cells"),
        ({"type": "table", "rows": [[_cell(""), _cell()]]}, "non-empty text"),
        ({"type": "table", "rows": [[{"type": "mrkdwn", "text": "*x*"}]]}, "unsupported cell type"),
        ({"type": "table", "rows": [[{"type": "rich_text", "elements": []}]]}, "needs elements"),
        (_table(column_settings=[{"align": "middle"}]), "align"),
        (_table(column_settings=[{"is_wrapped": "yes"}]), "is_wrapped"),
        (_table(column_settings=[{"width": 3}]), "only align and is_wrapped"),
        (_table(column_settings=[{}] * 21), "at most 20"),
    ],
)
def test_a_table_outside_its_documented_shape_is_rejected(
    fake: FakeSlack, client: WebClient, table: dict[str, Any], reason: str
) -> None:
    with pytest.raises(SlackApiError, match="invalid_blocks"):
        client.chat_postEphemeral(channel="C0GENERAL", user="U0ALICE", text="t", blocks=[table])
    (error,) = fake.block_errors
    assert reason in error and "json-pointer:/blocks/0" in error


def test_one_table_per_message_and_none_in_a_view() -> None:
    from sandbox.slack import view_problem

    assert "only_one_table_allowed [json-pointer:/blocks/2]" in str(
        block_problem([_table(), {"type": "divider"}, _table()])
    )
    assert "unsupported type: table [json-pointer:/view/blocks/0/type]" in str(
        view_problem({"type": "home", "blocks": [_table()]})
    )


def test_a_response_url_post_with_two_tables_is_refused(fake: FakeSlack) -> None:
    resp = WebhookClient(fake.new_response_url()).send(text="x", blocks=[_table(), _table()])
    assert (resp.status_code, resp.body) == (400, "invalid_blocks")
    assert "only_one_table_allowed" in fake.block_errors[-1]
