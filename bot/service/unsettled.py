"""A session's transcript and summary wait while any recording of the session has an unknown outcome.

The transcript is cut by the ledger, and the ledger is only as true as what recbot has learned: while a
recording's outcome is unknown (an action whose answer never came, or news waiting for its confirmation round:
`Recording.outcome_unknown`), its last step may still say RECORDING although the platform paused it, and a cut
made then would count every line said after the pause as recorded (the chaos run's leak, docs/reliability.md).
So a transcript or summary that comes then is held (a durable timer, `Timer.HELD_FILES`: a restart keeps it) and
looked at again until every recording of its session is settled, then cut by the ledger as it truly is. After
`HOLD_FOR` it is cut anyway, conservatively: nothing from when the earliest unknown outcome began counts as
recorded (and, since lines were withheld, the summary is held and the platform's transcript never linked).
The same wait, and the same bound, for a recording of the session recbot still thinks RECORDING: the platform
writes a session's files after it ended, so that recording's news (its stop, maybe a pause before it) is late.
Below the store boundary: functions over a `Tx`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from bot.ledger import Summary, summarize
from bot.models import Recording, Status, Timer
from bot.platform.models import FileKind
from bot.platform.webhooks import SessionFile
from bot.store import Tx

log = logging.getLogger(__name__)

HOLD_FOR = 600.0  # a session's files wait at most this long for its recordings' outcomes to be known
LOOK_AGAIN = 3.0  # how often a held file is looked at again


def unsettled_since(recordings: Iterable[Recording]) -> float | None:
    """When the earliest unknown outcome among these recordings began (`Recording.unknown_since`: the first
    unanswered action asked, or news sent to confirmation). None when every outcome is known."""
    times = [r.unknown_since for r in recordings if r.unknown_since is not None]
    return min(times) if times else None


def waits(recordings: Iterable[Recording]) -> bool:
    """Whether a session's transcript or summary must wait: a recording of it has an unknown outcome, or is still
    RECORDING as recbot knows it. The platform writes a session's files once it ended, and stops what records when
    everyone has left, so that news is late (the stop, maybe a pause before it), and the ledger, open until now,
    would count every line said since as recorded. (A PAUSED one may rightly outlive its session until stopped; its
    open interval counts nothing as recorded.)"""
    recordings = list(recordings)
    return unsettled_since(recordings) is not None or any(r.status is Status.RECORDING for r in recordings)


def ledgers(tx: Tx, session_id: str, now: float, until: float | None = None) -> list[tuple[Recording, Summary]]:
    """Each recording of the session with what its ledger adds up to at `now`, or (`until`) as if nothing after
    `until` was recorded: a conservative cut, no interval reaching past it."""
    return [(r, tx.summary(r.id, now) if until is None
             else summarize([e for e in tx.ledger(r.id) if e.at < until], min(now, until)))
            for r in tx.recordings_of_session(session_id)]


def decide(tx: Tx, file: SessionFile, held_since: float | None, now: float) -> tuple[bool, float | None]:
    """(held, until), inside `store.write` (holding writes a timer). Held when a recording of the session is
    unsettled, or still RECORDING as recbot knows it (`waits`), and the file has waited less than HOLD_FOR (since
    `held_since`, or now: first come); else cut, up to `until` when the bound was reached with an outcome still
    unknown or a recording still RECORDING (None: by the whole ledger)."""
    recordings = tx.recordings_of_session(file.session_id)
    if not waits(recordings):
        return False, None
    since = unsettled_since(recordings)
    first = now if held_since is None else held_since
    if now - first < HOLD_FOR:
        _hold(tx, file, recordings[0].id, first, now + LOOK_AGAIN)
        return True, None
    if since is None:
        log.warning("session %s: %s held %.0f s while recording(s) %s were still recording as recbot knew them; cut "
                    "as if nothing was recorded from %.3f on (when it came)", file.session_id, file.kind, now - first,
                    ",".join(r.id for r in recordings if r.status is Status.RECORDING), first)
        return False, first
    log.warning("session %s: %s held %.0f s while recording(s) %s had an unknown outcome; cut as if nothing "
                "was recorded from %.3f on", file.session_id, file.kind, now - first,
                ",".join(r.id for r in recordings if r.outcome_unknown), since)
    return False, since


def _hold(tx: Tx, file: SessionFile, recording_id: str, since: float, due: float) -> None:
    """The file joins the session's held files (one timer on its first recording; the earliest `since` of a kind
    is kept, whichever path brought it again)."""
    entry = {"kind": file.kind.value, "meeting_id": file.meeting_id, "session_id": file.session_id,
             "url": file.url, "expiry": file.expiry, "started_at": file.started_at, "since": since}
    pending = tx.timers.pending(Timer.HELD_FILES, recording_id)
    files = list(pending.payload.get("files") or []) if pending else []
    entry["since"] = min([since, *(f["since"] for f in files if f.get("kind") == entry["kind"])])
    others = [f for f in files if f.get("kind") != entry["kind"]]
    tx.timers.set(Timer.HELD_FILES, recording_id, due, {"files": [*others, entry]})


def held_files(payload: dict[str, Any]) -> list[tuple[SessionFile, float]]:
    """A HELD_FILES timer's files, each with when it was first held."""
    return [(SessionFile(FileKind(f["kind"]), f["meeting_id"], f["session_id"], f["url"], f.get("expiry"),
                         started_at=f.get("started_at")), float(f["since"]))
            for f in payload.get("files") or []]
