"""The delivery queue: verified webhook bodies, stored before the 2xx, applied in arrival order."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from bot.store.engine import Database


class DeliveryQueue:
    def __init__(self, db: Database, clock: Callable[[], float] = time.time):
        self.db, self.clock = db, clock

    def add(self, *, delivery_id: str | None, body_hash: str, flavour: str, webhook_id: str | None,
            body: bytes) -> str:
        """Store a verified delivery durably. Returns "new", "same-id" (a redelivery: not stored) or
        "same-body" (stored, marked: identical bodies can be distinct events, such as two pauses of one
        recording, since the payload carries no time of pause; applying it again is harmless)."""
        with self.db.transaction():
            if delivery_id and self.db.scalar("SELECT 1 FROM deliveries WHERE delivery_id = ?", delivery_id):
                return "same-id"
            twin = self.db.scalar("SELECT id FROM deliveries WHERE body_hash = ? ORDER BY id DESC LIMIT 1", body_hash)
            self.db.execute("INSERT INTO deliveries (delivery_id, body_hash, flavour, webhook_id, received_at, body, "
                            "same_body_as) VALUES (?, ?, ?, ?, ?, ?, ?)",
                            (delivery_id, body_hash, flavour, webhook_id, self.clock(), body, twin))
            return "same-body" if twin else "new"

    def pending(self, limit: int = 100) -> list[dict[str, Any]]:
        return self.db.all("SELECT id, body, received_at FROM deliveries WHERE processed_at IS NULL ORDER BY id "
                           "LIMIT ?", limit)

    def finish(self, delivery_id: int, outcome: str) -> None:
        self.db.execute("UPDATE deliveries SET processed_at = ?, outcome = ? WHERE id = ?",
                        (self.clock(), outcome, delivery_id))
