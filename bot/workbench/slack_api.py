"""A local Slack: the Web API methods recbot calls, `response_url`s, and what a channel would show.

It records every call, keeps channels with their threads and edits, keeps ephemeral messages per
user, and limits calls as Slack does (`Limits`: per method and workspace, a channel's posts, 429 with
Retry-After, and a count of the calls made inside a Retry-After window it set). Tests can make it
refuse a call with any of Slack's errors (`refuse`, in any of the shapes of `ODD`), or answer 429, 500 or
a refusal recbot has never seen at random (`faults`).

It hands out `response_url`s and `trigger_id`s (`new_response_url`, `trigger`) and holds them to
Slack's limits: a response_url takes 5 replies within 30 minutes, then answers 404 (`used_url`,
`expired_url`); a trigger opens one modal (`views.open`) within 3 seconds, else `exchanged_trigger_id`
or `expired_trigger_id`. A response_url of the bare form `/response_url/{channel}/{user}`, which
Slack never hands out, is not counted: the benches and the chaos run build it in another process.

`FakeSlack` answers `/api/{method}` (whose token, the limits, refusals and faults asked for) over the state
`SlackState` keeps (slack_state.py); the methods live beside it by family, each over that state: `Chat`
(slack_chat.py: messages, history, response_urls), `Files` (slack_files.py), `Views` (slack_views.py:
modals, App Home, triggers), `Calls` (slack_calls.py), `Workflows` (slack_workflows.py: Workflow Builder
steps). Its workspaces are `Installs` (slack_oauth.py), its Socket Mode side `SocketHub` (socket_mode.py).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import math
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute

from bot.config import BOT_TOKEN_PREFIXES
from bot.workbench.slack_args import _arguments
from bot.workbench.slack_calls import Calls
from bot.workbench.slack_chat import Chat
from bot.workbench.slack_files import Files
from bot.workbench.slack_limits import ODD, ODD_RESPONSE_URL, odd_answer
from bot.workbench.slack_state import BOT_USER
from bot.workbench.slack_views import Views
from bot.workbench.slack_workflows import Workflows

__all__ = ["BOT_USER", "FakeSlack"]


class FakeSlack(Chat, Files, Views, Calls, Workflows):
    def __init__(self, team_id: str = "T0DEMO", *, scale: float = 1.0):
        super().__init__(team_id, scale=scale)
        self.app = Starlette(routes=[Route("/api/{method}", self.api, methods=["GET", "POST"]),
                                     Route("/oauth/v2/authorize", self.installs.authorize_page, methods=["GET"]),
                                     WebSocketRoute("/socket/{ticket}", self.socket.endpoint),
                                     Route("/response_url/{key:path}", self.response_url, methods=["POST"]),
                                     Route("/upload/v1/{key}", self.upload, methods=["POST"]),
                                     Route("/_slack/messages", self.dump, methods=["GET"]),
                                     Route("/_slack/calls", self.dump_calls, methods=["GET"]),
                                     Route("/_slack/faults", self.set_faults, methods=["POST"]),
                                     Route("/_slack/workspaces", self.set_workspaces, methods=["POST"])])

    def refuse(self, method: str, error: str, *, times: int = 1,
               when: Callable[[dict[str, Any]], bool] = lambda args: True) -> None:
        """Answer the next `times` calls of `method` whose arguments satisfy `when` with Slack's `error`
        (times=0: every such call): ok false with HTTP 200, or, for a name of `ODD` (`ODD_RESPONSE_URL` when
        `method` is "response_url"), that answer."""
        self.refusing.append((method, error, when, [times or -1]))

    def _refusal(self, method: str, args: dict[str, Any]) -> str | None:
        for m, error, when, left in self.refusing:
            if m == method and left[0] != 0 and when(args):
                left[0] -= 1
                return error
        return None

    # -- the Web API --------------------------------------------------------------------

    async def api(self, request: Request) -> Response:
        """A Web API call, answered as Slack would; a method a test made `slow` is answered that much later
        (what was decided, a 429's window say, holds from when the call came)."""
        answer = await self._api(request)
        if delay := self.slow.get(request.path_params["method"]):
            await asyncio.sleep(delay)
        return answer

    async def _api(self, request: Request) -> Response:
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
            if error := self._refusal(method, args):
                call["error"] = error
                return odd_answer(ODD[error]) if error in ODD else JSONResponse({"ok": False, "error": error})
            if args.get("grant_type") == "refresh_token":  # (an install's code draws none: the chaos run's come first)
                where = self.installs.refreshing(str(args.get("refresh_token", "")))  # the install's workspace
                if retry_after := self.limits.check(where, method, "", call["at"]):  # inside a window a fault set
                    return JSONResponse({"ok": False, "error": "ratelimited"}, status_code=429,
                                        headers={"Retry-After": str(retry_after)})
                if (faulty := self._fault(where, method, call["at"])) is not None:
                    return faulty
            refreshing = args.get("grant_type") == "refresh_token"
            if refreshing and self.installs.refresh_delays[0]:
                await asyncio.sleep(self.installs.refresh_delays[0])
            body = self.installs.oauth_v2_access(args, BOT_USER)
            call["ok"], call["error"] = body["ok"], body.get("error")
            if refreshing and self.installs.refresh_delays[1]:  # made (the refresh token spent); the answer on its way
                await asyncio.sleep(self.installs.refresh_delays[1])
            if refreshing and self.installs.held is not None:
                await self.installs.held.wait()
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
        user = str(args.get("user") or args.get("user_id") or "")  # users.info, chat.postEphemeral, views.publish
        user_team = self.users.get(user, {}).get("team_id")
        if refused := self.installs.refusal(who, method, channel, user_team):
            call["error"] = refused  # another workspace's channel or person
            return JSONResponse({"ok": False, "error": refused})
        where = self.installs.counted_in(who, channel)  # whose limits the call counts against
        if (retry_after := self.limits.check(where, method, str(args.get("channel", "")), call["at"])):
            call["error"] = "ratelimited"
            return JSONResponse({"ok": False, "error": "ratelimited"}, status_code=429,
                                headers={"Retry-After": str(retry_after)})
        if error := self._refusal(method, args):
            call["error"] = error
            return odd_answer(ODD[error]) if error in ODD else JSONResponse({"ok": False, "error": error})
        if (faulty := self._fault(where, method, call["at"])) is not None:
            return faulty
        if method == "auth.test":
            call["ok"] = True
            return JSONResponse(self.installs.auth_test(who, BOT_USER))
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
        """The 429, 500 or odd refusal a test asked for, if this call draws one."""
        fault = self.faults.draw()
        if fault == "429":  # a window of its own, as any 429 of Slack's: calls inside it are counted
            self.faults.counts["429"] += 1
            self.limits.hold((team, method), at, self.faults.retry_after, "fault")
            return JSONResponse({"ok": False, "error": "ratelimited"}, status_code=429,
                                headers={"Retry-After": str(self.faults.retry_after)})
        if fault == "500":
            self.faults.counts["500"] += 1
            return Response("upstream error", status_code=500)
        if fault == "odd":
            return self.faults.odd_one(ODD)
        return None

    async def response_url(self, request: Request) -> Response:
        """The refusal or fault a test asked for, else the answer as Slack gives it (`Chat.response_url`). Slack
        documents no 429 on a response_url: only a test asks for one (`refuse("response_url", "ratelimited")`),
        with a window of its own whose calls are counted in `limits.inside` as for any method; the chaos run's
        faults there are 500s and odd refusals."""
        now, key = time.time(), ("", "response_url")
        if (until := self.limits.holds.get(key, 0.0)) > now:
            self.limits.count_inside(key, "", now)
            return _too_many(until - now)
        with contextlib.suppress(ValueError):
            if refused := self._refusal("response_url", json.loads(await request.body())):
                if refused == "ratelimited":
                    self.limits.hold(key, now, self.faults.retry_after, "fault")
                    return _too_many(self.faults.retry_after)
                return odd_answer(ODD_RESPONSE_URL[refused]) if refused in ODD_RESPONSE_URL else \
                    Response(refused, status_code=400)
        fault = self.faults.draw() if self.faults.response_urls else None
        if fault == "500":
            self.faults.counts["500"] += 1
            return Response("upstream error", status_code=500)
        if fault == "odd":
            return self.faults.odd_one(ODD_RESPONSE_URL)
        return await super().response_url(request)

    # -- files: upload URL, the bytes, then complete (files.upload is retired) ----------------

    # -- calls (docs.slack.dev/reference/methods/calls.*) ------------------------------------

    # -- Workflow Builder steps (function_executed, functions.complete*) ---------------------

    def m_users_info(self, args):
        user = self.users.get(args.get("user", ""))
        return {"ok": True, "user": user} if user else {"ok": False, "error": "user_not_found"}

    async def dump(self, request: Request) -> Response:
        """Everything the channel shows, for checks run from another process; with `?everything=1` also
        every call it was sent (edits, ephemerals, answers on a response_url) and each person's App Home."""
        return JSONResponse({"messages": [vars(m) for m in self.messages.values()], "ephemeral": self.ephemeral,
                             "files": {f.id: {"name": f.filename, "title": f.title, "text": self.file_text(f.id)}
                                       for f in self.files.values() if f.shared},
                             "faults": self.faults.counts, "odd": self.faults.odd,
                             "limits": {"inside_retry_after": len(self.limits.inside),
                                        "inside_by_method": dict(Counter(c["method"] for c in self.limits.inside)),
                                        "answered_429": self.limits.answered_429, "inside": self.limits.inside},
                             "calls": {m: self.count(m) for m in ("chat.postMessage", "chat.update")},
                             "crossed": self.installs.crossed,
                             **({"everything": json.loads(json.dumps(  # ?everything=1: every call's arguments
                                 [{"method": c["method"], "team": c.get("team"), "ok": c.get("ok"),
                                   "error": c.get("error"), "args": c["args"]} for c in self.calls], default=str)),
                                 "homes": self.homes}
                                if request.query_params.get("everything") else {})})

    async def dump_calls(self, request: Request) -> Response:
        """Successful calls of one method since a time, for timing checks run from another process."""
        method, since = request.query_params.get("method", ""), float(request.query_params.get("since", 0))
        return JSONResponse([{"at": c["at"], "ts": c["args"].get("ts"), "channel": c["args"].get("channel"),
                              "text": str(c["args"].get("text", ""))[:120]}
                             for c in self.calls if c["method"] == method and c["ok"] and c["at"] >= since])

    async def set_faults(self, request: Request) -> Response:
        body = await request.json()
        self.faults.rates = {k: float(v) for k, v in dict(body.get("rates", {})).items() if k in ("429", "500", "odd")}
        self.faults.retry_after = int(body.get("retry_after", self.faults.retry_after))
        self.faults.response_urls = bool(body.get("response_urls", self.faults.response_urls))
        return JSONResponse({"ok": True, "counts": self.faults.counts, "odd": self.faults.odd})

    async def set_workspaces(self, request: Request) -> Response:
        """Workspaces (some in an org), their channels and people, for a run in another process; the app's
        redirect URL; `strict`: only tokens it issued are taken (as for an app installed with OAuth); and
        `rotation` (with `lifetime` and `refresh_delays`: `Installs`)."""
        body = await request.json()
        for ws in body.get("workspaces", []):
            self.installs.add_workspace(ws["team_id"], ws["name"], enterprise_id=ws.get("enterprise_id"),
                                        channels=tuple(ws.get("channels", ())))
            for person in ws.get("users", []):
                self.add_user(person["id"], person["name"], admin=bool(person.get("admin")), team_id=ws["team_id"])
        self.installs.redirect_url = body.get("redirect_url", self.installs.redirect_url)
        self.installs.strict = bool(body.get("strict", self.installs.strict))
        if "rotation" in body:  # token rotation on, each token living `lifetime` seconds
            self.installs.rotation = bool(body["rotation"])
            self.installs.lifetime = float(body.get("lifetime", self.installs.lifetime))
            self.installs.refresh_delays = tuple(body.get("refresh_delays", self.installs.refresh_delays))
        return JSONResponse({"ok": True})


def _too_many(seconds: float) -> Response:
    return Response("rate_limited", status_code=429, headers={"Retry-After": str(max(1, math.ceil(seconds)))})
