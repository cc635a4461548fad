"""A session's transcript as recbot reads it (pure): the platform's CSV into lines, and the lines cut by the
ledger into what was said while something recorded (kept) and what was said off the record (withheld).

RealtimeKit's post-meeting transcript CSV has **no header row**: each row is start time in milliseconds
from the session's start, peer id, user id, custom participant id, participant name, transcript text
(Cloudflare's docs, `realtime/realtimekit/ai/transcription.mdx`, "Output formats"; see docs/platform.md).
A file whose first row names its columns is read by those names instead, with the aliases below, so a
header added later (or another flavour's) still reads; ISO 8601 times are absolute, numbers are seconds
from the session's start unless the column says milliseconds.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from bot.ledger import Span, Summary, file_offset
from bot.platform.models import parse_time

TIME_NAMES = ("startTime", "start", "timestamp", "time", "startMs", "startTimeMs")
END_NAMES = ("endTime", "end", "endMs", "endTimeMs")
SPEAKER_NAMES = ("participantName", "name", "speaker", "displayName", "userName")
TEXT_NAMES = ("transcript", "text", "sentence", "content", "message")
MS_KEYS = {"startms", "starttimems", "endms", "endtimems"}  # columns in milliseconds
LINE_TEXT_LIMIT = 2_000  # characters of one line kept
SECONDS_PER_WORD = 0.5  # a line without an end time is taken to last this long a word (1 s at least)


@dataclass(frozen=True)
class Line:
    start: float  # seconds from the session's start, or epoch seconds when `absolute`
    end: float | None
    speaker: str
    text: str
    absolute: bool = False


@dataclass(frozen=True)
class Parsed:
    lines: list[Line]
    skipped: int  # rows that could not be read (no time or no text); they are withheld, never shown


def _key(name: str) -> str:
    """A column's name as compared: `Start Time`, `start_time` and `startTime` alike."""
    return re.sub(r"[\s\-_]", "", name.strip().lstrip("\ufeff").lower())


def _column(header: list[str], names: Sequence[str]) -> int | None:
    keys = [_key(h) for h in header]
    return next((keys.index(_key(n)) for n in names if _key(n) in keys), None)


def _time(value: str, milliseconds: bool) -> tuple[float, bool] | None:
    """(seconds, absolute) from a cell: a number (ms or s from the session's start) or an ISO 8601 time."""
    value = value.strip()
    try:
        number = float(value)
    except ValueError:
        found = parse_time(value)
        return (found, True) if found is not None else None
    if number != number or number < 0:  # NaN or negative
        return None
    return (number / 1000.0 if milliseconds else number), False


def parse_csv(text: str) -> Parsed:
    """The lines of a transcript CSV, in the documented headerless order or by its header's names."""
    rows = [r for r in csv.reader(io.StringIO(text)) if any(cell.strip() for cell in r)]
    if not rows:
        return Parsed([], 0)
    header = rows[0]
    at, speaker, said = _column(header, TIME_NAMES), _column(header, SPEAKER_NAMES), _column(header, TEXT_NAMES)
    if at is not None and said is not None:
        end = _column(header, END_NAMES)
        ms_start = _key(header[at]) in MS_KEYS
        ms_end = end is not None and _key(header[end]) in MS_KEYS
        body = rows[1:]
    else:  # RealtimeKit's own file: no header, six fields
        at, end, speaker, said, ms_start, ms_end, body = 0, None, 4, 5, True, False, rows
    lines, skipped = [], 0
    for row in body:
        if max(at, said) >= len(row):
            skipped += 1
            continue
        start = _time(row[at], ms_start)
        words = row[said].strip()
        if start is None or not words:
            skipped += 1
            continue
        stop = _time(row[end], ms_end) if end is not None and end < len(row) and row[end].strip() else None
        who = row[speaker].strip() if speaker is not None and speaker < len(row) else ""
        lines.append(Line(start[0], stop[0] if stop and stop[1] == start[1] else None, who or "someone",
                          words[:LINE_TEXT_LIMIT], absolute=start[1]))
    return Parsed(lines, skipped)


def to_csv(lines: Iterable[tuple[float, str, str]]) -> str:
    """RealtimeKit's headerless form, from (seconds from the session's start, speaker, text)."""
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\n")
    for n, (start, speaker, text) in enumerate(lines):
        writer.writerow([str(round(start * 1000)), f"peer-{n}", "", "", speaker, text])
    return out.getvalue()


# -- cutting by the ledger ----------------------------------------------------------------------


@dataclass(frozen=True)
class Kept:
    at: float  # epoch seconds the line began
    speaker: str
    text: str
    places: tuple[tuple[str, float], ...]  # (recording id, offset in its file) for each recording it is in


@dataclass(frozen=True)
class Cut:
    kept: list[Kept]
    withheld: int  # lines said while nothing recorded, straddling a boundary, or unreadable
    paused: bool  # a pause of some recording overlapped the session


def span(line: Line, session_start: float | None) -> tuple[float, float] | None:
    """When a line was said, in epoch seconds (None when its times cannot be placed)."""
    if line.absolute:
        start = line.start
    elif session_start is None:
        return None
    else:
        start = session_start + line.start
    if line.end is not None:
        end = line.end if line.absolute else (session_start or 0.0) + line.end
    else:
        end = start + max(1.0, SECONDS_PER_WORD * len(line.text.split()))
    return start, max(start, end)


def cut(parsed: Parsed, session_start: float | None, recordings: Sequence[tuple[str, Summary]]) -> Cut:
    """Keep a line only when it lies wholly within time that some recording of the session recorded; a line
    straddling a pause, a start or a stop is withheld, and so is one whose time cannot be placed."""
    recorded = sorted((i.start, i.end) for _, s in recordings for i in s.intervals if i.kind is Span.RECORDED)
    merged: list[list[float]] = []
    for start, end in recorded:  # two recordings back to back are one stretch of recorded time
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    kept, withheld = [], parsed.skipped
    for line in parsed.lines:
        when = span(line, session_start)
        if when is None or not any(a <= when[0] and when[1] <= b for a, b in merged):
            withheld += 1
            continue
        places = tuple((rid, offset) for rid, s in recordings if (offset := file_offset(s, when[0])) is not None)
        kept.append(Kept(when[0], line.speaker, line.text, places))
    paused = any(i.kind is Span.PAUSED for _, s in recordings for i in s.intervals)
    return Cut(kept, withheld, paused)

