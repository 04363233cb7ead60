"""CPU per ack inside the process, no HTTP: a minimal Bolt app beside the bot's own app.

    .venv/bin/python -m bench.dispatch                  # 5 batches of 200 signed /rok-token each
    .venv/bin/python -m bench.dispatch --batches 9 --batch 400

Both apps get the same signed slash commands through `App.dispatch`, on this thread, one after the other:
- **minimal Bolt**: an `App` with one `/rok-token` listener that only acks (signature check, Bolt's
  built-in middleware, `process_before_response` as the bot runs it);
- **the bot**: the real app from `build_server` on the sandbox's fakes, through `dispatch_http` (what the
  HTTP handler calls), with post-ack work held (`Jobs.hold()`) so only the ack path is timed. Every answer
  must be the "Checking your request" ack.

The figure is the thread's CPU time per request, the median over batches (min-max beside it). Times 200,
it is the part of a 200-command burst's last ack that no server, socket or scheduler can remove: the
ack p99 at 200 (bench.run) cannot be lower than the no-op floor plus this.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from slack_bolt import Ack, App, BoltRequest
from slack_sdk import WebClient

import sandbox.slack_requests as sr
from bot.slack.server import dispatch_http
from sandbox.rok import generate_accounts
from sandbox.slack import FakeSlack, wait_for
from sandbox.world import SIGNING_SECRET, Person, Sandbox

Signed = tuple[str, dict[str, list[str]]]


def signed_commands(slack: FakeSlack, users: list[str]) -> list[Signed]:
    out = []
    for user in users:
        fields = sr.slash_command(user_id=user, text="1h", team_id=slack.team_id, response_url=slack.new_response_url())
        body = sr.form_body(fields)
        headers = {k.lower(): [v] for k, v in sr.sign(SIGNING_SECRET, body).items()}
        headers["content-type"] = ["application/x-www-form-urlencoded"]
        out.append((body, headers))
    return out


def cpu_per_request(requests: list[Signed], dispatch: Callable[[Signed], None]) -> float:
    """Seconds of this thread's CPU per request."""
    started = time.thread_time()
    for request in requests:
        dispatch(request)
    return (time.thread_time() - started) / len(requests)


@contextmanager
def minimal_app() -> Iterator[tuple[App, FakeSlack]]:
    slack = FakeSlack(channels=("C0GENERAL",))
    slack.start()
    try:
        app = App(
            client=WebClient(token=slack.bot_token, base_url=slack.api_url),
            signing_secret=SIGNING_SECRET,
            process_before_response=True,
        )

        @app.command("/rok-token")
        def on_command(ack: Ack) -> None:
            ack("Checking your request")

        yield app, slack
    finally:
        slack.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=5)
    parser.add_argument("--batch", type=int, default=200, help="requests per batch (200)")
    args = parser.parse_args()
    n = args.batch
    results: dict[str, list[float]] = {"minimal Bolt": [], "the bot": []}

    with minimal_app() as (app, slack):
        users = [f"U0D{i:05d}" for i in range(n)]

        def bolt(request: Signed) -> None:
            response = app.dispatch(BoltRequest(body=request[0], headers=request[1]))
            assert response.status == 200, response.status

        cpu_per_request(signed_commands(slack, users[:20]), bolt)  # warm
        for _ in range(args.batches):
            results["minimal Bolt"].append(cpu_per_request(signed_commands(slack, users), bolt))

    accounts = generate_accounts(n, prefix="disp")
    people = tuple(Person(f"U0D{i:05d}", a.username, a.email, mapped_to=a.username) for i, a in enumerate(accounts))
    settings = {"ROK_BOT_LOG_LEVEL": "WARNING", "ROK_BOT_MAX_CONCURRENT_EXECS": "16"}
    with Sandbox(people=people, settings=settings) as box:
        box.rok.accounts.extend(accounts)
        bot = box.server.bot

        def ours(request: Signed) -> None:
            response = dispatch_http(bot.app, request[0], "", dict(request[1]))
            assert "Checking your request" in str(response.body), response.body

        for index in range(args.batches + 1):
            requests = signed_commands(box.slack, [p.user_id for p in people])
            with bot.jobs.hold():
                cpu = cpu_per_request(requests, ours)
            if index:  # the first batch warms the caches
                results["the bot"].append(cpu)
            wait_for(lambda: bot.jobs.in_flight == 0, 120)  # let the held work finish outside the clock

    print(f"CPU per ack, {args.batches} batches of {n} signed /rok-token through App.dispatch (median, min-max):")
    for name, values in results.items():
        med = statistics.median(values) * 1e6
        print(
            f"  {name:<13} {med:6.0f} us  ({min(values) * 1e6:.0f}-{max(values) * 1e6:.0f});"
            f" x {n} = {med * n / 1000:.1f} ms"
        )


if __name__ == "__main__":
    main()
