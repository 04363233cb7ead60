"""A command's process: the cyclic garbage collector paused while it starts, and its end without teardown.

Start-up imports ~1000 modules and allocates their functions, classes and schemas, nearly none of which become
garbage; the collector would still walk them again and again as they accumulate (~0.1 s of a `serve` start or of
a CLI `issue` on a 2-core machine). `bot.__main__` pauses it before importing anything; `serve` resumes it once
ready, the store commands and the demo as they begin, and the short commands (`issue`, `verify`, `doctor`) run to
their end without it. Resuming freezes what start-up allocated (`gc.freeze()`), so later collections walk only
objects made since. Reference counting frees everything that is not in a cycle all along.

Only the process entry pauses: a program that imports `bot` (the tests, the sandbox) keeps its collector, and
`resume()` does nothing there.

`leave(code)` ends the process once the command has returned: it flushes stdout and stderr, runs the exit
handlers (logging's flush, the kubernetes client's removal of the certificate files it wrote, tracing's
export), then exits without the interpreter's teardown, which would free every object of ~800 modules one by
one (~0.13 s of a 0.6 s `issue`, for a process about to end). The command has closed what it opened (the
store, the clients) before it returns. While another non-daemon thread is alive, it exits the ordinary way.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import os
import sys
import threading
from typing import NoReturn

_paused: set[str] = set()  # "gc" while paused by pause()


def pause() -> None:
    """Stop automatic collections until `resume()`; the process entry calls it first."""
    if gc.isenabled():
        gc.disable()
        _paused.add("gc")


def resume() -> None:
    """Start-up is over: keep what it made out of later collections, and collect automatically again."""
    if "gc" in _paused:
        _paused.discard("gc")
        gc.freeze()
        gc.enable()


def leave(code: int) -> NoReturn:
    """End the process with `code`: stdio flushed and the exit handlers run, the teardown skipped."""
    main = threading.main_thread()
    if any(t is not main and not t.daemon and t.is_alive() for t in threading.enumerate()):
        sys.exit(code)  # the ordinary exit joins it
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        if stream is not None:
            with contextlib.suppress(OSError, ValueError):  # a closed pipe: nothing more can reach it
                stream.flush()
    os._exit(code)
