"""The platform's rate budget, counted in the database so that every process sharing it spends one budget:
the platform limits per token (RealtimeKit: per Cloudflare token, across all of Cloudflare), not per
process, so two processes each keeping its own count would together spend twice what is allowed.

Each documented window is counted in ten slots (`SLOTS`); a call is counted in its slot when the last
eleven slots (a little more than the window: erring on the side of fewer calls) leave room in every
bucket, all in one transaction that takes turns per account (an advisory lock on PostgreSQL, the write
lock on SQLite). A 429 that one process got blocks the account for every process until its
`Retry-After` has passed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from bot.store.engine import Engine

SLOTS = 10


class Budgets:
    def __init__(self, db: Engine, clock: Callable[[], float] = time.time):
        self.db, self.clock = db, clock

    def take(self, account: str, buckets: Sequence[tuple[str, int, float]]) -> float:
        """Count one call against each `(name, limit, window)` of `account`: 0.0 when counted, else the
        seconds to wait before asking again (nothing counted)."""
        now = self.clock()
        with self.db.transaction():
            if self.db.dialect == "postgres":
                self.db.execute("SELECT pg_advisory_xact_lock(727102, hashtext(?))", (account,))
            blocked = self.db.scalar("SELECT until FROM rate_blocks WHERE account = ?", account) or 0.0
            if blocked > now:
                return blocked - now
            used: dict[tuple[str, int], int] = {(r["bucket"], r["slot"]): r["used"] for r in self.db.all(
                "SELECT bucket, slot, used FROM rate_use WHERE account = ?", account)}
            slots = []
            for name, limit, window in buckets:
                length = window / SLOTS
                slot = int(now // length)
                if sum(n for (b, s), n in used.items() if b == name and s >= slot - SLOTS) >= limit:
                    return length - now % length  # look again when the oldest slot may have aged out
                slots.append((name, slot))
            for name, slot in slots:
                self.db.execute("INSERT INTO rate_use (account, bucket, slot, used) VALUES (?, ?, ?, 1) "
                                "ON CONFLICT (account, bucket, slot) DO UPDATE SET used = rate_use.used + 1",
                                (account, name, slot))
                if (name, slot) not in used:  # a new slot: those out of every window go
                    self.db.execute("DELETE FROM rate_use WHERE account = ? AND bucket = ? AND slot < ?",
                                    (account, name, slot - SLOTS - 1))
        return 0.0

    def block(self, account: str, seconds: float) -> None:
        """The platform answered 429: no process calls it for `account` until `seconds` have passed."""
        until = self.clock() + max(0.0, seconds)
        self.db.execute("INSERT INTO rate_blocks (account, until) VALUES (?, ?) ON CONFLICT (account) DO UPDATE "
                        "SET until = excluded.until WHERE rate_blocks.until < excluded.until", (account, until))


    def blocked(self, prefix: str) -> dict[str, float]:
        """Every block still running whose account starts with `prefix`: {account: until}. The outbox keeps
        Slack's 429s here ("slack:<workspace>:<method>"), so that every process holds back alike."""
        return {r["account"]: r["until"] for r in self.db.all(
            "SELECT account, until FROM rate_blocks WHERE account LIKE ? AND until > ?", prefix + "%", self.clock())}
