"""What is kept of a meeting beside its recordings: marks, who was there, the session's transcript and
summary (each posted once), and each channel's settings."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from bot.models import Attendee, Mark
from bot.store.engine import Engine


class MeetingNotes:
    def __init__(self, db: Engine, clock: Callable[[], float] = time.time):
        self.db, self.clock = db, clock

    # -- marks ---------------------------------------------------------------------------

    def add_mark(self, recording_id: str, at: float, user_id: str | None, text: str) -> None:
        self.db.execute("INSERT INTO marks (recording_id, at, user_id, text) VALUES (?, ?, ?, ?)",
                        (recording_id, at, user_id, text))

    def marks(self, recording_id: str) -> list[Mark]:
        rows = self.db.all("SELECT recording_id, at, user_id, text FROM marks WHERE recording_id = ? "
                           "ORDER BY at, id", recording_id)
        return [Mark(**r) for r in rows]

    # -- attendance ------------------------------------------------------------------------

    def joined(self, session_id: str, participant_id: str, meeting_id: str, name: str, at: float | None,
               person: str | None = None) -> None:
        self.db.execute("INSERT INTO attendance (session_id, participant_id, meeting_id, name, joined_at, person) "
                        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (session_id, participant_id) DO UPDATE SET "
                        "name = excluded.name, joined_at = COALESCE(attendance.joined_at, excluded.joined_at), "
                        "person = COALESCE(excluded.person, attendance.person)",
                        (session_id, participant_id, meeting_id, name, at, person))

    def left(self, session_id: str, participant_id: str, meeting_id: str, name: str, at: float | None,
             joined_at: float | None = None, person: str | None = None) -> None:
        self.db.execute("INSERT INTO attendance (session_id, participant_id, meeting_id, name, joined_at, left_at, "
                        "person) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (session_id, participant_id) DO UPDATE SET "
                        "left_at = excluded.left_at, joined_at = COALESCE(attendance.joined_at, excluded.joined_at), "
                        "person = COALESCE(attendance.person, excluded.person)",
                        (session_id, participant_id, meeting_id, name, joined_at, at, person))

    def meeting_of_session(self, session_id: str) -> str | None:
        """A session's meeting, from who was there or its files (for a session with no recording here)."""
        meeting: str | None = self.db.scalar("SELECT meeting_id FROM attendance WHERE session_id = ? UNION "
                                             "SELECT meeting_id FROM session_files WHERE session_id = ? LIMIT 1",
                                             session_id, session_id)
        return meeting

    def attendance(self, session_id: str) -> list[Attendee]:
        rows = self.db.all("SELECT session_id, participant_id, name, joined_at, left_at FROM attendance "
                           "WHERE session_id = ? ORDER BY joined_at, name", session_id)
        return [Attendee(**r) for r in rows]

    # -- the session's files ------------------------------------------------------------------

    def claim_file(self, session_id: str, kind: str, meeting_id: str, url: str, expiry: float | None) -> bool:
        """Record that the session's transcript or summary is being posted; False when it already was."""
        return self.db.changed("INSERT INTO session_files (session_id, kind, meeting_id, url, expiry, posted_at) "
                               "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                               session_id, kind, meeting_id, url, expiry, self.clock()) > 0

    def file(self, session_id: str, kind: str) -> dict[str, Any] | None:
        return self.db.one("SELECT * FROM session_files WHERE session_id = ? AND kind = ?", session_id, kind)

    # -- channel settings -------------------------------------------------------------------

    def settings(self, channel_id: str) -> dict[str, str]:
        rows = self.db.all("SELECT name, value FROM channel_settings WHERE channel_id = ?", channel_id)
        return {r["name"]: r["value"] for r in rows}

    def set_setting(self, channel_id: str, name: str, value: str | None, by: str) -> None:
        if value is None:
            self.db.execute("DELETE FROM channel_settings WHERE channel_id = ? AND name = ?", (channel_id, name))
            return
        self.db.execute("INSERT INTO channel_settings (channel_id, name, value, set_by, set_at) VALUES (?, ?, ?, ?, ?) "
                        "ON CONFLICT (channel_id, name) DO UPDATE SET value = excluded.value, "
                        "set_by = excluded.set_by, set_at = excluded.set_at",
                        (channel_id, name, value, by, self.clock()))
