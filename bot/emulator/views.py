"""How the emulator's objects look on the wire: the REST API's snake_case objects and the webhooks'
camelCase meeting, as documented (docs/platform.md and §5)."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from bot.models import Status
from bot.platform.models import iso

if TYPE_CHECKING:
    from bot.emulator.records import Meeting, Recording, Session, Timing


class Representations:
    """Mixed into `Platform`, whose state it reads."""

    public_url: str
    timing: Timing
    meetings: dict[str, Meeting]

    def download_link(self, rec: Recording, now: float) -> tuple[str, float]:
        """A freshly signed link and its expiry, as a presigned URL is: each look gives a new one, and the
        ones given before stay valid until they expire."""
        token, expiry = uuid.uuid4().hex, now + self.timing.expiry
        rec.file_links[token] = expiry
        return f"{self.public_url}/_emulator/files/{rec.id}.wav?token={token}", expiry

    def recording_api(self, rec: Recording, now: float, *, reasons: bool = True) -> dict[str, Any]:
        """The recording; with its start and stop reasons (`reasons`) only where both official sources have
        them: start, get and the actions, not the list nor active-recording."""
        uploaded = rec.status is Status.UPLOADED and rec.file is not None
        url, expiry = self.download_link(rec, now) if uploaded else (None, None)
        duration = rec.recorded_seconds(now) if rec.segments else 0.0
        data: dict[str, Any] = {
            "id": rec.id,
            "download_url": url,
            "download_url_expiry": iso(expiry),
            "audio_download_url": None,
            "file_size": len(rec.file) if uploaded and rec.file is not None else None,
            "session_id": rec.session_id,
            "output_file_name": f"{rec.meeting_id}_{int(rec.invoked_at * 1000)}.wav",
            "status": rec.status.value,
            "invoked_time": iso(rec.invoked_at),
            "started_time": iso(rec.started_at),
            "stopped_time": iso(rec.stopped_at),
            "recording_duration": round(duration),
        }
        if not reasons:
            return data
        data["start_reason"] = {"reason": rec.start_reason, "caller": {"type": "ORGANIZATION"}}
        # The spec's stop reasons are API_CALL, INTERNAL_ERROR and ALL_PEERS_LEFT; which reason a
        # max_seconds stop records is unconfirmed (docs/platform.md), so it records none.
        if rec.stop_reason in ("API_CALL", "INTERNAL_ERROR", "ALL_PEERS_LEFT"):
            data["stop_reason"] = {"reason": rec.stop_reason, "caller": {"type": "ORGANIZATION"}}
        return data

    def meeting_api(self, meeting: Meeting, flavour: str = "dyte", *, listed: bool = False) -> dict[str, Any]:
        """Dyte's meeting, or RealtimeKit's (Cloudflare's SDK `MeetingCreateResponse`): no `preferred_region`,
        and the options it was made with answered back as given (`ai_config` not in lists, as in the SDK's)."""
        data: dict[str, Any] = {
            "id": meeting.id, "title": meeting.title, "created_at": iso(meeting.created_at),
            "updated_at": iso(meeting.created_at), "record_on_start": meeting.record_on_start,
            "live_stream_on_start": False, "persist_chat": False, "summarize_on_end": meeting.summarize_on_end,
            "status": "ACTIVE"}
        if flavour != "realtimekit":
            return {**data, "preferred_region": None}
        data.update(session_keep_alive_time_in_secs=round(meeting.keep_alive or 60),
                    transcribe_on_end=meeting.transcribe_on_end)
        for name in ("recording_config",) if listed else ("ai_config", "recording_config"):
            if (value := getattr(meeting, name)) is not None:
                data[name] = value
        return data

    def session_api(self, session: Session, now: float) -> dict[str, Any]:
        meeting = self.meetings[session.meeting_id]
        return {"id": session.id, "associated_id": meeting.id, "meeting_display_name": meeting.title,
                "type": "meeting", "status": "LIVE" if session.live else "ENDED",
                "live_participants": len(session.participants),
                "max_concurrent_participants": session.max_participants,
                "minutes_consumed": round(((session.ended_at or now) - session.started_at) / 60.0, 3),
                "organization_id": "emulator-org", "started_at": iso(session.started_at),
                "created_at": iso(session.started_at), "updated_at": iso(session.ended_at or now),
                **({"ended_at": iso(session.ended_at)} if session.ended_at is not None else {})}

    def meeting_webhook(self, meeting_id: str, session: Session | None = None) -> dict[str, Any]:
        meeting = self.meetings[meeting_id]
        session = session or meeting.session
        return {"id": meeting.id, "sessionId": session.id if session else None, "title": meeting.title,
                "roomName": meeting.id, "status": "LIVE",  # "LIVE" even when ended: a documented quirk
                "createdAt": iso(meeting.created_at), "startedAt": iso(session.started_at) if session else None,
                "endedAt": iso(session.ended_at) if session and session.ended_at else None,
                "organizedBy": {"id": "emulator-org", "name": "recbot emulator"}}

