"""A local Slack: the Web API methods recbot calls, `response_url`s, and what a channel would show.

It records every call, keeps channels with their threads and edits, keeps ephemeral messages per
user, and limits calls as Slack does (`Limits`: per method and workspace, a channel's posts, 429 with
Retry-After, and a count of the calls made inside a Retry-After window it set). Tests can make it
refuse a call with any of Slack's errors (`refuse`), or answer 429 or 500 at random (`faults`).

It hands out `response_url`s and `trigger_id`s (`new_response_url`, `trigger`) and holds them to
Slack's limits: a response_url takes 5 replies within 30 minutes, then answers 404 (`used_url`,
`expired_url`); a trigger opens one modal (`views.open`) within 3 seconds, else `exchanged_trigger_id`
or `expired_trigger_id`. A response_url of the bare form `/response_url/{channel}/{user}`, which
Slack never hands out, is not counted: the benches and the chaos run build it in another process.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import math
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute

from bot.config import BOT_TOKEN_PREFIXES
from bot.faults import Dice
from bot.slack.limits import HISTORY_LIMIT, Limit, limit_of, per_channel
from bot.workbench.blockkit import MESSAGE_BLOCKS, VIEW_BLOCKS, refusal
from bot.workbench.slack_oauth import Installs
from bot.workbench.socket_mode import SocketHub

BOT_USER, BOT_ID = "U0RECBOT", "B0RECBOT"
RESPONSE_URL_USES, RESPONSE_URL_LIFETIME = 5, 30 * 60.0  # "up to 5 times within 30 minutes"
TRIGGER_LIFETIME = 3.0  # a trigger_id opens one modal, within 3 seconds
UPDATE_TEXT = 4_000  # chat.update's text limit (chat.postMessage's is 40,000)


@dataclass
class SlackFaults(Dice):
    """Modes: "429" and "500"."""

    retry_after: int = 1
    counts: dict[str, int] = field(default_factory=lambda: {"429": 0, "500": 0})


class Limits:
    """Slack's rate limits as `bot/slack/limits.py` lists them from Slack's pages, each window shorter by
    `scale` (tests: 10): at most so many calls of a method per workspace in any window, and a channel's
    posts. Over a limit: 429 with a whole-second Retry-After, as Slack sends it. A call made before that
    has passed is answered 429 again and counted in `inside`: Slack asks apps never to make one."""

    UNLIMITED = {"auth.test"}  # special: hundreds a minute

    def __init__(self, scale: float = 1.0):
        self.scale = scale
        self.on = True
        self.calls: dict[tuple[str, str], list[float]] = {}  # (workspace, method or channel) -> when accepted
        self.holds: dict[tuple[str, str], float] = {}  # (workspace, method) -> its Retry-After window's end
        self.inside: list[dict[str, Any]] = []  # calls made inside a Retry-After window
        self.answered_429 = 0
        self.tighter: dict[str, Limit] = {}  # tests: a method limited more than published, as Slack may do

    def check(self, team: str, method: str, channel: str, now: float) -> int | None:
        """None when the call may go (it is counted), else the Retry-After to answer."""
        if not self.on or method in self.UNLIMITED:
            return None
        key = (team, method)
        if (until := self.holds.get(key, 0.0)) > now:
            self.inside.append({"team": team, "method": method, "channel": channel, "at": now,
                                "early_by": until - now})
            self.answered_429 += 1
            return max(1, math.ceil(until - now))
        keys = [(key, self.tighter.get(method) or limit_of(method, self.scale))]
        if method == "chat.postMessage" and channel:
            keys.append(((team, "channel:" + channel), per_channel(self.scale)))
        for k, limit in keys:
            recent = self.calls[k] = [t for t in self.calls.get(k, []) if t > now - limit.seconds]
            if len(recent) >= limit.calls:
                retry_after = max(1, math.ceil(recent[0] + limit.seconds - now))
                self.holds[key] = now + retry_after
                self.answered_429 += 1
                return retry_after
        for k, _ in keys:
            self.calls[k].append(now)
        return None


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


class FakeSlack:
    def __init__(self, team_id: str = "T0DEMO", *, scale: float = 1.0):
        self.team_id = team_id
        self.limits = Limits(scale)
        self.refusing: list[tuple[str, str, Callable[[dict[str, Any]], bool], list[int]]] = []  # see `refuse`
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
        self.app = Starlette(routes=[Route("/api/{method}", self.api, methods=["GET", "POST"]),
                                     Route("/oauth/v2/authorize", self.installs.authorize_page, methods=["GET"]),
                                     WebSocketRoute("/socket/{ticket}", self.socket.endpoint),
                                     Route("/response_url/{key:path}", self.response_url, methods=["POST"]),
                                     Route("/upload/v1/{key}", self.upload, methods=["POST"]),
                                     Route("/_slack/messages", self.dump, methods=["GET"]),
                                     Route("/_slack/calls", self.dump_calls, methods=["GET"]),
                                     Route("/_slack/faults", self.set_faults, methods=["POST"])])

    # -- what a request from Slack carries -------------------------------------------------

    def new_response_url(self, channel: str, user: str) -> str:
        key = f"{channel}/{user}/{secrets.token_hex(6)}"
        self.response_urls[key] = {"at": self.clock(), "uses": 0}
        return f"{self.url}/response_url/{key}"

    def trigger(self, user: str) -> str:
        trigger_id = f"{next(self._ts)}.{int(self.clock())}.{secrets.token_hex(8)}"
        self.triggers[trigger_id] = {"at": self.clock(), "user": user, "used": False}
        return trigger_id

    # -- people ------------------------------------------------------------------------

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

    # -- reading what a person would see ------------------------------------------------

    def channel(self, channel: str) -> list[Message]:
        """Top-level messages, oldest first."""
        return sorted((m for m in self.messages.values() if m.channel == channel and m.thread_ts is None),
                      key=lambda m: float(m.ts))

    def thread(self, channel: str, ts: str) -> list[Message]:
        return sorted((m for m in self.messages.values() if m.channel == channel and m.thread_ts == ts),
                      key=lambda m: float(m.ts))

    def ephemeral_for(self, user: str) -> list[dict[str, Any]]:
        return [e for e in self.ephemeral if e.get("user") == user]

    def refuse(self, method: str, error: str, *, times: int = 1,
               when: Callable[[dict[str, Any]], bool] = lambda args: True) -> None:
        """Answer the next `times` calls of `method` whose arguments satisfy `when` with Slack's `error`
        (times=0: every such call)."""
        self.refusing.append((method, error, when, [times or -1]))

    def _refusal(self, method: str, args: dict[str, Any]) -> str | None:
        for m, error, when, left in self.refusing:
            if m == method and left[0] != 0 and when(args):
                left[0] -= 1
                return error
        return None

    def count(self, method: str) -> int:
        return sum(1 for c in self.calls if c["method"] == method and c.get("ok"))

    def _bump(self) -> None:
        self.version += 1
        self.changed.set()
        self.changed = asyncio.Event()

    # -- the Web API --------------------------------------------------------------------

    async def api(self, request: Request) -> Response:
        method = request.path_params["method"]
        args = await _arguments(request)
        call = {"method": method, "args": args, "at": time.time(), "ok": False,
                "connection": request.client.port if request.client else None}  # which of the caller's connections
        self.calls.append(call)
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        if method == "apps.connections.open":  # the one method for the app-level token
            body = self.socket.open(token, str(request.base_url))
            call["ok"] = body["ok"]
            return JSONResponse(body)
        if method == "oauth.v2.access":  # the app's own credentials, in HTTP Basic
            with contextlib.suppress(ValueError):
                user, _, password = base64.b64decode(request.headers["authorization"].split()[-1]).decode() \
                    .partition(":")
                args |= {"client_id": user, "client_secret": password}
            body = self.installs.oauth_v2_access(args, BOT_USER)
            call["ok"] = body["ok"]
            return JSONResponse(body)
        if method in ("functions.completeSuccess", "functions.completeError"):  # the execution's own token
            if (faulty := self._fault("", method, call["at"])) is not None:
                return faulty
            body = self.complete_function(method, token, args)
            call["ok"] = body["ok"]
            if body["ok"]:
                self._bump()
            return JSONResponse(body)
        if not token.startswith(BOT_TOKEN_PREFIXES):
            return JSONResponse({"ok": False, "error": "not_authed"})
        who = self.installs.who(token)
        if isinstance(who, str):
            return JSONResponse({"ok": False, "error": who})
        call["team"] = who.team_id or who.enterprise_id
        channel = str(args.get("channel") or args.get("channel_id") or "")  # files.* name it channel_id
        if refused := self.installs.refusal(who, channel):  # another workspace's channel
            return JSONResponse({"ok": False, "error": refused})
        if (retry_after := self.limits.check(str(call["team"]), method, str(args.get("channel", "")), call["at"])):
            call["error"] = "ratelimited"
            return JSONResponse({"ok": False, "error": "ratelimited"}, status_code=429,
                                headers={"Retry-After": str(retry_after)})
        if method == "auth.test":
            call["ok"] = True
            return JSONResponse(self.installs.auth_test(who, BOT_USER))
        if error := self._refusal(method, args):
            call["error"] = error
            return JSONResponse({"ok": False, "error": error})
        if (faulty := self._fault(str(call["team"]), method, call["at"])) is not None:
            return faulty
        handler = getattr(self, "m_" + method.replace(".", "_"), None)
        if handler is None:
            return JSONResponse({"ok": False, "error": "unknown_method"})
        if method.startswith("files."):  # whose file: one workspace cannot share another's upload
            args = {**args, "_base": str(request.base_url), "_team": call["team"], "_caller": call["team"]}
        body = handler(args)
        call["ok"] = body.get("ok", False)
        if call["ok"] and method == "chat.postMessage":
            self.messages[(body["channel"], body["ts"])].team = call["team"]
        if call["ok"]:
            self._bump()
        return JSONResponse(body)

    def _fault(self, team: str, method: str, at: float) -> Response | None:
        """The 429 or 500 a test asked for, if this call draws one."""
        fault = self.faults.draw()
        if fault == "429":  # a window of its own, as any 429 of Slack's: calls inside it are counted
            self.faults.counts["429"] += 1
            self.limits.holds[(team, method)] = at + self.faults.retry_after
            return JSONResponse({"ok": False, "error": "ratelimited"}, status_code=429,
                                headers={"Retry-After": str(self.faults.retry_after)})
        if fault == "500":
            self.faults.counts["500"] += 1
            return Response("upstream error", status_code=500)
        return None

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

    def m_chat_postMessage(self, args):
        if refused := self._refused(args):
            return refused
        if any(b.get("type") == "call" and b.get("call_id") not in self.slack_calls
               for b in _blocks(args.get("blocks")) or [] if isinstance(b, dict)):
            return {"ok": False, "error": "invalid_blocks"}  # a call block shows a call calls.add registered
        channel = args.get("channel", "")
        if channel in self.not_member:
            return {"ok": False, "error": "not_in_channel"}
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        thread_ts = args.get("thread_ts") or None
        if thread_ts and (channel, thread_ts) not in self.messages:
            return {"ok": False, "error": "thread_not_found"}
        ts = self._next_ts()
        metadata = args.get("metadata")
        self.messages[(channel, ts)] = Message(channel, ts, args.get("text", ""), _blocks(args.get("blocks")),
                                               thread_ts, broadcast=_truthy(args.get("reply_broadcast")),
                                               metadata=json.loads(metadata) if isinstance(metadata, str) else metadata)
        if self.after_post:
            self.after_post(args)
        return {"ok": True, "channel": channel, "ts": ts,
                "message": {"type": "message", "subtype": "bot_message", "text": args.get("text", ""), "ts": ts,
                            "username": "recbot", "bot_id": BOT_ID, "attachments": [], "user": BOT_USER}}

    # -- files: upload URL, the bytes, then complete (files.upload is retired) ----------------

    def m_files_getUploadURLExternal(self, args):
        """`filename` and `length` (bytes, a positive integer) are required; the answer is a one-use URL to POST
        the bytes to, and the file's id for files.completeUploadExternal."""
        filename, length = str(args.get("filename") or ""), str(args.get("length") or "")
        if not filename or not length.isdigit() or int(length) <= 0:
            return {"ok": False, "error": "invalid_arguments",
                    "response_metadata": {"messages": ["[ERROR] filename and a positive length are required"]}}
        file_id, key = f"F{next(self._ts):09d}", uuid.uuid4().hex
        self.files[file_id] = File(file_id, filename, int(length), args.get("_team"))
        self._uploads[key] = file_id
        return {"ok": True, "upload_url": f"{args['_base']}upload/v1/{key}", "file_id": file_id}

    async def upload(self, request: Request) -> Response:
        """The upload URL: the file's bytes, as the body or as a multipart form's `file`; once."""
        file_id = self._uploads.pop(request.path_params["key"], None)
        if file_id is None:
            return Response("upload URL unknown or used", status_code=404)
        raw = await request.body()
        if request.headers.get("content-type", "").startswith("multipart/form-data"):
            form = await request.form()
            part = form.get("file") or form.get("filename")
            raw = await part.read() if part is not None and not isinstance(part, str) else str(part or "").encode()
        self.files[file_id].content = raw
        return Response(f"OK - {len(raw)}", media_type="text/plain")

    def m_files_completeUploadExternal(self, args):
        """Shares uploaded files: `files` (a JSON array of {id, title}) is required; `thread_ts` needs a
        `channel_id`; each file must have had its bytes posted, be the caller's, and not be shared yet."""
        try:
            listed = json.loads(args["files"]) if isinstance(args.get("files"), str) else args.get("files")
        except ValueError:
            listed = None
        if not isinstance(listed, list) or not listed or not all(isinstance(f, dict) and f.get("id") for f in listed):
            return {"ok": False, "error": "invalid_arguments"}
        channel, thread_ts = str(args.get("channel_id") or ""), args.get("thread_ts") or None
        if thread_ts and not channel:
            return {"ok": False, "error": "invalid_arguments",
                    "response_metadata": {"messages": ["[ERROR] thread_ts requires channel_id"]}}
        found = [self.files.get(str(f["id"])) for f in listed]
        if any(f is None or f.content is None or f.shared or f.team != args.get("_caller") for f in found):
            return {"ok": False, "error": "file_not_found"}
        if len(found[0].content or b"") != found[0].length:  # the bytes posted are not the length asked for
            return {"ok": False, "error": "invalid_arguments",
                    "response_metadata": {"messages": ["[ERROR] the uploaded size differs from length"]}}
        if channel in self.not_member:
            return {"ok": False, "error": "not_in_channel"}
        if thread_ts and (channel, thread_ts) not in self.messages:
            return {"ok": False, "error": "thread_not_found"}
        shown = []
        for f, asked in zip(found, listed, strict=True):
            f.shared, f.title = bool(channel), str(asked.get("title") or f.filename)
            shown.append({"id": f.id, "name": f.filename, "title": f.title, "size": f.length})
        if channel:
            ts = self._next_ts()
            self.messages[(channel, ts)] = Message(channel, ts, str(args.get("initial_comment") or ""), None,
                                                   thread_ts, files=shown, team=args.get("_caller"))
        return {"ok": True, "files": shown}

    def file_text(self, file_id: str) -> str:
        """What a person downloading the file would read."""
        return (self.files[file_id].content or b"").decode("utf-8", errors="replace")

    def m_chat_postEphemeral(self, args):
        if refused := self._refused(args):
            return refused
        channel = args.get("channel", "")
        if channel in self.not_member:
            return {"ok": False, "error": "not_in_channel"}
        self.ephemeral.append({"channel": channel, "user": args.get("user"), "text": args.get("text", ""),
                               "blocks": _blocks(args.get("blocks")), "thread_ts": args.get("thread_ts"),
                               "at": time.time()})
        return {"ok": True, "message_ts": self._next_ts()}

    def m_chat_update(self, args):
        if refused := self._refused(args):
            return refused
        if len(str(args.get("text", ""))) > UPDATE_TEXT:
            return {"ok": False, "error": "msg_too_long"}
        key = (args.get("channel", ""), args.get("ts", ""))
        if key[0] in self.not_member:
            return {"ok": False, "error": "not_in_channel"}
        message = self.messages.get(key)
        if message is None:
            return {"ok": False, "error": "message_not_found"}
        message.text, message.blocks = args.get("text", message.text), _blocks(args.get("blocks")) or message.blocks
        message.edits += 1
        return {"ok": True, "channel": key[0], "ts": key[1], "text": message.text,
                "message": {"text": message.text, "user": BOT_USER}}

    def m_conversations_replies(self, args):
        parent = self.messages.get((args.get("channel", ""), args.get("ts", "")))
        if parent is None:
            return {"ok": False, "error": "thread_not_found"}
        return _page([parent, *self.thread(parent.channel, parent.ts)], args, newest_first=False)

    def m_conversations_history(self, args):
        channel = args.get("channel", "")
        if channel in self.not_member:
            return {"ok": False, "error": "not_in_channel"}
        return {**_page(self.channel(channel), args, newest_first=True), "pin_count": 0,
                **({"latest": args["latest"]} if args.get("latest") else {})}  # echoed, as Slack does

    def m_views_publish(self, args):
        if refused := self._refused(args, max_blocks=VIEW_BLOCKS):
            return refused
        view = args.get("view")
        view = self.homes[args.get("user_id", "")] = json.loads(view) if isinstance(view, str) else view
        return {"ok": True, "view": self._view(view, f"VH{args.get('user_id', '')}")}

    def m_views_open(self, args):
        if refused := self._refused(args, max_blocks=VIEW_BLOCKS):
            return refused
        trigger = self.triggers.get(str(args.get("trigger_id", "")))
        if trigger is None:
            return {"ok": False, "error": "invalid_trigger_id"}
        if trigger["used"]:
            return {"ok": False, "error": "exchanged_trigger_id"}
        if self.clock() - trigger["at"] > TRIGGER_LIFETIME:
            return {"ok": False, "error": "expired_trigger_id"}
        trigger["used"] = True
        view = args.get("view")
        view = json.loads(view) if isinstance(view, str) else view
        self.views.append({"trigger_id": args["trigger_id"], "view": view})
        return {"ok": True, "view": self._view(view, f"V{len(self.views):06d}")}

    def _view(self, view: dict[str, Any] | None, view_id: str) -> dict[str, Any]:
        """A view as Slack answers views.open and views.publish: what was sent, and what Slack adds."""
        return {"type": "modal", "title": None, "close": None, "submit": None, "blocks": [], "private_metadata": "",
                "callback_id": "", "external_id": "", "clear_on_close": False, "notify_on_close": False,
                **(view or {}), "id": view_id, "team_id": self.team_id, "state": {"values": {}},
                "hash": f"{int(time.time())}.{secrets.token_hex(4)}", "root_view_id": view_id,
                "previous_view_id": None, "app_id": "A0REC", "app_installed_team_id": self.team_id, "bot_id": BOT_ID}

    # -- calls (docs.slack.dev/reference/methods/calls.*) ------------------------------------

    def m_calls_add(self, args):
        users = _json(args.get("users"), [])
        if not args.get("external_unique_id") or not args.get("join_url"):
            return {"ok": False, "error": "invalid_arguments"}
        if not args.get("created_by"):  # required with a bot token (calls.add: "Otherwise, the field is required")
            return {"ok": False, "error": "invalid_arguments"}
        if not _call_users(users):
            return {"ok": False, "error": "invalid_arguments"}
        call_id = f"R{next(self._ts):08d}"
        self.slack_calls[call_id] = {"id": call_id, "external_unique_id": args["external_unique_id"],
                                     "join_url": args["join_url"], "title": args.get("title") or "",
                                     "date_start": int(args.get("date_start") or time.time()),
                                     "created_by": args["created_by"], "users": list(users), "ended": False,
                                     "duration": None, "changes": [("add", [u.get("display_name") for u in users])]}
        return {"ok": True, "call": {k: v for k, v in self.slack_calls[call_id].items() if k != "changes"}}

    def _active_call(self, args) -> dict[str, Any] | str:
        call = self.slack_calls.get(str(args.get("id", "")))
        if call is None:
            return "invalid_call_id"
        return "inactive_call" if call["ended"] else call

    def m_calls_participants_add(self, args):
        return self._participants(args, joined=True)

    def m_calls_participants_remove(self, args):
        return self._participants(args, joined=False)

    def _participants(self, args, *, joined: bool) -> dict[str, Any]:
        call, users = self._active_call(args), _json(args.get("users"), None)
        if isinstance(call, str):
            return {"ok": False, "error": call}
        if not users or not _call_users(users):
            return {"ok": False, "error": "invalid_arguments"}
        others = [u for u in call["users"] if u not in users]
        call["users"] = others + users if joined else others
        call["changes"].append(("joined" if joined else "left", [u.get("display_name") for u in users]))
        return {"ok": True}

    def m_calls_update(self, args):
        call = self._active_call(args)
        if isinstance(call, str):
            return {"ok": False, "error": call}
        for name in ("title", "join_url"):
            if args.get(name):
                call[name] = args[name]
        call["changes"].append(("title", call["title"]))
        return {"ok": True}

    def m_calls_end(self, args):
        call = self._active_call(args)
        if call == "inactive_call":
            return {"ok": True, "error": "inactive_call"}  # as documented: ok, but already stopped
        if isinstance(call, str):
            return {"ok": False, "error": call}
        call["ended"], call["duration"] = True, int(args["duration"]) if args.get("duration") else None
        call["changes"].append(("end", call["duration"]))
        return {"ok": True}

    # -- Workflow Builder steps (function_executed, functions.complete*) ---------------------

    def run_function(self, callback_id: str, inputs: dict[str, Any], team_id: str | None = None) -> dict[str, Any]:
        """A workflow reaches one of the app's steps: the `function_executed` event Slack sends, kept running
        until the app completes it."""
        definition = FUNCTIONS.get(callback_id) if FUNCTIONS else {}
        if definition is None:
            raise ValueError(f"the manifest has no function {callback_id!r}")
        execution_id, token = f"Fx{next(self._ts):010d}", f"xwfp-{secrets.token_hex(12)}"
        self.executions[execution_id] = {"callback_id": callback_id, "inputs": inputs, "token": token,
                                         "team": team_id or self.team_id, "state": "running", "outputs": None,
                                         "error": None, "at": time.time()}
        return {"type": "function_executed", "function_execution_id": execution_id,
                "workflow_execution_id": f"Wx{next(self._ts):010d}", "inputs": inputs, "bot_access_token": token,
                "event_ts": f"{time.time():.6f}",
                "function": {"id": f"Fn{callback_id}", "callback_id": callback_id, "type": "app",
                             "title": (definition or {}).get("title", callback_id), "app_id": "A0REC",
                             "input_parameters": _parameters((definition or {}).get("input_parameters")),
                             "output_parameters": _parameters((definition or {}).get("output_parameters"))}}

    def complete_function(self, method: str, token: str, args: dict[str, Any]) -> dict[str, Any]:
        """functions.completeSuccess / completeError as documented: with the execution's own token (as Bolt's
        complete and fail send it), once, while it runs; outputs as the manifest declares them."""
        execution = self.executions.get(str(args.get("function_execution_id", "")))
        if execution is None:
            return {"ok": False, "error": "function_execution_not_found"}
        if token != execution["token"]:
            return {"ok": False, "error": "access_denied"}
        if execution["state"] != "running":
            return {"ok": False, "error": "execution_not_in_running_state"}
        if method == "functions.completeError":
            if not str(args.get("error") or "").strip():
                return {"ok": False, "error": "invalid_arguments"}
            execution.update(state="failed", error=str(args["error"]))
            return {"ok": True}
        outputs = _json(args.get("outputs"), None)
        wanted = ((FUNCTIONS or {}).get(execution["callback_id"]) or {}).get("output_parameters") or {}
        if not isinstance(outputs, dict) or any(
                (spec.get("is_required") and name not in outputs) or
                (name in outputs and spec.get("type") == "string" and not isinstance(outputs[name], str))
                for name, spec in wanted.items()):
            return {"ok": False, "error": "parameter_validation_failed"}
        execution.update(state="completed", outputs=outputs)
        return {"ok": True}

    def call_in(self, channel: str) -> list[dict[str, Any]]:
        """The calls shown in a channel's messages, oldest first."""
        return [self.slack_calls[b["call_id"]] for m in self.channel(channel) for b in m.blocks or []
                if b.get("type") == "call" and b.get("call_id") in self.slack_calls]

    def m_users_info(self, args):
        user = self.users.get(args.get("user", ""))
        return {"ok": True, "user": user} if user else {"ok": False, "error": "user_not_found"}

    async def dump(self, request: Request) -> Response:
        """Everything the channel shows, for checks run from another process; with `?everything=1` also
        every call it was sent (edits, ephemerals, answers on a response_url) and each person's App Home."""
        return JSONResponse({"messages": [vars(m) for m in self.messages.values()], "ephemeral": self.ephemeral,
                             "files": {f.id: {"name": f.filename, "title": f.title, "text": self.file_text(f.id)}
                                       for f in self.files.values() if f.shared},
                             "faults": self.faults.counts, "limits": {"inside_retry_after": len(self.limits.inside),
                                                                      "answered_429": self.limits.answered_429},
                             "calls": {m: self.count(m) for m in ("chat.postMessage", "chat.update")},
                             **({"everything": json.loads(json.dumps(  # ?everything=1: every call's arguments
                                 [{"method": c["method"], "team": c.get("team"), "ok": c.get("ok"),
                                   "args": c["args"]} for c in self.calls], default=str)), "homes": self.homes}
                                if request.query_params.get("everything") else {})})

    async def dump_calls(self, request: Request) -> Response:
        """Successful calls of one method since a time, for timing checks run from another process."""
        method, since = request.query_params.get("method", ""), float(request.query_params.get("since", 0))
        return JSONResponse([{"at": c["at"], "ts": c["args"].get("ts"), "channel": c["args"].get("channel"),
                              "text": str(c["args"].get("text", ""))[:120]}
                             for c in self.calls if c["method"] == method and c["ok"] and c["at"] >= since])

    async def set_faults(self, request: Request) -> Response:
        body = await request.json()
        self.faults.rates = {k: float(v) for k, v in dict(body.get("rates", {})).items() if k in ("429", "500")}
        self.faults.retry_after = int(body.get("retry_after", self.faults.retry_after))
        return JSONResponse({"ok": True, "counts": self.faults.counts})

    async def response_url(self, request: Request) -> Response:
        key: str = request.path_params["key"]
        try:
            body = json.loads(await request.body())
        except ValueError:
            return Response("bad json", status_code=400)
        if found := refusal(body.get("text"), body.get("blocks")):  # Slack answers a response_url with a 4xx
            self.refusals.append({"error": found[0], "detail": found[1], "args": body})
            return Response(found[0], status_code=400)
        if spent := self._spent(key):
            self.refusals.append({"error": spent, "detail": f"response_url {key}", "args": body})
            return Response(spent, status_code=404)
        channel, user, *_ = [*key.split("/"), ""]
        self.ephemeral.append({"channel": channel, "user": user, "text": body.get("text", ""),
                               "blocks": body.get("blocks"), "at": time.time()})
        self.calls.append({"method": "response_url", "args": body, "at": time.time(), "ok": True})
        self._bump()
        return Response("ok")


    def _spent(self, key: str) -> str | None:
        """Why Slack would refuse one more reply on this response_url, if it would."""
        issued = self.response_urls.get(key)
        if issued is None:
            return None if key.count("/") == 1 else "invalid_url"  # the bare form: see the module's docstring
        if self.clock() - issued["at"] > RESPONSE_URL_LIFETIME:
            return "expired_url"
        if issued["uses"] >= RESPONSE_URL_USES:
            return "used_url"
        issued["uses"] += 1
        return None


