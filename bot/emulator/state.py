"""The emulated platform's state: meetings, sessions, recordings, webhooks.

Plain objects driven by an explicit clock (`tick(now)`), so the rules can be tested without
sleeping. Every transition is appended to `history` and yields webhook events; the HTTP layer
(`app.py`) turns those into signed deliveries.
"""

from __future__ import annotations

import uuid
from typing import Any

from bot.emulator import notes
from bot.emulator.errors import EmuError
from bot.emulator.media import stitch_wav
from bot.emulator.modes import Modes
from bot.emulator.records import Meeting, Recording, Session, Timing
from bot.emulator.sessions import SessionNotes
from bot.emulator.views import Representations
from bot.models import Status

ACTIVE = (Status.INVOKED, Status.RECORDING, Status.PAUSED)


class Platform(Representations, SessionNotes):
    def __init__(self, timing: Timing | None = None, public_url: str = "http://127.0.0.1:8090"):
        self.modes = Modes()  # what no source documents, as switches (bot/emulator/modes.py)
        self.timing = timing or Timing()
        self.public_url = public_url.rstrip("/")
        self.meetings: dict[str, Meeting] = {}
        self.recordings: dict[str, Recording] = {}
        self.webhooks: dict[str, dict[str, Any]] = {}
        self.history: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []  # webhook payloads (flavour-neutral) awaiting delivery
        self.sessions: dict[str, Session] = {}
        # What `tick` has to look at, so that its cost follows what is changing, not all there is:
        self._moving: set[str] = set()  # recordings INVOKED or UPLOADING: their next step comes by itself
        self._limit_at = float("inf")  # when the next recording reaches its max_seconds
        self._emptied: set[str] = set()  # meetings whose live session has nobody in it
        self._notes_due: set[str] = set()  # sessions whose transcript or summary is still to be written
        self.files: dict[str, tuple[bytes, str]] = {}  # published name -> (content, media type)
        self.file_tokens: dict[str, dict[str, float]] = {}  # published name -> signed token -> expiry

    # -- meetings and participants ------------------------------------------------------

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

    # -- recordings --------------------------------------------------------------------

    def _of(self, meeting_id: str) -> list[Recording]:
        return [r for r in self.recordings.values() if r.meeting_id == meeting_id]

    def recording(self, recording_id: str) -> Recording:
        try:
            return self.recordings[recording_id]
        except KeyError:
            raise EmuError(404, f"No recording found for recording_id {recording_id}") from None

    def active_recording(self, meeting_id: str) -> Recording:
        self.meeting(meeting_id)
        active = [r for r in self._of(meeting_id) if r.status in ACTIVE]
        if not active:
            raise EmuError(404, f"No active recording found for meeting_id {meeting_id}")
        return max(active, key=lambda r: r.invoked_at)

    def start_recording(self, now: float, meeting_id: str, *, allow_multiple: bool = False,
                        max_seconds: int | None = None, reason: str = "API_CALL") -> Recording:
        self.meeting(meeting_id)
        if not allow_multiple and any(r.status in ACTIVE for r in self._of(meeting_id)):
            raise EmuError(self.modes.refused(), "A recording is already active for this meeting; "
                                "set allow_multiple_recordings to start another")
        rec = Recording(id=str(uuid.uuid4()), meeting_id=meeting_id, invoked_at=now, start_reason=reason,
                        max_seconds=max_seconds or 86400)
        self.recordings[rec.id] = rec
        self._moving.add(rec.id)
        self._transition(now, rec, Status.INVOKED, "start")
        return rec

    def act(self, now: float, recording_id: str, action: str) -> Recording:
        rec = self.recording(recording_id)
        if action == "pause":
            if rec.status is not Status.RECORDING:
                raise EmuError(self.modes.refused(),
                               f"Cannot pause a recording in {rec.status} state; only RECORDING can be paused")
            self._require_live_session(rec)
            rec.segments[-1][1] = now
            self._transition(now, rec, Status.PAUSED, "pause")
        elif action == "resume":
            if rec.status is not Status.PAUSED:
                raise EmuError(self.modes.refused(),
                               f"Cannot resume a recording in {rec.status} state; only PAUSED can be resumed")
            self._require_live_session(rec)
            rec.segments.append([now, None])
            self._transition(now, rec, Status.RECORDING, "resume")
        elif action == "stop":
            if rec.status not in ACTIVE:
                raise EmuError(self.modes.refused(), f"Cannot stop a recording in {rec.status} state")
            self._stop(now, rec, "API_CALL")
        else:
            raise EmuError(400, f'BAD_REQUEST: "action" must be one of [stop, pause, resume], got {action!r}')
        return rec

    def _require_live_session(self, rec: Recording) -> None:
        session = self.live_session(rec.meeting_id)
        if session is None or session.id != rec.session_id:
            raise EmuError(self.modes.refused(), "Pause and resume work only within the meeting session being "
                                                 "recorded; that session has ended")

    def _stop(self, now: float, rec: Recording, reason: str) -> None:
        if rec.status is Status.RECORDING:
            rec.segments[-1][1] = now
        rec.stopped_at = now
        rec.stop_reason = reason
        self._moving.add(rec.id)
        self._transition(now, rec, Status.UPLOADING, "stop" if reason == "API_CALL" else reason.lower())

    def _transition(self, now: float, rec: Recording, status: Status, cause: str) -> None:
        previous = None if cause == "start" else rec.status
        rec.status = status
        self.history.append({"recording_id": rec.id, "meeting_id": rec.meeting_id, "from": previous,
                             "to": status.value, "at": now, "cause": cause})
        self.events.append({"event": "recording.statusUpdate", "recording_id": rec.id, "status": status.value,
                            "snapshot": self.recording_api(rec, now), "meeting": self.meeting_webhook(rec.meeting_id)})

    # -- time --------------------------------------------------------------------------

    def tick(self, now: float) -> None:
        t = self.timing
        for rec in [self.recordings[i] for i in list(self._moving)]:
            if rec.status is Status.INVOKED and now - rec.invoked_at >= t.start_delay:
                meeting = self.meetings[rec.meeting_id]
                session = self.live_session(rec.meeting_id)
                if session is None:  # the recorder opens the session when nobody is there yet
                    session = self._new_session(now, meeting, empty=True)
                rec.session_id, rec.started_at = session.id, now
                rec.segments.append([now, None])
                self._moving.discard(rec.id)
                self._limit_at = min(self._limit_at, now + rec.max_seconds)
                self._transition(now, rec, Status.RECORDING, "worker started")
            elif rec.status is Status.UPLOADING and now - (rec.stopped_at or now) >= t.upload_delay:
                rec.file = stitch_wav([(s, e) for s, e in rec.segments if e is not None])
                rec.uploaded_at = now
                self._moving.discard(rec.id)
                self._transition(now, rec, Status.UPLOADED, "uploaded")
        if now >= self._limit_at:  # the 24-hour limit (max_seconds): looked for only when one is due
            limits = []
            for rec in self.recordings.values():
                if rec.status in (Status.RECORDING, Status.PAUSED) and rec.started_at is not None:
                    if now - rec.started_at >= rec.max_seconds:
                        self._stop(now, rec, "MAX_SECONDS_REACHED")
                    else:
                        limits.append(rec.started_at + rec.max_seconds)
            self._limit_at = min(limits, default=float("inf"))
        for meeting in [self.meetings[i] for i in list(self._emptied)]:
            session = meeting.session
            if session is None or not session.live or session.empty_since is None:
                self._emptied.discard(meeting.id)
                continue
            empty_stop, session_end = self._keep_alive(meeting)
            if now - session.empty_since >= empty_stop:
                for rec in self._of(meeting.id):  # whether a PAUSED one stops too is undocumented: a switch
                    paused_stops = rec.status is Status.PAUSED and self.modes.stop_paused_when_empty
                    if rec.status is Status.RECORDING or paused_stops:
                        self._stop(now, rec, "ALL_PEERS_LEFT")
            if now - session.empty_since >= session_end:
                self._end_session(now, meeting, "ALL_PARTICIPANTS_LEFT")
        for session in [self.sessions[i] for i in list(self._notes_due)]:
            if session.notes_due is not None and now >= session.notes_due:
                session.notes_due = None
                self._write_notes(now, session, summary=self.meetings[session.meeting_id].summarize_on_end)
            if session.summary_due is not None and now >= session.summary_due:
                session.summary_due = None
                self._write_notes(now, session, summary=True)
            if session.notes_due is None and session.summary_due is None:
                self._notes_due.discard(session.id)

    def _keep_alive(self, meeting: Meeting) -> tuple[float, float]:
        """How long after the last one left its recorder stops, and its session ends."""
        t = self.timing
        return (meeting.keep_alive,) * 2 if meeting.keep_alive is not None else (t.empty_stop, t.session_end)

    def next_deadline(self, now: float) -> float | None:
        """When `tick` next has something to do, so the driver can sleep until then."""
        t, times = self.timing, [self._limit_at]
        for rec in (self.recordings[i] for i in self._moving):
            if rec.status is Status.INVOKED:
                times.append(rec.invoked_at + t.start_delay)
            elif rec.status is Status.UPLOADING:
                times.append((rec.stopped_at or now) + t.upload_delay)
        for meeting in (self.meetings[i] for i in self._emptied):
            s = meeting.session
            if s is not None and s.live and s.empty_since is not None:
                times += [s.empty_since + delay for delay in self._keep_alive(meeting)]
        for s in (self.sessions[i] for i in self._notes_due):
            times += [due for due in (s.notes_due, s.summary_due) if due is not None]
        soonest = min(times)
        return None if soonest == float("inf") else soonest

    def _emit(self, name: str, meeting: Meeting, *, session: Session | None = None, **extra: Any) -> None:
        self.events.append({"event": name, "meeting": self.meeting_webhook(meeting.id, session), **extra})

    def take_events(self) -> list[dict[str, Any]]:
        events, self.events = self.events, []
        return events
