"""A no-op aiohttp server: the floor for ack latency on this machine with the same client and burst.

`python -m bench.floor_server PORT` answers every POST /slack/events at once with a small JSON body; the
distance between its numbers and the bot's is what the bot's own ack path costs.
"""

from __future__ import annotations

import sys

from aiohttp import web


async def _ack(request: web.Request) -> web.Response:
    await request.read()
    return web.json_response({"response_type": "ephemeral", "text": "Checking your request for a token"})


def main() -> None:
    app = web.Application()
    app.router.add_post("/slack/events", _ack)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None, handle_signals=True)


if __name__ == "__main__":
    main()
