"""The CLI's store, opened on a thread of its own while the first exec runs.

`rok-token-bot issue` records its mint in the ledger before the `token-create` exec, but it needs nothing of
the store for the `account-list` exec that comes first. Importing SQLAlchemy and the store (about 0.2 s of CPU
on an idle core, most of the CLI's own time) and checking the schema therefore run here, on a thread started
just before that exec, while the main thread waits on the cluster. Nothing is skipped: the quota's `reserve`
waits for the store and raises its error, so no token is ever minted unrecorded.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

import msgspec

from bot.domain.ledger import QuotaRule
from bot.domain.models import RequestContext
from bot.domain.ports import Quota, QuotaPlace

if TYPE_CHECKING:
    from bot.store import Store


class OpenStore(msgspec.Struct, frozen=True):
    """The store, its schema at head, and the audit sinks the serving bot recorded there."""

    store: Store
    recorded_sinks: dict[str, str]


class BackgroundStore:
    """`open_store()` run on a daemon thread from construction; `result()` waits for it and raises its error."""

    def __init__(self, open_store: Callable[[], OpenStore]) -> None:
        self._open = open_store
        self._opened: OpenStore | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="store-open", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._opened = self._open()
        except BaseException as exc:  # re-raised in the caller's thread by result()
            self._error = exc

    def result(self) -> OpenStore:
        """The open store; the exception opening it raised (a StoreError naming its fix), in this thread."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._opened is not None
        return self._opened

    def close(self) -> None:
        """Wait for the opening (it may hold a connection) and close what it opened."""
        self._thread.join()
        if self._opened is not None:
            self._opened.store.close()


class DeferredQuota:
    """The `Quota` port built on first use: `reserve` waits for the store the quota needs."""

    def __init__(self, build: Callable[[], Quota], *, rule: QuotaRule) -> None:
        self._build = build
        self._rule = rule
        self._quota: Quota | None = None

    @property
    def rule(self) -> QuotaRule:
        return self._rule

    def _get(self) -> Quota:
        if self._quota is None:
            self._quota = self._build()
        return self._quota

    def reserve(self, ctx: RequestContext, *, seconds: int, renewed_from: int | None = None) -> QuotaPlace:
        return self._get().reserve(ctx, seconds=seconds, renewed_from=renewed_from)

    def remaining(self, user_id: str) -> int:
        return self._get().remaining(user_id)
