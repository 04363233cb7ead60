"""The whole outside world on 127.0.0.1, and the real bot in it: for tests, the benchmark and the demo.

`Sandbox` starts the fake cluster (with the fake `rok-fort-manage`), the fake registry and the fake
Slack, writes a kubeconfig and a user map, builds real Settings from them and starts the real
`BotServer` (HTTP or Socket Mode). It then plays the part of Slack: signed slash commands and button
clicks over HTTP, or envelopes over the Socket Mode WebSocket.

`Sandbox(registries=("prod", "staging"))` starts one fake cluster, `rok-fort-manage` and registry per name
(sandbox/clusters.py) and configures the bot with a `ROK_BOT_REGISTRIES` file instead of `ROK_REGISTRY_URL`;
`box.rok_of("prod")`, `box.kube_of("prod")` tell which one did what. Without it: one registry, as always.

The bot and the fake registry share one `ManualClock` (`box.clock`): a reminder, a lapse or a cooldown
comes when the caller advances it (`box.advance(46)`), never by waiting. Replicas started with `spawn()`
are processes of their own: on the machine's clock, or, in a sandbox made with a `SharedClock`, on that one.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import httpx

from bot.runtime.clock import Clock, ManualClock
from bot.settings import Settings, settings_from
from sandbox import slack_requests as sr
from sandbox.clock import SharedClock
from sandbox.clusters import Cluster, RegistrySpec, as_spec, write_world
from sandbox.kube import FakeKube
from sandbox.registry import FakeRegistry
from sandbox.rok import FakeAccount, FakeRok
from sandbox.slack import Call, FakeSlack, ResponsePost, view_problem
from sandbox.slack_org import OrgSpec, PayloadKind, stamp, team_access_event

SIGNING_SECRET = "sandbox-signing-secret-" + "0" * 16
AUDIT_CHANNEL = "C0AUDIT"
APPROVALS_CHANNEL = "C0APPROVALS"  # the bot is in it; a policy's `approvals.channel` may name it
ADMINS_GROUP = "S0ADMINS"
# Alice is an admin and may ask for up to 30 days; quotas are generous so tests can issue freely.
SANDBOX_POLICY = f"""\
limits: {{default: 24h, min: 5m, max: 7d}}
groups:
  - {{usergroup: {ADMINS_GROUP}, name: admins, max: 30d}}
quota: {{per_hour: 1000, cooldown: 0}}
"""
# Every way to a token a user can type a reason into: a command, an approval (U0BOB approves) and break-glass
# (members of S0ONCALL), with a quota that never refuses; for the tests of what typed reasons may reach.
REASONS_POLICY = f"""\
limits: {{default: 24h, min: 5m, max: 7d}}
quota: {{per_hour: 100, cooldown: 0}}
approvals:
  channel: {APPROVALS_CHANNEL}
  approvers: {{users: [U0BOB]}}
  max: 30d
break_glass:
  usergroups: [S0ONCALL]
  max: 4h
"""


@dataclass(frozen=True, slots=True)
class Person:
    """A Slack user of the sandbox workspace."""

    user_id: str
    name: str
    email: str | None = None
    mapped_to: str | None = None  # an entry in the user map
    restricted: bool = False
    is_bot: bool = False
    deleted: bool = False
    # Enterprise Grid (`Sandbox(org=...)`): the person's workspace (None: the first one) and, for a person of
    # another organisation than the install's, that organisation's enterprise ID.
    team_id: str | None = None
    enterprise_id: str | None = None


DEMO_PEOPLE: tuple[Person, ...] = (
    Person("U0JDOE", "jdoe", "jdoe@example.com", mapped_to="jdoe"),
    Person("U0JDOE2", "jdoe2", "jdoe2@example.com", mapped_to="jdoe2"),
    Person("U0ALICE", "alice", "alice@example.com", mapped_to="alice"),
    Person("U0BOB", "bob", "bob@example.com"),  # mapped by email domain
    Person("U0MALLORY", "mallory", "mallory@elsewhere.test"),  # no mapping at all
    Person("U0GUEST", "gary", "gary@example.com", restricted=True),
    Person("U0HUBOT", "hubot", is_bot=True),
)


@dataclass
class Reply:
    """What reached a user privately: the ephemeral DM message or a response_url post."""

    text: str
    blocks: list[dict[str, Any]] = field(default_factory=list)
    via: str = "dm"

    @property
    def verify_value(self) -> str | None:
        for block in self.blocks:
            for element in block.get("elements", []) if block.get("type") == "actions" else []:
                if element.get("action_id") == "verify_token":
                    return str(element.get("value"))
        return None

    @property
    def token(self) -> str | None:
        """The token in the message's code block (the sandbox reads it the way a user copies it)."""
        for block in self.blocks:
            text = (block.get("text") or {}).get("text", "") if block.get("type") == "section" else ""
            if text.startswith("```") and text.endswith("```") and "export" not in text:
                return text.strip("`")
        return None


