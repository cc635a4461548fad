"""Timers in the store, so a restart forgets none: at most one pending timer of a kind per recording."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from bot.models import Timer
from bot.store.engine import Engine


@dataclass(frozen=True)
class DueTimer:
    id: int
    kind: Timer
    recording_id: str
    due_at: float
    payload: dict[str, Any]


class TimerQueue:
    def __init__(self, db: Engine):
        self.db = db

    def set(self, kind: Timer, recording_id: str, due_at: float, payload: dict[str, Any] | None = None) -> None:
        """Set a timer, replacing a pending one of the same kind."""
        with self.db.transaction():
            self.cancel(recording_id, (kind,))
            self.db.execute("INSERT INTO timers (kind, recording_id, due_at, payload) VALUES (?, ?, ?, ?) "
                            "ON CONFLICT DO NOTHING", (kind.value, recording_id, due_at, json.dumps(payload or {})))

    def pending(self, kind: Timer, recording_id: str) -> DueTimer | None:
        row = self.db.one("SELECT * FROM timers WHERE kind = ? AND recording_id = ? AND done = 0", kind.value,
                          recording_id)
        return _timer(row) if row else None

    def cancel(self, recording_id: str, kinds: tuple[Timer, ...]) -> None:
        names = tuple(k.value for k in kinds)
        self.db.execute(f"UPDATE timers SET done = 1 WHERE recording_id = ? AND done = 0 "
                        f"AND kind IN ({','.join('?' * len(names))})", (recording_id, *names))

    def due(self, now: float) -> list[DueTimer]:
        return [_timer(r) for r in self.db.all("SELECT * FROM timers WHERE done = 0 AND due_at <= ? ORDER BY due_at",
                                               now)]

    def claim(self, timer_id: int, now: float, until: float, owner: str) -> bool:
        """Take a timer due at `now` to act on it, for `owner` (a lease's): it is due again at `until` unless
        finished by then (its taker died meanwhile: another fires it). False when another process claimed or
        finished it first."""
        return self.db.changed("UPDATE timers SET due_at = ?, claimed_by = ? WHERE id = ? AND done = 0 "
                               "AND due_at <= ?", until, owner, timer_id, now) > 0

    def finish(self, timer_id: int) -> bool:
        """Mark a timer fired; False when another run fired it first."""
        return self.db.changed("UPDATE timers SET done = 1 WHERE id = ? AND done = 0", timer_id) > 0


def _timer(row: dict[str, Any]) -> DueTimer:
    return DueTimer(id=row["id"], kind=Timer(row["kind"]), recording_id=row["recording_id"], due_at=row["due_at"],
                    payload=json.loads(row["payload"]))