async def _arguments(request: Request) -> dict[str, Any]:
    args: dict[str, Any] = dict(request.query_params)
    raw = await request.body()
    if raw:
        if request.headers.get("content-type", "").startswith("application/json"):
            try:
                args.update(json.loads(raw))
            except ValueError:
                pass
        else:
            args.update(dict(parse_qsl(raw.decode(errors="replace"))))
    return args


def _page(messages: list[Message], args: dict[str, Any], *, newest_first: bool) -> dict[str, Any]:
    """One page of history, as Slack pages it: between `oldest` and `latest` (`inclusive`), at most `limit`
    messages and never more than 15 (Tier 1, for apps not in the Slack Marketplace), then a cursor."""
    oldest, latest = float(args.get("oldest") or 0), float(args.get("latest") or math.inf)
    inclusive = _truthy(args.get("inclusive"))
    within = [m for m in messages if (oldest <= float(m.ts) <= latest if inclusive else oldest < float(m.ts) < latest)]
    if newest_first:
        within.reverse()
    start = int(args.get("cursor") or 0)
    try:
        limit = min(int(args.get("limit") or 100), HISTORY_LIMIT)
    except ValueError:
        limit = HISTORY_LIMIT
    page, more = within[start:start + limit], start + limit < len(within)
    return {"ok": True, "messages": [_api_message(m) for m in page], "has_more": more,
            "response_metadata": {"next_cursor": str(start + limit) if more else ""}}


