"""The processes `bench.instructions` runs under callgrind.

    python -m bench.ready_exit serve MODULES       # `python -m bot serve`, ended the moment the bot is ready
    python -m bench.ready_exit imports MODULES [PACKAGE ...]

`serve`: the start as `python -m bot serve` runs it (`bot/__main__.py`'s `main`, which pauses collections), ended
by `os._exit` when the server logs `ready` (from there /readyz answers 200), after writing the names of the
modules it imported, in import order, to MODULES. `imports`: a fresh interpreter imports those modules, but the
bot's own and those of each PACKAGE named, collections paused likewise: what a start's imports cost alone.
"""

from __future__ import annotations

import gc
import importlib
import logging
import os
import sys
from pathlib import Path
from typing import Any

# What the interpreter imports before any code of ours runs, and the bench's own: not the start's imports.
_NOT_THE_STARTS = frozenset({"bot", "bench", "_distutils_hack", "sitecustomize", "site", "encodings"})


class _ReadyExit(logging.Logger):
    """A logger that ends the process once the server logged `ready` (every version of the bot logs it, from
    `bot.slack.server`, when /readyz starts answering 200), after writing the modules imported so far."""

    modules: Path | None = None

    def info(self, msg: object, *args: Any, **kwargs: Any) -> None:
        super().info(msg, *args, **kwargs)
        if msg == "ready" and self.name == "bot.slack.server" and _ReadyExit.modules is not None:
            _ReadyExit.modules.write_text("\n".join(sys.modules))
            os._exit(0)


def serve(modules: Path) -> None:
    _ReadyExit.modules = modules
    logging.setLoggerClass(_ReadyExit)  # before any module of the bot asks for its logger
    sys.argv = ["rok-token-bot", "serve"]
    from bot.__main__ import main

    main()


def to_import(names: list[str], leave_out: set[str]) -> list[str]:
    """The start's modules to import alone: neither the bot's (nor the interpreter's own start) nor those of the
    packages left out."""
    tops = [(n, n.split(".")[0]) for n in names]
    return [n for n, top in tops if top not in _NOT_THE_STARTS | leave_out and not top.startswith("__editable__")]


def imports(modules: Path, leave_out: set[str]) -> None:
    gc.disable()
    for name in to_import(modules.read_text().split(), leave_out):
        try:
            importlib.import_module(name)
        except ImportError:  # a platform's module another one tried (`nt`, `winreg`): the start failed it too
            continue


if __name__ == "__main__":
    what, path, *packages = sys.argv[1:]
    if what == "serve":
        serve(Path(path))
    else:
        imports(Path(path), set(packages))
