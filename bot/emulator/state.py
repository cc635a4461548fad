"""The emulated platform's state: meetings, sessions, recordings, webhooks; its recordings' rules and time.

Plain objects driven by an explicit clock (`tick(now)`), so the rules can be tested without
sleeping. Every transition is appended to `history` and yields webhook events; the HTTP layer
(`app.py`) turns those into signed deliveries. Meetings and the people in them are `Meetings`
(meetings.py); what a session leaves behind is `SessionNotes` (sessions.py); the API's shapes `Representations`
(views.py).
"""

from __future__ import annotations

import uuid
from typing import Any

from bot.emulator.errors import EmuError
from bot.emulator.media import stitch_wav
from bot.emulator.meetings import ACTIVE, Meetings
from bot.emulator.modes import Modes
from bot.emulator.records import Meeting, Recording, Session, Timing
from bot.emulator.sessions import SessionNotes
from bot.emulator.views import Representations
from bot.models import Status


class Platform(Meetings, Representations, SessionNotes):
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
