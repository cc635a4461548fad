"""What the service tells the person who asked: meaning, not words. `bot/slack/replies.py` words it. And what
one webhook came to (`Applied`), which the worker stores."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from bot.ledger import Summary
from bot.models import Recording
from bot.platform.errors import (
    Disconnected,
    NotFound,
    PlatformError,
    PlatformUnavailable,
    RateLimited,
    Unauthorized,
)


class Applied(StrEnum):
    """What one webhook came to. What follows a recording's news steers by it (`News`); the worker stores it,
    with what the news was of, as the delivery's `outcome` (`Workers`: a log, steering nothing)."""

    # a recording's news (`News._update`)
    APPLIED = "applied"  # it moved the recording
    NO_CHANGE = "no change"  # nothing new, or older than what is known
    CONFIRMING = "confirming"  # RECORDING or PAUSED out of order: the platform is asked which is true
    UNKNOWN = "unknown"  # a recording recbot does not know, while a start of its meeting is in flight: wait
    ATTENDANCE = "attendance"  # uploaded, and nobody told who was there: ask the platform first
    NOT_OWNED = "refused: not this account's meeting"  # it came on another account's route
    # one recbot did not know, otherwise (`Truth.adopt`)
    ADOPTED = "adopted"
    ADOPTED_STOPPED = "adopted after it stopped"  # brought to its state at once: its file is posted
    ALREADY_KNOWN = "already known"  # adopted meanwhile (another process)
    NOT_LINKED = "meeting not linked"
    NO_MEETING = "unknown recording without a meeting"
    ALREADY_STOPPED = "unknown recording already stopped"
    # a session's transcript or summary (`SessionFiles.on_file`)
    POSTED = "posted"  # in the thread of each recording of its session
    POSTED_NOWHERE = "posted nowhere: a session nobody recorded"
    OWN_COPY = "own copy uploaded"  # a transcript of a session with a pause: its recorded lines, as recbot cut them
    HELD = "held: a pause overlapped the session"  # a summary, as the channel's `AfterPause` says
    UNSETTLED = "held: a recording of its session has an unknown outcome"
    ALREADY_POSTED = "already posted"
    # a meeting's event (`News.meeting_event`)
    NOTED = "noted"  # kept (who came or went), or nothing to do
    NO_PARTICIPANT = "a participant without a session or an id"
    AUTO_RECORDING = "auto-recording"
    AUTO_RECORD_FAILED = "auto-record failed"
    NO_AUTO_RECORD = "no auto-record"
    ALREADY_RECORDING = "already recording"
    NOTHING_PAUSED = "nothing paused"
    NOT_CHECKED = "could not check who is left"
    PEOPLE_THERE = "people are still there"
    REMINDED = "reminded about the paused recording(s)"
    # news recbot does not act on
    IGNORED = "ignored"


