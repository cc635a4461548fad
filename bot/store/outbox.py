"""The outbox queue: every Slack write is a row here first, committed with the decision that causes it.

Rows with the same pending `coalesce_key` merge into one (a card needs only its latest state).
States: pending → sending → sent | failed | merged; `held` for a channel recbot has lost.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from bot import metrics
from bot.models import Team
from bot.store.engine import Duplicate, Engine

T = TypeVar("T")

# What a finished row keeps: a transcript copy's lines leave the queue when it is sent, given up or dropped
_EMPTIED = "payload = CASE WHEN kind = 'upload' THEN '{}' ELSE payload END"


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
    team_id: str | None = None  # whose token sends it (many workspaces)
    enterprise_id: str | None = None
    tried_at: float | None = None  # when it was last taken to be sent ('sending' since: a crash may have caught it)
    claimed_by: str | None = None  # the process that last took it ('sending': the one that may have sent it)
    rank: int | None = None  # as `due` ranks it: a thread's reply as its thread's most urgent pending one

    @property
    def team(self) -> Team:
        return Team(self.team_id, self.enterprise_id)


class OutboxQueue:
    def __init__(self, db: Engine, clock: Callable[[], float] = time.time):
        self.db, self.clock = db, clock
        # How urgent a row is (smaller: sooner), from its kind and payload; the outbox sets it (bot/slack/kinds/)
        self.rank: Callable[[str, dict[str, Any]], int] = lambda kind, payload: 0

    def enqueue(self, kind: str, payload: dict[str, Any], *, channel_id: str | None = None,
                recording_id: str | None = None, coalesce_key: str | None = None, delay: float = 0.0,
                team: Team | None = None) -> None:
        now, team = self.clock(), team or Team(None)
        if (webhook_at := metrics.WEBHOOK_AT.get()) is not None:  # caused by a webhook: for webhook-to-Slack
            payload = {**payload, "webhook_at": webhook_at}
        self.db.execute("INSERT INTO outbox (kind, channel_id, recording_id, payload, coalesce_key, next_at, "
                        "created_at, team_id, enterprise_id, priority) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                        "ON CONFLICT DO NOTHING",
                        (kind, channel_id, recording_id, json.dumps(payload), coalesce_key, now + delay, now,
                         team.team_id, team.enterprise_id, self.rank(kind, payload)))

    def due(self, now: float | None = None, limit: int = 200, *, owner: str = "",
            threads: tuple[str, ...] = ()) -> list[OutboxRow]:
        """Rows still to send, the most urgent first (`priority`; a reply of the kinds in `threads` ranks as
        the most urgent unsent reply of its recording, so a thread's replies go in order and a thread holding
        a download link goes first), oldest first within a priority; with `now`, only those
        whose time has come, so that rows waiting out a backoff never hide the ones behind them. Not the
        rows another live process (an `owner` other than this one) is sending, nor any later row of a
        recording with a row another process is sending or left half-sent (it may have reached Slack: it is
        looked up first): a card is posted once and edited by one process at a time, and a thread's
        replies keep their order. Of a thread's pending replies only the first is read (those 'sending' are
        all read: they are looked up together): the others could not go before it anyway, and a thread
        waiting for a crash look-up (Tier 1, a minute each) with hundreds of replies behind it filled
        `limit` with rows that could not go, so that no other channel's row was ever read (the chaos run's
        stall, docs/reliability.md)."""
        at, clock = float("inf") if now is None else now, self.clock()
        marks = ",".join("?" * len(threads)) or "NULL"
        rows = self.db.all(
            "SELECT o.id, o.kind, o.channel_id, o.recording_id, o.payload, o.state, o.attempts, o.next_at, "
            "o.created_at, o.team_id, o.enterprise_id, o.tried_at, o.claimed_by, COALESCE(t.p, o.priority) AS rank "
            "FROM outbox o LEFT JOIN (SELECT recording_id, "
            "MIN(priority) AS p FROM outbox WHERE state IN ('pending', 'sending') AND recording_id IS NOT NULL "
            f"AND kind IN ({marks}) GROUP BY recording_id) t ON t.recording_id = o.recording_id "
            f"AND o.kind IN ({marks}) WHERE o.state IN ('pending', 'sending') AND o.next_at <= ? "
            "AND NOT (o.state = 'sending' AND COALESCE(o.claimed_by, '') <> ? AND COALESCE(o.lease_until, 0) >= ?) "
            "AND NOT (o.recording_id IS NOT NULL AND EXISTS (SELECT 1 FROM outbox e WHERE "
            "e.recording_id = o.recording_id AND e.id < o.id AND e.state = 'sending' "
            "AND COALESCE(e.claimed_by, '') <> ?)) "
            f"AND NOT (o.state = 'pending' AND o.kind IN ({marks}) AND EXISTS (SELECT 1 FROM outbox b WHERE "
            f"b.recording_id = o.recording_id AND b.id < o.id AND b.kind IN ({marks}) "
            "AND b.state IN ('pending', 'sending'))) ORDER BY COALESCE(t.p, o.priority), o.id LIMIT ?",
            *threads, *threads, at, owner, clock, owner, *threads, *threads, limit)
        return [OutboxRow(**{**r, "payload": json.loads(r["payload"])}) for r in rows]

    def caught(self, owner: str) -> list[OutboxRow]:
        """Rows a crash caught mid-send that `owner` may take now (their process is gone or its lease ran
        out), all of them, even those behind another in their thread: they are looked for in Slack together."""
        rows = self.db.all(
            "SELECT id, kind, channel_id, recording_id, payload, state, attempts, next_at, created_at, team_id, "
            "enterprise_id, tried_at, claimed_by FROM outbox WHERE state = 'sending' AND COALESCE(claimed_by, '') <> ? "
            "AND COALESCE(lease_until, 0) < ? ORDER BY id", owner, self.clock())
        return [OutboxRow(**{**r, "payload": json.loads(r["payload"])}) for r in rows]

    def waiting(self, now: float, kinds: tuple[str, ...]) -> tuple[float | None, dict[str, int]]:
        """(when the next row not yet due may go, and for each recording with an unsent row of `kinds` the
        smallest such row id: its later replies wait behind it, to keep the thread in order)."""
        soonest = self.db.scalar("SELECT MIN(next_at) FROM outbox WHERE state IN ('pending', 'sending') "
                                 "AND next_at > ?", now)
        marks = ",".join("?" * len(kinds))
        rows = self.db.all(f"SELECT recording_id, MIN(id) AS first FROM outbox WHERE state IN ('pending', 'sending') "
                           f"AND recording_id IS NOT NULL AND kind IN ({marks}) GROUP BY recording_id", *kinds)
        return soonest, {r["recording_id"]: r["first"] for r in rows}

    def claim(self, row_id: int, owner: str = "", lease: float = 45.0) -> bool:
        """Take a row to send it: False when another live process holds it (its lease has not run out), or
        an earlier row of its recording is in another process's hands or left half-sent (a thread keeps its
        order, a card is posted once and has one editor).

        On PostgreSQL the row is taken under its row lock, skipping it if another process is taking it
        (`FOR UPDATE SKIP LOCKED`: no process waits on another's claim), and claims for one recording take
        turns by a transaction-level advisory lock, so the check for its earlier rows cannot race. On
        SQLite the write lock (`BEGIN IMMEDIATE`) gives both."""
        now, postgres = self.clock(), self.db.dialect == "postgres"
        with self.db.transaction():
            if postgres and not self.db.scalar(
                    "SELECT r IS NULL OR pg_try_advisory_xact_lock(727101, hashtext(r)) "
                    "FROM (SELECT recording_id AS r FROM outbox WHERE id = ?) q", row_id):
                return False  # another process is claiming a row of this recording at this moment (or it is gone)
            return self.db.changed(
                "UPDATE outbox SET tried_at = CASE WHEN state = 'pending' THEN ? ELSE COALESCE(tried_at, ?) END, "
                "state = 'sending', attempts = attempts + 1, claimed_by = ?, lease_until = ? "
                "WHERE id = (SELECT id FROM outbox o WHERE id = ? AND (state = 'pending' OR (state = 'sending' AND "
                "(claimed_by IS NULL OR claimed_by = ? OR lease_until < ?))) "
                "AND NOT (recording_id IS NOT NULL AND EXISTS (SELECT 1 FROM outbox e WHERE "
                "e.recording_id = o.recording_id AND e.id < o.id AND e.state = 'sending' "
                "AND COALESCE(e.claimed_by, '') <> ?))"
                f"{' FOR UPDATE SKIP LOCKED' if postgres else ''})",
                now, now, owner, now + lease, row_id, owner, now, owner) > 0

    def release(self, owner: str) -> int:
        """Let go of the rows `owner` leased (it is stopping): another process may take them at once."""
        return self.db.changed("UPDATE outbox SET lease_until = 0 WHERE claimed_by = ? AND state = 'sending'", owner)

    def done(self, row_id: int, *, ts: str | None = None) -> None:
        """Sent. A transcript copy's lines leave the outbox with it: what recbot keeps of them is in
        transcript_lines, for its stated time (REC_TRANSCRIPT_DAYS), not in a queue's history."""
        self.db.execute(f"UPDATE outbox SET state = 'sent', sent_at = ?, ts = ?, {_EMPTIED} WHERE id = ?",
                        (self.clock(), ts, row_id))

    def retry(self, row_id: int, at: float, error: str, *, unsure: bool = False) -> None:
        """Try the row again at `at`. An `unsure` row (it may have reached Slack before a crash) keeps the
        state 'sending', so that even after another crash it is looked up before it is sent."""
        def step() -> None:
            # A card refresh that must wait merges with a newer pending one instead of duplicating it.
            key = self.db.scalar("SELECT coalesce_key FROM outbox WHERE id = ?", row_id)
            if key and self.db.scalar("SELECT 1 FROM outbox WHERE coalesce_key = ? AND state = 'pending' AND id != ?",
                                      key, row_id):
                self.db.execute("UPDATE outbox SET state = 'merged', error = ? WHERE id = ?", (error, row_id))
            else:
                self.db.execute("UPDATE outbox SET state = ?, next_at = ?, error = ? WHERE id = ?",
                                ("sending" if unsure else "pending", at, error, row_id))
        self._merging(step)

    def degrade(self, row_id: int, error: str) -> None:
        """Slack refused the row as rendered: send it again at once, in a more compact form (a card that
        has a newer refresh pending merges into it, and that one is rendered compact too)."""
        def step() -> None:
            row = self.db.one("SELECT payload, coalesce_key FROM outbox WHERE id = ?", row_id)
            if row is None:
                return
            payload, target = json.loads(row["payload"]), row_id
            level = int(payload.get("compact") or 0) + 1
            newer = row["coalesce_key"] and self.db.one(
                "SELECT id, payload FROM outbox WHERE coalesce_key = ? AND state = 'pending' AND id != ?",
                row["coalesce_key"], row_id)
            if newer:
                self.db.execute("UPDATE outbox SET state = 'merged', error = ? WHERE id = ?", (error, row_id))
                target, payload = newer["id"], json.loads(newer["payload"])
            self.db.execute("UPDATE outbox SET state = 'pending', next_at = ?, error = ?, payload = ? WHERE id = ?",
                            (self.clock(), error, json.dumps({**payload, "compact": level}), target))
        self._merging(step)

    def _merging(self, step: Callable[[], T]) -> T:
        """Run `step`, which puts a row back to pending unless a pending row of its coalesce key is there to
        merge into, all or nothing, and once more if it met `outbox_coalesce`: on PostgreSQL another
        process's decision may have queued a row of the same key after `step` looked (not committed then,
        so not seen; committed when the UPDATE met it in the index). Looked at again, it is seen and merged
        into: the card's newest state goes, and no drain fails (the chaos run's, docs/reliability.md)."""
        for attempt in range(3):
            try:
                with self.db.transaction():
                    return step()
            except Duplicate:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def redirect(self, row_id: int, kind: str, payload: dict[str, Any], error: str) -> None:
        """The row cannot go the way it was meant to: it goes at once as `kind` with `payload` instead. It is
        another message then, so it leaves its coalesce key: it neither merges into a pending row of that key
        (the answer would be lost) nor meets `outbox_coalesce` (as `retry` did, `_merging`). The rows given
        here (a response_url's answer, a form) carry no key today; that holds should one ever carry one."""
        self.db.execute("UPDATE outbox SET kind = ?, payload = ?, state = 'pending', next_at = ?, attempts = 0, "
                        "error = ?, claimed_by = NULL, lease_until = NULL, coalesce_key = NULL WHERE id = ?",
                        (kind, json.dumps(payload), self.clock(), error, row_id))

    def fail(self, row_id: int, error: str) -> None:
        self.db.execute(f"UPDATE outbox SET state = 'failed', error = ?, {_EMPTIED} WHERE id = ?", (error, row_id))

    def hold_channel(self, channel_id: str, error: str) -> int:
        """Keep a lost channel's writes aside (state 'held') so nothing is lost if the bot comes back."""
        return self.db.changed("UPDATE outbox SET state = 'held', error = ? WHERE channel_id = ? "
                               "AND state IN ('pending', 'sending')", error, channel_id)

    def release_channel(self, channel_id: str) -> int:
        """Send a channel's kept rows after all; of a card's kept refreshes only the newest, and none
        where a refresh is pending already (it renders the latest state anyway)."""
        def step() -> int:
            self.db.execute("UPDATE outbox SET state = 'merged' WHERE channel_id = ? AND state = 'held' "
                            "AND coalesce_key IS NOT NULL AND (coalesce_key IN (SELECT coalesce_key FROM outbox "
                            "WHERE state = 'pending' AND coalesce_key IS NOT NULL) OR id NOT IN (SELECT MAX(id) "
                            "FROM outbox WHERE channel_id = ? AND state = 'held' AND coalesce_key IS NOT NULL "
                            "GROUP BY coalesce_key))", (channel_id, channel_id))
            return self.db.changed("UPDATE outbox SET state = 'pending', next_at = ? WHERE channel_id = ? "
                                   "AND state = 'held'", self.clock(), channel_id)
        return self._merging(step)

    def drop_team(self, team_id: str | None, enterprise_id: str | None = None) -> int:
        """A workspace (or a whole org) uninstalled recbot: its writes will never be sent."""
        if team_id:
            return self.db.changed(f"UPDATE outbox SET state = 'dropped', error = 'uninstalled', {_EMPTIED} "
                                   "WHERE team_id = ? AND state IN ('pending', 'sending', 'held')", team_id)
        return self.db.changed(f"UPDATE outbox SET state = 'dropped', error = 'uninstalled', {_EMPTIED} "
                               "WHERE enterprise_id = ? AND state IN ('pending', 'sending', 'held')", enterprise_id)

    def release_team(self, team_id: str | None, enterprise_id: str | None = None) -> int:
        """A workspace (or, with no team, an org) installed recbot again: what waits to go there is due now (a 429's
        hold still holds its method: the outbox keeps it apart from a row's time)."""
        now, column = self.clock(), "team_id" if team_id else "enterprise_id"
        return self.db.changed(f"UPDATE outbox SET next_at = ? WHERE {column} = ? AND state = 'pending' "
                               "AND next_at > ?", now, team_id or enterprise_id, now)

    def counts(self) -> dict[str, int]:
        return {r["state"]: r["n"] for r in self.db.all("SELECT state, COUNT(*) AS n FROM outbox GROUP BY state")}
