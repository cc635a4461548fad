"""The bottom rung: from a recording, its ledger and report from the platform, the whole decision.

Pure code, no I/O: the next state (with any step the report skipped), the ledger entries, the timers
to cancel and set, the file's facts, the notices for the thread and whether the card changes.
`bot/service/decisions.py` writes a decision in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot.config import Guardrails
from bot.ledger import LedgerEntry, LedgerReason, Rebuilt
from bot.models import (
    PAUSE_TIMERS,
    ErrorReason,
    LastAction,
    Link,
    Notice,
    Origin,
    Recording,
    Source,
    Status,
    StopReason,
    Timer,
)
from bot.platform.models import PlatformRecording
from bot.platform.webhooks import RecordingUpdate

TIME_LIMIT = 86400.0  # the platform stops a recording after 24 hours
FILES_CHECK_AFTER = 600.0  # no transcript or summary webhook this long after the upload: ask for them


@dataclass(frozen=True)
class Report:
    """What the platform reports about one recording: its REST object or a webhook, in one shape."""

    recording_id: str
    status: Status
    meeting_id: str | None = None
    session_id: str | None = None
    started_at: float | None = None
    stopped_at: float | None = None
    stop_reason: str | None = None
    download_url: str | None = None
    audio_url: str | None = None
    url_expiry: float | None = None
    file_size: float | None = None
    duration: float | None = None
    # When it was seen (wall clock, so that processes compare): `asked_at` is when a question (a GET) was
    # sent, for a report that is one of many answers racing each other (0.0 for a webhook, which carries
    # no time); None for an action's own answer. `seen_at` is when it came.
    asked_at: float | None = None
    seen_at: float | None = None
    # An action's own answer: when the action was asked (the service's clock), so that an answer that comes
    # after the news of the stop can still be put in the ledger, before the stop (`late_step`).
    acted_at: float | None = None

    @classmethod
    def of(cls, seen: PlatformRecording | RecordingUpdate, *, asked_at: float | None = None,
           seen_at: float | None = None, acted_at: float | None = None) -> Report:
        when = {"asked_at": asked_at, "seen_at": seen_at, "acted_at": acted_at}
        if isinstance(seen, PlatformRecording):
            return cls(seen.id, seen.status, seen.meeting_id, seen.session_id, seen.started_at, seen.stopped_at,
                       seen.stop_reason, seen.download_url, seen.audio_download_url, seen.download_url_expiry,
                       seen.file_size, seen.duration, **when)
        return cls(seen.recording_id, seen.status, seen.meeting_id, seen.session_id, seen.started_at,
                   seen.stopped_at, seen.stop_reason, seen.download_url, seen.audio_download_url,
                   seen.download_url_expiry, seen.file_size, seen.duration, **when)

    @classmethod
    def errored(cls, recording_id: str, reason: ErrorReason) -> Report:
        return cls(recording_id, Status.ERRORED, stop_reason=reason)

    def file_fields(self) -> dict[str, Any] | None:
        if not self.download_url:
            return None
        return {"download_url": self.download_url, "audio_url": self.audio_url, "url_expiry": self.url_expiry,
                "file_size": self.file_size, "duration": self.duration}


@dataclass(frozen=True)
class Step:
    """One compare-and-set transition with its ledger entry."""

    expected: Status
    new: Status
    at: float
    actor: str | None
    source: Source
    reason: LedgerReason | None = None
    action: LastAction | None = None  # the card's "last action", or None when it is no one's action
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass
class Decision:
    recording_id: str
    new_recording: dict[str, Any] | None = None  # the arguments of `Store.add_recording`
    steps: list[Step] = field(default_factory=list)
    touch: bool = False  # report that moves nothing still counts as report (the reconciler waits)
    file: dict[str, Any] | None = None
    cancel_timers: tuple[Timer, ...] = ()
    set_timers: list[tuple[Timer, float, dict[str, Any]]] = field(default_factory=list)
    notices: list[tuple[Notice, dict[str, Any]]] = field(default_factory=list)
    card: bool = False
    audit: list[dict[str, Any]] = field(default_factory=list)
    late: Step | None = None  # a step taken before the stop, learned after it: goes in the ledger before the stop
    asked_at: float | None = None  # a report asked for then flips the state only if that is after its `seen_at`
    seen_at: float | None = None  # when what the new state rests on was seen
    report_asked_at: float | None = None  # when the report was asked for (0: a webhook; None: an action's answer)

    @property
    def moved(self) -> bool:
        return bool(self.steps)


def decide(rec: Recording, ledger: list[LedgerEntry], report: Report, *, actor: str | None, source: Source,
           now: float, guardrails: Guardrails, reason: LedgerReason | None = None, until: float | None = None,
           files: tuple[str, ...] = ()) -> Decision:
    """Move `rec` to what the platform reports, if that is forward; `until` is a timed pause's length;
    `files` the session's transcript or summary that the platform is to write (asked for if no webhook
    brings them)."""
    d = Decision(rec.id)
    cur, new = rec.status, report.status
    if new is cur or new.rank < cur.rank:
        d.touch = True
        if new is cur and new.final:
            d.file = report.file_fields()
        if (late := late_step(ledger, report, actor=actor, source=source, reason=reason, now=now)) is not None:
            d.late, d.card = late, True
            d.notices.append((Notice.RESUMED if late.new is Status.RECORDING else Notice.PAUSED,
                              {"actor": actor, "source": source, "reason": _stop(reason), "before_stop": True,
                               "was_paused": late.expected is Status.PAUSED}))
        return d
    first_recorded = next((e.at for e in ledger if e.status is Status.RECORDING), None)
    # A report that skips a state (its webhook was lost) first takes the step it implies, so the ledger
    # keeps every interval: a recording that stopped had started, one that uploaded had stopped.
    # Not for a recording recbot learned of only after it stopped (`Origin.UNSEEN`): whether it was paused
    # cannot be known, so none of it counts as recorded (privacy first).
    if cur is Status.INVOKED and new.rank >= Status.UPLOADING.rank and report.started_at \
            and rec.origin is not Origin.UNSEEN:
        at = min(now, report.started_at)
        d.steps.append(Step(cur, Status.RECORDING, at, None, source, Rebuilt.RECONSTRUCTED))
        d.card = True
        cur, first_recorded = Status.RECORDING, first_recorded or at
    if new.final and cur.rank < Status.UPLOADING.rank:
        _move(d, rec, cur, Status.UPLOADING, report, actor=actor, source=source, reason=reason, until=None,
                       now=now, guardrails=guardrails, first_recorded=first_recorded)
        cur = Status.UPLOADING
    _move(d, rec, cur, new, report, actor=actor, source=source, reason=reason, until=until, now=now,
          guardrails=guardrails, first_recorded=first_recorded)
    if new is Status.UPLOADED and files:
        d.set_timers.append((Timer.SESSION_FILES, now + FILES_CHECK_AFTER, {"kinds": list(files), "tries": 0}))
    return d


def late_step(ledger: list[LedgerEntry], report: Report, *, actor: str | None, source: Source,
              reason: LedgerReason | None, now: float) -> Step | None:
    """An action's own answer (a resume's RECORDING, a pause's PAUSED) that came after the news of the stop was
    written (that news won the race, or the answer waited behind it): the platform took that step before it
    stopped, so the ledger gets it just before the stop. Only when the ledger shows, last before the stop, the
    state the action was asked from, already there when it was asked (`acted_at`); an answer older than that
    step says nothing new. Dated privacy first: a resume no earlier than the platform made it (it made it
    before its answer came and before it stopped: the earlier of now and the stop), a pause no later (when
    it was asked, or at the stop if that is earlier)."""
    if report.acted_at is None or report.asked_at is not None or report.status not in (Status.RECORDING,
                                                                                       Status.PAUSED):
        return None
    stop = next((i for i, e in enumerate(ledger) if e.status.rank >= Status.UPLOADING.rank), None)
    before = [e for e in ledger[:stop] if e.status in (Status.RECORDING, Status.PAUSED)] if stop else []
    if stop is None or not before or before[-1].status is report.status or before[-1].at > report.acted_at:
        return None
    last, stopped = before[-1], ledger[stop].at
    at = min(now, stopped) if report.status is Status.RECORDING else min(report.acted_at, stopped)
    return Step(last.status, report.status, max(last.at, at), actor, source, reason)


def _move(d: Decision, rec: Recording, cur: Status, new: Status, report: Report, *, actor: str | None,
          source: Source,
          reason: LedgerReason | None, until: float | None, now: float, guardrails: Guardrails,
          first_recorded: float | None) -> None:
    at = now
    if new is Status.RECORDING and cur is Status.INVOKED and report.started_at:
        at = min(now, report.started_at)
    elif new is Status.UPLOADING and report.stopped_at:
        at = min(now, report.stopped_at)
    if new is Status.UPLOADING and reason is None:
        reason = stop_reason(report, first_recorded, source, now)
    fields: dict[str, Any] = {}
    if new is Status.PAUSED:
        fields["pause_until"] = now + until if until else None
    if report.session_id:
        fields["session_id"] = report.session_id
    if new is Status.ERRORED:
        fields["error_reason"] = report.stop_reason or ErrorReason.UNRECOVERABLE
    if new is Status.UPLOADING:
        fields["stop_reason"] = reason
    d.steps.append(Step(cur, new, at, actor, source, reason, last_action(cur, new), fields))
    if new.rank >= Status.UPLOADING.rank:
        # a stopped recording has nothing left to remind of; its session's held files wait on (unsettled.py)
        d.cancel_timers = tuple(t for t in Timer if t is not Timer.HELD_FILES)
    elif cur is Status.PAUSED:
        d.cancel_timers = PAUSE_TIMERS
    if cur is Status.INVOKED and new is Status.RECORDING:
        d.set_timers += time_limit_timer(at, guardrails)
    if new is Status.PAUSED:
        if guardrails.pause_reminder_after > 0:
            d.set_timers.append((Timer.PAUSE_REMINDER, now + guardrails.pause_reminder_after, {"paused_by": actor}))
        if until:
            due = now + until
            d.set_timers.append((Timer.RESUME, due, {"paused_by": actor}))
            if until > guardrails.timed_resume_heads_up * 2:
                d.set_timers.append((Timer.HEADS_UP, due - guardrails.timed_resume_heads_up, {"due": due}))
    if new.final:
        d.file = report.file_fields()
    notice = {Status.PAUSED: Notice.PAUSED, Status.UPLOADING: Notice.STOPPED, Status.UPLOADED: Notice.UPLOADED,
              Status.ERRORED: Notice.ERRORED}.get(new) or (Notice.RESUMED if cur is Status.PAUSED else Notice.RECORDING)
    d.notices.append((notice, {"actor": actor, "source": source, "reason": _stop(reason),
                               "was_paused": cur is Status.PAUSED, "until": fields.get("pause_until"),
                               "started_by": rec.started_by}))
    d.card = True


def time_limit_timer(started_at: float, guardrails: Guardrails) -> list[tuple[Timer, float, dict[str, Any]]]:
    """A heads-up in the thread before the platform's 24-hour limit stops the recording."""
    if guardrails.time_limit_heads_up <= 0:
        return []
    limit = started_at + TIME_LIMIT
    return [(Timer.TIME_LIMIT, limit - guardrails.time_limit_heads_up, {"due": limit})]


