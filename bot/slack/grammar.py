"""The `/rec` grammar (README, "What it does"), as one pure function: text in, a Command or an Unparsed out."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from bot.config import parse_duration
from bot.models import Command
from bot.mrkdwn import escape
from bot.slack.replies import USAGE

SUBCOMMANDS = ("help", "link", "unlink", "new", "start", "pause", "resume", "stop", "status", "allow", "deny",
               "who", "history", "unallow", "end", "mark", "summary", "settings", "connect", "disconnect", "find")
MAX_PAUSE = 24 * 3600.0

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_MENTION = re.compile(r"^<@([UW][A-Z0-9]+)(?:\|[^>]*)?>$")
_HANDLE = re.compile(r"^#(\d{1,6})$")
_MEETING_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{2,127}$")


@dataclass(frozen=True)
class Unparsed:
    """Text that is no `/rec` command: what was wrong, said with the usage (not an exception: `parse` returns it)."""

    message: str

    @property
    def text(self) -> str:
        return f"{self.message}\n\n{USAGE}"


def parse(text: str) -> Command | Unparsed:
    words = (text or "").replace("\u00a0", " ").split()
    if not words:
        return Command("help")
    name, args = words[0].lower(), words[1:]
    if name not in SUBCOMMANDS:
        close = difflib.get_close_matches(name, SUBCOMMANDS, n=1, cutoff=0.6)
        hint = f" Did you mean `/rec {close[0]}`?" if close else ""
        return Unparsed(f"`{_clip(words[0])}` is not a `/rec` command.{hint}")
    if name in ("help", "unlink", "status", "who", "history", "end", "summary", "connect", "disconnect"):
        return _no_args(name, args)
    if name == "new":
        title = _unquoted(" ".join(args).strip())
        if len(title) > 200:
            return Unparsed("A meeting title can be at most 200 characters.")
        return Command("new", title=title or None)
    if name == "link":
        return _link(args)
    if name == "mark":
        text = _unquoted(" ".join(args).strip())
        if len(text) > 200:
            return Unparsed("A mark's text can be at most 200 characters.")
        return Command("mark", text=text or None)
    if name == "find":
        looked_for = " ".join(args).strip()
        if not re.search(r"\w", looked_for):
            return Unparsed('Say what to look for, like `/rec find pricing` or `/rec find "launch date"`.')
        if len(looked_for) > 200:
            return Unparsed("What to find can be at most 200 characters.")
        return Command("find", text=looked_for)
    if name == "settings":
        if not args:
            return Command("settings")
        if len(args) < 2:
            return Unparsed("Say a setting and its value, like `/rec settings auto-record on`, or "
                              "`/rec settings` alone for the form.")
        return Command("settings", setting=args[0].lower(), text=_unquoted(" ".join(args[1:]).strip()))
    if name in ("allow", "deny", "unallow"):
        return _mention(name, args)
    if name == "start":
        flags = [a.lower().lstrip("-\u2013\u2014") for a in args]  # Slack may turn "--" into a dash
        if not flags:
            return Command("start")
        if flags == ["multi"]:
            return Command("start", multi=True)
        return Unparsed(f"`/rec start` takes only `--multi`, not `{_clip(' '.join(args))}`.")
    return _act(name, args)


def _no_args(name: str, args: list[str]) -> Command | Unparsed:
    if args:
        return Unparsed(f"`/rec {name}` takes nothing after it.")
    return Command(name)


def _link(args: list[str]) -> Command | Unparsed:
    text = " ".join(args)
    slack_link = text.startswith("<") and text.endswith(">") and text.count(">") == 1  # `<url|a label>`
    if not args or (len(args) != 1 and not slack_link):
        return Unparsed("Say which meeting: `/rec link ‹meeting id or meeting URL›`.")
    ref = meeting_id_from(text)
    if ref is None:
        return Unparsed(f"`{_clip(text)}` is not a meeting id or a meeting URL.")
    return Command("link", meeting_ref=ref)


def meeting_id_from(text: str) -> str | None:
    """A meeting id from an id, a URL, or Slack's `<url>` / `<url|label>` forms."""
    text = text.strip()
    if text.startswith("<") and text.endswith(">"):
        text = text[1:-1].split("|", 1)[0]
    found = _UUID.findall(text)
    if found:
        return found[-1].lower()
    if "://" in text:
        path = text.split("://", 1)[1].split("?", 1)[0].split("#", 1)[0].rstrip("/")
        text = path.rsplit("/", 1)[-1] if "/" in path else ""
    return text if _MEETING_ID.match(text) else None


def _mention(name: str, args: list[str]) -> Command | Unparsed:
    if len(args) == 1 and (m := _MENTION.match(args[0])):
        return Command(name, user_id=m.group(1))
    return Unparsed(f"Mention one person: `/rec {name} @someone` (pick them from Slack's @ list).")


def _act(name: str, args: list[str]) -> Command | Unparsed:
    handle = duration = None
    rest = list(args)
    while rest:
        word = rest.pop(0)
        if m := _HANDLE.match(word):
            if handle is not None:
                return Unparsed("Name at most one recording, like `#2`.")
            handle = int(m.group(1))
        elif name == "pause" and word.lower() == "for" and rest:
            duration = parse_duration(rest.pop(0))
            if duration is None:
                return Unparsed("Say how long, like `for 90s`, `for 10m` or `for 1h30m`.")
        elif name == "pause" and (d := parse_duration(word)) is not None and not word.isdigit():
            duration = d
        else:
            expected = "`#n` and `for ‹duration›`" if name == "pause" else "`#n`"
            return Unparsed(f"`/rec {name}` takes {expected}, not `{_clip(word)}`.")
    if duration is not None and not 1 <= duration <= MAX_PAUSE:
        return Unparsed("A timed pause lasts from 1 second to 24 hours.")
    return Command(name, handle=handle, duration=duration)


def _clip(text: str, limit: int = 40) -> str:
    """Echo user text safely inside inline code: no backticks, Slack's control characters escaped, bounded."""
    text = text.replace("`", "'")
    return escape(text if len(text) <= limit else text[: limit - 1] + "…")


QUOTES = {'"': '"', "'": "'", "“": "”", "‘": "’", "«": "»"}


def _unquoted(text: str) -> str:
    """`"Design review"` → `Design review`: a title typed in quotes does not keep them."""
    if len(text) >= 2 and QUOTES.get(text[0]) == text[-1]:
        return text[1:-1].strip()
    return text
