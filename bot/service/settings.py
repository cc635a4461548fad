"""A channel's settings (pure): their names as `/rec settings NAME VALUE` takes them, how each value is
checked, and the typed view the rest of the service reads."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from bot.config import parse_duration
from bot.ledger import duration_text

SUMMARY_TYPES = ("general", "team_meeting", "sales_call", "client_check_in", "interview", "daily_standup",
                 "one_on_one_meeting", "lecture", "code_review")
NAMES = ("auto-record", "transcribe", "summarize", "summary-type", "summary-after-pause", "notice", "keep-alive",
         "pause-reminder", "call", "workflows")
ON, OFF = ("on", "yes", "true", "1"), ("off", "no", "false", "0")
NOTICE_LIMIT = 500


class AfterPause(StrEnum):
    """A session's summary when a pause overlapped it (`summary-after-pause`; the stored value)."""

    HOLD = "hold"  # held for a controller to post
    POST = "post"  # posted all the same
    NEVER = "never"  # never posted


@dataclass(frozen=True)
class ChannelSettings:
    auto_record: bool = False
    transcribe: bool = False
    summarize: bool = False
    summary_type: str = "general"
    notice: str | None = None  # said to everyone when a recording starts or resumes
    keep_alive: float | None = None  # None: recbot's REC_KEEP_ALIVE
    pause_reminder: float | None = None  # None: recbot's REC_PAUSE_REMINDER; 0: off
    call: bool = True  # the live session as a Slack call (when REC_JOIN_URL is set)
    workflows: bool = False  # Workflow Builder steps with no person behind them may act here
    summary_after_pause: AfterPause = AfterPause.HOLD

    @classmethod
    def of(cls, stored: dict[str, str]) -> ChannelSettings:
        def seconds(name: str) -> float | None:
            return float(stored[name]) if name in stored else None

        return cls(auto_record=stored.get("auto-record") == "on", transcribe=stored.get("transcribe") == "on",
                   summarize=stored.get("summarize") == "on",
                   summary_type=stored.get("summary-type") or "general", notice=stored.get("notice") or None,
                   keep_alive=seconds("keep-alive"), pause_reminder=seconds("pause-reminder"),
                   call=stored.get("call") != "off", workflows=stored.get("workflows") == "on",
                   summary_after_pause=AfterPause(stored.get("summary-after-pause") or AfterPause.HOLD))

    def shown(self) -> list[tuple[str, str]]:
        """(name, value) in words, in the order `/rec settings` lists them."""
        def dur(seconds: float | None, default: str) -> str:
            return default if seconds is None else ("off" if seconds == 0 else duration_text(seconds))

        return [("auto-record", "on" if self.auto_record else "off"),
                ("transcribe", "on" if self.transcribe else "off"),
                ("summarize", "on" if self.summarize else "off"),
                ("summary-type", self.summary_type),
                ("summary-after-pause", self.summary_after_pause),
                ("notice", self.notice or "none"),
                ("keep-alive", dur(self.keep_alive, "recbot's default")),
                ("pause-reminder", dur(self.pause_reminder, "recbot's default")),
                ("call", "on" if self.call else "off"),
                ("workflows", "on" if self.workflows else "off")]


def checked(name: str, value: str) -> tuple[str | None, str | None]:
    """(the value to store, or None to clear it back to the default; an error in words, or None)."""
    value = value.strip()
    if name in ("auto-record", "transcribe", "summarize", "call", "workflows"):
        if value.lower() in ON:
            return (None if name == "call" else "on"), None  # stored only where it differs from the default
        if value.lower() in OFF:
            return ("off" if name == "call" else None), None
        return None, f"`{name}` is `on` or `off`."
    if name == "summary-type":
        if value.lower() in SUMMARY_TYPES:
            return value.lower(), None
        return None, "`summary-type` is one of " + ", ".join(f"`{t}`" for t in SUMMARY_TYPES) + "."
    if name == "summary-after-pause":
        if value.lower() in set(AfterPause):
            return (None if value.lower() == AfterPause.HOLD else value.lower()), None
        return None, "`summary-after-pause` is `hold` (a controller decides), `post` or `never`."
    if name == "notice":
        if value.lower() in ("off", "none", ""):
            return None, None
        if len(value) > NOTICE_LIMIT:
            return None, f"A notice can be at most {NOTICE_LIMIT} characters."
        return value, None
    if name in ("keep-alive", "pause-reminder"):
        if value.lower() == "default":
            return None, None
        seconds = parse_duration(value)
        if name == "keep-alive" and (seconds is None or not 60 <= seconds <= 600):
            return None, "`keep-alive` is from `1m` to `10m` (or `default`)."
        if seconds is None or seconds > 86400:
            return None, "`pause-reminder` is a duration such as `10m` (`0` turns it off, `default` resets it)."
        return str(seconds), None
    return None, f"There is no setting `{name}`. The settings are " + ", ".join(f"`{n}`" for n in NAMES) + "."
