"""The truth on recbot's side, in one database: links, people, recordings with their ledger, the audit,
what is kept of each meeting (marks, attendance, transcripts, channel settings), and the three queues
(webhook deliveries, the Slack outbox, timers).

    store = Store(path)
    with store.transaction():      # one decision, one transaction; transactions nest
        store.transition(...)
        store.timers.set(...)
        store.outbox.enqueue(...)

The event loop never waits on the database. The boundary is two methods: code on the loop hands a
function of a `Tx` (everything that may be done on the store's thread) to the store, which runs it
there and gives back what it returns, typed; the loop serves other requests meanwhile.

    rec = await store.read(lambda tx: tx.recording(recording_id))   # reads only: a write raises StoreError
    moved = await store.write(functools.partial(decide, rec))        # one transaction, one trip

Below the boundary, service code is plain synchronous functions over a `Tx`; above it, only `read` and
`write` reach the store. (A `Store` is itself a `Tx` for code that is not on a loop: start-up, tools,
tests.)
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
import functools
import queue
import threading
import time
from collections.abc import Callable
from typing import Any, Concatenate, ParamSpec, TypeVar

from bot import metrics
from bot.store.budgets import Budgets
from bot.store.calls import CallStore
from bot.store.databases import open_database
from bot.store.deliveries import CHANNEL, DeliveryQueue
from bot.store.engine import Duplicate, Engine, StoreBusy, StoreError
from bot.store.leases import Leases
from bot.store.notes import MeetingNotes
from bot.store.outbox import OutboxQueue, OutboxRow
from bot.store.records import Records
from bot.store.schema import migrate
from bot.store.sealed import Sealer
from bot.store.timers import DueTimer, TimerQueue
from bot.store.transcripts import TranscriptLines
from bot.store.workspaces import Workspaces

__all__ = ["DueTimer", "Duplicate", "OutboxRow", "Store", "StoreBusy", "StoreError", "Tx"]

T = TypeVar("T")
_TRIP_OK, _TRIP_BUSY, _TRIP_FAILED = (metrics.STORE_TRIPS.labels(outcome) for outcome in ("ok", "busy", "error"))
P = ParamSpec("P")


class _StoreThread:
    """The store's own thread: runs what it is given in order, one thing at a time. One queue put and one
    call_soon_threadsafe a trip: with a ThreadPoolExecutor, submitting, wrap_future and the chaining of the
    two futures were 10% of the event loop's time under load (py-spy, ingest bench)."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[tuple[Callable[[], Any], asyncio.AbstractEventLoop | None, Any] | None] = \
            queue.SimpleQueue()
        self._lock = threading.Lock()
        self.closed = False
        self._thread = threading.Thread(target=self._serve, name="recbot-store", daemon=True)
        self._thread.start()

    def put(self, fn: Callable[[], Any], loop: asyncio.AbstractEventLoop | None, done: Any) -> None:
        with self._lock:  # nothing is queued behind the end
            if self.closed:
                raise StoreBusy("the store is closed")
            self._queue.put((fn, loop, done))

    def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(*args)` there and wait for it (start-up: opening the database, migrating)."""
        done: concurrent.futures.Future[T] = concurrent.futures.Future()
        self.put(functools.partial(fn, *args), None, done)
        return done.result()

    def close(self) -> None:
        """Finish what was given, then stop."""
        with self._lock:
            if self.closed:
                return
            self.closed = True
            self._queue.put(None)
        if threading.current_thread() is not self._thread:
            self._thread.join()

    def _serve(self) -> None:
        while (item := self._queue.get()) is not None:
            fn, loop, done = item
            if loop is not None and done.cancelled():  # its caller gave up before it began
                continue
            started = time.perf_counter()
            try:
                result, error = fn(), None
                trip = _TRIP_OK
            except BaseException as exc:
                result, error = None, exc
                trip = _TRIP_BUSY if isinstance(exc, StoreBusy) else _TRIP_FAILED
            trip.observe(time.perf_counter() - started)
            if loop is None:
                if error is not None:
                    done.set_exception(error)
                else:
                    done.set_result(result)
                continue
            with contextlib.suppress(RuntimeError):  # the loop has closed: nobody is waiting
                loop.call_soon_threadsafe(_settle, done, result, error)


def _settle(done: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if done.cancelled():
        return
    if error is not None:
        done.set_exception(error)
    else:
        done.set_result(result)


class Tx(Records):
    """What may be done on the store's thread: the records (links, people, recordings, the ledger, the
    audit) and every part of the store (its queues, notes, transcripts, leases, budgets, calls,
    workspaces). The function given to `Store.read` or `Store.write` is handed one; code that holds a
    `Tx` is on the store's thread and calls it directly."""

    outbox: OutboxQueue
    deliveries: DeliveryQueue
    timers: TimerQueue
    notes: MeetingNotes
    transcripts: TranscriptLines
    leases: Leases
    budgets: Budgets
    calls: CallStore
    workspaces: Workspaces

    def transaction(self) -> contextlib.AbstractContextManager[Engine]:
        """All or nothing (inside `Store.write`, a savepoint that rolls back alone)."""
        return self.db.transaction()

    @property
    def shared(self) -> bool:
        """Whether other processes may use this database too (PostgreSQL; a SQLite file is one process's)."""
        return self.db.dialect == "postgres"

    def healthy(self) -> bool:
        return self.db.healthy()

    def schema_version(self) -> int:
        return self.db.schema_version()


class Store(Tx):
    """The store, seen from the event loop: `await store.read(fn)` and `await store.write(fn)`."""

    def __init__(self, path: str, clock: Callable[[], float] = time.time, *, secret_key: str | None = None):
        # One thread for the whole store: its connection is used by one thread at a time, and a decision
        # runs start to end with nothing of another one in between. Even opening it and migrating happen
        # there (the caller waits: it is start-up).
        self._thread = _StoreThread()
        try:
            db = self._thread.run(open_database, path)
        except BaseException:
            self._thread.close()
            raise
        super().__init__(db, clock)
        self.path = path
        self.outbox = OutboxQueue(self.db, clock)
        self.deliveries = DeliveryQueue(self.db, clock)
        self.timers = TimerQueue(self.db)
        self.notes = MeetingNotes(self.db, clock)
        self.transcripts = TranscriptLines(self.db, clock)
        self.leases = Leases(self.db, clock)
        self.budgets = Budgets(self.db, clock)
        self.calls = CallStore(self.db, self.outbox, clock)
        self.workspaces = Workspaces(self.db, clock, Sealer(secret_key) if secret_key else None)
        try:
            self._thread.run(migrate, self.db)
        except BaseException:
            self.close()
            raise

    async def read(self, fn: Callable[Concatenate[Tx, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run `fn(tx, *args, **kwargs)` on the store's thread, outside a transaction, and await what it
        returns or raises. It only reads: a statement that writes raises StoreError (and writes nothing)."""
        return await self._trip(functools.partial(self.db.reading, functools.partial(fn, self, *args, **kwargs)))

    async def write(self, fn: Callable[Concatenate[Tx, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run `fn(tx, *args, **kwargs)` on the store's thread in one transaction (committed when it
        returns, rolled back when it raises) and await what it returns or raises. StoreBusy: nothing was
        written, and the same work may pass if tried again."""
        return await self._trip(functools.partial(self._writing, fn, *args, **kwargs))

    def _writing(self, fn: Callable[Concatenate[Tx, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
        with self.db.transaction():
            return fn(self, *args, **kwargs)

    async def _trip(self, fn: Callable[[], T]) -> T:
        """One trip to the store's thread; a closed store answers StoreBusy, as any store that cannot answer."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[T] = loop.create_future()
        self._thread.put(functools.partial(contextvars.copy_context().run, fn), loop, done)
        return await done

    def on_deliveries(self, wake: Callable[[], object]) -> Callable[[], None] | None:
        """On PostgreSQL, call `wake` (from another thread) whenever any process stores webhook deliveries,
        so the process applying them need not poll; returns how to stop. None on SQLite (one process,
        which wakes itself)."""
        if not self.shared:
            return None
        from bot.store.postgres import Listener

        return Listener(self.path, CHANNEL, wake).stop

    def close(self) -> None:
        """Finish what was asked of the store's thread, then close the connection."""
        self._thread.close()
        self.db.close()
