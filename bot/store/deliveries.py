"""The delivery queue: verified webhook bodies, stored before the 2xx, applied in arrival order."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from bot.store.engine import Engine

CHANNEL = "recbot_deliveries"  # PostgreSQL: notified when deliveries are stored (`Store.on_deliveries`)


class DeliveryQueue:
    """Storing is all a 2xx waits for: one insert a group, appended in order, with no index on a random key
    written (two were, a B-tree page each per delivery, and they made up most of the ingest process's time
    under wrk). A redelivery is recognised when it comes to be applied: `pending` says which rows repeat an
    earlier one, and the worker finishes those without applying them again."""

    def __init__(self, db: Engine, clock: Callable[[], float] = time.time):
        self.db, self.clock = db, clock

    def add(self, *, delivery_id: str | None, body_hash: str, flavour: str, webhook_id: str | None,
            body: bytes, account: str = "") -> None:
        """Store a verified delivery durably."""
        self.add_many([{"delivery_id": delivery_id, "body_hash": body_hash, "flavour": flavour,
                        "webhook_id": webhook_id, "body": body, "account": account}])

    def add_many(self, deliveries: list[dict[str, Any]]) -> None:
        """`add` for a group, in arrival order, in one transaction; each delivery may say when it was received
        (else now)."""
        now = self.clock()
        rows = [(d["delivery_id"], d["body_hash"], d["flavour"], d["webhook_id"], d.get("received_at", now),
                 d["body"], d.get("account", "")) for d in deliveries]
        with self.db.transaction():
            for part in _parts(rows, 100):  # 700 parameters a statement, well under SQLite's bound
                self.db.execute("INSERT INTO deliveries (delivery_id, body_hash, flavour, webhook_id, received_at, "
                                f"body, account) VALUES {','.join(['(?, ?, ?, ?, ?, ?, ?)'] * len(part))}",
                                [value for row in part for value in row])
            if rows and self.db.dialect == "postgres":
                self.db.execute(f"NOTIFY {CHANNEL}")  # at commit: the process applying webhooks looks at once

    def pending(self, limit: int = 100) -> list[dict[str, Any]]:
        """The oldest deliveries not applied yet, in order. Each says whether it `repeats` one before it (the
        same body and delivery id: a redelivery, finished without being applied), and which is the latest
        before it with the same body (`same_body_as`: identical bodies can be distinct events, such as two
        pauses of one recording, since the payload carries no time of pause; it is applied, harmlessly)."""
        rows = [dict(row) for row in self.db.all(
            "SELECT id, delivery_id, body_hash, body, received_at, account FROM deliveries "
            "WHERE processed_at IS NULL ORDER BY id LIMIT ?", limit)]
        pairs = sorted({(r["body_hash"], r["delivery_id"]) for r in rows if r["delivery_id"]})
        known = {(r["body_hash"], r["delivery_id"]) for part in _parts(pairs) for r in self.db.all(
            f"SELECT d.body_hash, d.delivery_id FROM (VALUES {','.join(['(?, ?)'] * len(part))}) AS p "
            "JOIN deliveries AS d ON d.body_hash = p.column1 AND d.delivery_id = p.column2 "
            "WHERE d.processed_at IS NOT NULL", *[value for pair in part for value in pair])}
        hashes = sorted({r["body_hash"] for r in rows})
        latest = {r["body_hash"]: r["id"] for part in _parts(hashes) for r in self.db.all(
            "SELECT body_hash, MAX(id) AS id FROM deliveries WHERE processed_at IS NOT NULL "
            f"AND body_hash IN ({_marks(part)}) GROUP BY body_hash", *part)}
        for row in rows:  # what came before a row: the finished rows (all before the first pending one), and
            # the rows before it in this batch
            pair = (row["body_hash"], row["delivery_id"])
            row["repeats"] = bool(row["delivery_id"]) and pair in known
            row["same_body_as"] = latest.get(row["body_hash"])
            known.add(pair)
            latest[row["body_hash"]] = row["id"]
        return rows

    def finish(self, outcomes: list[tuple[int, str, int | None]]) -> None:
        """Mark deliveries done, each with what was done and the latest one before it with the same body
        (applying one again is harmless). Called in a write (`Store.write`), which commits it as one.

        One statement for a batch, not one a delivery: the write holds SQLite's only write lock, and each
        statement gives up Python's GIL while SQLite runs it, then waits to take it back from the busy loop
        thread. A statement a delivery held the lock 3 ms (median) and up to 14 ms a batch under wrk, while
        the ingest process waited to commit the deliveries coming in (docs/performance.md)."""
        now = self.clock()
        for part in _parts(outcomes, 150):  # three values a delivery, within SQLite's oldest limit of 999
            rows = ", ".join(["(CAST(? AS BIGINT), ?, CAST(? AS BIGINT))"] * len(part))  # PostgreSQL's ids are BIGINT
            self.db.execute(f"UPDATE deliveries SET processed_at = ?, outcome = v.column2, same_body_as = v.column3 "
                            f"FROM (VALUES {rows}) AS v WHERE deliveries.id = v.column1",
                            (now, *[value for outcome in part for value in outcome]))


def _marks(values: list[Any]) -> str:
    return ",".join("?" * len(values))


def _parts(values: list[Any], size: int = 500) -> list[list[Any]]:
    """SQLite allows a bounded number of parameters in one statement."""
    return [values[i:i + size] for i in range(0, len(values), size)]
