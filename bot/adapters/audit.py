"""The audit trail: every event written durably first (the outbox), then delivered to each sink once.

`OutboxAudit` is the `AuditLog` port: one JSON log line at once, the event appended to the store's outbox.
An `OutboxSender` per sink (the audit channel, a SIEM webhook) claims due events with a lease, delivers
them and marks them, or gives them back with a backoff, so that:

- nothing is lost when Slack is down or the bot restarts: undelivered events wait in the database and any
  replica delivers them after the next start;
- with several replicas each event is delivered once (the claim is atomic, the lease expires if a replica
  dies mid-delivery);
- a flood stays readable: claims come most urgent first, and the sink merges and batches what it gets.

The sender keeps the backlog's size and age for /readyz and /metrics (no database call on a probe).
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
from collections.abc import Callable, Sequence
from datetime import timedelta

import msgspec

from bot.domain.audit import AuditEvent
from bot.domain.ports import AuditOutbox, ClaimedEvent
from bot.domain.retry_after import clamp_wait
from bot.runtime import metrics, tracing
from bot.runtime.clock import Clock

log = logging.getLogger("rok_token_bot.audit")

CLAIM_LIMIT = 200  # events per claim: refusals merge, so many fit in a few channel messages
LEASE_SECONDS = 60.0
PARKED_SECONDS = 300.0  # a parked sink (a bad token, a wrong URL) is tried again this often, never faster
POLL_SECONDS = 2.0  # how often a sender looks for work it was not told about (other replicas, retries)


def replica_id() -> str:
    """This process, as a claim holder: host name, PID and a random suffix."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{random.getrandbits(24):06x}"  # nosec B311


def log_event(event: AuditEvent) -> None:
    """The JSON log line of an event, written when it happens whatever becomes of its delivery."""
    log.info("audit %s", event.outcome, extra={"event": "audit", **event.as_log()})


