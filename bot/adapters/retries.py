"""Ledger writes the database refused for a moment, tried again off the job thread.

Once a token is minted its ledger writes (the `minted` UUID and expiry, then the settle with its audit event)
must not be lost to a database blink, and must not fail the request: the user has the token, or is about to.
A write that fails is kept here, in memory, and the upkeep (`retry_due`, a round every second of the one
clock) tries it again 1, 2, 4 ... seconds later, at most a minute apart, until the database takes it. A later
write for the same ledger row replaces an earlier one (a settle carries the minted facts too); the ledger's
writes are safe to repeat. The audit event waits here with its write, so it reaches the outbox when the
store is back. Nothing here holds a token: the writes carry its UUID and expiry only.

If the process dies meanwhile the write is lost, and the row stays `reserved` (the minted write never
landed) or `minted`: the store's crash sweep then reports it as `possibly_minted`, or as `unconfirmed` with
the token's UUID.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from bot.runtime.clock import Clock

log = logging.getLogger(__name__)

FIRST_DELAY = 1.0  # seconds before the first retry
MAX_DELAY = 60.0  # the backoff doubles up to this, then stays


@dataclass
class _Pending:
    what: str  # "minted" or "settle", for the log
    write: Callable[[], None]
    attempts: int
    due: float  # on the clock's monotonic seconds


class PendingWrites:
    """Failed ledger writes by ledger row, each retried with bounded backoff until it lands."""

    def __init__(self, *, clock: Clock, on_written: Callable[[], None] = lambda: None) -> None:
        self._clock = clock
        self._on_written = on_written  # e.g. wake the audit senders: an event reached the outbox
        self._lock = threading.Lock()
        self._pending: dict[int, _Pending] = {}

    def __len__(self) -> int:
        with self._lock:
            return len(self._pending)

    def keep(self, row_id: int, what: str, write: Callable[[], None]) -> None:
        """Try `write` again later; it replaces any write still pending for the same row."""
        with self._lock:
            self._pending[row_id] = _Pending(what, write, 1, self._clock.monotonic() + FIRST_DELAY)

    def forget(self, row_id: int) -> None:
        """A later write for the row landed: an earlier one still pending is not needed."""
        with self._lock:
            self._pending.pop(row_id, None)

    def retry_due(self) -> int:
        """One round: try every write whose time has come; how many landed."""
        now = self._clock.monotonic()
        with self._lock:
            due = [(row_id, p) for row_id, p in self._pending.items() if p.due <= now]
        landed = 0
        for row_id, pending in due:
            try:
                pending.write()
            except Exception as exc:  # still down: back off, try again
                pending.attempts += 1
                delay = min(FIRST_DELAY * 2 ** (pending.attempts - 1), MAX_DELAY)
                pending.due = self._clock.monotonic() + delay
                log.warning(
                    "ledger write failed again, retrying",
                    extra={"error": type(exc).__name__, "ledger_row": row_id, "write": pending.what},
                )
                continue
            with self._lock:
                if self._pending.get(row_id) is pending:
                    del self._pending[row_id]
            landed += 1
            log.info("ledger write landed after a retry", extra={"ledger_row": row_id, "write": pending.what})
        if landed:
            self._on_written()
        return landed
