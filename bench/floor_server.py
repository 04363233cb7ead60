"""A no-op HTTP server: the floor for ack latency on this machine with the same client and burst.

`python -m bench.floor_server PORT [--server bot|aiohttp]` answers every POST /slack/events at once with a small
JSON body. `bot` (the default) is the bot's own listener (`bot.runtime.http`: asyncio streams and h11) on a loop
thread, as `serve` runs it; `aiohttp` is aiohttp's server, which the bot used until issue 26. The distance between
the floor's numbers and the bot's is what the bot's own ack path (Bolt, the guard, the job gate) costs.
"""

from __future__ import annotations

import argparse
import signal
import threading

ACK = {"response_type": "ephemeral", "text": "Checking your request for a token"}


def _bot(port: int) -> None:
    from bot.runtime.http import HttpServer, Request, Response, json_response

    async def ack(request: Request) -> Response:
        return json_response(ACK)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with HttpServer({"/slack/events": {"POST": ack}}, port=port, name="floor-http"):
        while not stop.wait(0.2):
            pass


def _aiohttp(port: int) -> None:
    from aiohttp import web

    async def ack(request: web.Request) -> web.Response:
        await request.read()
        return web.json_response(ACK)

    app = web.Application()
    app.router.add_post("/slack/events", ack)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None, handle_signals=True)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.floor_server")
    parser.add_argument("port", type=int)
    parser.add_argument("--server", choices=("bot", "aiohttp"), default="bot")
    args = parser.parse_args()
    (_bot if args.server == "bot" else _aiohttp)(args.port)


if __name__ == "__main__":
    main()
