"""From the fakes' records to per-request timings: exec time on the critical path, queue wait, overhead.

For one request sent at `t0` and answered (chat.postEphemeral received) at `t_msg`:

- its token-create exec is found by the account UUID in the argv (`--user UUID`);
- account-list time counts when the request waited for it: the part of the account-list exec that ran
  after `t0` (the whole exec for the request that triggered it; the rest of it for those that joined the
  same single-flight load);
- queue wait is the time, between the request being able to run (`t0`, or the end of the account-list it
  waited for) and the start of its token-create, during which the fake cluster had `limit` or more execs
  in flight: the request could not have started then. Its exec slot being taken is not bot overhead;
- overhead = (t_msg - t0) - account-list part - token-create duration - queue wait.

A request "queued" when its queue wait exceeds 1 ms. The cluster only sees an exec once its WebSocket is
open, so a slot the bot holds while it opens the socket looks free: that handshake time lands in
overhead, which is where it belongs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from sandbox.kube import ExecRecord

QUEUED_THRESHOLD = 0.001


@dataclass(frozen=True)
class Exec:
    command: str
    uuid: str | None
    start: float
    end: float

    @property
    def seconds(self) -> float:
        return self.end - self.start


@dataclass
class Timing:
    user_id: str
    sent_at: float
    ack_seconds: float
    total: float | None = None  # command to private message
    account_list: float = 0.0
    token_create: float = 0.0
    queue: float = 0.0
    overhead: float | None = None

    @property
    def queued(self) -> bool:
        return self.queue > QUEUED_THRESHOLD

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "queued": self.queued}


def execs_from(records: list[ExecRecord]) -> list[Exec]:
    """Finished exec records as (command, account UUID, start, end) in epoch seconds."""
    out = []
    for rec in list(records):
        if rec.ended_at is None:
            continue
        argv = rec.argv
        command = argv[1] if len(argv) > 1 else ""
        uuid = argv[argv.index("--user") + 1] if "--user" in argv[:-1] else None
        out.append(Exec(command, uuid, rec.started_at.timestamp(), rec.ended_at.timestamp()))
    return sorted(out, key=lambda e: e.start)


def saturated(execs: list[Exec], limit: int) -> list[tuple[float, float]]:
    """Intervals during which at least `limit` execs were in flight."""
    events = sorted([(e.start, 1) for e in execs] + [(e.end, -1) for e in execs], key=lambda ev: (ev[0], ev[1]))
    out: list[tuple[float, float]] = []
    level, since = 0, 0.0
    for at, delta in events:
        before = level
        level += delta
        if before < limit <= level:
            since = at
        elif level < limit <= before and at > since:
            out.append((since, at))
    return out


def overlap(intervals: list[tuple[float, float]], start: float, end: float) -> float:
    return sum(max(0.0, min(b, end) - max(a, start)) for a, b in intervals if b > start and a < end)


def peak_concurrency(execs: list[Exec]) -> int:
    level = peak = 0
    for _, delta in sorted([(e.start, 1) for e in execs] + [(e.end, -1) for e in execs], key=lambda ev: ev):
        level += delta
        peak = max(peak, level)
    return peak


def analyse(
    sent: list[Any],
    delivered: dict[str, float],
    execs: list[Exec],
    uuid_of: dict[str, str],
    limit: int,
) -> list[Timing]:
    """One Timing per sent command (`sent` items have user_id, sent_at, ack_seconds)."""
    busy = saturated(execs, limit)
    lists = [e for e in execs if e.command == "account-list"]
    creates: dict[str, Exec] = {}
    for e in execs:
        if e.command == "token-create" and e.uuid is not None:
            creates.setdefault(e.uuid, e)
    out = []
    for s in sent:
        t = Timing(s.user_id, s.sent_at, s.ack_seconds)
        out.append(t)
        create = creates.get(uuid_of.get(s.user_id, ""))
        at = delivered.get(s.user_id)
        if create is None or at is None:
            continue
        ready = s.sent_at
        waited = [a for a in lists if a.end > s.sent_at and a.end <= create.start]
        if waited:
            al = waited[-1]
            t.account_list = al.end - max(s.sent_at, al.start)
            ready = al.end
        t.token_create = create.seconds
        t.queue = overlap(busy, ready, create.start)
        t.total = at - s.sent_at
        t.overhead = t.total - t.account_list - t.token_create - t.queue
    return out


def slot_use(execs: list[Exec], limit: int) -> dict[str, Any] | None:
    """How well the token-create execs of a burst kept the `limit` slots busy, from the first start to the last end.

    `idle_ms_per_exec` is the slot time lost per exec between one exec ending and the next one starting
    on the cluster: the bot's client-side cost of an exec (semaphore hand-off, ApiClient, WebSocket
    handshake, reading the close), paid by every queued request behind it.
    """
    creates = [e for e in execs if e.command == "token-create"]
    if not creates:
        return None
    span = max(e.end for e in creates) - min(e.start for e in creates)
    busy = sum(e.seconds for e in creates)
    capacity = limit * span
    return {
        "span_seconds": span,
        "utilisation": busy / capacity if capacity else None,
        "idle_ms_per_exec": (capacity - busy) / len(creates) * 1000,
        "mean_exec_seconds": busy / len(creates),
    }
