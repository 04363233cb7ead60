"""A no-op Socket Mode app: the floor for Socket Mode ack latency on this machine with the same driver and burst.

`python -m bench.floor_socket` (SLACK_APP_TOKEN and SLACK_API_URL from the environment) connects with the
bot's own client (`NoDelaySocketModeClient`: slack_sdk's built-in client with TCP_NODELAY) and acks every
envelope at once with a small payload, without Bolt; the distance between its numbers and the bot's is what
Bolt and the bot's ack path cost in Socket Mode.
"""

from __future__ import annotations

import os
import signal
import threading

from slack_sdk import WebClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse

from bot.slack.socket import NoDelaySocketModeClient

PAYLOAD = {"response_type": "ephemeral", "text": "Checking your request for a token"}


def _ack(client: NoDelaySocketModeClient, req: SocketModeRequest) -> None:
    client.send_socket_mode_response(SocketModeResponse(envelope_id=req.envelope_id, payload=PAYLOAD))


def main() -> None:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    web = WebClient(token="xoxb-floor", base_url=os.environ["SLACK_API_URL"])
    client = NoDelaySocketModeClient(app_token=os.environ["SLACK_APP_TOKEN"], web_client=web, concurrency=16)
    client.socket_mode_request_listeners.append(_ack)  # type: ignore[arg-type]
    client.connect()
    while not stop.wait(0.2):
        pass
    client.close()


if __name__ == "__main__":
    main()
