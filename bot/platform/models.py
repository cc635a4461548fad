"""Typed views of the platform's objects, parsed tolerantly.

Unknown fields are ignored and documented nulls accepted (docs/platform.md): the platform adds
fields over time and recbot must not break when it does.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from bot.models import Status

_SPACE_TIME = re.compile(r"^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2})(\.\d+)?(Z|[+-]\d{2}:?\d{2})?$")


def parse_time(value: Any) -> float | None:
    """Epoch seconds from ISO (`…T…Z`), Dyte's webhook form (`2023-01-25 04:51:35.903816Z`) or a number."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value) / (1000.0 if value > 1e11 else 1.0)
    if not isinstance(value, str):
        return None
    m = _SPACE_TIME.match(value.strip())
    if not m:
        return None
    day, clock, frac, zone = m.groups()
    zone = "+00:00" if zone in (None, "Z") else zone
    if len(zone) == 5:
        zone = zone[:3] + ":" + zone[3:]
    frac = (frac or "")[:7]
    try:
        return datetime.fromisoformat(f"{day}T{clock}{frac}{zone}").timestamp()
    except ValueError:
        return None


def iso(ts: float | None) -> str | None:
    """Epoch seconds to the REST API's ISO form with milliseconds."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_number(value: Any) -> float | None:
    """`fileSize` arrives as a number (Dyte) or a string (RealtimeKit)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(str(value).strip())
    except ValueError:
        return None


def parse_reason(value: Any) -> str | None:
    """`stop_reason`/`stopReason`: an object, or a Python-repr-like string (Dyte webhooks)."""
    if isinstance(value, dict):
        reason = value.get("reason")
        return str(reason) if reason else None
    if isinstance(value, str) and value:
        try:
            parsed = ast.literal_eval(value)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            parsed = None
        if isinstance(parsed, dict) and parsed.get("reason"):
            return str(parsed["reason"])
        m = re.search(r"reason['\"]?\s*:\s*['\"]([A-Z_]+)", value)
        return m.group(1) if m else None
    return None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


class FileKind(StrEnum):
    """A session's file the platform makes after the meeting (`SessionFile.kind`; stored as `session_files.kind`)."""

    TRANSCRIPT = "transcript"
    SUMMARY = "summary"


@dataclass(frozen=True)
class PlatformRecording:
    """A recording as the platform's REST API shows it."""

    id: str
    status: Status
    meeting_id: str | None = None
    session_id: str | None = None
    invoked_at: float | None = None
    started_at: float | None = None
    stopped_at: float | None = None
    download_url: str | None = None
    audio_download_url: str | None = None
    download_url_expiry: float | None = None
    file_size: float | None = None
    duration: float | None = None
    output_file_name: str | None = None
    stop_reason: str | None = None
    start_reason: str | None = None

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> PlatformRecording:
        """From the REST API's snake_case object."""
        if not isinstance(data, dict) or not _str(data.get("id")):
            raise ValueError("not a recording object")
        meeting = found if isinstance(found := data.get("meeting"), dict) else {}
        return cls(
            id=data["id"],
            status=Status(str(data.get("status", "")).upper()),
            meeting_id=_str(data.get("meeting_id")) or _str(meeting.get("id")),
            session_id=_str(data.get("session_id")),
            invoked_at=parse_time(data.get("invoked_time")),
            started_at=parse_time(data.get("started_time")),
            stopped_at=parse_time(data.get("stopped_time")),
            download_url=_str(data.get("download_url")),
            audio_download_url=_str(data.get("audio_download_url")),
            download_url_expiry=parse_time(data.get("download_url_expiry")),
            file_size=parse_number(data.get("file_size")),
            duration=parse_number(data.get("recording_duration")),
            output_file_name=_str(data.get("output_file_name")),
            stop_reason=parse_reason(data.get("stop_reason")),
            start_reason=parse_reason(data.get("start_reason")),
        )


@dataclass(frozen=True)
class Meeting:
    id: str
    title: str
    record_on_start: bool = False

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> Meeting:
        if not isinstance(data, dict) or not _str(data.get("id")):
            raise ValueError("not a meeting object")
        return cls(id=data["id"], title=str(data.get("title") or ""),
                   record_on_start=bool(data.get("record_on_start")))


@dataclass(frozen=True)
class ActiveSession:
    id: str
    meeting_id: str
    live_participants: int
    status: str

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> ActiveSession:
        return cls(id=str(data.get("id", "")), meeting_id=str(data.get("associated_id", "")),
                   live_participants=int(parse_number(data.get("live_participants")) or 0),
                   status=str(data.get("status", "")))


@dataclass(frozen=True)
class Webhook:
    id: str
    name: str
    url: str
    events: tuple[str, ...]
    enabled: bool

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> Webhook:
        return cls(id=str(data.get("id", "")), name=str(data.get("name", "")), url=str(data.get("url", "")),
                   events=tuple(data.get("events") or ()), enabled=bool(data.get("enabled", True)))
