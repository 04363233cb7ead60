"""Each Slack request acts once: replays and redeliveries are acked and ignored.

A signed request stays valid for Slack's 5-minute signature window, so a captured `/rok-token` could be
posted again and again; Socket Mode redelivers an envelope that was not acked in time (`retry_attempt`),
and the Events API retries with `X-Slack-Retry-Num`. Every one of these carries the same `trigger_id`
(slash commands, button clicks, view submissions) or `event_id` (events) as the first delivery, which
Slack never reuses: that is the key. It is checked after Bolt verified the signature (an unsigned request
cannot fill the table) and before any work is scheduled, in memory, with no I/O on the ack path.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

# Slack's signature window is 5 minutes; keep keys twice as long so a late replay is still caught.
WINDOW_SECONDS = 600.0
MAX_KEYS = 200_000


def delivery_key(body: Mapping[str, Any]) -> str | None:
    """The ID Slack gives one user action (`trigger_id`) or one event (`event_id`); None when absent."""
    if body.get("type") == "event_callback":
        event_id = body.get("event_id")
        return f"event:{event_id}" if isinstance(event_id, str) and event_id else None
    trigger_id = body.get("trigger_id")
    return f"trigger:{trigger_id}" if isinstance(trigger_id, str) and trigger_id else None


class SeenRequests:
    """Keys seen in the last `window` seconds; `first(key)` is True exactly once per key."""

    def __init__(self, *, clock: Callable[[], float], window: float = WINDOW_SECONDS, max_keys: int = MAX_KEYS) -> None:
        self._window = window
        self._max_keys = max_keys
        self._clock = clock
        self._lock = threading.Lock()
        self._seen: OrderedDict[str, float] = OrderedDict()

    def first(self, key: str) -> bool:
        """Record `key`; False when it was already seen inside the window (a duplicate)."""
        now = self._clock()
        with self._lock:
            self._expire(now)
            if key in self._seen:
                return False
            self._seen[key] = now
            if len(self._seen) > self._max_keys:
                # Bounded memory under a flood of distinct signed requests: forget the oldest first.
                self._seen.popitem(last=False)
            return True

    def __len__(self) -> int:
        with self._lock:
            return len(self._seen)

    def _expire(self, now: float) -> None:
        # Insertion order is time order: drop from the front while it is older than the window.
        while self._seen:
            key, at = next(iter(self._seen.items()))
            if now - at < self._window:
                return
            del self._seen[key]
