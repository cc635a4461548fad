"""Meetings shown in Slack as calls: one row per live session and workspace, the channels it is posted in,
and what Slack was last told of it. The outbox brings Slack in step (`bot/slack/calls.py`)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from bot.models import Call, Link, Outgoing, Status, Team
from bot.store.engine import Engine
from bot.store.outbox import OutboxQueue


def team_key(team: Team) -> str:
    return team.team_id or team.enterprise_id or ""


class CallStore:
    def __init__(self, db: Engine, outbox: OutboxQueue, clock: Callable[[], float] = time.time):
        self.db, self.outbox, self.clock = db, outbox, clock

    def open(self, link: Link, session_id: str, title: str, join_url: str, started_at: float) -> bool:
        """The session is live: its call in `link`'s workspace (once), posted in `link`'s channel (once).
        Returns whether anything was new."""
        key = team_key(link.team)
        with self.db.transaction():
            added = self.db.changed(
                "INSERT INTO calls (team_key, session_id, meeting_id, team_id, enterprise_id, title, join_url, "
                "created_by, started_at, shown) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, '{}') ON CONFLICT DO NOTHING",
                key, session_id, link.meeting_id, link.team_id, link.enterprise_id, title, join_url, link.linked_by,
                started_at)
            posted = self.db.changed("INSERT INTO call_channels (team_key, session_id, channel_id, posted) "
                                     "VALUES (?, ?, ?, 0) ON CONFLICT DO NOTHING", key, session_id, link.channel_id)
            if added or posted:
                call = self.get(key, session_id)
                assert call is not None
                if call.call_id:  # a channel linked while the call was shown already: post it there too
                    self.post_pending(call)
                self.sync(call)
        return bool(added or posted)

    def get(self, key: str, session_id: str) -> Call | None:
        row = self.db.one("SELECT * FROM calls WHERE team_key = ? AND session_id = ?", key, session_id)
        return _call(row) if row else None

    def live(self, meeting_id: str) -> list[Call]:
        return [_call(r) for r in self.db.all("SELECT * FROM calls WHERE meeting_id = ? AND ended_at IS NULL",
                                              meeting_id)]

    def all_live(self, limit: int) -> list[Call]:
        return [_call(r) for r in self.db.all("SELECT * FROM calls WHERE ended_at IS NULL ORDER BY started_at "
                                              "LIMIT ?", limit)]

    def end(self, meeting_id: str, session_id: str | None, at: float) -> int:
        """The session ended (or, with no session id, every live session of the meeting)."""
        calls = [c for c in self.live(meeting_id) if session_id is None or c.session_id == session_id]
        with self.db.transaction():
            for call in calls:
                self.db.execute("UPDATE calls SET ended_at = ? WHERE team_key = ? AND session_id = ? "
                                "AND ended_at IS NULL", (max(at, call.started_at), call.team_key, call.session_id))
                self.sync(call)
        return len(calls)

    def touch(self, meeting_id: str | None = None, session_id: str | None = None) -> int:
        """Something a live call shows changed (who is there, the recording's state): bring it in step."""
        if session_id is not None:
            rows = self.db.all("SELECT * FROM calls WHERE session_id = ? AND ended_at IS NULL", session_id)
        else:
            rows = self.db.all("SELECT * FROM calls WHERE meeting_id = ? AND ended_at IS NULL", meeting_id)
        for row in rows:
            self.sync(_call(row))
        return len(rows)

    def sync(self, call: Call) -> None:
        """One pending row per call: it reads what to show when it is sent."""
        self.outbox.enqueue(Outgoing.CALL, {"team_key": call.team_key, "session_id": call.session_id},
                            recording_id=call.key, coalesce_key=call.key, team=call.team)

    def post_pending(self, call: Call) -> None:
        """The call block in each of its channels not posted yet (its id is known)."""
        for row in self.db.all("SELECT channel_id FROM call_channels WHERE team_key = ? AND session_id = ? "
                               "AND posted = 0", call.team_key, call.session_id):
            self.outbox.enqueue(Outgoing.CALL_POST, {"call_id": call.call_id, "title": call.title},
                                channel_id=row["channel_id"], team=call.team)
        self.db.execute("UPDATE call_channels SET posted = 1 WHERE team_key = ? AND session_id = ?",
                        (call.team_key, call.session_id))

    # -- what Slack was told, and what it should show ---------------------------------------

    def added(self, call: Call, call_id: str, shown: dict[str, Any]) -> None:
        """calls.add answered: keep its id and post the call in its channels, at once."""
        with self.db.transaction():
            self.db.execute("UPDATE calls SET call_id = ?, shown = ? WHERE team_key = ? AND session_id = ?",
                            (call_id, json.dumps(shown), call.team_key, call.session_id))
            fresh = self.get(call.team_key, call.session_id)
            assert fresh is not None
            self.post_pending(fresh)

    def told(self, call: Call, shown: dict[str, Any]) -> None:
        self.db.execute("UPDATE calls SET shown = ? WHERE team_key = ? AND session_id = ?",
                        (json.dumps(shown), call.team_key, call.session_id))

    def refuse(self, call: Call, error: str) -> None:
        """Slack will not show this call (a missing scope, say): nothing more is sent for it."""
        self.db.execute("UPDATE calls SET refused = ? WHERE team_key = ? AND session_id = ?",
                        (error, call.team_key, call.session_id))

    def people(self, session_id: str) -> dict[str, str]:
        """Who is in the session now, each person once (their participants share the platform's custom participant
        id: two devices, or a rejoin heard before the leave): {person: display name}."""
        rows = self.db.all("SELECT COALESCE(person, participant_id) AS who, name FROM attendance WHERE session_id = ? "
                           "AND left_at IS NULL ORDER BY joined_at, participant_id", session_id)
        return {r["who"]: r["name"] or "someone" for r in rows}

    def recording_state(self, meeting_id: str) -> Status | None:
        """RECORDING when any recording of the meeting records, else PAUSED when one is paused, else None."""
        states = {r["status"] for r in self.db.all(
            "SELECT status FROM recordings WHERE meeting_id = ? AND status IN (?, ?)", meeting_id,
            Status.RECORDING.value, Status.PAUSED.value)}
        return Status.RECORDING if Status.RECORDING.value in states else \
            Status.PAUSED if Status.PAUSED.value in states else None


def _call(row: dict[str, Any]) -> Call:
    return Call(**{**row, "shown": json.loads(row["shown"] or "{}")})
