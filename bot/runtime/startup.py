"""The cyclic garbage collector, paused while a process starts and resumed once it has.

Start-up imports ~1000 modules and allocates their functions, classes and schemas, nearly none of which become
garbage; the collector would still walk them again and again as they accumulate (~0.1 s of a `serve` start or of
a CLI `issue` on a 2-core machine). `bot.__main__` pauses it before importing anything; `serve` resumes it once
ready, the store commands and the demo as they begin, and the short commands (`issue`, `verify`, `doctor`) run to
their end without it. Resuming freezes what start-up allocated (`gc.freeze()`), so later collections walk only
objects made since. Reference counting frees everything that is not in a cycle all along.

Only the process entry pauses: a program that imports `bot` (the tests, the sandbox) keeps its collector, and
`resume()` does nothing there.
"""

from __future__ import annotations

import gc

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
