"""`python -m bot` and the `rok-token-bot` console script."""

from __future__ import annotations

from bot.runtime.startup import leave, pause


def main() -> None:
    pause()  # no cyclic collections while the command starts (bot.runtime.startup)
    from bot.cli import main as cli_main

    leave(cli_main())  # its handlers run, the interpreter's teardown does not (bot.runtime.startup)


if __name__ == "__main__":
    main()
