"""The segment ledger: from a recording's transitions to recorded and paused intervals (pure)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from bot.models import Status, StopReason


class Rebuilt(StrEnum):
    """A ledger entry recbot inferred from the platform's state instead of seeing the step (a step's and the
    ledger's `reason`: a recording it learned of late had been recording, or paused). Stored."""

    RECONSTRUCTED = "reconstructed"


@dataclass(frozen=True)
class PauseFor:
    """A pause asked to last a while (`/rec pause for 10m`): its step's and the ledger's `reason`, stored as
    "for 10m" (`stored_reason`)."""

    seconds: int


# why a step was taken, as the ledger keeps it (`LedgerEntry.reason`); `bot/slack/blocks.py` words it
LedgerReason = StopReason | Rebuilt | PauseFor


@dataclass(frozen=True)
class LedgerEntry:
    status: Status
    at: float
    actor: str | None
    source: str  # a `Source`'s value, as stored
    reason: LedgerReason | None


class Span(StrEnum):
    """What an interval of a recording's time was: in the file, or off the record."""

    RECORDED = "recorded"
    PAUSED = "paused"


# The statuses that begin an interval. (A member of an enum is looked up through EnumType.__getattr__ on Python
# 3.11, four times slower than a dict's key: the loops below, run for every recording `/rec status` shows, name none.)
_SPAN_OF = {Status.RECORDING: Span.RECORDED, Status.PAUSED: Span.PAUSED}


@dataclass(frozen=True)
class Interval:
    kind: Span
    start: float
    end: float
    actor: str | None  # who began it (paused by, resumed by)
    source: str
    reason: LedgerReason | None
    open: bool  # still going on

    @property
    def seconds(self) -> float:
        return max(0.0, self.end - self.start)


@dataclass(frozen=True)
class Summary:
    intervals: tuple[Interval, ...]
    recorded: float
    paused: float

    @property
    def pauses(self) -> int:
        return [i.kind for i in self.intervals].count(Span.PAUSED)


def summarize(entries: Iterable[LedgerEntry], now: float) -> Summary:
    intervals: list[Interval] = []
    current: tuple[Span, LedgerEntry] | None = None
    for entry in entries:
        kind = _SPAN_OF.get(entry.status)
        if current is not None and (kind is None or kind is not current[0]):
            started = current[1]
            intervals.append(Interval(current[0], started.at, max(started.at, entry.at), started.actor,
                                      started.source, started.reason, open=False))
            current = None
        if kind is not None and current is None:
            current = (kind, entry)
    if current is not None:
        started = current[1]
        intervals.append(Interval(current[0], started.at, max(started.at, now), started.actor, started.source,
                                  started.reason, open=True))
    seconds = dict.fromkeys(Span, 0.0)
    for interval in intervals:
        seconds[interval.kind] += interval.seconds
    return Summary(tuple(intervals), seconds[Span.RECORDED], seconds[Span.PAUSED])


def clock_text(seconds: float) -> str:
    """`42:10` or `1:02:03`."""
    seconds = round(max(0.0, seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def duration_text(seconds: float | None) -> str:
    """`1h30m`, `10m`, `45s`."""
    seconds = int(seconds or 0)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return "".join(f"{v}{u}" for v, u in ((h, "h"), (m, "m"), (s, "s")) if v) or "0s"


def stored_reason(reason: LedgerReason | None) -> str | None:
    """A step's reason as the ledger stores it: the enums' values, and a timed pause's "for 10m", as ever."""
    return f"for {duration_text(reason.seconds)}" if isinstance(reason, PauseFor) else reason


def ledger_reason(stored: str | None) -> LedgerReason | None:
    """The reason the ledger stored (`stored_reason`); None for none, or for text no version wrote."""
    if stored is None:
        return None
    if (timed := re.fullmatch(r"for ((?:\d+[hms])+)", stored)) is not None:
        units = {"h": 3600, "m": 60, "s": 1}
        return PauseFor(sum(int(n) * units[u] for n, u in re.findall(r"(\d+)([hms])", timed[1])))
    if stored == Rebuilt.RECONSTRUCTED:
        return Rebuilt.RECONSTRUCTED
    return StopReason(stored) if stored in set(StopReason) else None


def file_offset(summary: Summary, at: float) -> float | None:
    """Where wall time `at` falls in the stitched file, or None when nothing was being recorded then.
    Pauses are cut out of the file, so the offset counts recorded time only."""
    offset = 0.0
    for interval in summary.intervals:
        if interval.kind is not Span.RECORDED:
            continue
        if interval.start <= at <= interval.end:
            return offset + (at - interval.start)
        offset += interval.seconds
    return None


def presence(summary: Summary, spans: Iterable[tuple[float | None, float | None]], now: float) -> Span | None:
    """How someone who was in the meeting over `spans` (joined, left) shows in the file: RECORDED when
    present while it recorded, PAUSED when only during pauses, None when not while it ran at all."""
    seen = None
    for joined, left in spans:
        start, end = joined if joined is not None else float("-inf"), left if left is not None else now
        for interval in summary.intervals:
            if min(end, interval.end) > max(start, interval.start):
                if interval.kind is Span.RECORDED:
                    return Span.RECORDED
                seen = Span.PAUSED
    return seen
