"""The domain's plain types, owned by neither Slack nor the store nor the platform client.

A `Recording` is what recbot knows of one cloud recording; what the platform says about one is
`PlatformRecording` (the REST object) or `RecordingUpdate` (a webhook), both in `bot/platform/`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    INVOKED = "INVOKED"
    RECORDING = "RECORDING"
    PAUSED = "PAUSED"
    UPLOADING = "UPLOADING"
    UPLOADED = "UPLOADED"
    ERRORED = "ERRORED"

    @property
    def rank(self) -> int:
        """Order of the lifecycle; RECORDING and PAUSED share a rank (they alternate)."""
        return _RANK[self]

    @property
    def active(self) -> bool:
        """A PAUSED recording still counts as active (docs/platform.md)."""
        return self in ACTIVE

    @property
    def final(self) -> bool:
        return self in (Status.UPLOADED, Status.ERRORED)


_RANK = {Status.INVOKED: 0, Status.RECORDING: 1, Status.PAUSED: 1, Status.UPLOADING: 2,
         Status.UPLOADED: 3, Status.ERRORED: 3}
ACTIVE = (Status.INVOKED, Status.RECORDING, Status.PAUSED)
UNFINISHED = (*ACTIVE, Status.UPLOADING)


class Source(StrEnum):
    """Where an action or a change came from: a person's (`Actor.via`), recbot's own or the platform's (a
    step's and the ledger's `source`). `bot/slack/blocks.py` words each one; stored, so values never change."""

    COMMAND = "command"  # /rec
    BUTTON = "button"  # a button in a channel or a thread
    HOME = "home"  # a button in App Home
    MODAL = "modal"  # a form (the settings)
    WORKFLOW = "workflow"  # a Workflow Builder step
    AUTO = "auto"  # auto-record, when the meeting started
    TIMER = "timer"  # a timed pause ran out
    GUARD = "guard"  # recbot stopped a recording left paused after the meeting ended
    PLATFORM = "platform"  # the platform's answer or webhook
    MEETING = "meeting"  # someone in the meeting, as the platform tells it
    RECONCILER = "reconciler"  # recbot asked the platform about a recording with no news


class LastAction(StrEnum):
    """What the card shows as the last action (`Recording.last_action`): with `last_actor` who did it, else
    with `last_source` how (from the meeting, or automatically, and for a stop its `stop_reason`).
    `bot/slack/blocks.py` words it. Stored."""

    STARTED = "started"
    PAUSED = "paused"
    RESUMED = "resumed"
    STOPPED = "stopped"


class Origin(StrEnum):
    """How a recording began (`Recording.origin`): the card says who started it, or how. Stored."""

    SLACK = "slack"  # someone in Slack
    AUTO = "auto"  # auto-record
    WORKFLOW = "workflow"  # a Workflow Builder step
    MEETING = "meeting"  # from the meeting: recbot adopted it
    UNSEEN = "unseen"  # learned of only after it stopped (recbot was down, its news lost): it did not see it run


class StopReason(StrEnum):
    """Why a recording stopped without anyone in Slack stopping it (a step's and the ledger's `reason`, the
    recording's `stop_reason`), or why a paused one was left paused (`Notice.ENDED_WHILE_PAUSED`).
    `bot/slack/blocks.py` words each one; the values are stored, so they never change."""

    EVERYONE_LEFT = "everyone left"  # the platform's ALL_PEERS_LEFT, or the meeting's last person left
    ENDED_FOR_EVERYONE = "the meeting was ended for everyone"  # the platform's KICK_ALL
    TIME_LIMIT = "time limit reached"  # the platform's 24-hour limit
    PLATFORM_ERROR = "platform error"  # the platform's INTERNAL_ERROR
    FROM_MEETING = "from the meeting"  # someone in the meeting stopped it
    OUTSIDE_SLACK = "outside Slack"  # the reconciler found it stopped, and no webhook said how
    ENDED_WHILE_PAUSED = "the meeting ended while paused"  # recbot stopped it after the grace
    MEETING_ENDED = "the meeting ended"  # the meeting ended while it was paused (a reminder's, not a stop's)


class ErrorReason(StrEnum):
    """Why a recording failed, when recbot knows it rather than the platform saying it (`Recording.error_reason`
    is else the platform's own words). `bot/slack/blocks.py` words each one; stored, so values never change."""

    GONE = "the platform no longer knows this recording"  # the platform answers 404 for it
    UNRECOVERABLE = "the platform reported an unrecoverable error"  # ERRORED, and the platform said no more


class Notice(StrEnum):
    """What a thread reply under a recording's card says; `bot/slack/blocks.py` words each one."""

    STARTED = "started"
    ADOPTED = "adopted"
    ADOPTED_UNSEEN = "adopted_unseen"  # learned of only after it stopped: nothing of it counts as recorded
    RECORDING = "recording"
    PAUSED = "paused"
    RESUMED = "resumed"
    STOPPED = "stopped"
    UPLOADED = "uploaded"
    ERRORED = "errored"
    ENDED_WHILE_PAUSED = "ended_while_paused"
    PAUSE_REMINDER = "pause_reminder"
    HEADS_UP = "heads_up"
    AUTO_RESUME_FAILED = "auto_resume_failed"
    AUTO_STOP_FAILED = "auto_stop_failed"
    PAUSE_FAILED = "pause_failed"  # still recording: the channel must know
    TIME_LIMIT_SOON = "time_limit_soon"  # the platform's 24-hour limit stops it soon
    TRANSCRIPT = "transcript"  # the session's transcript is ready
    SUMMARY = "summary"  # the session's summary is ready
    SUMMARY_HELD = "summary_held"  # a pause overlapped the session: its summary waits for a controller
    TRANSCRIPT_UNREADABLE = "transcript_unreadable"  # paused, and the transcript could not be read: no link


class Outgoing(StrEnum):
    """What an outbox row sends; `bot/slack/kinds/` has one class per kind (render, send, degrade)."""

    CARD = "card"  # the recording's card: posted once, then edited to its latest state
    THREAD = "thread"  # a notice in the card's thread
    WHISPER = "whisper"  # a notice in the thread that only one person sees
    NOTE = "note"  # a transcript or summary for a channel with no recording of that session (old rows only)
    DM = "dm"  # a direct message
    HOME = "home"  # someone's App Home
    MODAL = "modal"  # a form opened on a trigger_id
    RESPOND = "respond"  # an ephemeral answer on a response_url
    CALL = "call"  # a meeting's Slack call, brought in step with the store (calls.add, .participants.*, .update, .end)
    CALL_POST = "call_post"  # the message that shows a call in a channel
    STEP_DONE = "step_done"  # a Workflow Builder step completed (functions.completeSuccess) or failed (completeError)
    EPHEMERAL = "ephemeral"  # an answer only one person sees in a channel, when a response_url or trigger cannot
    UPLOAD = "upload"  # recbot's own transcript copy, a file in the card's thread


class Timer(StrEnum):
    RESUME = "resume"  # a timed pause is over
    HEADS_UP = "heads_up"  # a timed pause ends soon
    PAUSE_REMINDER = "pause_reminder"  # paused for a long time
    ENDED_PAUSED = "ended_paused"  # the meeting ended while paused: stop after a grace
    TIME_LIMIT = "time_limit"  # the platform's 24-hour limit is near
    SESSION_FILES = "session_files"  # no transcript or summary webhook came: ask for them
    HELD_FILES = "held_files"  # a transcript or summary came while an outcome was unknown: look again (unsettled.py)


PAUSE_TIMERS = (Timer.RESUME, Timer.HEADS_UP, Timer.PAUSE_REMINDER, Timer.ENDED_PAUSED)  # end with the pause


@dataclass(frozen=True)
class Mark:
    """A moment someone bookmarked in a recording, at wall time `at`."""

    recording_id: str
    at: float
    user_id: str | None
    text: str


@dataclass(frozen=True)
class Attendee:
    """One person's time in one meeting session (a rejoin is another row: the platform gives a new peer id)."""

    session_id: str
    participant_id: str
    name: str
    joined_at: float | None
    left_at: float | None


@dataclass(frozen=True)
class Team:
    """A Slack workspace, and the Enterprise Grid org it belongs to (if any): whose token a write uses."""

    team_id: str | None
    enterprise_id: str | None = None


@dataclass(frozen=True)
class Link:
    channel_id: str
    team_id: str | None
    meeting_id: str
    meeting_title: str
    linked_by: str
    linked_at: float
    broken_reason: str | None
    enterprise_id: str | None = None
    account: str = ""  # the platform account its meeting lives on: "" for the environment's, else a route

    @property
    def team(self) -> Team:
        return Team(self.team_id, self.enterprise_id)


class Role(StrEnum):
    """A person's standing in a channel, set by `/rec allow` or `/rec deny` (`Member.role`). Stored."""

    ALLOW = "allow"  # a controller there, as whoever linked it is
    DENY = "deny"  # barred from every action there, pausing included


@dataclass(frozen=True)
class Member:
    user_id: str
    role: Role
    set_by: str
    set_at: float


@dataclass(frozen=True)
class Recording:
    """A recording as recbot knows it."""

    id: str
    meeting_id: str
    channel_id: str
    handle: int
    status: Status
    meeting_title: str
    started_by: str | None
    origin: Origin
    last_actor: str | None
    last_action: LastAction | None
    card_ts: str | None
    multi: bool
    created_at: float
    updated_at: float
    last_news_at: float  # when its last news came (a report written or seen)
    download_url: str | None
    audio_url: str | None
    url_expiry: float | None
    file_size: float | None
    duration: float | None
    stop_reason: str | None
    error_reason: str | None
    pause_until: float | None
    session_id: str | None
    team_id: str | None = None
    enterprise_id: str | None = None
    account: str = ""
    last_source: Source | None = None  # where the last action came from; None: automatically (older rows)
    seen_at: float = 0.0  # when what its state rests on was seen (wall clock): older reports do not flip it
    unknown_since: float | None = None  # when its outcome became unknown (`outcome_unknown`); None: known

    @property
    def outcome_unknown(self) -> bool:
        """An action asked of the platform whose answer was never written, or news waiting for its confirmation
        (since `unknown_since`): the next action and the reconciler ask the platform first."""
        return self.unknown_since is not None

    @property
    def team(self) -> Team:
        return Team(self.team_id, self.enterprise_id)

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Recording:
        return cls(**{**row, "status": Status(row["status"]), "origin": Origin(row["origin"]),
                      "last_action": LastAction(row["last_action"]) if row["last_action"] else None,
                      "last_source": Source(row["last_source"]) if row["last_source"] else None,
                      "multi": bool(row["multi"])})


@dataclass(frozen=True)
class Actor:
    """Who asked, and from where."""

    user_id: str | None  # None for recbot's own timers and guards
    channel_id: str
    team_id: str | None = None
    via: Source = Source.COMMAND
    enterprise_id: str | None = None

    @property
    def team(self) -> Team:
        return Team(self.team_id, self.enterprise_id)


@dataclass(frozen=True)
class Command:
    """One parsed `/rec` command (the grammar is in `bot/slack/grammar.py`)."""

    name: str
    handle: int | None = None
    duration: float | None = None
    meeting_ref: str | None = None
    title: str | None = None
    user_id: str | None = None
    multi: bool = False
    text: str | None = None  # a mark's text; a setting's value
    setting: str | None = None  # `/rec settings NAME VALUE`
    trigger_id: str | None = None  # Slack's, to open a modal


@dataclass(frozen=True)
class Call:
    """A meeting's live session shown in Slack as a call, one per workspace (`calls.add` answers `call_id`).

    `shown` is what Slack was last told (title, people, ended), so that bringing the call in step with the
    store is a difference, sent once, whatever crashed or repeated in between."""

    team_key: str  # the workspace (or org) it is shown in; "" with one workspace
    session_id: str
    meeting_id: str
    title: str
    join_url: str
    created_by: str  # a Slack user (calls.add requires one with a bot token): whoever linked the channel
    started_at: float
    ended_at: float | None
    call_id: str | None
    shown: dict[str, Any]
    refused: str | None
    team_id: str | None = None
    enterprise_id: str | None = None

    @property
    def team(self) -> Team:
        return Team(self.team_id, self.enterprise_id)

    @property
    def key(self) -> str:
        """The outbox sends one row of a key at a time, in order: a call's rows are keyed by the call."""
        return f"call:{self.team_key}:{self.session_id}"
