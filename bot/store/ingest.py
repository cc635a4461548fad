"""Webhook deliveries written durably in groups, off the event loop.

One thread with its own connection takes every delivery that is waiting, writes them in one
transaction, commits once (fsynced: `synchronous = FULL`), and only then answers each request. While
it commits, new deliveries queue up and go in the next group, so under load one fsync serves many
deliveries, and at low load a delivery waits for nothing but its own commit. The event loop never
waits on the disk for a delivery.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from bot.store.deliveries import DeliveryQueue
from bot.store.engine import StoreBusy, open_database

log = logging.getLogger(__name__)

MAX_GROUP = 512


class IngestWriter:
    def __init__(self, path: str, clock: Callable[[], float] = time.time):
        self.path, self.clock = path, clock
        self._waiting: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    async def add(self, **delivery: Any) -> str:
        """Store one verified delivery durably; returns what `DeliveryQueue.add` says. Raises StoreBusy."""
        self._ensure_started()
        loop = asyncio.get_running_loop()
        done: asyncio.Future[str] = loop.create_future()
        self._waiting.put((delivery, done, loop))
        return await done

    def _ensure_started(self) -> None:
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="recbot-ingest", daemon=True)
                self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._waiting.put(None)
            self._thread.join(timeout=10)
            self._thread = None

    def _run(self) -> None:
        # This thread's own connection: its waits block no event loop, and each commit is fsynced (FULL).
        db = open_database(self.path, busy_timeout=5.0, synchronous="FULL")
        deliveries = DeliveryQueue(db, self.clock)
        stopping = False
        try:
            while not stopping:
                first = self._waiting.get()
                if first is None:
                    return
                group = [first]
                while len(group) < MAX_GROUP:  # everything already waiting joins this commit
                    try:
                        item = self._waiting.get_nowait()
                    except queue.Empty:
                        break
                    if item is None:
                        stopping = True
                        break
                    group.append(item)
                self._write(deliveries, group)
        finally:
            db.close()

    def _write(self, deliveries: DeliveryQueue, group: list) -> None:
        try:
            outcomes = deliveries.add_many([delivery for delivery, _, _ in group])
        except StoreBusy as exc:
            log.error("could not store %d webhook deliveries: %s", len(group), exc)
            for _, done, loop in group:
                loop.call_soon_threadsafe(_settle, done, None, StoreBusy(str(exc)))
            return
        except Exception as exc:  # never leave a request waiting
            log.exception("storing webhook deliveries failed")
            for _, done, loop in group:
                loop.call_soon_threadsafe(_settle, done, None, StoreBusy(type(exc).__name__))
            return
        for (_, done, loop), outcome in zip(group, outcomes, strict=True):
            loop.call_soon_threadsafe(_settle, done, outcome, None)


def _settle(done: asyncio.Future, outcome: str | None, error: Exception | None) -> None:
    if done.done():  # the request went away meanwhile
        return
    if error is not None:
        done.set_exception(error)
    else:
        done.set_result(outcome)
