"""The truth on recbot's side, in one database: links, people, recordings with their ledger, the audit,
what is kept of each meeting (marks, attendance, transcripts, channel settings), and the three queues
(webhook deliveries, the Slack outbox, timers).

    store = Store(path)
    with store.transaction():      # one decision, one transaction; transactions nest
        store.transition(...)
        store.timers.set(...)
        store.outbox.enqueue(...)
"""

from __future__ import annotations

import time
from collections.abc import Callable

from bot.store.budgets import Budgets
from bot.store.deliveries import CHANNEL, DeliveryQueue
from bot.store.engine import StoreBusy, open_database
from bot.store.leases import Leases
from bot.store.notes import MeetingNotes
from bot.store.outbox import OutboxQueue, OutboxRow
from bot.store.records import Records
from bot.store.schema import migrate
from bot.store.sealed import Sealer
from bot.store.timers import DueTimer, TimerQueue
from bot.store.workspaces import Workspaces

__all__ = ["DueTimer", "OutboxRow", "Store", "StoreBusy"]


class Store(Records):
    def __init__(self, path: str, clock: Callable[[], float] = time.time, *, secret_key: str | None = None):
        super().__init__(open_database(path), clock)
        self.path = path
        self.outbox = OutboxQueue(self.db, clock)
        self.deliveries = DeliveryQueue(self.db, clock)
        self.timers = TimerQueue(self.db)
        self.notes = MeetingNotes(self.db, clock)
        self.leases = Leases(self.db, clock)
        self.budgets = Budgets(self.db, clock)
        self.workspaces = Workspaces(self.db, clock, Sealer(secret_key) if secret_key else None)
        migrate(self.db)

    def transaction(self):
        return self.db.transaction()

    @property
    def shared(self) -> bool:
        """Whether other processes may use this database too (PostgreSQL; a SQLite file is one process's)."""
        return self.db.dialect == "postgres"

    def on_deliveries(self, wake: Callable[[], None]) -> Callable[[], None] | None:
        """On PostgreSQL, call `wake` (from another thread) whenever any process stores webhook deliveries,
        so the process applying them need not poll; returns how to stop. None on SQLite (one process,
        which wakes itself)."""
        if not self.shared:
            return None
        from bot.store.postgres import Listener

        return Listener(self.path, CHANNEL, wake).stop

    def healthy(self) -> bool:
        return self.db.healthy()

    def schema_version(self) -> int:
        return self.db.schema_version()

    def close(self) -> None:
        self.db.close()
