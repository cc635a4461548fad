"""SQLite, the truth on recbot's side: links, people, recordings, the ledger, audit, webhook
deliveries, the Slack outbox and timers.

One connection, used from the event loop's thread only: every call is a short local transaction
(well under a millisecond with the indexes below), so the loop never waits on another thread and
writes are naturally serialized. WAL lets readers (backups, `sqlite3` by hand) run alongside.
Transitions are compare-and-set (`… WHERE status = ?`), so duplicates, double clicks and
out-of-order webhooks cannot move a recording backwards.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import sqlite_utils

from bot.platform.models import Status

MIGRATIONS: list[str] = [
    # 1: the first schema
    """
    CREATE TABLE links (
        channel_id TEXT PRIMARY KEY, team_id TEXT, meeting_id TEXT NOT NULL, meeting_title TEXT NOT NULL DEFAULT '',
        linked_by TEXT NOT NULL, linked_at REAL NOT NULL, broken_reason TEXT
    );
    CREATE INDEX links_meeting ON links(meeting_id);
    CREATE INDEX links_linker ON links(linked_by);
    CREATE TABLE members (
        channel_id TEXT NOT NULL, user_id TEXT NOT NULL, role TEXT NOT NULL CHECK (role IN ('allow', 'deny')),
        set_by TEXT NOT NULL, set_at REAL NOT NULL, PRIMARY KEY (channel_id, user_id)
    );
    CREATE TABLE recordings (
        id TEXT PRIMARY KEY, meeting_id TEXT NOT NULL, channel_id TEXT NOT NULL, handle INTEGER NOT NULL,
        status TEXT NOT NULL, meeting_title TEXT NOT NULL DEFAULT '', started_by TEXT, origin TEXT NOT NULL,
        last_actor TEXT, last_action TEXT, card_ts TEXT, multi INTEGER NOT NULL DEFAULT 0,
        created_at REAL NOT NULL, updated_at REAL NOT NULL, last_news_at REAL NOT NULL,
        download_url TEXT, audio_url TEXT, url_expiry REAL, file_size REAL, duration REAL,
        stop_reason TEXT, error_reason TEXT, pause_until REAL, session_id TEXT,
        UNIQUE (meeting_id, handle)
    );
    CREATE INDEX recordings_channel ON recordings(channel_id, created_at);
    CREATE INDEX recordings_active ON recordings(status, last_news_at);
    CREATE TABLE ledger (
        id INTEGER PRIMARY KEY, recording_id TEXT NOT NULL, status TEXT NOT NULL, at REAL NOT NULL,
        actor TEXT, source TEXT NOT NULL, reason TEXT
    );
    CREATE INDEX ledger_recording ON ledger(recording_id, id);
    CREATE TABLE audit (
        id INTEGER PRIMARY KEY, at REAL NOT NULL, channel_id TEXT, user_id TEXT, action TEXT NOT NULL,
        target TEXT, outcome TEXT NOT NULL, detail TEXT
    );
    CREATE TABLE deliveries (
        id INTEGER PRIMARY KEY, delivery_id TEXT, body_hash TEXT NOT NULL, flavour TEXT NOT NULL,
        webhook_id TEXT, received_at REAL NOT NULL, body BLOB NOT NULL, processed_at REAL, outcome TEXT,
        same_body_as INTEGER
    );
    CREATE UNIQUE INDEX deliveries_uuid ON deliveries(delivery_id) WHERE delivery_id IS NOT NULL;
    CREATE INDEX deliveries_hash ON deliveries(body_hash);
    CREATE INDEX deliveries_pending ON deliveries(processed_at) WHERE processed_at IS NULL;
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY, kind TEXT NOT NULL, channel_id TEXT, recording_id TEXT, payload TEXT NOT NULL,
        coalesce_key TEXT, state TEXT NOT NULL DEFAULT 'pending', attempts INTEGER NOT NULL DEFAULT 0,
        next_at REAL NOT NULL, created_at REAL NOT NULL, sent_at REAL, ts TEXT, error TEXT
    );
    CREATE INDEX outbox_due ON outbox(state, next_at) WHERE state IN ('pending', 'sending');
    CREATE UNIQUE INDEX outbox_coalesce ON outbox(coalesce_key) WHERE state = 'pending';
    CREATE TABLE timers (
        id INTEGER PRIMARY KEY, kind TEXT NOT NULL, recording_id TEXT NOT NULL, due_at REAL NOT NULL,
        payload TEXT NOT NULL DEFAULT '{}', done INTEGER NOT NULL DEFAULT 0
    );
    CREATE UNIQUE INDEX timers_one ON timers(kind, recording_id) WHERE done = 0;
    CREATE INDEX timers_due ON timers(done, due_at);
    """,
]

ACTIVE = (Status.INVOKED.value, Status.RECORDING.value, Status.PAUSED.value)
UNFINISHED = (*ACTIVE, Status.UPLOADING.value)


@dataclass(frozen=True)
class Link:
    channel_id: str
    team_id: str | None
    meeting_id: str
    meeting_title: str
    linked_by: str
    linked_at: float
    broken_reason: str | None


@dataclass(frozen=True)
class Rec:
    """A recording as the store knows it."""

    id: str
    meeting_id: str
    channel_id: str
    handle: int
    status: Status
    meeting_title: str
    started_by: str | None
    origin: str
    last_actor: str | None
    last_action: str | None
    card_ts: str | None
    multi: bool
    created_at: float
    updated_at: float
    last_news_at: float
    download_url: str | None
    audio_url: str | None
    url_expiry: float | None
    file_size: float | None
    duration: float | None
    stop_reason: str | None
    error_reason: str | None
    pause_until: float | None
    session_id: str | None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Rec:
        return cls(**{**row, "status": Status(row["status"]), "multi": bool(row["multi"])})


@dataclass(frozen=True)
class LedgerEntry:
    status: Status
    at: float
    actor: str | None
    source: str
    reason: str | None


@dataclass(frozen=True)
class OutboxRow:
    id: int
    kind: str
    channel_id: str | None
    recording_id: str | None
    payload: dict[str, Any]
    state: str
    attempts: int
    next_at: float
    created_at: float


class Store:
    def __init__(self, path: str, clock=time.time):
        self.path, self.clock = path, clock
        # Built where the app is built, used on the loop's thread (the same one under uvicorn; another
        # under a test client), never by two threads at once.
        self.conn = sqlite3.connect(path, isolation_level=None, timeout=10.0, check_same_thread=False)
        self.conn.row_factory = sqlite3.Row
        self.db = sqlite_utils.Database(self.conn)
        for pragma in ("journal_mode = WAL", "synchronous = NORMAL", "busy_timeout = 10000",
                       "foreign_keys = ON"):
            self.conn.execute(f"PRAGMA {pragma}")
        self.migrate()

    def close(self) -> None:
        self.conn.close()

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken at once (IMMEDIATE) so it never fails half-way on a lock."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def migrate(self) -> int:
        version = self.conn.execute("PRAGMA user_version").fetchone()[0]
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            with self.tx() as c:
                for statement in filter(str.strip, script.split(";")):
                    c.execute(statement)
                c.execute(f"PRAGMA user_version = {number}")
        return len(MIGRATIONS)

    def schema_version(self) -> int:
        return self.conn.execute("PRAGMA user_version").fetchone()[0]

    def healthy(self) -> bool:
        try:
            return self.conn.execute("SELECT 1").fetchone()[0] == 1
        except sqlite3.Error:
            return False

    def _one(self, sql: str, *args: Any) -> dict[str, Any] | None:
        row = self.conn.execute(sql, args).fetchone()
        return dict(row) if row else None

    def _all(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        return [dict(r) for r in self.conn.execute(sql, args)]

    # -- links and people ----------------------------------------------------------------

    def link(self, channel_id: str) -> Link | None:
        row = self._one("SELECT * FROM links WHERE channel_id = ?", channel_id)
        return Link(**row) if row else None

    def links_for_meeting(self, meeting_id: str) -> list[Link]:
        return [Link(**r) for r in self._all("SELECT * FROM links WHERE meeting_id = ?", meeting_id)]

    def links_of_user(self, user_id: str) -> list[Link]:
        rows = self._all("SELECT l.* FROM links l WHERE l.linked_by = ? OR EXISTS (SELECT 1 FROM members m "
                         "WHERE m.channel_id = l.channel_id AND m.user_id = ? AND m.role = 'allow') "
                         "ORDER BY l.linked_at", user_id, user_id)
        return [Link(**r) for r in rows]

    def set_link(self, channel_id: str, team_id: str | None, meeting_id: str, title: str, user_id: str) -> None:
        with self.tx() as c:
            c.execute("INSERT OR REPLACE INTO links VALUES (?, ?, ?, ?, ?, ?, NULL)",
                      (channel_id, team_id, meeting_id, title, user_id, self.clock()))

    def remove_link(self, channel_id: str) -> bool:
        with self.tx() as c:
            return c.execute("DELETE FROM links WHERE channel_id = ?", (channel_id,)).rowcount > 0

    def mark_link_broken(self, channel_id: str, reason: str | None) -> bool:
        """Returns True when this call is the one that broke it (so the linker is told once)."""
        with self.tx() as c:
            if reason is None:
                return c.execute("UPDATE links SET broken_reason = NULL WHERE channel_id = ? "
                                 "AND broken_reason IS NOT NULL", (channel_id,)).rowcount > 0
            return c.execute("UPDATE links SET broken_reason = ? WHERE channel_id = ? AND broken_reason IS NULL",
                             (reason, channel_id)).rowcount > 0

    def role(self, channel_id: str, user_id: str) -> str | None:
        row = self._one("SELECT role FROM members WHERE channel_id = ? AND user_id = ?", channel_id, user_id)
        return row["role"] if row else None

    def set_role(self, channel_id: str, user_id: str, role: str, by: str) -> None:
        with self.tx() as c:
            c.execute("INSERT OR REPLACE INTO members VALUES (?, ?, ?, ?, ?)",
                      (channel_id, user_id, role, by, self.clock()))

    def members(self, channel_id: str) -> list[dict[str, Any]]:
        return self._all("SELECT user_id, role, set_by, set_at FROM members WHERE channel_id = ? ORDER BY set_at",
                         channel_id)

    # -- recordings ----------------------------------------------------------------------

    def recording(self, recording_id: str) -> Rec | None:
        row = self._one("SELECT * FROM recordings WHERE id = ?", recording_id)
        return Rec.from_row(row) if row else None

    def recordings_of_meeting(self, meeting_id: str, statuses: Iterable[str] = ACTIVE) -> list[Rec]:
        statuses = tuple(statuses)
        marks = ",".join("?" * len(statuses))
        rows = self._all(f"SELECT * FROM recordings WHERE meeting_id = ? AND status IN ({marks}) ORDER BY handle",
                         meeting_id, *statuses)
        return [Rec.from_row(r) for r in rows]

    def recording_by_handle(self, meeting_id: str, handle: int) -> Rec | None:
        row = self._one("SELECT * FROM recordings WHERE meeting_id = ? AND handle = ?", meeting_id, handle)
        return Rec.from_row(row) if row else None

    def history(self, channel_id: str, limit: int = 10) -> list[Rec]:
        rows = self._all("SELECT * FROM recordings WHERE channel_id = ? ORDER BY created_at DESC LIMIT ?",
                         channel_id, limit)
        return [Rec.from_row(r) for r in rows]

    def unfinished(self, limit: int = 10_000) -> list[Rec]:
        marks = ",".join("?" * len(UNFINISHED))
        rows = self._all(f"SELECT * FROM recordings WHERE status IN ({marks}) ORDER BY last_news_at LIMIT ?",
                         *UNFINISHED, limit)
        return [Rec.from_row(r) for r in rows]

    def active_in_channels(self, channel_ids: Iterable[str]) -> list[Rec]:
        ids = tuple(channel_ids)
        if not ids:
            return []
        marks, states = ",".join("?" * len(ids)), ",".join("?" * len(ACTIVE))
        rows = self._all(f"SELECT * FROM recordings WHERE channel_id IN ({marks}) AND status IN ({states}) "
                         "ORDER BY created_at", *ids, *ACTIVE)
        return [Rec.from_row(r) for r in rows]

    def add_recording(self, *, recording_id: str, meeting_id: str, channel_id: str, status: Status, title: str,
                      started_by: str | None, origin: str, multi: bool, at: float, source: str,
                      session_id: str | None = None) -> Rec | None:
        """Insert with the next `#n` of its meeting; None if the recording is already known."""
        now = self.clock()
        with self.tx() as c:
            if c.execute("SELECT 1 FROM recordings WHERE id = ?", (recording_id,)).fetchone():
                return None
            handle = c.execute("SELECT COALESCE(MAX(handle), 0) + 1 FROM recordings WHERE meeting_id = ?",
                               (meeting_id,)).fetchone()[0]
            c.execute("INSERT INTO recordings (id, meeting_id, channel_id, handle, status, meeting_title, started_by, "
                      "origin, last_actor, last_action, multi, created_at, updated_at, last_news_at, session_id) "
                      "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                      (recording_id, meeting_id, channel_id, handle, status.value, title, started_by, origin,
                       started_by, "started", int(multi), now, now, now, session_id))
            c.execute("INSERT INTO ledger (recording_id, status, at, actor, source) VALUES (?, ?, ?, ?, ?)",
                      (recording_id, status.value, at, started_by, source))
        return self.recording(recording_id)

    def transition(self, recording_id: str, expected: Status, new: Status, *, at: float, actor: str | None,
                   source: str, reason: str | None = None, action: str | None = None,
                   **fields: Any) -> bool:
        """Compare-and-set `expected → new`, with its ledger entry, in one transaction.

        `action` (a phrase such as "paused" or "stopped automatically: everyone left") becomes the
        card's "last action" together with `actor`; without it both stay as they were."""
        if expected is new:  # not a transition: `… WHERE status = ?` would match and log it twice
            return False
        now = self.clock()
        sets = ", ".join(f"{k} = ?" for k in fields)
        with self.tx() as c:
            changed = c.execute(
                "UPDATE recordings SET status = ?, updated_at = ?, last_news_at = ?, "
                "last_actor = CASE WHEN ? IS NULL THEN last_actor ELSE ? END, last_action = COALESCE(?, last_action)"
                + (f", {sets}" if sets else "") + " WHERE id = ? AND status = ?",
                (new.value, now, now, action, actor, action, *fields.values(), recording_id,
                 expected.value)).rowcount
            if changed:
                c.execute("INSERT INTO ledger (recording_id, status, at, actor, source, reason) "
                          "VALUES (?, ?, ?, ?, ?, ?)", (recording_id, new.value, at, actor, source, reason))
        return bool(changed)

    def update_recording(self, recording_id: str, **fields: Any) -> None:
        sets = ", ".join(f"{k} = ?" for k in fields)
        with self.tx() as c:
            c.execute(f"UPDATE recordings SET {sets} WHERE id = ?", (*fields.values(), recording_id))

    def ledger(self, recording_id: str) -> list[LedgerEntry]:
        rows = self._all("SELECT status, at, actor, source, reason FROM ledger WHERE recording_id = ? ORDER BY id",
                         recording_id)
        return [LedgerEntry(Status(r["status"]), r["at"], r["actor"], r["source"], r["reason"]) for r in rows]

    # -- audit ---------------------------------------------------------------------------

    def audit(self, *, channel_id: str | None, user_id: str | None, action: str, outcome: str,
              target: str | None = None, detail: str | None = None) -> None:
        with self.tx() as c:
            c.execute("INSERT INTO audit (at, channel_id, user_id, action, target, outcome, detail) "
                      "VALUES (?, ?, ?, ?, ?, ?, ?)",
                      (self.clock(), channel_id, user_id, action, target, outcome, detail))

    def audit_log(self, channel_id: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        if channel_id is None:
            return self._all("SELECT * FROM audit ORDER BY id DESC LIMIT ?", limit)
        return self._all("SELECT * FROM audit WHERE channel_id = ? ORDER BY id DESC LIMIT ?", channel_id, limit)

    # -- webhook deliveries --------------------------------------------------------------

    def add_delivery(self, *, delivery_id: str | None, body_hash: str, flavour: str, webhook_id: str | None,
                     body: bytes) -> str:
        """Store a verified delivery durably. Returns "new", "same-id" (a redelivery: not stored) or
        "same-body" (stored, marked: identical bodies can be distinct events, such as two pauses of one
        recording, since the payload carries no time of pause; applying it again is harmless)."""
        with self.tx() as c:
            if delivery_id and c.execute("SELECT 1 FROM deliveries WHERE delivery_id = ?", (delivery_id,)).fetchone():
                return "same-id"
            twin = c.execute("SELECT id FROM deliveries WHERE body_hash = ? ORDER BY id DESC LIMIT 1",
                             (body_hash,)).fetchone()
            c.execute("INSERT INTO deliveries (delivery_id, body_hash, flavour, webhook_id, received_at, body, "
                      "same_body_as) VALUES (?, ?, ?, ?, ?, ?, ?)",
                      (delivery_id, body_hash, flavour, webhook_id, self.clock(), body, twin[0] if twin else None))
            return "same-body" if twin else "new"

    def pending_deliveries(self, limit: int = 100) -> list[dict[str, Any]]:
        return self._all("SELECT id, body, received_at FROM deliveries WHERE processed_at IS NULL ORDER BY id LIMIT ?",
                         limit)

    def finish_delivery(self, delivery_id: int, outcome: str) -> None:
        with self.tx() as c:
            c.execute("UPDATE deliveries SET processed_at = ?, outcome = ? WHERE id = ?",
                      (self.clock(), outcome, delivery_id))

    # -- outbox --------------------------------------------------------------------------

    def enqueue(self, kind: str, payload: dict[str, Any], *, channel_id: str | None = None,
                recording_id: str | None = None, coalesce_key: str | None = None, delay: float = 0.0) -> None:
        """A Slack write, durable before anything is sent. Rows with the same pending
        `coalesce_key` merge into one (a card needs only its latest state)."""
        with self.tx() as c:
            c.execute("INSERT OR IGNORE INTO outbox (kind, channel_id, recording_id, payload, coalesce_key, next_at, "
                      "created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                      (kind, channel_id, recording_id, json.dumps(payload), coalesce_key, self.clock() + delay,
                       self.clock()))

    def outbox_pending(self, limit: int = 200) -> list[OutboxRow]:
        rows = self._all("SELECT id, kind, channel_id, recording_id, payload, state, attempts, next_at, created_at "
                         "FROM outbox "
                         "WHERE state IN ('pending', 'sending') ORDER BY id LIMIT ?", limit)
        return [OutboxRow(**{**r, "payload": json.loads(r["payload"])}) for r in rows]

    def outbox_claim(self, row_id: int) -> None:
        with self.tx() as c:
            c.execute("UPDATE outbox SET state = 'sending', attempts = attempts + 1 WHERE id = ?", (row_id,))

    def outbox_done(self, row_id: int, *, ts: str | None = None) -> None:
        with self.tx() as c:
            c.execute("UPDATE outbox SET state = 'sent', sent_at = ?, ts = ? WHERE id = ?", (self.clock(), ts, row_id))

    def outbox_retry(self, row_id: int, at: float, error: str, *, unsure: bool = False) -> None:
        """Try the row again at `at`. An `unsure` row (it may have reached Slack before a crash) keeps the
        state 'sending', so that even after another crash it is looked up before it is sent."""
        with self.tx() as c:
            # A card refresh that must wait merges with a newer pending one instead of duplicating it.
            row = c.execute("SELECT coalesce_key FROM outbox WHERE id = ?", (row_id,)).fetchone()
            if row and row[0] and c.execute("SELECT 1 FROM outbox WHERE coalesce_key = ? AND state = 'pending' "
                                            "AND id != ?", (row[0], row_id)).fetchone():
                c.execute("UPDATE outbox SET state = 'merged', error = ? WHERE id = ?", (error, row_id))
            else:
                c.execute("UPDATE outbox SET state = ?, next_at = ?, error = ? WHERE id = ?",
                          ("sending" if unsure else "pending", at, error, row_id))

    def outbox_fail(self, row_id: int, error: str) -> None:
        with self.tx() as c:
            c.execute("UPDATE outbox SET state = 'failed', error = ? WHERE id = ?", (error, row_id))

    def outbox_hold_channel(self, channel_id: str, error: str) -> int:
        """Keep a lost channel's writes aside (state 'held') so nothing is lost if the bot comes back."""
        with self.tx() as c:
            return c.execute("UPDATE outbox SET state = 'held', error = ? WHERE channel_id = ? "
                             "AND state IN ('pending', 'sending')", (error, channel_id)).rowcount

    def outbox_release_channel(self, channel_id: str) -> int:
        with self.tx() as c:
            return c.execute("UPDATE outbox SET state = 'pending', next_at = ? WHERE channel_id = ? AND state = 'held'",
                             (self.clock(), channel_id)).rowcount

    def outbox_counts(self) -> dict[str, int]:
        return {r["state"]: r["n"] for r in self._all("SELECT state, COUNT(*) AS n FROM outbox GROUP BY state")}

    # -- timers --------------------------------------------------------------------------

    def set_timer(self, kind: str, recording_id: str, due_at: float, payload: dict[str, Any] | None = None,
                  *, replace: bool = True) -> None:
        with self.tx() as c:
            if replace:
                c.execute("UPDATE timers SET done = 1 WHERE kind = ? AND recording_id = ? AND done = 0",
                          (kind, recording_id))
            c.execute("INSERT OR IGNORE INTO timers (kind, recording_id, due_at, payload) VALUES (?, ?, ?, ?)",
                      (kind, recording_id, due_at, json.dumps(payload or {})))

    def timer(self, kind: str, recording_id: str) -> dict[str, Any] | None:
        return self._one("SELECT * FROM timers WHERE kind = ? AND recording_id = ? AND done = 0", kind, recording_id)

    def cancel_timers(self, recording_id: str, kinds: Iterable[str]) -> None:
        kinds = tuple(kinds)
        with self.tx() as c:
            c.execute(f"UPDATE timers SET done = 1 WHERE recording_id = ? AND done = 0 "
                      f"AND kind IN ({','.join('?' * len(kinds))})", (recording_id, *kinds))

    def due_timers(self, now: float) -> list[dict[str, Any]]:
        rows = self._all("SELECT * FROM timers WHERE done = 0 AND due_at <= ? ORDER BY due_at", now)
        return [{**r, "payload": json.loads(r["payload"])} for r in rows]

    def finish_timer(self, timer_id: int) -> bool:
        with self.tx() as c:
            return c.execute("UPDATE timers SET done = 1 WHERE id = ? AND done = 0", (timer_id,)).rowcount > 0
