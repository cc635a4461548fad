"""Leases: one process at a time does a job (applying webhooks, firing timers, reconciling) or acts on a
recording, across any number of processes sharing the database. A lease runs out by itself, so the job
passes to another process within `ttl` seconds when its holder dies; its holder renews it as it works.
One upsert each, compare-and-set, on either engine.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from bot.store.engine import Database


class Leases:
    def __init__(self, db: Database, clock: Callable[[], float] = time.time):
        self.db, self.clock = db, clock

    def hold(self, name: str, owner: str, ttl: float) -> bool:
        """Take or renew the lease `name` for `ttl` seconds; False while another owner's has not run out."""
        now = self.clock()
        return self.db.changed("INSERT INTO leases (name, owner, until) VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE "
                               "SET owner = excluded.owner, until = excluded.until "
                               "WHERE leases.owner = excluded.owner OR leases.until < ?",
                               name, owner, now + ttl, now) > 0

    def release(self, name: str, owner: str) -> None:
        self.db.execute("DELETE FROM leases WHERE name = ? AND owner = ?", (name, owner))

    def release_all(self, owner: str) -> None:
        self.db.execute("DELETE FROM leases WHERE owner = ?", (owner,))

    def holder(self, name: str) -> str | None:
        return self.db.scalar("SELECT owner FROM leases WHERE name = ? AND until >= ?", name, self.clock())
