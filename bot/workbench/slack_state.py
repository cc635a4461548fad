"""What the local Slack holds (`SlackState`): messages and their edits, ephemeral messages, files, views,
calls, workflow steps, people, and every call it was sent; and what a person would see of it. The
methods' families (slack_chat.py, slack_files.py, slack_views.py, slack_calls.py, slack_workflows.py)
each work over this state; `FakeSlack` (slack_api.py) is all of them behind one `/api/{method}`."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot.workbench.blockkit import MESSAGE_BLOCKS, refusal
from bot.workbench.slack_args import _blocks
from bot.workbench.slack_limits import Limits, SlackFaults
from bot.workbench.slack_oauth import Installs
from bot.workbench.socket_mode import SocketHub

BOT_USER, BOT_ID = "U0RECBOT", "B0RECBOT"


@dataclass
class Message:
    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]] | None
    thread_ts: str | None = None
    user: str = BOT_USER
    edits: int = 0
    broadcast: bool = False
    metadata: dict[str, Any] | None = None
    team: str | None = None  # whose token posted it
    files: list[dict[str, Any]] | None = None  # shared with files.completeUploadExternal


@dataclass
class File:
    """An upload started with files.getUploadURLExternal: its bytes arrive at `upload_url`, and
    files.completeUploadExternal shares it (once)."""

    id: str
    filename: str
    length: int
    team: str | None
    content: bytes | None = None  # None until the bytes were posted to the upload URL
    title: str | None = None
    shared: bool = False


class SlackState:
    """Everything the local Slack holds, and what a person would see of it."""

    def __init__(self, team_id: str = "T0DEMO", *, scale: float = 1.0):
        self.team_id = team_id
        self.limits = Limits(scale)
        self.refusing: list[tuple[str, str, Callable[[dict[str, Any]], bool], list[int]]] = []  # see `refuse`
        self.slow: dict[str, float] = {}  # tests: seconds a method's answer takes on its way back, once decided
        self._last_ts = 0.0
        self._ts = itertools.count(1)  # trigger ids
        self.calls: list[dict[str, Any]] = []
        self.messages: dict[tuple[str, str], Message] = {}
        self.ephemeral: list[dict[str, Any]] = []
        self.homes: dict[str, dict[str, Any]] = {}
        self.slack_calls: dict[str, dict[str, Any]] = {}  # calls.add's calls, by id
        self.executions: dict[str, dict[str, Any]] = {}  # Workflow Builder steps run, by function_execution_id
        self.files: dict[str, File] = {}  # uploads, by file id
        self._uploads: dict[str, str] = {}  # upload URL key -> file id
        self.views: list[dict[str, Any]] = []  # modals opened, with their trigger
        self.users: dict[str, dict[str, Any]] = {}
        self.not_member: set[str] = set()
        self.refusals: list[dict[str, Any]] = []  # what Slack would have refused, with why
        self.message_blocks = MESSAGE_BLOCKS  # tests lower it to make Slack refuse a message that fits
        self.after_post = None  # tests: called with the arguments once a post is taken
        self.faults = SlackFaults()
        self.url = ""  # where it listens (the response_urls it hands out point there), once its server runs
        self.clock = time.time  # tests move it on to age a response_url or a trigger
        self.response_urls: dict[str, dict[str, Any]] = {}  # handed out: path -> when, how often used
        self.triggers: dict[str, dict[str, Any]] = {}  # handed out: trigger_id -> when, for whom, used
        self.changed = asyncio.Event()
        self.version = 0
        self.socket = SocketHub()  # Socket Mode: apps.connections.open and the WebSocket it hands out
        self.installs = Installs(team_id)  # workspaces, the authorize page, oauth.v2.access, whose token is whose

    def add_user(self, user_id: str, name: str, *, admin: bool = False, team_id: str | None = None) -> None:
        team = team_id or self.team_id
        self.users[user_id] = {
            "id": user_id, "team_id": team, "name": name, "deleted": False, "color": "9f69e7", "real_name": name,
            "tz": "Europe/London", "tz_label": "Greenwich Mean Time", "tz_offset": 0,
            "profile": {"avatar_hash": "", "status_text": "", "status_emoji": "", "real_name": name,
                        "display_name": name, "real_name_normalized": name, "display_name_normalized": name,
                        "email": f"{name}@example.com", "team": team,
                        **{f"image_{n}": "" for n in ("original", 24, 32, 48, 72, 192, 512)}},
            "is_admin": admin, "is_owner": False, "is_primary_owner": False, "is_restricted": False,
            "is_ultra_restricted": False, "is_bot": False, "updated": 1700000000, "is_app_user": False,
            "has_2fa": False}

    def channel(self, channel: str) -> list[Message]:
        """Top-level messages, oldest first."""
        return sorted((m for m in self.messages.values() if m.channel == channel and m.thread_ts is None),
                      key=lambda m: float(m.ts))

    def thread(self, channel: str, ts: str) -> list[Message]:
        return sorted((m for m in self.messages.values() if m.channel == channel and m.thread_ts == ts),
                      key=lambda m: float(m.ts))

    def ephemeral_for(self, user: str) -> list[dict[str, Any]]:
        return [e for e in self.ephemeral if e.get("user") == user]

    def count(self, method: str) -> int:
        return sum(1 for c in self.calls if c["method"] == method and c.get("ok"))

    def _bump(self) -> None:
        self.version += 1
        self.changed.set()
        self.changed = asyncio.Event()

    def _next_ts(self) -> str:
        """Slack's ts: seconds and microseconds of when it took the message, unique in the channel."""
        self._last_ts = max(time.time(), self._last_ts + 1e-6)
        return f"{self._last_ts:.6f}"

    def _refused(self, args: dict[str, Any], *, max_blocks: int | None = None) -> dict[str, Any] | None:
        """Slack's answer to a payload it would refuse (kept in `refusals` for tests to read)."""
        if "view" in args:
            view = _blocks(args.get("view"))
            blocks = view.get("blocks") if isinstance(view, dict) else None
        else:
            blocks = _blocks(args.get("blocks"))
        found = refusal(args.get("text"), blocks, max_blocks=max_blocks or self.message_blocks)
        if found is None:
            return None
        self.refusals.append({**dict(zip(("error", "detail"), found, strict=True)), "args": args})
        return {"ok": False, "error": found[0], "response_metadata": {"messages": [f"[ERROR] {found[1]}"]}}