class OutboxAudit:
    """The `AuditLog` port on the store's outbox; `wake()` tells the local senders there is work."""

    def __init__(self, outbox: AuditOutbox) -> None:
        self._outbox = outbox
        self._listeners: list[Callable[[], None]] = []

    def record(self, event: AuditEvent) -> None:
        log_event(event)
        self._outbox.append(event)
        self.wake()

    def subscribe(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    def wake(self) -> None:
        for listener in self._listeners:
            listener()


class Delivery(msgspec.Struct, frozen=True):
    """What a sink did with claimed events: those it delivered, and those to try again (with why and when)."""

    delivered: list[int] = msgspec.field(default_factory=list)
    retry: list[int] = msgspec.field(default_factory=list)
    error: str | None = None
    retry_after: float | None = None  # seconds the sink asks us to wait (Retry-After), else backoff
    parked: bool = False  # the sink refused in a way only an admin can fix: retried slowly, shown as parked


Deliver = Callable[[Sequence[ClaimedEvent]], Delivery]


class OutboxSender:
    """One sink's delivery loop: claim, deliver, mark or retry with backoff; health for the probes."""

    def __init__(
        self,
        *,
        outbox: AuditOutbox,
        sink: str,
        deliver: Deliver,
        worker: str,
        clock: Clock,
        poll: float = POLL_SECONDS,
        slow_errors: frozenset[str] = frozenset(),
    ) -> None:
        self._outbox = outbox
        self.sink = sink
        self._deliver = deliver
        self._worker = worker
        self._clock = clock
        self._poll = poll
        self._slow = slow_errors
        self._wake = threading.Event()
        self._stop = threading.Event()
        # Rounds begun, and the last one that found nothing due: `flush` waits for a round begun after it.
        self._rounds = threading.Condition()
        self._begun = 0
        self._idle_round = 0
        self._thread: threading.Thread | None = None
        self.last_error: str | None = None
        self.parked = False  # the last error is one only an admin can fix (retried every PARKED_SECONDS)
        self.backlog = 0
        self.oldest_seconds = 0.0
        self.renewals = 0  # leases renewed while a delivery was under way (for tests and the curious)

    @property
    def healthy(self) -> bool:
        return self.last_error is None

    @property
    def state(self) -> str:
        """For /readyz: `ok`, `failing: <error>` (retried with backoff) or `parked: <error>` (an admin must act)."""
        if self.last_error is None:
            return "ok"
        if self.parked:
            return f"parked: {self.last_error}; retried every {PARKED_SECONDS:.0f} s until fixed"
        return f"failing: {self.last_error}"

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name=f"audit-{self.sink}", daemon=True)
            self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 5.0) -> None:
        """Deliver what is due now (bounded by `timeout`), then stop; the rest waits in the outbox."""
        if self._thread is None:
            return
        self.flush(timeout)
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout)
        self._thread = None

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until a round begun after this call found nothing due (bounded); True when one did in time.

        A round already under way does not count: it may have looked before the caller's last event was written.
        """
        with self._rounds:
            target = self._begun + 1
            self._wake.set()
            return self._rounds.wait_for(lambda: self._idle_round >= target, timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._rounds:
                self._begun += 1
                number = self._begun
            try:
                worked = self._round()
            except Exception:  # the database or the sink misbehaved: log, wait, try again
                log.exception("audit sender round failed", extra={"sink": self.sink})
                worked = False
            if not worked:
                with self._rounds:
                    self._idle_round = number
                    self._rounds.notify_all()
                # On the clock: a retry due in 30 s comes when the clock says so (a test moves a manual one).
                self._clock.wait(self._poll, self._wake)
                self._wake.clear()

    def _round(self) -> bool:
        """One claim and its delivery; False when nothing was due."""
        now = self._clock.now()
        claimed = self._outbox.claim(
            sink=self.sink, worker=self._worker, limit=CLAIM_LIMIT, lease_seconds=LEASE_SECONDS, now=now
        )
        result = Delivery()
        if claimed:
            result = self._send(claimed)
            self._outbox.delivered(result.delivered, now=self._clock.now())
            parked = result.parked or result.error in self._slow
            if result.retry:
                attempts = max(c.attempts for c in claimed if c.id in set(result.retry))
                wait = self._backoff(result, attempts, parked=parked)
                self._outbox.retry(
                    result.retry, at=self._clock.now() + timedelta(seconds=wait), error=result.error or "failed"
                )
                metrics.AUDIT_FAILURES.inc()
                what = "parked: an admin must fix the sink" if parked else "failed, will retry"
                log.warning(
                    f"audit delivery {what}",
                    extra={"sink": self.sink, "error": result.error, "retry_in_seconds": round(wait, 1)},
                )
            self.last_error = result.error if result.retry else None
            self.parked = parked and bool(result.retry)
        self.backlog, self.oldest_seconds = self._outbox.backlog(sink=self.sink, now=self._clock.now())
        metrics.AUDIT_BACKLOG.labels(self.sink).set(self.backlog)
        metrics.AUDIT_OLDEST_SECONDS.labels(self.sink).set(self.oldest_seconds)
        # Delivered: look again at once. Nothing due, or everything given back: wait (the retries are due later).
        return bool(claimed) and not result.retry

    def _send(self, claimed: Sequence[ClaimedEvent]) -> Delivery:
        """Deliver claimed events, as a trace of its own (when on): it happens later, on this sender's thread,
        often for several requests at once; their request IDs name them."""
        ids = sorted({c.event.request_id for c in claimed})
        done = threading.Event()
        keeper = threading.Thread(
            target=self._keep_lease, args=([c.id for c in claimed], done), name=f"audit-{self.sink}-lease", daemon=True
        )
        keeper.start()
        try:
            with tracing.request(f"audit deliver {self.sink}", sink=self.sink, events=len(claimed), request_ids=ids):
                result = self._deliver(claimed)
                tracing.annotate(delivered=len(result.delivered), retried=len(result.retry), error=result.error)
                return result
        finally:
            done.set()
            keeper.join(5)

    def _keep_lease(self, ids: list[int], done: threading.Event) -> None:
        """While a delivery is under way, renew its claim every third of the lease: a collector that holds a POST
        longer than the lease must not let another replica claim and send the same events again."""
        while not self._clock.wait(LEASE_SECONDS / 3, done):
            until = self._clock.now() + timedelta(seconds=LEASE_SECONDS)
            try:
                held = self._outbox.extend(ids, worker=self._worker, until=until)
            except Exception as exc:  # the database blinked: the next renewal tries again, well inside the lease
                log.warning("audit lease renewal failed", extra={"sink": self.sink, "error": type(exc).__name__})
                continue
            self.renewals += 1
            if held < len(ids):
                log.warning("audit lease lost for some events", extra={"sink": self.sink, "lost": len(ids) - held})

    def _backoff(self, result: Delivery, attempts: int, *, parked: bool) -> float:
        """Seconds before the next attempt: slowly for errors an admin must fix (parked: whatever Retry-After a
        403 carries), else what the sink asked (within 1..300 s), else exponential with jitter (capped at 5
        minutes)."""
        if parked:
            return PARKED_SECONDS
        if result.retry_after is not None:
            return clamp_wait(result.retry_after)
        return min(2.0 ** min(attempts + 1, 8), 300.0) * (0.75 + random.random() / 2)  # noqa: S311  # nosec B311
