"""A fake Slack on 127.0.0.1: Web API, response_url endpoints and the Socket Mode WebSocket.

The official `slack_sdk.WebClient(base_url=fake.api_url)` and slack_sdk's Socket Mode clients talk to it
unmodified; everything it receives is recorded so tests can assert on what the bot sent.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
import uuid
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiohttp import WSMsgType, web
from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from sandbox.server import FakeServer, ServerThread
from sandbox.slack_org import OrgSpec, auth_test_body, teams_list_body
from sandbox.slack_requests import envelope
from sandbox.slack_tables import one_table_problem, table_problem, view_table_problem

T = TypeVar("T")

MAX_BLOCKS = 50
MAX_VIEW_BLOCKS = 100  # a modal's or the Home tab's blocks
TRIGGER_SECONDS = 3.0  # a trigger_id opens a view once, within this long of the user's action
MAX_SECTION_TEXT = 3000
MAX_SECTION_FIELD = 2000
MAX_BUTTON_VALUE = 2000
MAX_ID_LENGTH = 255
RESPONSE_URL_MAX_USES = 5
APP_ID = "A0ROKBOT"
BOT_ID = "B0ROKBOT"

_METHODS = frozenset(
    {
        "auth.test",
        "auth.teams.list",
        "conversations.open",
        "chat.postEphemeral",
        "chat.postMessage",
        "users.info",
        "usergroups.users.list",
        "usergroups.list",
        "apps.connections.open",
        # The token's life in Slack: App Home, the get-token modal, editing a reminder.
        "views.publish",
        "views.open",
        "chat.update",
    }
)
# Fields slack_sdk may send as JSON text inside a form body.
_JSON_FIELDS = ("blocks", "attachments", "metadata", "view")


@dataclass(frozen=True)
class Call:
    """One Web API request as the fake received it, with the answer it gave."""

    method: str
    params: dict[str, Any]
    headers: dict[str, str]
    at: float
    status: int = 200
    response: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Whether the fake answered `ok: true`."""
        return bool(self.response.get("ok"))


@dataclass(frozen=True)
class ResponsePost:
    """One POST to a response_url."""

    id: str
    body: dict[str, Any]
    at: float
    status: int = 200


@dataclass(frozen=True)
class SocketAck:
    """A client's acknowledgement of a Socket Mode envelope."""

    envelope_id: str
    payload: dict[str, Any] | None
    latency_seconds: float


@dataclass
class _Fault:
    error: str
    http_status: int
    retry_after: int | str | None  # a str sends what a broken gateway might: "inf", "-5", a date
    remaining: int | None
    after: int = 0  # calls answered normally before the fault starts


@dataclass
class _Connection:
    ws: web.WebSocketResponse
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    pending: dict[str, asyncio.Future[dict[str, Any]]] = field(default_factory=dict)


@dataclass
class _Trigger:
    user_id: str
    at: float
    used: bool = False


class _ApiError(Exception):
    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


