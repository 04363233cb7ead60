"""Two registries from one bot, end to end: two fake clusters and two fake registries behind the real Bolt app
(HTTP mode). prod is reached through KUBECONFIG and is the default of #prodops; staging has a kubeconfig of its
own. A request reaches the registry it names, its channel's, or a chooser; Verify asks the registry that minted."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from sandbox import slack_requests as sr
from sandbox.kube import FakeKube
from sandbox.registry import FakeRegistry
from sandbox.rok import FakeRok
from sandbox.world import SIGNING_SECRET, Reply, Sandbox

PROD_CHANNEL = "C0PRODOPS"


@dataclass
class TwoRegistries:
    """The sandbox (prod: its own fakes) and staging's cluster and registry."""

    box: Sandbox
    rok: FakeRok
    kube: FakeKube
    registry: FakeRegistry

    def slash(self, user_id: str, text: str, *, channel: str = "C0GENERAL") -> tuple[dict[str, Any] | None, str]:
        """`/rok-token text` from `channel`; (the ack, the response_url)."""
        response_url = self.box.slack.new_response_url()
        fields = sr.slash_command(
            user_id=user_id,
            text=text,
            team_id=self.box.slack.team_id,
            response_url=response_url,
            channel_id=channel,
        )
        with httpx.Client(timeout=10) as client:
            response = sr.signed_post(
                self.box.url + "/slack/events", sr.form_body(fields), SIGNING_SECRET, client=client
            )
        assert response.status_code == 200
        return (response.json() if response.content else None), response_url

    def token_of(self, user_id: str, count: int) -> Reply:
        reply = self.box.wait_private(user_id, count=count)[-1]
        assert reply.token is not None
        return reply


@pytest.fixture(scope="module")
def two() -> Iterator[TwoRegistries]:
    box = Sandbox(start_bot=False)
    box.start()
    rok = FakeRok(clock=box.clock.now)
    kube, registry = FakeKube(rok), FakeRegistry(rok)
    kube.start()
    registry.start()
    try:
        workdir = box.settings().data_dir.parent
        kubeconfig = kube.write_kubeconfig(workdir / "kubeconfig-staging")
        registries = workdir / "registries.yaml"
        registries.write_text(
            "registries:\n"
            f"  - name: prod\n    title: Production\n    url: {box.registry.url}\n    channels: [{PROD_CHANNEL}]\n"
            f"  - name: staging\n    url: {registry.url}\n    kubeconfig: {kubeconfig}\n",
            encoding="utf-8",
        )
        box.env.pop("ROK_REGISTRY_URL")
        box.env["ROK_BOT_EXEC_TIMEOUT"] = "2s"  # a hung exec (the watchdog is real time) ends soon
        box.env["ROK_BOT_REGISTRIES"] = str(registries)
        box.start_bot()
        yield TwoRegistries(box, rok, kube, registry)
    finally:
        box.stop()
        registry.stop()
        kube.stop()


def test_a_named_registry_mints_in_its_cluster_only(two: TwoRegistries) -> None:
    before = len(two.box.private_messages("U0JDOE"))
    ack, _ = two.slash("U0JDOE", "staging 2h deploy")
    assert ack is not None and "Checking" in ack["text"]
    reply = two.token_of("U0JDOE", before + 1)
    assert two.rok.lookup(reply.token or "") is not None
    assert two.box.rok.lookup(reply.token or "") is None
    assert "*Registry:* staging" in str(reply.blocks)
    line = two.box.wait_audit("issued")[-1]
    assert "`staging`" in str(line.params)


def test_the_channel_default_and_the_flag(two: TwoRegistries) -> None:
    before = len(two.box.private_messages("U0JDOE"))
    two.slash("U0JDOE", "1h", channel=PROD_CHANNEL)
    reply = two.token_of("U0JDOE", before + 1)
    assert two.box.rok.lookup(reply.token or "") is not None
    two.slash("U0JDOE", "1h --registry staging", channel=PROD_CHANNEL)
    reply = two.token_of("U0JDOE", before + 2)
    assert two.rok.lookup(reply.token or "") is not None


def test_a_chooser_then_its_click(two: TwoRegistries) -> None:
    minted = (len(two.box.rok.minted), len(two.rok.minted))
    ack, response_url = two.slash("U0JDOE", "3h training")
    assert ack is not None
    chooser = two.box.wait_reply(response_url)
    assert "Nothing is created until you choose" in chooser.text
    buttons = [e for b in chooser.blocks if b.get("type") == "actions" for e in b["elements"]]
    assert [b["text"]["text"] for b in buttons] == ["Production (prod)", "staging"]
    two.box.idle()
    assert (len(two.box.rok.minted), len(two.rok.minted)) == minted  # nothing until a click
    before = len(two.box.private_messages("U0JDOE"))
    two.box.click("U0JDOE", buttons[1]["value"], action_id=buttons[1]["action_id"])
    reply = two.token_of("U0JDOE", before + 1)
    record = two.rok.lookup(reply.token or "")
    assert record is not None and (record.expires_at - record.created_at).total_seconds() == 3 * 3600


def test_an_unknown_name_is_refused_and_nothing_runs_in_any_cluster(two: TwoRegistries) -> None:
    minted = (len(two.box.rok.minted), len(two.rok.minted))
    _, response_url = two.slash("U0JDOE", "--registry nope 2h")
    reply = two.box.wait_reply(response_url)
    assert '"nope" is not a registry you may use; you may use prod or staging.' in reply.text
    two.box.idle()
    assert (len(two.box.rok.minted), len(two.rok.minted)) == minted


def test_verify_asks_the_registry_that_minted(two: TwoRegistries) -> None:
    before = len(two.box.private_messages("U0JDOE"))
    two.slash("U0JDOE", "staging 1h")
    reply = two.token_of("U0JDOE", before + 1)
    asked = (two.box.registry.requests, two.registry.requests)
    _, response_url = two.box.click("U0JDOE", reply.verify_value or "")
    answer = two.box.wait_reply(response_url)
    assert "valid" in answer.text.lower()
    assert (two.box.registry.requests, two.registry.requests) == (asked[0], asked[1] + 1)


def test_one_registry_hanging_leaves_the_other_serving_in_normal_time(two: TwoRegistries) -> None:
    two.kube.exec_fault = "hang"
    try:
        stuck = len(two.box.private_messages("U0ALICE"))
        _, stuck_url = two.slash("U0ALICE", "staging 1h")
        before = len(two.box.private_messages("U0JDOE"))
        started = time.perf_counter()
        two.slash("U0JDOE", "prod 1h")
        two.token_of("U0JDOE", before + 1)
        assert time.perf_counter() - started < 1.5  # staging's exec holds for 2 s; prod never waits for it
        assert len(two.box.private_messages("U0ALICE")) == stuck
        answer = two.box.wait_reply(stuck_url, timeout=10)  # the hung exec ends at its timeout, told
        assert answer.text.startswith("Registry staging: ") and "too long" in answer.text
    finally:
        two.kube.exec_fault = None
        two.box.idle()