class Sandbox:
    """Fakes plus the real app. `with Sandbox() as box: box.slash("U0JDOE", "24h")`."""

    def __init__(
        self,
        *,
        socket_mode: bool = False,
        exec_latency: float = 0.0,
        people: tuple[Person, ...] = DEMO_PEOPLE,
        settings: dict[str, str] | None = None,
        policy: str = SANDBOX_POLICY,
        start_bot: bool = True,
        workdir: Path | None = None,
        clock: Clock | None = None,
        registries: Sequence[str | RegistrySpec] | None = None,
        org: OrgSpec | None = None,
    ) -> None:
        self.socket_mode = socket_mode
        self.org = org
        # Org mode only: interactions carry `team: null` (the workspace is then only in `user.team_id`).
        self.org_null_team = False
        self.people = {p.user_id: p for p in people}
        self.clock = clock or ManualClock()
        self.clusters: dict[str, Cluster] = {}
        # Several registries: one cluster each, and the bot reads them from a registries file.
        self.several = bool(registries)
        for spec in map(as_spec, registries or ()):
            if spec.name in self.clusters:
                raise ValueError(f"registry {spec.name!r} is named twice")
            self.clusters[spec.name] = Cluster.of(spec, latency=exec_latency, clock=self.clock.now)
        if not self.clusters:
            rok = FakeRok(latency=exec_latency, clock=self.clock.now)
            self.clusters["default"] = Cluster("default", rok, FakeKube(rok), FakeRegistry(rok))
        # The first registry's fakes: all of them with one registry, as every single-registry test knows them.
        first = next(iter(self.clusters.values()))
        self.rok, self.kube, self.registry = first.rok, first.kube, first.registry
        self.slack = FakeSlack(channels=("C0GENERAL", AUDIT_CHANNEL), org=org)
        self._extra = dict(settings or {})
        self._policy = policy
        self._start_bot = start_bot
        # The kubeconfig, user map and policy go here; a given workdir is the caller's to remove.
        self._own_dir = workdir is None
        self._dir = workdir if workdir is not None else Path(tempfile.mkdtemp(prefix="rok-sandbox-"))
        self.server: Any = None
        self.env: dict[str, str] = {}
        self._http = httpx.Client(timeout=10)
        self._replicas: list[Replica] = []

    # -- lifecycle --------------------------------------------------------------------------------

    def start(self) -> Self:
        for cluster in self.clusters.values():
            cluster.start()
        self.slack.start()
        for person in self.people.values():
            self.slack.add_user(
                person.user_id,
                email=person.email,
                name=person.name,
                is_bot=person.is_bot,
                deleted=person.deleted,
                restricted=person.restricted,
                team_id=person.team_id,
                enterprise_id=person.enterprise_id,
            )
        self.slack.usergroups[ADMINS_GROUP] = ["U0ALICE"]
        for groups in self.slack.team_usergroups.values():
            # An org-wide admins group, shared to every workspace of the organisation.
            groups[ADMINS_GROUP] = ["U0ALICE"]
        self.slack.add_channel(APPROVALS_CHANNEL)
        for channel in sorted({c for cluster in self.clusters.values() for c in cluster.spec.channels}):
            self.slack.add_channel(channel)
        if self.several:
            kubeconfig, registries_file = write_world(list(self.clusters.values()), self._dir)
        else:
            kubeconfig = self.kube.write_kubeconfig(self._dir / "kubeconfig")
        policy = self._dir / "policy.yaml"
        policy.write_text(self._policy, encoding="utf-8")
        user_map = self._dir / "user-map.yaml"
        user_map.write_text(
            "".join(f"{p.user_id}: {p.mapped_to}\n" for p in self.people.values() if p.mapped_to), encoding="utf-8"
        )
        self.env = {
            "KUBECONFIG": str(kubeconfig),
            **(
                {"ROK_BOT_REGISTRIES": str(registries_file)}
                if self.several
                else {"ROK_REGISTRY_URL": self.registry.url}
            ),
            "SLACK_BOT_TOKEN": self.slack.bot_token,
            "SLACK_API_URL": self.slack.api_url,
            "ROK_BOT_SEAL_KEY": secrets.token_urlsafe(32),
            "ROK_BOT_AUDIT_CHANNEL": AUDIT_CHANNEL,
            "ROK_BOT_USER_MAP": str(user_map),
            "ROK_BOT_EMAIL_DOMAINS": "example.com",
            "ROK_BOT_SUPPORT_CONTACT": "#platform-help",
            "ROK_BOT_PORT": "0",
            "ROK_BOT_BIND": "127.0.0.1",
            "ROK_BOT_EXEC_TIMEOUT": "10s",
            "ROK_BOT_POLICY": str(policy),
            # Each sandbox has its own SQLite store (the ledger, the outbox), gone with the sandbox.
            "ROK_BOT_DATA_DIR": str(self._dir / "state"),
        }
        if self.socket_mode:
            self.env["SLACK_APP_TOKEN"] = self.slack.app_token
        else:
            self.env["SLACK_SIGNING_SECRET"] = SIGNING_SECRET
        self.env.update(self._extra)
        if self._start_bot:
            self.start_bot()
        return self

    def settings(self) -> Settings:
        return settings_from(self.env)

    def start_bot(self) -> Any:
        from bot.bootstrap import build_server

        self.server = build_server(self.settings(), clock=self.clock).start(auth_attempts=3)
        if self.socket_mode:
            self.slack.wait_for_connection(timeout=10)
        return self.server

    def spawn(self, *, cwd: Path | None = None, **overrides: str) -> Replica:
        """The real `rok-token-bot serve` in a process of its own, on these fakes (a replica)."""
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(self._dir),
            **self.env,
            "ROK_BOT_SECRETS_DIR": str(self._dir / "no-secrets"),
            **overrides,
        }
        # On a shared clock, `serve` through `sandbox.replica`, which reads the time the test sets.
        command = ["-m", "bot", "serve"]
        if isinstance(self.clock, SharedClock):
            command = ["-m", "sandbox.replica"]
            env["ROK_SANDBOX_CLOCK"] = str(self.clock.path)
        proc = subprocess.Popen(
            [sys.executable, *command],
            env=env,
            cwd=cwd or self._dir,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        replica = Replica(proc)
        self._replicas.append(replica)
        return replica

    def stop(self) -> None:
        for replica in self._replicas:
            replica.kill()
        if self.server is not None:
            self.server.stop(drain_timeout=10)
            self.server = None
        self.slack.stop()
        for cluster in self.clusters.values():
            cluster.stop()
        self._http.close()
        if self._own_dir:
            shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- several registries -----------------------------------------------------------------------

    def cluster(self, name: str) -> Cluster:
        """One registry's fakes (`default` in a single-registry sandbox); KeyError naming the others."""
        try:
            return self.clusters[name]
        except KeyError:
            raise KeyError(f"no registry {name!r} in this sandbox (it has: {', '.join(self.clusters)})") from None

    def rok_of(self, name: str) -> FakeRok:
        """The `rok-fort-manage` and token store of one registry: `box.rok_of("prod").minted`."""
        return self.cluster(name).rok

    def kube_of(self, name: str) -> FakeKube:
        """The Kubernetes API server of one registry's cluster: `box.kube_of("prod").execs`."""
        return self.cluster(name).kube

    def registry_of(self, name: str) -> FakeRegistry:
        """The Rok Registry (the Verify endpoint) of one registry: `box.registry_of("prod").requests`."""
        return self.cluster(name).registry

    def minted_by(self, token: str) -> str | None:
        """The name of the registry that minted this token (live or expired), or None: none of them did."""
        for name, cluster in self.clusters.items():
            if any(record.token == token for record in list(cluster.rok.minted)):
                return name
        return None

    def add_accounts(self, accounts: Sequence[FakeAccount], *, registries: Sequence[str] | None = None) -> None:
        """Give these Rok accounts to every registry (or to those named), each with UUIDs of its own when there
        are several registries."""
        from sandbox.clusters import accounts_of

        for name in registries or list(self.clusters):
            own = accounts_of(name, accounts) if self.several else list(accounts)
            self.rok_of(name).accounts.extend(own)

    @contextmanager
    def hang(self, name: str) -> Iterator[threading.Event]:
        """Every exec in this registry's pod hangs (account-list and token-create) until the block ends (or the
        event is set): the registry is down in the way that costs a bot the most, an exec that never answers.
        The others are untouched. No wall-clock wait: the held execs go on when released."""
        rok = self.rok_of(name)
        released = threading.Event()
        rok.hold_commands, rok.hold = frozenset({"account-list", "token-create"}), released
        try:
            yield released
        finally:
            released.set()
            rok.hold, rok.hold_commands = None, frozenset({"token-create"})

    @property
    def url(self) -> str:
        assert self.server is not None
        return str(self.server.url)

    def idle(self, timeout: float = 10.0) -> Any:
        """Wait until the in-process bot has no post-ack work in flight (a token just delivered is settled in the
        ledger, a refusal answered is audited, right after); the bot, or None when there is none."""
        bot = getattr(self.server, "bot", None)
        if bot is not None:
            self.slack.wait_for(lambda: bot.jobs.in_flight == 0 and bot.ui_jobs.in_flight == 0, timeout)
        return bot

    def advance(self, seconds: float) -> datetime:
        """Move the bot's and the registry's clock forward: what falls due by then (a reminder, a lapse, the
        crash sweep) has happened when this returns. The new time."""
        bot = self.idle()  # work under way finishes first, as it would while real time passed
        if not isinstance(self.clock, ManualClock | SharedClock):
            raise TypeError("this sandbox runs on the machine's clock: it cannot be advanced")
        now = self.clock.advance(seconds)
        if bot is not None and not bot.upkeep.settle(10):
            raise TimeoutError("the bot's upkeep did not finish the rounds the clock made due")
        return now

    # -- playing Slack ----------------------------------------------------------------------------

    def slash(
        self,
        user_id: str,
        text: str = "",
        *,
        team_id: str | None = None,
        enterprise_id: str | None = None,
        secret: str | None = None,
        timestamp: int | None = None,
        channel_id: str = "C0GENERAL",
    ) -> tuple[int, dict[str, Any] | None, str]:
        """Send `/rok-token text` as Slack would, typed in `channel_id`; returns (HTTP status, ack body, the
        response_url used)."""
        response_url = self.slack.new_response_url()
        fields = sr.slash_command(
            user_id=user_id,
            text=text,
            team_id=team_id or self.team_of(user_id),
            response_url=response_url,
            enterprise_id=enterprise_id,
            channel_id=channel_id,
        )
        self._stamp("slash", fields, user_id, team_id=team_id, enterprise_id=enterprise_id)
        if self.socket_mode:
            ack = self.slack.send_envelope("slash_commands", fields, timeout=10)
            return 200, ack.payload, response_url
        body = sr.form_body(fields)
        response = sr.signed_post(
            self.url + "/slack/events", body, secret or SIGNING_SECRET, timestamp, client=self._http
        )
        return response.status_code, _json_or_none(response), response_url

    def click(
        self,
        user_id: str,
        value: str,
        *,
        action_id: str = "verify_token",
        team_id: str | None = None,
        secret: str | None = None,
    ) -> tuple[int, str]:
        """Click a button as Slack would; returns (HTTP status, the click's response_url)."""
        response_url = self.slack.new_response_url()
        payload = sr.block_actions(
            user_id=user_id,
            team_id=team_id or self.team_of(user_id),
            action_id=action_id,
            value=value,
            response_url=response_url,
        )
        self._stamp("interactive", payload, user_id, team_id=team_id)
        if self.socket_mode:
            self.slack.send_envelope("interactive", payload, timeout=10)
            return 200, response_url
        body = sr.interactivity_body(payload)
        response = sr.signed_post(self.url + "/slack/events", body, secret or SIGNING_SECRET, client=self._http)
        return response.status_code, response_url

    # -- the approvals channel -------------------------------------------------------------------

    def approval_posts(self) -> list[Call]:
        """The messages posted to the approvals channel (requests and break-glass notices)."""
        return [c for c in self.slack.calls_to("chat.postMessage") if c.params.get("channel") == APPROVALS_CHANNEL]

    def wait_approval_request(self, *, count: int = 1, timeout: float = 10.0) -> ApprovalMessage:
        """Wait for the `count`-th request posted to the approvals channel (the newest when more)."""

        def enough() -> list[Call]:
            found = [c for c in self.approval_posts() if c.ok and _button(c.params, "approval_approve") is not None]
            return found if len(found) >= count else []

        call = self.slack.wait_for(enough, timeout)[-1]
        return ApprovalMessage(call.params, str(call.response.get("ts")))

    def decide(
        self,
        user_id: str,
        message: ApprovalMessage,
        *,
        approve: bool = True,
        seconds: int | None = None,
        note: str | None = None,
        value: str | None = None,
        secret: str | None = None,
    ) -> tuple[int, str]:
        """Click Approve (with a duration picked in the message) or Deny (with a note) as Slack would."""
        payload = self.decision_payload(user_id, message, approve=approve, seconds=seconds, note=note, value=value)
        return self.post_interaction(payload, secret)

    def decision_payload(
        self,
        user_id: str,
        message: ApprovalMessage,
        *,
        approve: bool = True,
        seconds: int | None = None,
        note: str | None = None,
        value: str | None = None,
    ) -> dict[str, Any]:
        """The block_actions payload of an Approve or Deny click on an approvals message."""
        action_id = "approval_approve" if approve else "approval_deny"
        state: dict[str, Any] = {}
        if seconds is not None:
            option = {"text": {"type": "plain_text", "text": str(seconds)}, "value": str(seconds)}
            state["approval_seconds"] = {"seconds": {"type": "static_select", "selected_option": option}}
        if note is not None:
            state["approval_note"] = {"note": {"type": "plain_text_input", "value": note}}
        payload = sr.block_actions(
            user_id=user_id,
            team_id=self.team_of(user_id),
            action_id=action_id,
            value=value if value is not None else message.request_value,
            response_url=self.slack.new_response_url(),
            block_id="approval_decide",
            channel_id=APPROVALS_CHANNEL,
            message_ts=message.ts,
            state=state,
            is_ephemeral=False,
        )
        return self._stamp("interactive", payload, user_id)

    def post_interaction(self, payload: dict[str, Any], secret: str | None = None) -> tuple[int, str]:
        """Deliver a block_actions payload (HTTP or Socket Mode); (HTTP status, its response_url)."""
        if self.socket_mode:
            self.slack.send_envelope("interactive", payload, timeout=10)
            return 200, str(payload["response_url"])
        body = sr.interactivity_body(payload)
        response = sr.signed_post(self.url + "/slack/events", body, secret or SIGNING_SECRET, client=self._http)
        return response.status_code, str(payload["response_url"])

    # -- what users saw ---------------------------------------------------------------------------

    def private_messages(self, user_id: str) -> list[Call]:
        return [c for c in self.slack.calls_to("chat.postEphemeral") if c.params.get("user") == user_id]

    def wait_private(self, user_id: str, *, count: int = 1, timeout: float = 10.0) -> list[Reply]:
        """Wait for `count` ephemeral DM messages to a user."""

        def enough() -> list[Call]:
            found = self.private_messages(user_id)
            return found if len(found) >= count else []

        calls = self.slack.wait_for(enough, timeout)
        return [Reply(str(c.params.get("text", "")), list(c.params.get("blocks") or []), "dm") for c in calls]

    def replies_to(self, response_url: str) -> list[Reply]:
        posts: list[ResponsePost] = [r for r in self.slack.responses if response_url.endswith("/" + r.id)]
        return [Reply(str(p.body.get("text", "")), list(p.body.get("blocks") or []), "response_url") for p in posts]

    def wait_reply(self, response_url: str, *, timeout: float = 10.0) -> Reply:
        """Wait for the first post to a response_url."""

        return self.slack.wait_for(lambda: self.replies_to(response_url), timeout)[0]

    def audit_posts(self) -> list[Call]:
        return [c for c in self.slack.calls_to("chat.postMessage") if c.params.get("channel") == AUDIT_CHANNEL]

    def audit_lines(self, outcome: str | None = None) -> list[AuditLine]:
        """Every event line posted to the audit channel (a post batches several), optionally of one outcome."""
        lines = [line for call in self.audit_posts() if call.ok for line in audit_lines(call)]
        return [line for line in lines if outcome is None or line.outcome == outcome]

    def audit_count(self, outcome: str) -> int:
        """How many events of one outcome the audit channel shows, merged repeats counted."""
        return sum(line.repeated for line in self.audit_lines(outcome))

    def wait_audit(self, outcome: str, *, count: int = 1, timeout: float = 10.0) -> list[Call]:
        """Wait until `count` events of one outcome were posted; returns the posts that carry them."""

        def enough() -> list[Call]:
            bot = getattr(self.server, "bot", None)
            if bot is not None:  # refusals linger a few seconds to merge: not here
                bot.store.outbox.expedite(now=self.clock.now())
                for sender in bot.senders:
                    sender.wake()
            if self.audit_count(outcome) < count:
                return []
            return [c for c in self.audit_posts() if c.ok and any(ln.outcome == outcome for ln in audit_lines(c))]

        return self.slack.wait_for(enough, timeout)

    # -- the token's life in Slack: the Home tab, the modal, reminders ----------------------------

    def _deliver(self, envelope_type: str, payload: dict[str, Any], body: str, *, json_body: bool = False) -> Any:
        """Send a payload as Slack would in this mode; the ack's payload (Socket Mode) or JSON body (HTTP)."""
        if self.socket_mode:
            return self.slack.send_envelope(envelope_type, payload, timeout=10).payload
        post = sr.signed_json_post if json_body else sr.signed_post
        response = post(self.url + "/slack/events", body, SIGNING_SECRET, client=self._http)
        assert response.status_code == 200, f"the bot answered HTTP {response.status_code}: {response.text[:200]}"
        return _json_or_none(response)

    def open_home(self, user_id: str) -> None:
        """The user opens the app's Home tab: Slack sends `app_home_opened` (Events API, or over Socket Mode)."""
        event = sr.app_home_opened(
            user_id=user_id,
            team_id=self.team_of(user_id),
            channel_id=self.slack.dm_channel(user_id),
            view=self.slack.home_view(user_id),
        )
        self._stamp("event", event, user_id)
        self._deliver("events_api", event, sr.json_body(event), json_body=True)

    def home_publishes(self, user_id: str) -> list[Call]:
        """Every views.publish of a user's Home tab so far."""
        return [c for c in self.slack.calls_to("views.publish") if c.params.get("user_id") == user_id]

    def wait_home(self, user_id: str, *, count: int = 1, timeout: float = 10.0) -> dict[str, Any]:
        """Wait for the `count`-th views.publish of a user's Home tab; the view as Slack stores it."""

        def enough() -> dict[str, Any]:
            if len([c for c in self.home_publishes(user_id) if c.ok]) < count:
                return {}
            return self.slack.home_view(user_id) or {}

        return self.slack.wait_for(enough, timeout)

    def click_view(
        self, user_id: str, view: dict[str, Any], action_id: str, *, value: str | None = None
    ) -> dict[str, Any]:
        """Click a button in a view (the Home tab): found by action_id (and value), as the user sees it."""
        block_id = _find_button(view.get("blocks") or [], action_id, value)
        payload = sr.view_block_actions(
            user_id=user_id,
            team_id=self.team_of(user_id),
            view=view,
            action_id=action_id,
            value=value,
            block_id=block_id,
        )
        self._stamp("interactive", payload, user_id)
        self.slack.register_trigger(payload["trigger_id"], user_id)
        self._deliver("interactive", payload, sr.interactivity_body(payload))
        return payload

    def modals(self, user_id: str) -> list[dict[str, Any]]:
        """The views opened for a user (views.open), oldest first, as Slack stores them."""
        return self.slack.opened_views(user_id)

    def wait_modal(self, user_id: str, *, count: int = 1, timeout: float = 10.0) -> dict[str, Any]:
        """Wait for the `count`-th modal opened for a user; that view."""
        return self.slack.wait_for(lambda: (self.modals(user_id)[count - 1 :] or [{}])[0], timeout)

    def submit_view(
        self, user_id: str, view: dict[str, Any], values: dict[str, dict[str, dict[str, Any]]]
    ) -> dict[str, Any] | None:
        """Submit a modal with these input values; the ack (`response_action` errors/update, or None: closed).

        A view the ack sends back (`update`) is checked as Slack would check it, into `slack.block_errors`.
        """
        payload = sr.view_submission(user_id=user_id, team_id=self.team_of(user_id), view=view, values=values)
        self._stamp("interactive", payload, user_id)
        ack = self._deliver("interactive", payload, sr.interactivity_body(payload))
        if isinstance(ack, dict) and isinstance(ack.get("view"), dict):
            problem = view_problem(ack["view"])
            if problem is not None:
                self.slack.block_errors.append(problem)
        return ack if isinstance(ack, dict) and ack else None

    def dm_messages(self, user_id: str) -> list[dict[str, Any]]:
        """The persistent messages the bot posted in its DM with a user, as they read now (edits applied)."""
        return self.slack.messages_in(self.slack.dm_channel(user_id))

    def show_token_messages(self, user_id: str) -> list[dict[str, Any]]:
        """The user's approval messages that still offer Show my token (the bot's DM, as it reads now)."""
        return [m for m in self.dm_messages(user_id) if _button(m, "approval_show_token") is not None]

    def show_my_token(self, user_id: str, *, as_user: str | None = None, timeout: float = 10.0) -> str:
        """Wait for the newest approval message with Show my token in `user_id`'s DM and click it (as `as_user`
        when given: someone else's click); the click's response_url."""
        message = self.slack.wait_for(lambda: self.show_token_messages(user_id), timeout)[-1]
        return self.click_message(as_user or user_id, message, "approval_show_token")

    def click_message(self, user_id: str, message: dict[str, Any], action_id: str) -> str:
        """Click a button of a persistent message (a reminder) as `user_id`; the click's response_url."""
        value = None
        for block in message.get("blocks") or []:
            for element in block.get("elements", []) if block.get("type") == "actions" else []:
                if element.get("action_id") == action_id:
                    value, block_id = str(element.get("value", "")), str(block.get("block_id", ""))
        assert value is not None, f"no {action_id} button in that message"
        response_url = self.slack.new_response_url()
        payload = sr.message_block_actions(
            user_id=user_id,
            team_id=self.team_of(user_id),
            channel_id=str(message["channel"]),
            message={k: v for k, v in message.items() if k != "channel"},
            action_id=action_id,
            value=value,
            block_id=block_id,
            response_url=response_url,
        )
        self._stamp("interactive", payload, user_id)
        self.slack.register_trigger(payload["trigger_id"], user_id)
        self._deliver("interactive", payload, sr.interactivity_body(payload))
        return response_url

    # -- Enterprise Grid: an org-wide install ------------------------------------------------------

    def team_of(self, user_id: str) -> str:
        """The workspace a user acts from: their `Person.team_id`, else the fake's (first) workspace."""
        person = self.people.get(user_id)
        return (person.team_id if person else None) or self.slack.team_id

    def enterprise_of(self, user_id: str) -> str | None:
        """The organisation a user belongs to: their `Person.enterprise_id`, else the install's (None: no Grid)."""
        person = self.people.get(user_id)
        return (person.enterprise_id if person else None) or self.slack.enterprise_id

    def _stamp(
        self,
        kind: PayloadKind,
        payload: dict[str, Any],
        user_id: str,
        *,
        team_id: str | None = None,
        enterprise_id: str | None = None,
    ) -> dict[str, Any]:
        """Give a payload the enterprise fields an org-wide install receives; unchanged for a workspace install."""
        if self.org is None:
            return payload
        return stamp(
            kind,
            payload,
            enterprise_id=enterprise_id or self.enterprise_of(user_id) or self.org.enterprise_id,
            team_id=team_id or self.team_of(user_id),
            bot_user_id=self.slack.bot_user_id,
            enterprise_name=self.org.name,
            null_team=self.org_null_team,
        )

    def grant_team(self, *team_ids: str) -> Any:
        """An org admin adds the app to workspaces: `auth.teams.list` shows them and the bot gets
        `team_access_granted`; the ack payload (Socket Mode) or JSON body (HTTP)."""
        self.slack.set_teams([*self.slack.granted_teams, *(t for t in team_ids if t not in self.slack.granted_teams)])
        return self._team_access(True, list(team_ids))

    def revoke_team(self, *team_ids: str) -> Any:
        """An org admin removes the app from workspaces: `auth.teams.list` drops them, user-group calls naming
        them answer `team_access_not_granted`, and the bot gets `team_access_revoked`."""
        self.slack.set_teams([t for t in self.slack.granted_teams if t not in team_ids])
        return self._team_access(False, list(team_ids))

    def _team_access(self, granted: bool, team_ids: list[str]) -> Any:
        if self.org is None:
            raise RuntimeError("team access events go to an org-wide install: Sandbox(org=OrgSpec(...))")
        event = team_access_event(
            granted, team_ids, enterprise_id=self.org.enterprise_id, bot_user_id=self.slack.bot_user_id
        )
        return self._deliver("events_api", event, sr.json_body(event), json_body=True)

    def usergroup_calls(self, method: str = "usergroups.users.list") -> list[tuple[str | None, str | None]]:
        """(usergroup, team_id) of every user-group call the bot made, in order, to assert the workspace named."""
        return [(c.params.get("usergroup"), c.params.get("team_id")) for c in self.slack.calls_to(method)]


def _find_button(blocks: list[dict[str, Any]], action_id: str, value: str | None) -> str:
    """The block_id of the first button with this action_id (and value, when given)."""
    for block in blocks:
        elements = list(block.get("elements") or []) if block.get("type") == "actions" else []
        if isinstance(block.get("accessory"), dict):
            elements.append(block["accessory"])
        for element in elements:
            if element.get("action_id") == action_id and (value is None or element.get("value") == value):
                return str(block.get("block_id", ""))
    raise AssertionError(f"no {action_id} button{f' with value {value!r}' if value else ''} in that view")


@dataclass(frozen=True)
class ApprovalMessage:
    """A request as posted to the approvals channel: its parameters and its ts."""

    params: dict[str, Any]
    ts: str

    @property
    def request_value(self) -> str:
        """The Approve button's value (the pending request's ID)."""
        value = _button(self.params, "approval_approve")
        assert value is not None
        return value

    @property
    def text(self) -> str:
        """Everything the message says (its fallback and every block), for assertions."""
        return json.dumps(self.params.get("blocks") or []) + str(self.params.get("text", ""))


def _button(params: dict[str, Any], action_id: str) -> str | None:
    for block in params.get("blocks") or []:
        for element in block.get("elements", []) if block.get("type") == "actions" else []:
            if element.get("action_id") == action_id:
                return str(element.get("value"))
    return None


class Replica:
    """A `serve` process: its URL once it listens, SIGTERM with the exit code, and its stderr."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self._stderr: list[str] = []
        self._drain = threading.Thread(target=lambda: self._stderr.extend(proc.stderr or []), daemon=True)
        self._drain.start()
        line: list[str] = []
        reader = threading.Thread(target=lambda: line.append(proc.stdout.readline() if proc.stdout else ""))
        reader.start()
        reader.join(60)
        if not line or not line[0]:
            self.kill()
            raise RuntimeError("serve did not start: " + "".join(self._stderr[-20:]))
        self.url = str(json.loads(line[0])["listening"])

    @property
    def stderr(self) -> str:
        return "".join(self._stderr)

    def terminate(self, timeout: float = 30.0) -> int:
        """SIGTERM: drain and exit; the exit code."""
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=timeout)
        self._drain.join(5)
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@dataclass(frozen=True, slots=True)
class AuditLine:
    """One event line of an audit channel post: its facts, its IDs, and how many events it merges."""

    outcome: str
    facts: str
    ids: str
    repeated: int = 1


_OUTCOME = re.compile(r"\*([a-z_]+)\*(?: (\d+) times in)?")


def audit_lines(call: Call) -> list[AuditLine]:
    """The event lines of one audit post: each is a section (facts) followed by a context (IDs)."""
    blocks = [b for b in call.params.get("blocks") or [] if isinstance(b, dict)]
    lines: list[AuditLine] = []
    for i, block in enumerate(blocks):
        if block.get("type") != "section":
            continue
        facts = str((block.get("text") or {}).get("text", ""))
        match = _OUTCOME.search(facts)
        if match is None:
            continue
        after = blocks[i + 1] if i + 1 < len(blocks) else {}
        ids = " ".join(str(e.get("text", "")) for e in after.get("elements", []) if isinstance(e, dict))
        lines.append(AuditLine(match.group(1), facts, ids, int(match.group(2) or 1)))
    return lines


def _json_or_none(response: httpx.Response) -> dict[str, Any] | None:
    try:
        data = response.json()
    except ValueError:
        return None
    return data if isinstance(data, dict) else None
