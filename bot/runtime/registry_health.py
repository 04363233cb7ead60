"""Which registries answer: one cheap probe per registry, on the upkeep's loops, for /readyz and the metrics.

A probe is the registry's Kubernetes API server's `/version` (never an exec: it costs the cluster nothing and
takes no exec slot), every `PROBE_SECONDS` of the one clock, each registry on a loop of its own so a hanging
API server delays only its own probe. `rok_bot_registry_up{registry}` is 1 while the last probe answered, 0
while it failed; /readyz stays ready while at least one registry is not known to be down (a registry not yet
probed counts as up: a start never waits for the first round, which begins once the server is ready), since the
other registries still serve tokens.

With one registry /readyz shows its state but stays ready: a bot taken out of its Service would leave users with
Slack's own timeout instead of the bot's sentence that the cluster cannot be reached, which is what they saw
before several registries existed.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any, Final

from bot.domain.errors import RokBotError
from bot.runtime import metrics
from bot.runtime.upkeep import Loop

log = logging.getLogger(__name__)

PROBE_SECONDS: Final = 30.0
PENDING: Final = "pending"
UP: Final = "ok"
LOOP_PREFIX: Final = "registry-probe-"


class RegistryHealth:
    """The last probe's answer for each registry, by name: `ok`, `pending` (not probed yet) or `failing: WHY`."""

    def __init__(self, probes: Mapping[str, Callable[[], object]]) -> None:
        self._probes = dict(probes)
        self._states = dict.fromkeys(self._probes, PENDING)
        self._lock = threading.Lock()

    def probe(self, name: str) -> None:
        """One round for one registry; never raises (the state says what went wrong)."""
        try:
            self._probes[name]()
        except Exception as exc:  # whatever the client raises, the registry is down for now
            self._set(name, f"failing: {_reason(exc)}", exc)
        else:
            self._set(name, UP, None)

    def probe_all(self) -> None:
        """Probe every registry once, in turn (doctor-like callers and tests; the bot uses `loops`)."""
        for name in self._probes:
            self.probe(name)

    def loops(self, every: float = PROBE_SECONDS) -> list[Loop]:
        """One upkeep loop per registry, each probing once the server is ready and then every `every` seconds.

        Not during the start: the first probe loads the Kubernetes client (~0.15 s of CPU), which competed with
        the start's own work (in Socket Mode, the socket's handshake), and nothing in the start waits for it."""
        return [
            Loop(f"{LOOP_PREFIX}{name}", every, partial(self.probe, name), after_ready=True) for name in self._probes
        ]

    def states(self) -> dict[str, str]:
        with self._lock:
            return dict(self._states)

    def up(self, name: str) -> bool:
        """Whether the registry is not known to be down (pending counts as up)."""
        with self._lock:
            return not self._states.get(name, PENDING).startswith("failing")

    @property
    def ready(self) -> bool:
        """At least one registry is not known to be down; always with one registry (see the module docstring)."""
        return len(self._probes) <= 1 or any(self.up(name) for name in self._probes)

    def report(self) -> tuple[bool, dict[str, Any]]:
        """For /readyz: ready or not, and `{"registries": {name: state}}` to merge into its checks."""
        return self.ready, {"registries": self.states()}

    def _set(self, name: str, state: str, exc: BaseException | None) -> None:
        with self._lock:
            was, self._states[name] = self._states[name], state
        metrics.REGISTRY_UP.labels(name).set(1 if state == UP else 0)
        if exc is not None and not was.startswith("failing"):  # once per outage, not every round
            detail = exc.detail if isinstance(exc, RokBotError) else str(exc).splitlines()[0][:200] if str(exc) else ""
            log.warning(
                "registry probe failed", extra={"registry": name, "error": type(exc).__name__, "detail": detail}
            )
        elif exc is None and was.startswith("failing"):
            log.info("registry probe answers again", extra={"registry": name})


def _reason(exc: BaseException) -> str:
    """A short reason for /readyz (served without authentication): the kind of failure, no URL, no detail."""
    return exc.kind if isinstance(exc, RokBotError) else type(exc).__name__
