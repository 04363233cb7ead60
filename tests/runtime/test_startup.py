"""The collector paused for start-up (bot.runtime.startup): resumed only where it was paused, and frozen then."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from bot.runtime import startup


@pytest.fixture(autouse=True)
def _collector_restored() -> Iterator[None]:
    yield
    gc.unfreeze()
    gc.enable()
    startup._paused.clear()


def test_resume_without_pause_changes_nothing() -> None:
    """A program that imports bot (the tests, the sandbox) keeps its collector as it was."""
    startup.resume()
    assert gc.isenabled()
    assert gc.get_freeze_count() == 0


def test_pause_then_resume_freezes_what_start_up_made_and_collects_again() -> None:
    startup.pause()
    assert not gc.isenabled()
    made_during_start = [object() for _ in range(10)]
    startup.resume()
    assert gc.isenabled()
    assert gc.get_freeze_count() >= len(made_during_start)
    startup.resume()  # once only
    assert gc.isenabled()


def test_pause_leaves_a_collector_someone_else_disabled_to_them() -> None:
    gc.disable()
    startup.pause()
    startup.resume()
    assert not gc.isenabled()
