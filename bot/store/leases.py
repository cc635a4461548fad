"""Leases: one process at a time does a job (applying webhooks, firing timers, reconciling) or acts on a
recording, across any number of processes sharing the database. A lease runs out by itself, so the job
passes to another process within `ttl` seconds when its holder dies; its holder renews it as it works.
One upsert each, compare-and-set, on either engine.
"""

from __future__ import annotations

import os
import secrets
import socket
import time
from collections.abc import Callable

from bot.store.engine import Engine


def new_owner() -> str:
    """Who holds a lease: this host, this process, and a nonce (so a reused pid is not mistaken for it)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


CALL_IN_FLIGHT = "slack-call:"  # a Slack call's lease while it is in flight (`bot/slack/holds.flight`)


def recording_lease(recording_id: str) -> str:
    """The lease an action on a recording holds (`Actions.serial`)."""
    return f"recording:{recording_id}"


def _dead_here(owner: str) -> bool:
    """Whether `owner` was a process of this host that is gone (a restart after a crash)."""
    host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class Leases:
    def __init__(self, db: Engine, clock: Callable[[], float] = time.time):
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

    def free_the_dead(self) -> int:
        """At start: what a crashed process of this host still held (jobs, recordings, outbox rows, timers) is let go
        at once, rather than when its leases run out. Returns how many owners that was. Not a Slack call it had
        in flight: Slack may have answered it 429 before the kill, and that Retry-After died with the process, so
        the call's lease runs out by itself (`FLIGHT`) before another process makes that call."""
        owners = {r["owner"] for r in self.db.all("SELECT DISTINCT owner FROM leases")} | \
                 {r["claimed_by"] for r in self.db.all("SELECT DISTINCT claimed_by FROM outbox WHERE state = 'sending' "
                                                       "AND claimed_by IS NOT NULL")} | \
                 {r["claimed_by"] for r in self.db.all("SELECT DISTINCT claimed_by FROM timers WHERE done = 0 "
                                                       "AND claimed_by IS NOT NULL")}
        dead = [o for o in owners if _dead_here(o)]
        now = self.clock()
        with self.db.transaction():
            for owner in dead:
                self.db.execute("UPDATE timers SET due_at = ?, claimed_by = NULL WHERE claimed_by = ? AND done = 0",
                                (now, owner))
                self.db.execute("DELETE FROM leases WHERE owner = ? AND name NOT LIKE ?", (owner, CALL_IN_FLIGHT + "%"))
                self.db.execute("UPDATE outbox SET lease_until = 0 WHERE claimed_by = ? AND state = 'sending'",
                                (owner,))
        return len(dead)

    def acted_on(self) -> set[str]:
        """The recordings an action is being taken on now, by any process (their lease is held)."""
        prefix = recording_lease("")
        return {r["name"].removeprefix(prefix) for r in self.db.all(
            "SELECT name FROM leases WHERE name LIKE ? AND until >= ?", prefix + "%", self.clock())}

    def holder(self, name: str) -> str | None:
        owner: str | None = self.db.scalar("SELECT owner FROM leases WHERE name = ? AND until >= ?", name, self.clock())
        return owner
