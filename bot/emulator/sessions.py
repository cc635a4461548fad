"""The emulated platform after a session: its transcript and summary, written when a transcribed or
summarised session ends (or a summary is asked for), published at signed links, announced by webhook."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from bot.emulator import notes
from bot.emulator.errors import EmuError
from bot.platform.models import iso

if TYPE_CHECKING:
    from collections.abc import Callable

    from bot.emulator.records import Session, Timing


class SessionNotes:
    """A mixin of `Platform`: it uses the platform's sessions, meetings, files, timing and events."""

    sessions: dict[str, Session]
    meetings: dict[str, Any]
    files: dict[str, tuple[bytes, str]]
    file_tokens: dict[str, dict[str, float]]
    _notes_due: set[str]
    timing: Timing
    public_url: str
    _emit: Callable[..., None]

    def session(self, session_id: str) -> Session:
        try:
            return self.sessions[session_id]
        except KeyError:
            raise EmuError(404, f"No session found for session_id {session_id}") from None

    def publish(self, name: str, content: bytes, media_type: str, now: float) -> tuple[str, float]:
        """A file at a signed link, as the platform's presigned URLs are."""
        self.files[name] = (content, media_type)
        token, expiry = uuid.uuid4().hex, now + self.timing.expiry
        self.file_tokens.setdefault(name, {})[token] = expiry
        return f"{self.public_url}/_emulator/files/{name}?token={token}", expiry

    def session_file(self, session: Session, kind: str, now: float) -> tuple[str, float]:
        name = session.files.get(kind)
        if name is None:
            raise EmuError(404, f"No {kind} found for session_id {session.id}")
        content, media_type = self.files[name]
        return self.publish(name, content, media_type, now)

    def request_summary(self, now: float, session_id: str) -> None:
        session = self.session(session_id)
        if "transcript" not in session.files:
            raise EmuError(404, f"No transcript found for session_id {session_id}; a summary needs one")
        session.summary_due = now + self.timing.notes_delay
        self._notes_due.add(session.id)

    def _write_notes(self, now: float, session: Session, *, summary: bool) -> None:
        meeting = self.meetings[session.meeting_id]
        end = session.ended_at or now
        said = sorted(notes.cues(session.attendance, session.started_at, end) + session.said,
                      key=lambda c: (c.start, c.speaker))
        if "transcript" not in session.files:  # the CSV is the transcript; WebVTT and JSON beside it are extras
            session.files["transcript"] = f"transcript-{session.id}.csv"
            self.publish(f"transcript-{session.id}.csv", notes.transcript_csv(said).encode(), "text/csv", now)
            self.publish(f"transcript-{session.id}.vtt", notes.webvtt(said).encode(), "text/vtt", now)
            self.publish(f"transcript-{session.id}.json", notes.transcript_json(said).encode(), "application/json",
                         now)
            url, expiry = self.session_file(session, "transcript", now)
            self._emit("meeting.transcript", meeting, session=session, transcriptDownloadUrl=url,
                       transcriptDownloadUrlExpiry=iso(expiry))
        if summary:
            text = notes.summary_markdown(meeting.title, session.attendance, (end - session.started_at) / 60, said,
                                          meeting.summary_type)
            session.files["summary"] = f"summary-{session.id}.md"
            self.publish(f"summary-{session.id}.md", text.encode(), "text/markdown", now)
            url, expiry = self.session_file(session, "summary", now)
            self._emit("meeting.summary", meeting, session=session, summaryDownloadUrl=url,
                       summaryDownloadUrlExpiry=iso(expiry))