class Say(StrEnum):
    HELP = "help"
    BUSY = "busy"  # the store could not take the request; nothing was done
    FAILED = "failed"  # recbot itself failed (logged with its traceback)
    NOT_LINKED = "not_linked"
    REFUSED = "refused"  # {reason: Refusal}
    NO_SUCH_MEETING = "no_such_meeting"  # {ref}
    PLATFORM_FAILED = "platform_failed"  # {doing, handle, failure, message, retry_after, tail}
    LINKED = "linked"  # {created, title, meeting_id, before}
    CREATED_UNSAVED = "created_unsaved"  # {title, meeting_id}
    UNLINKED = "unlinked"  # {meeting_id, still_active}
    ALREADY_ACTIVE = "already_active"  # {active: [(handle, status)], paused}
    START_REFUSED = "start_refused"  # {message}
    STARTING = "starting"  # {handle, title}
    NO_SUCH_HANDLE = "no_such_handle"  # {handle}
    NOTHING_TO_ACT = "nothing_to_act"  # {action, active: [(handle, status)]}
    FOREIGN_BUTTON = "foreign_button"
    WRONG_STATE = "wrong_state"  # {handle, status, action}
    ACT_CONFLICT = "act_conflict"  # {handle, action, message, now}
    ACTED = "acted"  # {handle, action, duration}
    SAVED_LATER = "saved_later"  # {handle, action}: the platform did it; the store will catch up
    SNOOZE_NOT_PAUSED = "snooze_not_paused"  # {handle, status}
    SNOOZED = "snoozed"  # {handle, delay}
    NO_DOWNLOAD_LINK = "no_download_link"  # {handle, status}
    FRESH_LINK = "fresh_link"  # {handle, url, expiry}
    LINKER_STAYS = "linker_stays"
    ALLOWED = "allowed"  # {user}
    DENIED = "denied"  # {user}
    UNALLOWED = "unallowed"  # {user}
    STATUS = "status"  # {link, lines: [StatusLine]}
    HISTORY = "history"  # {link, lines: [StatusLine]}
    WHO = "who"  # {link, members}
    END_CONFIRM = "end_confirm"  # {link, active: [(handle, status)]}: asks before ending the meeting for everyone
    ENDED = "ended"  # {kicked: int | None (None: no live session)}
    NOTHING_TO_MARK = "nothing_to_mark"  # {paused}
    MARKED = "marked"  # {handle, offset, text}
    NO_SESSION = "no_session"  # nothing recorded yet, so no session to summarise
    SUMMARY_THERE = "summary_there"  # {handle, url, expiry}: already in the thread
    SUMMARY_POSTED = "summary_posted"  # {handle}
    SUMMARY_ASKED = "summary_asked"  # {handle}: the platform writes it; it follows in the thread
    SUMMARY_HELD = "summary_held"  # {handle}: a pause overlapped the session; a controller may post it
    SUMMARY_NEVER = "summary_never"  # {handle}: a pause overlapped it and the channel says never
    SUMMARY_RELEASED = "summary_released"  # {handle}: a held summary posted by the controller who asked
    FIND = "find"  # {words, hits: [FoundLine], kept_days}
    SETTING_INVALID = "setting_invalid"  # {message}
    SETTING_SET = "setting_set"  # {name, settings: ChannelSettings}
    SETTINGS = "settings"  # {settings: ChannelSettings}: shown where no modal could open
    ADMINS_ONLY = "admins_only"  # /rec connect|disconnect by someone who is not a workspace admin
    CONNECTED = "connected"  # {flavour, name, webhook_url, webhook: registered|updated|kept|failed, message?}
    CONNECT_REFUSED = "connect_refused"  # {flavour, message}: the platform did not accept the credentials
    DISCONNECTED = "disconnected"  # {flavour, links}
    NOT_CONNECTED = "not_connected"
    STEP_NO_CHANNEL = "step_no_channel"  # a Workflow Builder step without its channel
    STEP_MINUTES = "step_minutes"  # a timed pause's minutes out of range
    WORKFLOWS_OFF = "workflows_off"  # a step with no person behind it, where the channel has not allowed workflows


class Refusal(StrEnum):
    DENIED = "denied"  # barred with /rec deny
    OTHER_WORKSPACE = "other_workspace"
    NOT_CONTROLLER = "not_controller"


@dataclass(frozen=True)
class Line:
    say: Say
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class Reply:
    lines: list[Line]
    ok: bool = True

    @classmethod
    def one(cls, say: Say, *, ok: bool = True, **params: Any) -> Reply:
        return cls([Line(say, params)], ok)

    @property
    def says(self) -> list[Say]:
        return [line.say for line in self.lines]


@dataclass(frozen=True)
class StatusLine:
    rec: Recording
    summary: Summary


def failed(doing: str, exc: PlatformError, *, handle: int | None = None, tail: str | None = None) -> Line:
    """A platform error, as facts a person can act on; never a stack trace.

    `doing` is the action (`link`, `start`, `pause`, …); `tail` says what follows: `maybe` (it may
    still happen) or `unchanged` (nothing changed)."""
    if isinstance(exc, PlatformUnavailable):
        failure = "unavailable"
    elif isinstance(exc, RateLimited):
        failure = "rate_limited"
    elif isinstance(exc, NotFound):
        failure = "not_found"
    elif isinstance(exc, Disconnected):
        failure = "disconnected"
    elif isinstance(exc, Unauthorized):  # 401, or Cloudflare's 403 for a token without the permission
        failure = "unauthorized"
    else:
        failure = "refused"
    return Line(Say.PLATFORM_FAILED, {"doing": doing, "handle": handle, "failure": failure, "message": exc.message,
                                      "retry_after": getattr(exc, "retry_after", None), "tail": tail})
