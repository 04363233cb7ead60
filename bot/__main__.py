"""`python -m bot` and the `rok-token-bot` console script."""

from __future__ import annotations

import sys


def main() -> None:
    from bot.cli import main as cli_main

    sys.exit(cli_main())


if __name__ == "__main__":
    main()