def wait_for(predicate: Callable[[], T], timeout: float = 5.0, interval: float = 0.01) -> T:
    """Poll `predicate` until it returns something truthy and return that; raise TimeoutError otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise TimeoutError(f"condition not met within {timeout} s")
        time.sleep(interval)


def block_problem(blocks: Any, *, max_blocks: int = MAX_BLOCKS) -> str | None:
    """Why Slack would reject these blocks with `invalid_blocks`, or None if it would accept them."""
    if not isinstance(blocks, list):
        return "blocks must be an array"
    if len(blocks) > max_blocks:
        return f"no more than {max_blocks} items allowed [json-pointer:/blocks]"
    for index, raw in enumerate(blocks):
        if not isinstance(raw, dict):
            return f"block must be an object [json-pointer:/blocks/{index}]"
        block = Block.parse(raw)
        if block is None:
            return f"unsupported type: {raw.get('type')!r} [json-pointer:/blocks/{index}/type]"
        try:
            block.validate_json()
        except SlackObjectFormationError as exc:
            return f"{exc} [json-pointer:/blocks/{index}]"
        # slack_sdk's validators skip several documented limits (button value, action_id length).
        problem = _limit_problem(raw, f"/blocks/{index}")
        if problem is not None:
            return problem
    return one_table_problem(blocks)


def view_problem(view: Any) -> str | None:
    """Why Slack would reject a view (views.open, views.publish, a view_submission's `update`), or None.

    slack_sdk's `View` model checks the type, the title, submit and close lengths, private_metadata and
    callback_id lengths and 1 to 100 blocks; the blocks themselves go through `block_problem`.
    """
    if not isinstance(view, dict):
        return "view must be an object"
    try:
        model = View(**view)
        model.validate_json()
    except (SlackObjectFormationError, TypeError, ValueError) as exc:
        return f"{exc} [json-pointer:/view]"
    blocks = view.get("blocks")
    problem = block_problem(blocks, max_blocks=MAX_VIEW_BLOCKS)
    if problem is not None:
        return problem.replace("[json-pointer:/blocks", "[json-pointer:/view/blocks")
    problem = view_table_problem(blocks or [])
    if problem is not None:
        return problem
    inputs = any(isinstance(b, dict) and b.get("type") == "input" for b in blocks or [])
    if view.get("type") == "modal" and not view.get("submit") and inputs:
        return "a modal with input blocks needs a submit button [json-pointer:/view/submit]"
    return None


def _limit_problem(node: Any, pointer: str) -> str | None:
    if isinstance(node, list):
        for i, item in enumerate(node):
            problem = _limit_problem(item, f"{pointer}/{i}")
            if problem is not None:
                return problem
        return None
    if not isinstance(node, dict):
        return None
    problem = _own_limit_problem(node, pointer)
    if problem is not None:
        return problem
    for key, value in node.items():
        if isinstance(value, dict | list):
            problem = _limit_problem(value, f"{pointer}/{key}")
            if problem is not None:
                return problem
    return None


def _own_limit_problem(node: dict[str, Any], pointer: str) -> str | None:
    """The limits on this object's own fields (ids, a button's value, a section's texts), not its children's."""
    for key in ("action_id", "block_id"):
        value = node.get(key)
        if isinstance(value, str) and len(value) > MAX_ID_LENGTH:
            return f"must be less than {MAX_ID_LENGTH + 1} characters [json-pointer:{pointer}/{key}]"
    if node.get("type") == "button":
        value = node.get("value")
        if isinstance(value, str) and len(value) > MAX_BUTTON_VALUE:
            return f"must be less than {MAX_BUTTON_VALUE + 1} characters [json-pointer:{pointer}/value]"
    if node.get("type") == "section":
        return _section_problem(node, pointer)
    if node.get("type") == "table":
        return table_problem(node, pointer)
    return None


def _section_problem(node: dict[str, Any], pointer: str) -> str | None:
    """A section's text and each of its fields against their own length limits."""
    text = node.get("text")
    if isinstance(text, dict) and len(str(text.get("text", ""))) > MAX_SECTION_TEXT:
        return f"must be less than {MAX_SECTION_TEXT + 1} characters [json-pointer:{pointer}/text]"
    for i, item in enumerate(node.get("fields") or []):
        if isinstance(item, dict) and len(str(item.get("text", ""))) > MAX_SECTION_FIELD:
            return f"must be less than {MAX_SECTION_FIELD + 1} characters [json-pointer:{pointer}/fields/{i}/text]"
    return None


class FakeSlack(FakeServer):
    """Slack's Web API, response_url endpoints and Socket Mode endpoint on a loopback port."""

    def __init__(
        self,
        *,
        bot_token: str = "xoxb-fake-bot-token",  # noqa: S107 - a fake's well-known default
        app_token: str = "xapp-fake-app-token",  # noqa: S107
        team_id: str = "T0ROKDEMO",
        enterprise_id: str | None = None,
        bot_user_id: str = "UROKBOT",
        channels: Iterable[str] = ("C0GENERAL",),
        org: OrgSpec | None = None,
    ) -> None:
        self.bot_token = bot_token
        self.app_token = app_token
        # An org-wide install (Enterprise Grid): `team_id` is then the default workspace of new users.
        self.org = org
        self.team_id = org.teams[0] if org is not None else team_id
        self.enterprise_id = org.enterprise_id if org is not None else enterprise_id
        # The workspaces an org install was added to (`auth.teams.list`), and each one's user groups.
        self.granted_teams: list[str] = list(org.teams) if org is not None else [self.team_id]
        self.team_usergroups: dict[str, dict[str, list[str]]] = {t: {} for t in self.granted_teams}
        self.bot_user_id = bot_user_id
        self.team_domain = "rok-demo"
        self.app_id = APP_ID
        self.users: dict[str, dict[str, Any]] = {}
        # Channels the bot is a member of; `known_channels` also holds those it is not in.
        self.channels: set[str] = set()
        self.known_channels: set[str] = set()
        self.usergroups: dict[str, list[str]] = {}
        self.latency: float = 0.0
        # Calls per second a method accepts before answering 429 with Retry-After, as Slack's tiers do
        # (chat.postMessage: about 1 per second per channel). Empty: no limit.
        self.rate_limits: dict[str, float] = {}
        self.block_errors: list[str] = []
        for channel_id in channels:
            self.add_channel(channel_id)

        self._lock = threading.Lock()
        self._calls: list[Call] = []
        self._responses: list[ResponsePost] = []
        self._acks: list[SocketAck] = []
        self._faults: dict[str, _Fault] = {}
        self._response_fault: _Fault | None = None
        self._response_uses: dict[str, int] = {}
        self._dm_channels: dict[str, str] = {}
        self._tickets: set[str] = set()
        self._ts_counter = itertools.count(1)
        self._connections: list[_Connection] = []
        self._round_robin = itertools.count()
        self._last_call: dict[str, float] = {}
        # The token's life in Slack: each user's Home tab, the views opened, the messages posted (to edit
        # them), and the trigger_ids handed to the app with each user action (user, when, used).
        self.home_views: dict[str, dict[str, Any]] = {}
        self.views: dict[str, dict[str, Any]] = {}
        self.messages: dict[tuple[str, str], dict[str, Any]] = {}
        self.trigger_seconds: float = TRIGGER_SECONDS
        self._triggers: dict[str, _Trigger] = {}
        self._view_ids = itertools.count(1)

        app = web.Application(client_max_size=8 * 1024 * 1024)
        app.router.add_route("*", "/api/{method}", self._handle_api)
        app.router.add_post("/response/{id}", self._handle_response)
        app.router.add_get("/socket-mode", self._handle_socket_mode)
        app.on_shutdown.append(self._close_sockets)
        self._server = ServerThread(app, name="fake-slack")

    # -- lifecycle -----------------------------------------------------------------------------------

    @property
    def api_url(self) -> str:
        """What `WebClient(base_url=...)` takes."""
        return f"{self.url}/api/"

    # -- directory -------------------------------------------------------------------------------------

    def add_user(
        self,
        user_id: str,
        *,
        email: str | None = None,
        name: str | None = None,
        is_bot: bool = False,
        deleted: bool = False,
        restricted: bool = False,
        ultra_restricted: bool = False,
        team_id: str | None = None,
        enterprise_id: str | None = None,
    ) -> dict[str, Any]:
        """Add (or replace) a user object as `users.info` returns it (`enterprise_id`: a user of another
        organisation than the install's)."""
        handle = name or user_id.lower()
        user: dict[str, Any] = {
            "id": user_id,
            "team_id": team_id or self.team_id,
            "name": handle,
            "deleted": deleted,
            "is_bot": is_bot,
            "is_app_user": False,
            "is_admin": False,
            "is_owner": False,
            "is_restricted": restricted or ultra_restricted,
            "is_ultra_restricted": ultra_restricted,
            "real_name": handle.title(),
            "tz": "Europe/Athens",
            "profile": {
                "email": email,
                "display_name": handle,
                "real_name": handle.title(),
                "team": team_id or self.team_id,
            },
        }
        if email is None:
            # Without the users:read.email scope, or for bots, Slack leaves the field out entirely.
            del user["profile"]["email"]
        if enterprise_id is not None or self.enterprise_id is not None:
            user["enterprise_user"] = {
                "id": user_id,
                "enterprise_id": enterprise_id or self.enterprise_id,
                "teams": [user["team_id"]],
            }
        self.users[user_id] = user
        return user

    def add_channel(self, channel_id: str, *, member: bool = True) -> None:
        """Make a channel ID known; `member=False` makes `chat.postMessage` answer `not_in_channel`."""
        self.known_channels.add(channel_id)
        if member:
            self.channels.add(channel_id)
        else:
            self.channels.discard(channel_id)

    def dm_channel(self, user_id: str) -> str:
        """The stable DM channel ID `conversations.open` returns for a user."""
        with self._lock:
            channel_id = self._dm_channels.get(user_id)
            if channel_id is None:
                channel_id = f"D{zlib.crc32(user_id.encode()):08X}"
                self._dm_channels[user_id] = channel_id
        self.add_channel(channel_id)
        return channel_id

    # -- records ---------------------------------------------------------------------------------------

    @property
    def calls(self) -> list[Call]:
        """A snapshot of every Web API call so far."""
        with self._lock:
            return list(self._calls)

    def calls_to(self, method: str) -> list[Call]:
        """A snapshot of the calls to one method."""
        with self._lock:
            return [c for c in self._calls if c.method == method]

    def wait_for_calls(self, method: str, *, count: int = 1, timeout: float = 5.0) -> list[Call]:
        """Wait until at least `count` calls to `method` arrived and return them."""

        def enough() -> list[Call]:
            calls = self.calls_to(method)
            return calls if len(calls) >= count else []

        return wait_for(enough, timeout)

    @property
    def responses(self) -> list[ResponsePost]:
        """A snapshot of the POSTs to response_urls."""
        with self._lock:
            return list(self._responses)

    def wait_for_responses(self, *, count: int = 1, timeout: float = 5.0) -> list[ResponsePost]:
        """Wait until at least `count` response_url POSTs arrived and return them."""

        def enough() -> list[ResponsePost]:
            posts = self.responses
            return posts if len(posts) >= count else []

        return wait_for(enough, timeout)

    @property
    def acks(self) -> list[SocketAck]:
        """A snapshot of the Socket Mode acknowledgements received."""
        with self._lock:
            return list(self._acks)

    def wait_for(self, predicate: Callable[[], T], timeout: float = 5.0) -> T:
        """Poll `predicate` until truthy; see the module-level `wait_for`."""
        return wait_for(predicate, timeout)

    def reset(self) -> None:
        """Forget recorded calls, responses, acks, block errors, faults and latency; keep users and channels."""
        with self._lock:
            self.home_views.clear()
            self.views.clear()
            self.messages.clear()
            self._triggers.clear()
            self._calls.clear()
            self._responses.clear()
            self._acks.clear()
            self.block_errors.clear()
            self._faults.clear()
            self._response_fault = None
            self._response_uses.clear()
        self.latency = 0.0

    # -- faults ----------------------------------------------------------------------------------------

    def fail(
        self,
        method: str,
        *,
        error: str = "internal_error",
        http_status: int = 200,
        retry_after: int | str | None = None,
        times: int | None = None,
        after: int = 0,
    ) -> None:
        """Make the next `times` calls (None: all) to `method` answer `{"ok": false, "error": error}`, once
        `after` calls were answered normally (a rate limit that starts part-way through a burst)."""
        if http_status == 429 and retry_after is None:
            retry_after = 1
        with self._lock:
            self._faults[method] = _Fault(error, http_status, retry_after, times, after)

    def fail_responses(self, http_status: int = 500, *, times: int | None = None) -> None:
        """Make the next `times` (None: all) response_url POSTs fail with `http_status`."""
        error = "no_service" if http_status == 404 else "internal_error"
        with self._lock:
            self._response_fault = _Fault(error, http_status, None, times)

    def clear_faults(self) -> None:
        """Remove every injected fault."""
        with self._lock:
            self._faults.clear()
            self._response_fault = None
            self.rate_limits.clear()

    @staticmethod
    def _take(fault: _Fault | None) -> tuple[_Fault | None, bool]:
        """Consume one use of a fault; the flag says whether it is now exhausted."""
        if fault is None:
            return None, False
        if fault.after > 0:
            fault.after -= 1
            return None, False
        if fault.remaining is None:
            return fault, False
        fault.remaining -= 1
        return fault, fault.remaining <= 0

    # -- response_url ----------------------------------------------------------------------------------

    def new_response_url(self) -> str:
        """A fresh response_url pointing at this fake."""
        return f"{self.url}/response/{uuid.uuid4().hex}"

    async def _handle_response(self, request: web.Request) -> web.StreamResponse:
        response_id = request.match_info["id"]
        raw = await request.read()
        body: dict[str, Any]
        try:
            if request.content_type == "application/x-www-form-urlencoded":
                form = await request.post()
                body = json.loads(str(form.get("payload", "{}")))
            else:
                body = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            return self._record_response(response_id, {"_raw": raw.decode("utf-8", "replace")}, 400, "invalid_payload")
        if not isinstance(body, dict):
            return self._record_response(response_id, {"_raw": body}, 400, "invalid_payload")
        with self._lock:
            fault, exhausted = self._take(self._response_fault)
            if exhausted:
                self._response_fault = None
            uses = self._response_uses.get(response_id, 0) + 1
            self._response_uses[response_id] = uses
        if fault is not None:
            return self._record_response(response_id, body, fault.http_status, fault.error)
        if uses > RESPONSE_URL_MAX_USES:
            # Slack accepts five posts per response_url.
            return self._record_response(response_id, body, 404, "used_url")
        if "blocks" in body:
            problem = block_problem(body["blocks"])
            if problem is not None:
                with self._lock:
                    self.block_errors.append(problem)
                return self._record_response(response_id, body, 400, "invalid_blocks")
        elif not body.get("text") and not body.get("delete_original"):
            return self._record_response(response_id, body, 400, "no_text")
        return self._record_response(response_id, body, 200, "ok")

    def _record_response(self, response_id: str, body: dict[str, Any], status: int, text: str) -> web.Response:
        with self._lock:
            self._responses.append(ResponsePost(response_id, body, time.time(), status))
        return web.Response(status=status, text=text)

    # -- Web API ---------------------------------------------------------------------------------------

    async def _read_params(self, request: web.Request) -> dict[str, Any]:
        params: dict[str, Any] = dict(request.query)
        if request.content_type == "application/json":
            body = await request.json()
            if not isinstance(body, dict):
                raise _ApiError("invalid_json")
            params.update(body)
        elif request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            form = await request.post()
            params.update({k: str(v) for k, v in form.items()})
        for key in _JSON_FIELDS:
            if isinstance(params.get(key), str):
                try:
                    params[key] = json.loads(params[key])
                except json.JSONDecodeError:
                    if key == "blocks":
                        raise _ApiError("invalid_blocks_format") from None
        return params

    async def _handle_api(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        headers = dict(request.headers)
        try:
            params = await self._read_params(request)
        except (json.JSONDecodeError, _ApiError) as exc:
            error = exc.error if isinstance(exc, _ApiError) else "invalid_json"
            return self._answer(method, {}, headers=headers, status=200, body={"ok": False, "error": error})
        if self.latency > 0:
            await asyncio.sleep(self.latency)

        auth = request.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else None
        token = token or params.pop("token", None)
        params.pop("token", None)

        if method not in _METHODS:
            return self._answer(
                method, params, headers=headers, status=200, body={"ok": False, "error": "unknown_method"}
            )
        auth_error = self._auth_error(method, token)
        if auth_error is not None:
            return self._answer(method, params, headers=headers, status=200, body={"ok": False, "error": auth_error})

        with self._lock:
            fault, exhausted = self._take(self._faults.get(method))
            if exhausted:
                del self._faults[method]
            if fault is None and self._over_rate(method):
                fault = _Fault("ratelimited", 429, 1, None)
        if fault is not None:
            extra = {} if fault.retry_after is None else {"Retry-After": str(fault.retry_after)}
            body = {"ok": False, "error": fault.error}
            return self._answer(
                method, params, headers=headers, status=fault.http_status, body=body, extra_headers=extra
            )

        try:
            result = self._dispatch(method, params)
        except _ApiError as exc:
            result = {"ok": False, "error": exc.error}
        return self._answer(method, params, headers=headers, status=200, body=result)

    def _over_rate(self, method: str) -> bool:
        """Whether a call now exceeds `rate_limits[method]` (caller holds the lock)."""
        rate = self.rate_limits.get(method)
        if not rate:
            return False
        now = time.monotonic()
        if now - self._last_call.get(method, -1e9) < 1.0 / rate:
            return True
        self._last_call[method] = now
        return False

    def _auth_error(self, method: str, token: str | None) -> str | None:
        expected = self.app_token if method == "apps.connections.open" else self.bot_token
        if not token:
            return "not_authed"
        if token == expected:
            return None
        if token in (self.app_token, self.bot_token):
            # The real API tells a swapped token apart from a bad one.
            return "not_allowed_token_type"
        return "invalid_auth"

    def _answer(
        self,
        method: str,
        params: dict[str, Any],
        *,
        headers: dict[str, str],
        status: int,
        body: dict[str, Any],
        extra_headers: dict[str, str] | None = None,
    ) -> web.Response:
        with self._lock:
            self._calls.append(Call(method, params, headers, time.time(), status, body))
        return web.json_response(body, status=status, headers=extra_headers)

    def _dispatch(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        if method == "auth.test":
            return self._auth_test()
        if method == "conversations.open":
            return self._conversations_open(params)
        if method == "chat.postEphemeral":
            return self._post_ephemeral(params)
        if method == "chat.postMessage":
            return self._post_message(params)
        if method == "users.info":
            return {"ok": True, "user": self._user(params.get("user"))}
        if method == "auth.teams.list":
            with self._lock:
                return teams_list_body(list(self.granted_teams))
        if method == "usergroups.users.list":
            group = params.get("usergroup")
            groups = self._usergroups_for(params)
            if not isinstance(group, str) or group not in groups:
                raise _ApiError("no_such_subteam")
            return {"ok": True, "users": list(groups[group])}
        if method == "usergroups.list":
            groups = self._usergroups_for(params)
            listed = [{"id": g, "team_id": params.get("team_id") or self.team_id, "handle": g.lower()} for g in groups]
            return {"ok": True, "usergroups": listed}
        if method in _LIFECYCLE_METHODS:
            return _LIFECYCLE_METHODS[method](self, params)
        if method == "apps.connections.open":
            ticket = uuid.uuid4().hex
            with self._lock:
                self._tickets.add(ticket)
            ws_url = self.url.replace("http://", "ws://", 1)
            return {"ok": True, "url": f"{ws_url}/socket-mode?ticket={ticket}&app_id={self.app_id}"}
        raise _ApiError("unknown_method")

    def _usergroups_for(self, params: dict[str, Any]) -> dict[str, list[str]]:
        """The user groups a call may see: a workspace token's own; an org token's, of the `team_id` it names."""
        if self.org is None:
            return self.usergroups
        team_id = params.get("team_id")
        if not team_id:
            # An org-level token acts on many workspaces: Slack wants to be told which one.
            raise _ApiError("missing_argument")
        with self._lock:
            granted = team_id in self.granted_teams
        if not granted:
            raise _ApiError("team_access_not_granted")
        return self.team_usergroups.setdefault(str(team_id), {})

    def set_teams(self, team_ids: Iterable[str]) -> None:
        """The workspaces an org install is in now (`auth.teams.list`), as an org admin's change leaves them."""
        with self._lock:
            self.granted_teams = list(team_ids)
            for team_id in self.granted_teams:
                self.team_usergroups.setdefault(team_id, {})

    def _auth_test(self) -> dict[str, Any]:
        if self.org is not None:
            return auth_test_body(self.org, bot_user_id=self.bot_user_id, bot_id=BOT_ID)
        body: dict[str, Any] = {
            "ok": True,
            "url": f"https://{self.team_domain}.slack.com/",
            "team": "Rok Demo",
            "user": "rok-token-bot",
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }
        if self.enterprise_id is not None:
            body["enterprise_id"] = self.enterprise_id
        return body

    def _user(self, user_id: Any) -> dict[str, Any]:
        if not isinstance(user_id, str) or user_id not in self.users:
            raise _ApiError("user_not_found")
        return self.users[user_id]

    def _conversations_open(self, params: dict[str, Any]) -> dict[str, Any]:
        raw = params.get("users")
        users = raw if isinstance(raw, list) else str(raw or "").split(",")
        users = [u.strip() for u in users if u.strip()]
        if not users:
            raise _ApiError("users_list_not_supplied")
        if len(users) > 1:
            raise _ApiError("not_supported")
        self._user(users[0])
        return {"ok": True, "no_op": True, "already_open": True, "channel": {"id": self.dm_channel(users[0])}}

    def _resolve_channel(self, channel: Any) -> str:
        if not isinstance(channel, str) or not channel:
            raise _ApiError("channel_not_found")
        if channel in self.users:
            # Posting to a user ID lands in the bot's DM with that user.
            return self.dm_channel(channel)
        if channel not in self.known_channels:
            raise _ApiError("channel_not_found")
        if channel not in self.channels:
            raise _ApiError("not_in_channel")
        return channel

    def _check_content(self, params: dict[str, Any]) -> None:
        if "blocks" in params and params["blocks"] not in (None, ""):
            problem = block_problem(params["blocks"])
            if problem is not None:
                with self._lock:
                    self.block_errors.append(problem)
                raise _ApiError("invalid_blocks")
        elif not params.get("text") and not params.get("attachments"):
            raise _ApiError("no_text")

    def _next_ts(self) -> str:
        return f"{int(time.time())}.{next(self._ts_counter):06d}"

    def _post_ephemeral(self, params: dict[str, Any]) -> dict[str, Any]:
        self._resolve_channel(params.get("channel"))
        self._user(params.get("user"))
        self._check_content(params)
        return {"ok": True, "message_ts": self._next_ts()}

    def _post_message(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve_channel(params.get("channel"))
        self._check_content(params)
        ts = self._next_ts()
        message: dict[str, Any] = {
            "type": "message",
            "subtype": "bot_message",
            "text": params.get("text", ""),
            "user": self.bot_user_id,
            "bot_id": BOT_ID,
            "app_id": self.app_id,
            "team": self.team_id,
            "ts": ts,
        }
        if params.get("blocks"):
            message["blocks"] = params["blocks"]
        with self._lock:
            self.messages[(channel, ts)] = message
        return {"ok": True, "channel": channel, "ts": ts, "message": message}

    # -- the token's life in Slack: views.publish, views.open, chat.update ---------------------------------

    def register_trigger(self, trigger_id: str, user_id: str) -> None:
        """A trigger_id the fake handed the app with a user's action: it may open one view, briefly."""
        with self._lock:
            self._triggers[trigger_id] = _Trigger(user_id, time.monotonic())

    def home_view(self, user_id: str) -> dict[str, Any] | None:
        """The Home tab last published for a user, as Slack stores it (with its id and hash)."""
        with self._lock:
            return self.home_views.get(user_id)

    def opened_views(self, user_id: str) -> list[dict[str, Any]]:
        """The modals opened for a user (views.open), oldest first, as Slack stores them."""
        with self._lock:
            return [v for v in self.views.values() if v.get("user_id") == user_id]

    def messages_in(self, channel: str) -> list[dict[str, Any]]:
        """The bot's persistent messages in a channel, oldest first, as they read now (edits applied)."""
        with self._lock:
            found = [dict(m, channel=ch) for (ch, _), m in self.messages.items() if ch == channel]
        return sorted(found, key=lambda m: str(m["ts"]))

    def message(self, channel: str, ts: str) -> dict[str, Any] | None:
        """A message the bot posted, as it reads now (after any chat.update)."""
        with self._lock:
            return self.messages.get((channel, ts))

    def _check_view(self, view: Any, *, kind: str) -> dict[str, Any]:
        if not isinstance(view, dict):
            raise _ApiError("invalid_arguments")
        if view.get("type") != kind:
            raise _ApiError("invalid_arguments")
        problem = view_problem(view)
        if problem is not None:
            with self._lock:
                self.block_errors.append(problem)
            # views.* answer every problem of the view, its blocks included, with `invalid_arguments`.
            raise _ApiError("invalid_arguments")
        return view

    def _stored_view(self, view: dict[str, Any], *, user_id: str, view_id: str | None = None) -> dict[str, Any]:
        """The view object Slack answers with: the app's view plus its id, hash and (empty) state."""
        stored = dict(view)
        stored.update(
            id=view_id or f"V{next(self._view_ids):08d}",
            team_id=self.team_id,
            app_id=self.app_id,
            bot_id=BOT_ID,
            hash=uuid.uuid4().hex[:20],
            state={"values": {}},
            private_metadata=view.get("private_metadata", ""),
            callback_id=view.get("callback_id", ""),
            root_view_id=None,
            previous_view_id=None,
            user_id=user_id,
        )
        return stored

    def _views_publish(self, params: dict[str, Any]) -> dict[str, Any]:
        user_id = params.get("user_id")
        self._user(user_id)
        assert isinstance(user_id, str)
        view = self._check_view(params.get("view"), kind="home")
        previous = self.home_view(user_id)
        if params.get("hash") and previous is not None and params["hash"] != previous["hash"]:
            raise _ApiError("hash_conflict")
        stored = self._stored_view(view, user_id=user_id, view_id=previous["id"] if previous else None)
        with self._lock:
            self.home_views[user_id] = stored
        return {"ok": True, "view": stored}

    def _views_open(self, params: dict[str, Any]) -> dict[str, Any]:
        trigger_id = params.get("trigger_id")
        with self._lock:
            trigger = self._triggers.get(trigger_id) if isinstance(trigger_id, str) else None
        if trigger is None:
            raise _ApiError("invalid_trigger_id")
        # Slack takes a trigger once, within 3 seconds of the user's action.
        if trigger.used or time.monotonic() - trigger.at > self.trigger_seconds:
            raise _ApiError("expired_trigger_id")
        view = self._check_view(params.get("view"), kind="modal")
        trigger.used = True
        stored = self._stored_view(view, user_id=trigger.user_id)
        with self._lock:
            self.views[stored["id"]] = stored
        return {"ok": True, "view": stored}

    def _chat_update(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve_channel(params.get("channel"))
        ts = params.get("ts")
        with self._lock:
            message = self.messages.get((channel, ts)) if isinstance(ts, str) else None
        if message is None:
            # Ephemeral messages are never stored: Slack cannot edit them either.
            raise _ApiError("message_not_found")
        self._check_content(params)
        edited = dict(message, text=params.get("text", ""), edited={"user": self.bot_user_id, "ts": self._next_ts()})
        edited.pop("blocks", None)
        if params.get("blocks"):
            edited["blocks"] = params["blocks"]
        with self._lock:
            self.messages[(channel, str(ts))] = edited
        return {"ok": True, "channel": channel, "ts": ts, "text": edited["text"], "message": edited}

    # -- Socket Mode -----------------------------------------------------------------------------------

    @property
    def socket_connections(self) -> int:
        """How many Socket Mode clients are connected now."""
        return len(self._connections)

    def wait_for_connection(self, timeout: float = 5.0, *, count: int = 1) -> None:
        """Wait until at least `count` Socket Mode clients are connected; raise TimeoutError otherwise."""
        wait_for(lambda: self.socket_connections >= count, timeout)

    def send_envelope(
        self,
        type_: str,
        payload: dict[str, Any],
        *,
        timeout: float = 5.0,
        accepts_response_payload: bool = True,
    ) -> SocketAck:
        """Deliver an envelope to one connected client (round robin) and wait for its ack."""
        frame = envelope(type_, payload, accepts_response_payload=accepts_response_payload)
        return self._server.call(self._send_envelope(frame, timeout), timeout=timeout + 5)

    def send_frame(self, frame: dict[str, Any], *, timeout: float = 5.0) -> SocketAck:
        """Deliver a prebuilt envelope (e.g. the same one again, as Slack redelivers) and wait for its ack."""
        return self._server.call(self._send_envelope(frame, timeout), timeout=timeout + 5)

    def send_disconnect(self, reason: str = "refresh_requested") -> None:
        """Ask every client to reconnect, as Slack does before recycling a connection."""
        self._server.call(self._broadcast({"type": "disconnect", "reason": reason, "debug_info": self._debug_info()}))

    def close_connections(self, *, code: int = 1001, reason: str = "going away") -> None:
        """Close every Socket Mode connection from the server side, as Slack does when it recycles a host."""
        self._server.call(self._close_all(code, reason))

    async def _close_all(self, code: int, reason: str) -> None:
        for conn in list(self._connections):
            await conn.ws.close(code=code, message=reason.encode())

    async def _broadcast(self, message: dict[str, Any]) -> None:
        for conn in list(self._connections):
            if not conn.ws.closed:
                await conn.ws.send_json(message)

    async def _send_envelope(self, frame: dict[str, Any], timeout: float) -> SocketAck:
        deadline = time.monotonic() + timeout
        while not self._connections:
            if time.monotonic() >= deadline:
                raise TimeoutError("no Socket Mode client connected")
            await asyncio.sleep(0.01)
        conn = self._connections[next(self._round_robin) % len(self._connections)]
        envelope_id: str = frame["envelope_id"]
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        conn.pending[envelope_id] = future
        started = time.monotonic()
        try:
            await conn.ws.send_json(frame)
            remaining = max(0.0, deadline - time.monotonic())
            try:
                ack = await asyncio.wait_for(future, remaining)
            except TimeoutError:
                raise TimeoutError(f"no ack for envelope {envelope_id} within {timeout} s") from None
        finally:
            conn.pending.pop(envelope_id, None)
        payload = ack.get("payload")
        result = SocketAck(envelope_id, payload if isinstance(payload, dict) else None, time.monotonic() - started)
        with self._lock:
            self._acks.append(result)
        return result

    def _debug_info(self) -> dict[str, Any]:
        return {"host": "applink-fake-rok", "build_number": 1, "approximate_connection_time": 18060}

    async def _handle_socket_mode(self, request: web.Request) -> web.StreamResponse:
        ticket = request.query.get("ticket", "")
        with self._lock:
            # Single use: slack_sdk asks apps.connections.open for a fresh URL on every reconnect.
            known = ticket in self._tickets
            self._tickets.discard(ticket)
        if not known:
            return web.Response(status=401, text="invalid_ticket")
        # autoping answers the builtin client's pings; it uses the pong to decide the link is alive.
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        conn = _Connection(ws)
        self._connections.append(conn)
        try:
            await ws.send_json(
                {
                    "type": "hello",
                    "num_connections": len(self._connections),
                    "debug_info": self._debug_info(),
                    "connection_info": {"app_id": self.app_id},
                }
            )
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    self._on_frame(conn, msg.data)
                elif msg.type == WSMsgType.ERROR:
                    break
        except ConnectionResetError:
            pass
        finally:
            self._connections.remove(conn)
            for future in conn.pending.values():
                if not future.done():
                    future.set_exception(ConnectionError("Socket Mode client disconnected before acking"))
        return ws

    def _on_frame(self, conn: _Connection, data: str) -> None:
        try:
            message = json.loads(data)
        except json.JSONDecodeError:
            return
        if not isinstance(message, dict):
            return
        envelope_id = message.get("envelope_id")
        future = conn.pending.get(envelope_id) if isinstance(envelope_id, str) else None
        if future is not None and not future.done():
            future.set_result(message)

    async def _close_sockets(self, app: web.Application) -> None:
        await self._close_all(1001, "server shutdown")


_LIFECYCLE_METHODS: dict[str, Callable[[FakeSlack, dict[str, Any]], dict[str, Any]]] = {
    "views.publish": FakeSlack._views_publish,
    "views.open": FakeSlack._views_open,
    "chat.update": FakeSlack._chat_update,
}
