"""`python -m bot` and the `rok-token-bot` console script."""

from __future__ import annotations

import sys

from bot.runtime.startup import pause


def main() -> None:
    pause()  # no cyclic collections while the command starts (bot.runtime.startup)
    from bot.cli import main as cli_main

    sys.exit(cli_main())


if __name__ == "__main__":
    main()