def _api_message(m: Message) -> dict[str, Any]:
    return {"type": "message", "user": m.user, "ts": m.ts, "thread_ts": m.thread_ts, "text": m.text,
            "metadata": m.metadata, **({"files": m.files} if m.files else {})}


def _blocks(value: Any) -> Any:
    """Blocks (or a view) as sent: JSON text in a form post, a list or object in a JSON body."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    return value if isinstance(value, list | dict) else None


def _load_functions() -> dict[str, Any] | None:
    """The steps manifest.yml declares (None when recbot runs without its source tree)."""
    path = Path(__file__).resolve().parents[2] / "manifest.yml"
    try:
        import yaml
    except ImportError:  # a test dependency: without it the steps' outputs are not checked
        return None
    return (yaml.safe_load(path.read_text()) or {}).get("functions") or {} if path.exists() else None


def _parameters(declared: Any) -> list[dict[str, Any]]:
    """A manifest's parameters as function_executed lists them."""
    return [{"name": name, **spec} for name, spec in (declared or {}).items()]


FUNCTIONS = _load_functions()


def _json(value: Any, default: Any) -> Any:
    """A JSON argument, as text (a form post) or as sent (a JSON body)."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return default
    return default if value is None else value


def _call_users(users: Any) -> bool:
    """Each user of a call is a Slack user (`slack_id`) or someone outside Slack (`external_id`)."""
    return isinstance(users, list) and all(isinstance(u, dict) and (u.get("slack_id") or u.get("external_id"))
                                           for u in users)


def _truthy(value: Any) -> bool:
    return value in (True, "true", "1", 1)