def decide_start(report: Report, link: Link, *, started_by: str | None, multi: bool, source: Source,
                 now: float) -> Decision:
    """A recording started from Slack: INVOKED first, whatever the platform's answer says, so the ledger has
    every step (what the answer says beyond INVOKED is applied as news after it)."""
    d = Decision(report.recording_id, card=True,
                 notices=[(Notice.STARTED, {"actor": started_by, "multi": multi, "source": source})])
    origin = {Source.AUTO: Origin.AUTO, Source.WORKFLOW: Origin.WORKFLOW}.get(source, Origin.SLACK)
    d.new_recording = _new_recording(report, link, link.meeting_title, started_by=started_by, origin=origin,
                                     multi=multi, source=source, at=now)
    return d


def decide_adoption(report: Report, link: Link, *, title: str | None, now: float,
                    guardrails: Guardrails) -> Decision:
    """A recording recbot did not know of gets its own card, with the steps it took unseen. One that already
    stopped (`Origin.UNSEEN`) is taken in INVOKED, as from its start, with no step: whether it was paused
    cannot be known, so none of it counts as recorded; the report is then applied to it as news."""
    at = min(now, report.started_at or now)
    d = Decision(report.recording_id, card=True)
    unseen = report.status.rank >= Status.UPLOADING.rank
    d.new_recording = _new_recording(report, link, title or link.meeting_title, started_by=None,
                                     origin=Origin.UNSEEN if unseen else Origin.MEETING, multi=False,
                                     source=Source.MEETING, at=at)
    if unseen:
        d.notices.append((Notice.ADOPTED_UNSEEN, {"actor": None, "source": Source.MEETING}))
        return d
    if report.status in (Status.RECORDING, Status.PAUSED):  # it was started before recbot heard of it
        # Recorded from when recbot learned it, not from its start: whether it was paused before (while recbot
        # was down, or its webhooks were lost) cannot be known, so privacy first none of that counts as recorded.
        d.steps.append(Step(Status.INVOKED, Status.RECORDING, now, None, Source.MEETING, Rebuilt.RECONSTRUCTED))
        d.set_timers += time_limit_timer(at, guardrails)  # the platform's 24 hours count from its start
        if report.status is Status.PAUSED:
            d.steps.append(Step(Status.RECORDING, Status.PAUSED, now, None, Source.MEETING, Rebuilt.RECONSTRUCTED))
    d.notices.append((Notice.ADOPTED, {"actor": None, "source": Source.MEETING}))
    return d


