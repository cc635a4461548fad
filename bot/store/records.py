"""Queries over what recbot knows: links and people (`Links`, links.py), recordings with their ledger, and the
audit.

Transitions are compare-and-set (`… WHERE status = ?`), so duplicates, double clicks and
out-of-order webhooks cannot move a recording backwards. Each write joins the caller's
transaction when there is one (see `Engine.transaction`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from bot.ledger import LedgerEntry, LedgerReason, Summary, ledger_reason, stored_reason, summarize
from bot.models import ACTIVE, UNFINISHED, LastAction, Recording, Status
from bot.store.engine import Engine
from bot.store.links import Links


def _marks(values: tuple[object, ...]) -> str:
    return ",".join("?" * len(values))


class Records(Links):
    def __init__(self, db: Engine, clock: Callable[[], float] = time.time):
        self.db, self.clock = db, clock

    # -- recordings ----------------------------------------------------------------------

    def recording(self, recording_id: str) -> Recording | None:
        row = self.db.one("SELECT * FROM recordings WHERE id = ?", recording_id)
        return Recording.from_row(row) if row else None

    def recordings_of_meeting(self, meeting_id: str, statuses: Iterable[Status | str] = ACTIVE) -> list[Recording]:
        states = tuple(Status(s).value for s in statuses)
        rows = self.db.all(f"SELECT * FROM recordings WHERE meeting_id = ? AND status IN ({_marks(states)}) "
                           "ORDER BY handle", meeting_id, *states)
        return [Recording.from_row(r) for r in rows]

    def accounts_in(self, statuses: Iterable[Status]) -> list[str]:
        """The platform accounts that hold recordings in these states ("" for the environment's)."""
        states = tuple(Status(s).value for s in statuses)
        return [r["account"] for r in self.db.all(f"SELECT DISTINCT account FROM recordings WHERE status IN "
                                                  f"({_marks(states)}) ORDER BY account", *states)]

    def count_in(self, statuses: Iterable[Status]) -> int:
        states = tuple(Status(s).value for s in statuses)
        return int(self.db.scalar(f"SELECT COUNT(*) FROM recordings WHERE status IN ({_marks(states)})", *states))

    def recordings_of_session(self, session_id: str) -> list[Recording]:
        rows = self.db.all("SELECT * FROM recordings WHERE session_id = ? ORDER BY handle", session_id)
        return [Recording.from_row(r) for r in rows]

    def last_session(self, meeting_id: str) -> str | None:
        """The session of the meeting's latest recording."""
        session: str | None = self.db.scalar("SELECT session_id FROM recordings WHERE meeting_id = ? "
                                             "AND session_id IS NOT NULL ORDER BY created_at DESC LIMIT 1", meeting_id)
        return session

    def recording_by_handle(self, meeting_id: str, handle: int) -> Recording | None:
        row = self.db.one("SELECT * FROM recordings WHERE meeting_id = ? AND handle = ?", meeting_id, handle)
        return Recording.from_row(row) if row else None

    def history(self, channel_id: str, limit: int = 10) -> list[Recording]:
        rows = self.db.all("SELECT * FROM recordings WHERE channel_id = ? ORDER BY created_at DESC LIMIT ?",
                           channel_id, limit)
        return [Recording.from_row(r) for r in rows]

    def unfinished(self, limit: int = 10_000) -> list[Recording]:
        """Recordings not yet uploaded or failed, the stalest news first."""
        states = tuple(s.value for s in UNFINISHED)
        rows = self.db.all(f"SELECT * FROM recordings WHERE status IN ({_marks(states)}) "
                           "ORDER BY unknown_since IS NULL, last_news_at "
                           "LIMIT ?", *states, limit)
        return [Recording.from_row(r) for r in rows]

    def active_in_channels(self, channel_ids: Iterable[str]) -> list[Recording]:
        ids, states = tuple(channel_ids), tuple(s.value for s in ACTIVE)
        if not ids:
            return []
        rows = self.db.all(f"SELECT * FROM recordings WHERE channel_id IN ({_marks(ids)}) AND status IN "
                           f"({_marks(states)}) ORDER BY created_at", *ids, *states)
        return [Recording.from_row(r) for r in rows]

    def add_recording(self, *, recording_id: str, meeting_id: str, channel_id: str, status: Status, title: str,
                      started_by: str | None, origin: str, multi: bool, at: float, source: str,
                      session_id: str | None = None) -> Recording | None:
        """Insert with the next `#n` of its meeting and its first ledger entry; None if already known."""
        now = self.clock()
        with self.db.transaction():
            if self.db.dialect == "postgres":  # processes number a meeting's recordings in turn (SQLite: one writer)
                self.db.execute("SELECT pg_advisory_xact_lock(727103, hashtext(?))", (meeting_id,))
            if self.db.scalar("SELECT 1 FROM recordings WHERE id = ?", recording_id):
                return None
            handle = self.db.scalar("SELECT COALESCE(MAX(handle), 0) + 1 FROM recordings WHERE meeting_id = ?",
                                    meeting_id)
            inserted = self.db.execute("INSERT INTO recordings (id, meeting_id, channel_id, handle, status, "
                            "meeting_title, started_by, origin, last_actor, last_action, last_source, multi, "
                            "created_at, updated_at, last_news_at, session_id, team_id, enterprise_id, account) "
                            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
                            "(SELECT team_id FROM links WHERE channel_id = ?), "
                            "(SELECT enterprise_id FROM links WHERE channel_id = ?), "
                            "COALESCE((SELECT account FROM links WHERE channel_id = ?), '')) "
                            "ON CONFLICT (id) DO NOTHING RETURNING id",  # another process may have just added it
                            (recording_id, meeting_id, channel_id, handle, status.value, title, started_by, origin,
                             started_by, LastAction.STARTED, source, int(multi), now, now, now, session_id,
                             channel_id, channel_id, channel_id))
            if inserted.fetchone() is None:
                return None
            self._ledger_entry(recording_id, status, at, started_by, source, None)
        return self.recording(recording_id)

    def transition(self, recording_id: str, expected: Status, new: Status, *, at: float, actor: str | None,
                   source: str, reason: LedgerReason | None = None, action: str | None = None,
                   asked_at: float | None = None, seen_at: float | None = None, **fields: Any) -> bool:
        """Compare-and-set `expected → new` (and, given `asked_at`, only if what the current state rests on
        was seen before that: the report is newer), with its ledger entry; `seen_at` is kept as when what
        the new state rests on was seen.

        `action` (a `LastAction`) becomes the card's "last action" together with `actor` and `source`; without
        it all three stay as they were."""
        if expected is new:  # not a transition: `… WHERE status = ?` would match and log it twice
            return False
        now = self.clock()
        sets = "".join(f", {k} = ?" for k in fields)
        with self.db.transaction():
            if expected is Status.RECORDING:  # off the record no later than the unanswered action that did it
                at = min(at, self._asked_at(recording_id) or at)
            changed = self.db.changed(
                "UPDATE recordings SET status = ?, updated_at = ?, last_news_at = ?, unknown_since = NULL, "
                "seen_at = CASE WHEN CAST(? AS REAL) IS NULL THEN seen_at ELSE ? END, "
                "last_actor = CASE WHEN CAST(? AS TEXT) IS NULL THEN last_actor ELSE ? END, "
                "last_action = COALESCE(?, last_action), "
                "last_source = CASE WHEN CAST(? AS TEXT) IS NULL THEN last_source ELSE ? END"
                f"{sets} WHERE id = ? AND status = ? AND (CAST(? AS REAL) IS NULL OR seen_at < ?)",
                new.value, now, now, seen_at, seen_at, action, actor, action, action, source, *fields.values(),
                recording_id,
                expected.value, asked_at, asked_at)
            if changed:
                self._ledger_entry(recording_id, new, at, actor, source, stored_reason(reason))
        return bool(changed)

    def step_before_stop(self, recording_id: str, expected: Status, new: Status, *, at: float, actor: str | None,
                         source: str, reason: LedgerReason | None = None) -> bool:
        """A step the platform took before the recording stopped, learned after the stop was written (an action's
        answer that lost the race to the news of the stop): its ledger entry goes just before the stop (the
        entries from the stop on are written again after it, in order: the ledger is read in id order). A
        compare-and-set, as `transition`: only while the ledger's last RECORDING or PAUSED before the stop is
        `expected`."""
        with self.db.transaction():
            # the recording's row first, so that another process doing the same waits, then sees it done
            self.db.execute("UPDATE recordings SET updated_at = updated_at WHERE id = ?", (recording_id,))
            rows = self.db.all("SELECT id, status, at, actor, source, reason FROM ledger WHERE recording_id = ? "
                               "ORDER BY id", recording_id)
            stop = next((i for i, r in enumerate(rows) if Status(r["status"]).rank >= Status.UPLOADING.rank), None)
            before = [r["status"] for r in rows[:stop] if r["status"] in (Status.RECORDING.value,
                                                                          Status.PAUSED.value)]
            if stop is None or not before or before[-1] != expected.value:
                return False
            tail = rows[stop:]
            self.db.execute("DELETE FROM ledger WHERE recording_id = ? AND id >= ?", (recording_id, tail[0]["id"]))
            self._ledger_entry(recording_id, new, at, actor, source, stored_reason(reason))
            for r in tail:
                self._ledger_entry(recording_id, Status(r["status"]), r["at"], r["actor"], r["source"], r["reason"])
        return True

    def action_asked(self, recording_id: str) -> None:
        """An action is about to be asked of the platform: until its answer is written its outcome is unknown
        (`unknown_since`, which a process that dies meanwhile leaves so), since the first such unanswered action
        was asked. Never on a recording already uploaded or failed: nothing more can happen to it, and nothing would
        ever look again (the reconciler looks at unfinished ones), so its session's files would wait for that
        look until `HOLD_FOR` (two-process chaos run: an action whose answer never came, its look failing while
        another process wrote the upload meanwhile)."""
        states = tuple(s.value for s in UNFINISHED)
        self.db.execute(f"UPDATE recordings SET unknown_since = COALESCE(unknown_since, ?) WHERE id = ? "
                        f"AND status IN ({_marks(states)})", (self.clock(), recording_id, *states))

    def outcome_unknown(self, recording_id: str) -> None:
        """What the platform did to it is not known until it is asked (`Recording.outcome_unknown`): an action
        got no answer, or news waits for its confirmation. The reconciler asks about it first, and so does the
        next action on it; `unknown_since` keeps when it first became unknown, which dates a
        step out of RECORDING learned later (`_asked_at`) and bounds a transcript's cut meanwhile
        (bot/service/unsettled.py). Before, news sent to confirmation left its time at the last step's write,
        and the pause it confirmed was dated then: every line since that step withheld."""
        self.action_asked(recording_id)

    def news_seen(self, recording_id: str, asked_at: float | None) -> None:
        """A report that moves nothing still counts as news (the reconciler waits), but one asked for before
        an action still unanswered was asked (`asked_at`; a webhook's is 0: it has no time of its own) says
        nothing of that action's outcome, so it leaves the "outcome unknown" mark and its time to the
        action's own answer or a later look. (Chaos runs: news of the resume before a pause, arriving after
        the pause was asked whose answer was lost, cleared the mark, and the pause was dated when learned.)"""
        self.db.execute("UPDATE recordings SET last_news_at = ?, unknown_since = NULL WHERE id = ? AND "
                        "(unknown_since IS NULL OR CAST(? AS REAL) IS NULL OR unknown_since < ?)",
                        (self.clock(), recording_id, asked_at, asked_at))

    def _asked_at(self, recording_id: str) -> float | None:
        """When an action whose outcome is still unknown was asked (see `action_asked`): a state learned later
        (another process's look, a second click, the reconciler) may have been reached as soon as then. The
        ledger dates leaving RECORDING no later than that, since the transcript is cut by the ledger: a line
        said after a pause the platform made must never count as recorded."""
        since: float | None = self.db.scalar("SELECT unknown_since FROM recordings WHERE id = ?", recording_id)
        return since

    def _ledger_entry(self, recording_id: str, status: Status, at: float, actor: str | None, source: str,
                      reason: str | None) -> None:
        self.db.execute("INSERT INTO ledger (recording_id, status, at, actor, source, reason) "
                        "VALUES (?, ?, ?, ?, ?, ?)",
                        (recording_id, status.value, at, actor, source, reason))

    def update_recording(self, recording_id: str, **fields: Any) -> None:
        sets = ", ".join(f"{k} = ?" for k in fields)
        self.db.execute(f"UPDATE recordings SET {sets} WHERE id = ?", (*fields.values(), recording_id))

    def keep_card_ts(self, recording_id: str, ts: str) -> None:
        """The card's message ts, unless it is known already."""
        self.db.execute("UPDATE recordings SET card_ts = ? WHERE id = ? AND card_ts IS NULL", (ts, recording_id))

    def ledger(self, recording_id: str) -> list[LedgerEntry]:
        rows = self.db.all("SELECT status, at, actor, source, reason FROM ledger WHERE recording_id = ? ORDER BY id",
                           recording_id)
        return [LedgerEntry(Status(r["status"]), r["at"], r["actor"], r["source"], ledger_reason(r["reason"]))
                for r in rows]

    def summary(self, recording_id: str, now: float) -> Summary:
        """What the recording's ledger adds up to at `now`: its recorded and paused intervals."""
        return summarize(self.ledger(recording_id), now)

    # -- audit ---------------------------------------------------------------------------

    def audit(self, *, channel_id: str | None, user_id: str | None, action: str, outcome: str,
              target: str | None = None, detail: str | None = None) -> None:
        self.db.execute("INSERT INTO audit (at, channel_id, user_id, action, target, outcome, detail) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (self.clock(), channel_id, user_id, action, target, outcome, detail))

    def audit_log(self, channel_id: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        if channel_id is None:
            return self.db.all("SELECT * FROM audit ORDER BY id DESC LIMIT ?", limit)
        return self.db.all("SELECT * FROM audit WHERE channel_id = ? ORDER BY id DESC LIMIT ?", channel_id, limit)
