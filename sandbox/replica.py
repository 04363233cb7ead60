"""`rok-token-bot serve` on the sandbox's shared clock: a replica a test moves through time with the others.

    ROK_SANDBOX_CLOCK=/tmp/box/sandbox-clock.json python -m sandbox.replica

Everything else is `serve` as the CLI runs it (the same settings, logging, bootstrap and server); only the
clock differs, which `bot.bootstrap.build_server` takes for exactly this. `Sandbox.spawn()` starts replicas
this way when the sandbox runs on a `SharedClock`.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from bot.bootstrap import build_server
from bot.runtime.logs import setup_logging
from bot.settings import SettingsError, load_settings
from bot.slack.server import serve
from sandbox.clock import SharedClock


def main() -> int:
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"rok-token-bot: error: {exc}", file=sys.stderr)
        return 2
    setup_logging(level=settings.log_level, fmt=settings.log_format, secrets=settings.secrets())
    return serve(build_server(settings, clock=SharedClock(Path(os.environ["ROK_SANDBOX_CLOCK"]))))


if __name__ == "__main__":
    raise SystemExit(main())