def _new_recording(report: Report, link: Link, title: str, *, started_by: str | None, origin: Origin, multi: bool,
                   source: Source, at: float) -> dict[str, Any]:
    """The arguments of `Store.add_recording`: a new recording, INVOKED, in the link's channel."""
    return {"recording_id": report.recording_id, "meeting_id": link.meeting_id, "channel_id": link.channel_id,
            "status": Status.INVOKED, "title": title, "started_by": started_by, "origin": origin, "multi": multi,
            "at": at, "source": source, "session_id": report.session_id}


def last_action(cur: Status, new: Status) -> LastAction | None:
    """What the card shows as the last action (with who did it, or how), or None when this change is no one's."""
    if new is Status.RECORDING and cur is Status.PAUSED:
        return LastAction.RESUMED
    return {Status.PAUSED: LastAction.PAUSED, Status.UPLOADING: LastAction.STOPPED}.get(new)


PLATFORM_REASONS = {"ALL_PEERS_LEFT": StopReason.EVERYONE_LEFT, "KICK_ALL": StopReason.ENDED_FOR_EVERYONE,
                    "MAX_SECONDS_REACHED": StopReason.TIME_LIMIT}  # the platform's `stopReason`s


def _stop(reason: LedgerReason | None) -> StopReason | None:
    """What of a step's reason its notice carries (an outbox row's payload): why it stopped, if it did."""
    return reason if isinstance(reason, StopReason) else None


def stop_reason(report: Report, first_recorded: float | None, source: Source, now: float) -> StopReason:
    if (known := PLATFORM_REASONS.get(report.stop_reason or "")) is not None:
        return known
    stopped = report.stopped_at or now
    if first_recorded is not None and stopped - first_recorded >= TIME_LIMIT - 5:
        return StopReason.TIME_LIMIT
    if report.stop_reason == "INTERNAL_ERROR":
        return StopReason.PLATFORM_ERROR
    return StopReason.OUTSIDE_SLACK if source is Source.RECONCILER else StopReason.FROM_MEETING


def last_pause(ledger: list[LedgerEntry]) -> LedgerEntry | None:
    return next((e for e in reversed(ledger) if e.status is Status.PAUSED), None)
