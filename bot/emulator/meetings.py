"""The emulated platform's meetings: their sessions and the people in them (join, say, leave, the host
ending it, kick-all), and what comes next for a meeting whose last participant left."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from bot.emulator import notes
from bot.emulator.errors import EmuError
from bot.emulator.records import Meeting, Session
from bot.models import Status

if TYPE_CHECKING:
    from collections.abc import Callable

    from bot.emulator.modes import Modes
    from bot.emulator.records import Recording, Timing

ACTIVE = (Status.INVOKED, Status.RECORDING, Status.PAUSED)


class Meetings:
    """A mixin of `Platform`: it uses the platform's meetings, sessions, timing and modes, its events, and
    starts and stops its recordings."""

    meetings: dict[str, Meeting]
    sessions: dict[str, Session]
    modes: Modes
    timing: Timing
    _emptied: set[str]
    _notes_due: set[str]
    _emit: Callable[..., None]
    _of: Callable[[str], list[Recording]]
    start_recording: Callable[..., Recording]
    _stop: Callable[[float, Recording, str], None]

    def create_meeting(self, now: float, title: str | None = None, record_on_start: bool = False,
                       keep_alive: float | None = None, **options: Any) -> Meeting:
        """`options`: transcribe_on_end, summarize_on_end, summary_type."""
        meeting = Meeting(id=str(uuid.uuid4()), title=title or "", created_at=now, record_on_start=record_on_start,
                          keep_alive=keep_alive, **options)
        self.meetings[meeting.id] = meeting
        return meeting

    def meeting(self, meeting_id: str) -> Meeting:
        try:
            return self.meetings[meeting_id]
        except KeyError:
            raise EmuError(404, f"No meeting found for meeting_id {meeting_id}") from None

    def live_session(self, meeting_id: str) -> Session | None:
        session = self.meeting(meeting_id).session
        return session if session and session.live else None

    def outlook(self, meeting_id: str, now: float) -> dict[str, Any]:
        """What comes next for the meeting's latest session, in seconds from `now` (the workbench's meeting
        panel says it): with everyone gone, when its recorder stops and when it ends; then when its notes
        (the transcript and summary it was created with) are written."""
        meeting = self.meeting(meeting_id)
        s = meeting.session
        notes = [n for n, on in (("transcript", meeting.transcribe_on_end), ("summary", meeting.summarize_on_end))
                 if on]
        written = [n for n in ("transcript", "summary") if s and n in s.files]
        out: dict[str, Any] = {"session": None, "stops_in": None, "ends_in": None, "notes": notes,
                               "notes_in": None, "written": written}
        if s is None:
            return out
        out["session"] = "live" if s.live else "ended"
        if s.live and s.empty_since is not None:
            empty_stop, session_end = self._keep_alive(meeting)
            if any(r.status is Status.RECORDING for r in self._of(meeting.id)):
                out["stops_in"] = max(0.0, s.empty_since + empty_stop - now)
            out["ends_in"] = max(0.0, s.empty_since + session_end - now)
            if notes:
                out["notes_in"] = out["ends_in"] + self.timing.notes_delay
        elif not s.live and (due := [d for d in (s.notes_due, s.summary_due) if d is not None]):
            out["notes_in"] = max(0.0, min(due) - now)
        return out

    def join(self, now: float, meeting_id: str, name: str, custom_id: str | None = None) -> str:
        """A participant joins; `custom_id` is the integrator's id of the person (Dyte's custom_participant_id:
        the same person on two devices, or joining again, has two participants with one custom id)."""
        meeting = self.meeting(meeting_id)
        session = self.live_session(meeting_id)
        if session is None:
            session = self._new_session(now, meeting)
        pid = str(uuid.uuid4())
        session.participants[pid] = name or "participant"
        session.attendance.append({"id": pid, "name": name or "participant", "joined_at": now, "left_at": None,
                                   "custom_id": custom_id or pid})
        session.max_participants = max(session.max_participants, len(session.participants))
        session.empty_since = None
        self._emptied.discard(meeting_id)
        self._emit("meeting.participantJoined", meeting,
                   participant={"id": pid, "name": name, "joined_at": now, "custom_id": custom_id or pid})
        if meeting.record_on_start and not any(r.status in ACTIVE for r in self._of(meeting_id)):
            self.start_recording(now, meeting_id, reason="RECORD_ON_START")
        return pid

    def say(self, now: float, meeting_id: str, participant_id: str, text: str) -> float:
        """A participant says `text` now: a line of the session's transcript (seconds from its start)."""
        session = self.live_session(meeting_id)
        if session is None or participant_id not in session.participants:
            raise EmuError(404, f"No participant {participant_id} in the live session of {meeting_id}")
        if not text.strip():
            raise EmuError(400, "text is empty")
        start = round(now - session.started_at, 3)
        words = len(text.split())
        session.said.append(notes.Cue(session.participants[participant_id], start,
                                      round(start + max(1.0, 0.4 * words), 3), text.strip()[:2000]))
        return start

    def leave(self, now: float, meeting_id: str, participant_id: str) -> None:
        meeting = self.meeting(meeting_id)
        session = self.live_session(meeting_id)
        if session is None or participant_id not in session.participants:
            raise EmuError(404, f"No participant {participant_id} in the live session of {meeting_id}")
        name = session.participants.pop(participant_id)
        joined, custom_id = next((a["joined_at"], a.get("custom_id", participant_id)) for a in session.attendance
                                 if a["id"] == participant_id)
        for entry in session.attendance:
            if entry["id"] == participant_id:
                entry["left_at"] = now
        self._emit("meeting.participantLeft", meeting,
                   participant={"id": participant_id, "name": name, "joined_at": joined, "left_at": now,
                                "custom_id": custom_id})
        if not session.participants:
            session.empty_since = now
            self._emptied.add(meeting_id)

    def end_meeting(self, now: float, meeting_id: str) -> None:
        """The host ends the meeting for everyone."""
        meeting = self.meeting(meeting_id)
        session = self.live_session(meeting_id)
        if session is None:
            raise EmuError(409, f"Meeting {meeting_id} has no live session to end")
        for pid in list(session.participants):
            self.leave(now, meeting_id, pid)
        for rec in self._of(meeting_id):
            if rec.status in (Status.RECORDING, Status.INVOKED):
                self._stop(now, rec, "ALL_PEERS_LEFT")
        self._end_session(now, meeting, "HOST_ENDED_MEETING")

    def kick_all(self, now: float, meeting_id: str) -> int:
        """`POST …/active-session/kick-all`: everyone out, the session ended, its recordings stopped
        (paused ones too: the session they belong to is gone). Returns how many were kicked."""
        meeting = self.meeting(meeting_id)
        session = self.live_session(meeting_id)
        if session is None:
            raise EmuError(self.modes.refused(404), f"No active session found for meeting_id {meeting_id}")
        kicked = len(session.participants)
        for pid in list(session.participants):
            self.leave(now, meeting_id, pid)
        for rec in self._of(meeting_id):
            if rec.status in ACTIVE:
                self._stop(now, rec, "KICK_ALL")
        self._end_session(now, meeting, "KICK_ALL")
        return kicked

    def _new_session(self, now: float, meeting: Meeting, *, empty: bool = False) -> Session:
        session = meeting.session = Session(id=str(uuid.uuid4()), meeting_id=meeting.id, started_at=now,
                                            empty_since=now if empty else None)
        self.sessions[session.id] = session
        if empty:
            self._emptied.add(meeting.id)
        self._emit("meeting.started", meeting)
        return session

    def _end_session(self, now: float, meeting: Meeting, reason: str) -> None:
        assert meeting.session is not None
        meeting.session.ended_at = now
        self._emptied.discard(meeting.id)
        if meeting.transcribe_on_end or meeting.summarize_on_end:
            meeting.session.notes_due = now + self.timing.notes_delay
            self._notes_due.add(meeting.session.id)
        self._emit("meeting.ended", meeting, reason=reason)

    def _keep_alive(self, meeting: Meeting) -> tuple[float, float]:
        """How long after the last one left its recorder stops, and its session ends."""
        t = self.timing
        return (meeting.keep_alive,) * 2 if meeting.keep_alive is not None else (t.empty_stop, t.session_end)
