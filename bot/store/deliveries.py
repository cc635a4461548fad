"""The delivery queue: verified webhook bodies, stored before the 2xx, applied in arrival order."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from bot.store.engine import Database

CHANNEL = "recbot_deliveries"  # PostgreSQL: notified when deliveries are stored (`Store.on_deliveries`)


class DeliveryQueue:
    def __init__(self, db: Database, clock: Callable[[], float] = time.time):
        self.db, self.clock = db, clock

    def add(self, *, delivery_id: str | None, body_hash: str, flavour: str, webhook_id: str | None,
            body: bytes, account: str = "") -> str:
        """Store a verified delivery durably. Returns "new", "same-id" (a redelivery: not stored) or
        "same-body" (stored, marked: identical bodies can be distinct events, such as two pauses of one
        recording, since the payload carries no time of pause; applying it again is harmless)."""
        return self.add_many([{"delivery_id": delivery_id, "body_hash": body_hash, "flavour": flavour,
                               "webhook_id": webhook_id, "body": body, "account": account}])[0]

    def add_many(self, deliveries: list[dict[str, Any]]) -> list[str]:
        """`add` for a group, in one transaction; each delivery may say when it was received (else now)."""
        now = self.clock()
        with self.db.transaction():
            if self.db.dialect == "sqlite":
                return self._add_many_sqlite(deliveries, now)
            return self._add_many_one_by_one(deliveries, now)

    def _add_many_sqlite(self, deliveries: list[dict[str, Any]], now: float) -> list[str]:
        """One look-up and one insert for the whole group: four calls into SQLite instead of about seventy.
        Each call lets go of the GIL and must win it back from the busy event loop: under wrk a group of 31
        spent 4.2 ms in its two look-ups (0.2 ms alone), and ingest rose from 5,500 to 6,100/s with this.
        BEGIN IMMEDIATE holds the write lock from the look-up on, so no other writer comes between: the
        new ids follow the largest one, in order, and the look-up's answers stay true until the commit."""
        ids = sorted({d["delivery_id"] for d in deliveries if d["delivery_id"]})
        hashes = sorted({d["body_hash"] for d in deliveries})
        found = self.db.one(
            "SELECT (SELECT json_group_array(delivery_id) FROM deliveries WHERE delivery_id IS NOT NULL "
            "        AND delivery_id IN (SELECT value FROM json_each(?))) AS known, "
            "       (SELECT json_group_object(body_hash, id) FROM (SELECT body_hash, MAX(id) AS id FROM deliveries "
            "        WHERE body_hash IN (SELECT value FROM json_each(?)) GROUP BY body_hash)) AS twins, "
            "       (SELECT COALESCE(MAX(id), 0) FROM deliveries) AS last",
            json.dumps(ids), json.dumps(hashes))
        known, twins, last = set(json.loads(found["known"])), json.loads(found["twins"]), found["last"]
        outcomes, rows = [], []
        for d in deliveries:
            if d["delivery_id"] and d["delivery_id"] in known:
                outcomes.append("same-id")
                continue
            last += 1
            twin = twins.get(d["body_hash"])
            rows.append((last, d["delivery_id"], d["body_hash"], d["flavour"], d["webhook_id"],
                         d.get("received_at", now), d["body"], twin, d.get("account", "")))
            if d["delivery_id"]:
                known.add(d["delivery_id"])
            twins[d["body_hash"]] = last
            outcomes.append("same-body" if twin else "new")
        for part in _parts(rows, 100):  # 900 parameters a statement, well under SQLite's bound
            values = ",".join(["(?, ?, ?, ?, ?, ?, ?, ?, ?)"] * len(part))
            self.db.execute("INSERT INTO deliveries (id, delivery_id, body_hash, flavour, webhook_id, received_at, "
                            f"body, same_body_as, account) VALUES {values}", [value for row in part for value in row])
        return outcomes

    def _add_many_one_by_one(self, deliveries: list[dict[str, Any]], now: float) -> list[str]:
        """PostgreSQL: two look-ups for the group, one insert a delivery (its id comes from a sequence that
        other processes share)."""
        ids = sorted({d["delivery_id"] for d in deliveries if d["delivery_id"]})
        known = {r["delivery_id"] for part in _parts(ids) for r in self.db.all(
            f"SELECT delivery_id FROM deliveries WHERE delivery_id IN ({_marks(part)})", *part)}
        hashes = sorted({d["body_hash"] for d in deliveries})
        twins = {r["body_hash"]: r["id"] for part in _parts(hashes) for r in self.db.all(
            f"SELECT body_hash, MAX(id) AS id FROM deliveries WHERE body_hash IN ({_marks(part)}) "
            "GROUP BY body_hash", *part)}
        outcomes = []
        for d in deliveries:
            if d["delivery_id"] and d["delivery_id"] in known:
                outcomes.append("same-id")
                continue
            twin = twins.get(d["body_hash"])
            # ON CONFLICT: another process stored the same delivery id since the look-up above
            inserted = self.db.execute("INSERT INTO deliveries (delivery_id, body_hash, flavour, webhook_id, "
                                       "received_at, body, same_body_as, account) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                                       "ON CONFLICT DO NOTHING RETURNING id",
                                       (d["delivery_id"], d["body_hash"], d["flavour"], d["webhook_id"],
                                        d.get("received_at", now), d["body"], twin, d.get("account", ""))).fetchone()
            if inserted is None:
                outcomes.append("same-id")
                continue
            new_id = inserted[0]
            known.add(d["delivery_id"])
            twins[d["body_hash"]] = new_id
            outcomes.append("same-body" if twin else "new")
        if set(outcomes) - {"same-id"}:
            self.db.execute(f"NOTIFY {CHANNEL}")  # at commit: the process applying webhooks looks at once
        return outcomes

    def pending(self, limit: int = 100) -> list[dict[str, Any]]:
        return self.db.all("SELECT id, body, received_at, account FROM deliveries WHERE processed_at IS NULL "
                           "ORDER BY id LIMIT ?", limit)

    def finish(self, outcomes: list[tuple[int, str]]) -> None:
        """Mark applied deliveries with what was done, in one commit (applying one again is harmless)."""
        with self.db.transaction():
            for delivery_id, outcome in outcomes:
                self.db.execute("UPDATE deliveries SET processed_at = ?, outcome = ? WHERE id = ?",
                                (self.clock(), outcome, delivery_id))


def _marks(values: list) -> str:
    return ",".join("?" * len(values))


def _parts(values: list, size: int = 500) -> list[list]:
    """SQLite allows a bounded number of parameters in one statement."""
    return [values[i:i + size] for i in range(0, len(values), size)]
