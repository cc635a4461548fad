"""The emulated platform's records: its timing, and each meeting, session and recording as plain data.

`state.Platform` keeps and moves them; `views` (how the API shows them) and `sessions` (transcripts and
summaries) read them, so they live here, below all three, and no module of the emulator needs another
that needs it back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot.models import Status


@dataclass
class Timing:
    start_delay: float = 2.0     # INVOKED -> RECORDING
    upload_delay: float = 3.0    # UPLOADING -> UPLOADED
    empty_stop: float = 60.0     # a RECORDING recording stops this long after the last participant left
    session_end: float = 60.0    # the session ends this long after the last participant left
    expiry: float = 7 * 86400.0  # download_url lifetime
    notes_delay: float = 2.0  # the session ended -> its transcript, then its summary


@dataclass
class Session:
    id: str
    meeting_id: str
    started_at: float
    participants: dict[str, str] = field(default_factory=dict)  # id -> name
    attendance: list[dict[str, Any]] = field(default_factory=list)  # {id, name, joined_at, left_at} per join
    max_participants: int = 0
    empty_since: float | None = None
    ended_at: float | None = None
    notes_due: float | None = None  # when its transcript (and summary) are written
    summary_due: float | None = None  # a summary asked for with POST /sessions/{id}/summary
    files: dict[str, str] = field(default_factory=dict)  # "transcript" | "summary" -> published file name
    said: list[Any] = field(default_factory=list)  # notes.Cue: lines put in with the `say` control

    @property
    def live(self) -> bool:
        return self.ended_at is None


@dataclass
class Meeting:
    id: str
    title: str
    created_at: float
    record_on_start: bool = False
    keep_alive: float | None = None  # session_keep_alive_time_in_secs (RealtimeKit), else the timing's default
    transcribe_on_end: bool = False
    summarize_on_end: bool = False
    summary_type: str = "general"
    ai_config: dict[str, Any] | None = None  # RealtimeKit's, kept as created
    recording_config: dict[str, Any] | None = None
    session: Session | None = None


@dataclass
class Recording:
    id: str
    meeting_id: str
    invoked_at: float
    status: Status = Status.INVOKED
    session_id: str | None = None
    started_at: float | None = None
    stopped_at: float | None = None
    segments: list[list[Any]] = field(default_factory=list)  # [start, end|None] spent RECORDING
    stop_reason: str | None = None
    start_reason: str = "API_CALL"
    max_seconds: int = 86400
    file: bytes | None = None
    file_links: dict[str, float] = field(default_factory=dict)  # signed link token -> when it expires
    uploaded_at: float | None = None

    def recorded_seconds(self, now: float) -> float:
        return sum((end if end is not None else now) - start for start, end in self.segments)
