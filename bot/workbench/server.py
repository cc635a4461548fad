"""The workbench page's server: what the channel shows, and the controls a person uses.

Every action goes through the real paths: `/rec` text becomes a signed slash command to the bot,
a button becomes a signed `block_actions`, and the meeting panel drives the emulator's controls.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import asdict
from importlib import resources
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from bot.models import Status
from bot.workbench.stack import Stack

CHANNEL = "C0DEMO"
BETA, BETA_CHANNEL = "T0BETA", "C0BETA"  # a second workspace, to install recbot into from the page
PEOPLE: list[dict[str, Any]] = [
    {"id": "U0ALICE", "name": "alice", "role": "linked the channel (controller)"},
    {"id": "U0BOB", "name": "bob", "role": "channel member (may pause)"},
    {"id": "U0ADMIN", "name": "admin", "role": "workspace admin (controller)", "admin": True},
    {"id": "U0EVE", "name": "eve", "role": "from another workspace (pause only)", "team": "T0OTHER"},
    {"id": "U0BEA", "name": "bea", "role": "admin of the Beta workspace, in its #beta", "admin": True, "team": BETA,
     "channel": BETA_CHANNEL},
]
CHANNEL_NAMES = {CHANNEL: "demo", BETA_CHANNEL: "beta"}


def add_people(stack: Stack) -> None:
    stack.slack.installs.add_workspace("T0OTHER", "Other")  # eve's, whose people share #demo
    stack.slack.installs.add_workspace(BETA, "Beta", channels=(BETA_CHANNEL,))
    for person in PEOPLE:
        stack.slack.add_user(person["id"], person["name"], admin=person.get("admin", False),
                             team_id=person.get("team"))


def channel_of(user: str) -> str:
    return next((p.get("channel", CHANNEL) for p in PEOPLE if p["id"] == user), CHANNEL)


class Workbench:
    def __init__(self, stack: Stack, meeting_id: str):
        self.stack = stack
        self.meetings = {CHANNEL: meeting_id}  # each channel's linked meeting, as last seen
        self.app = Starlette(routes=[
            Route("/", self.index, methods=["GET"]),
            Route("/static/{name}", self.static, methods=["GET"]),
            Route("/favicon.ico", self.favicon, methods=["GET"]),
            Route("/api/state", self.state, methods=["GET"]),
            Route("/api/command", self.command, methods=["POST"]),
            Route("/api/click", self.click, methods=["POST"]),
            Route("/api/home", self.home, methods=["POST"]),
            Route("/api/meeting/{verb}", self.meeting, methods=["POST"]),
            Route("/api/faults", self.faults, methods=["POST"]),
            Route("/api/workflow", self.workflow, methods=["POST"]),
            Route("/api/files/{file_id}", self.file, methods=["GET"]),
        ])

    async def index(self, request: Request) -> Response:
        return HTMLResponse(_asset("index.html"))

    async def favicon(self, request: Request) -> Response:
        icon = resources.files("bot.workbench").joinpath("static", "favicon.ico").read_bytes()
        return Response(icon, media_type="image/x-icon", headers={"cache-control": "max-age=86400"})

    async def static(self, request: Request) -> Response:
        name = request.path_params["name"]
        if name not in ("app.js", "style.css"):
            return Response(status_code=404)
        kind = "text/javascript" if name.endswith(".js") else "text/css"
        return Response(_asset(name), media_type=kind)

    async def follow_link(self, channel: str) -> str:
        """The meeting the channel is linked to now (`/rec new` and `/rec link` change it)."""
        link = await self.stack.runtime.store.read(lambda tx: tx.link(channel))
        if link is not None:
            self.meetings[channel] = link.meeting_id
        return self.meetings.get(channel, "")

    async def workspaces(self) -> list[dict[str, Any]]:
        """The local Slack's workspaces, and whether recbot is installed in each (many-workspace demo)."""
        installed = {i["team_id"] for i in await self.stack.runtime.store.read(lambda tx: tx.workspaces.installs())} \
            if self.stack.oauth else {self.stack.slack.team_id}
        return [{"id": w.team_id, "name": w.name, "installed": w.team_id in installed}
                for w in self.stack.slack.installs.workspaces.values()]

    async def state(self, request: Request) -> Response:
        user = request.query_params.get("user", PEOPLE[0]["id"])
        slack, emulator = self.stack.slack, self.stack.emulator
        # The version is read before anything it versions: the awaits below let the local Slack move on, and a
        # version read after them could name content this answer does not hold, so the page, seeing that
        # version again, would never draw it (an answer or a card edit missing until the next change)
        version = slack.version
        channel = channel_of(user)
        meeting_id = await self.follow_link(channel)
        messages = []
        for message in slack.channel(channel):
            thread = [asdict(m) for m in slack.thread(channel, message.ts)]
            messages.append({**asdict(message), "replies": thread})
        broadcasts = [asdict(m) for m in slack.messages.values() if m.channel == channel and m.broadcast]
        ephemeral = [{**e, "n": n} for n, e in enumerate(slack.ephemeral)  # n: the page folds the older ones
                     if e["user"] == user and e["channel"] == channel and not e.get("setup")]
        meeting = emulator.platform.meetings.get(meeting_id)
        session = meeting.session if meeting else None
        participants = [{"id": k, "name": v} for k, v in session.participants.items()] if session and session.live \
            else []
        recordings = [{"id": r.id, "status": r.status.value, "url": emulator.platform.download_link(r, time.time())[0]
                       if r.file is not None else None}
                      for r in emulator.platform.recordings.values() if r.meeting_id == meeting_id]
        workspaces = await self.workspaces()
        finished = [r.card_ts for r in await self.stack.runtime.store.read(lambda tx: tx.history(channel, limit=50))
                    if r.status is Status.UPLOADED and r.card_ts]  # the page opens their threads
        return JSONResponse({
            "version": f"{version}.{sum(w['installed'] for w in workspaces)}", "channel": channel,
            "channel_name": CHANNEL_NAMES[channel], "people": PEOPLE,
            "user": user, "mode": "socket" if self.stack.socket_mode else "http",
            "workspaces": workspaces, "install_url": f"{self.stack.bot_url}/slack/install",
            "metrics_url": f"{self.stack.bot_url}/metrics",  # what an operator would scrape (docs/operations.md)
            "messages": messages, "broadcasts": broadcasts, "finished": finished,
            "ephemeral": ephemeral[-12:],
            "dms": [asdict(m) for m in slack.messages.values() if m.channel == user],
            "home": slack.homes.get(user),
            "meeting": {"id": meeting_id, "title": meeting.title if meeting else "", "live": bool(session and
                        session.live), "participants": participants, "recordings": recordings,
                        "status": meeting_status(emulator.platform.outlook(meeting_id, time.time()), participants)
                        if meeting else ""},
            "calls": self.calls_shown(channel), "steps": self.steps_run(channel),
            "faults": {"platform": emulator.api_faults.counts, "webhooks": emulator.webhook_faults.counts,
                       "slack": slack.faults.counts},
        })

    async def command(self, request: Request) -> Response:
        body = await _body(request)
        text = mentions(str(body.get("text", "")).strip())
        if text.startswith("/rec"):
            text = text[4:].strip()
        channel = channel_of(str(body.get("user")))
        response = await self.stack.command(str(body.get("user")), text, channel=channel)
        # What the ack said is shown to the person who typed, as Slack does.
        ack = response.text
        if response.status_code == 200 and ack:
            try:
                data = json.loads(ack)
                entry = {"text": data.get("text", ""), "blocks": data.get("blocks")}
            except ValueError:
                entry = {"text": ack, "blocks": None}
            self.stack.slack.ephemeral.append({"channel": channel, "user": body.get("user"), **entry, "ack": True,
                                               "at": time.time()})
            self.stack.slack.version += 1
        return JSONResponse({"status": response.status_code})

    async def click(self, request: Request) -> Response:
        body = await _body(request)
        user = str(body.get("user"))
        response = await self.stack.click(user, str(body.get("action_id")), str(body.get("value")),
                                          channel=channel_of(user), message_ts=str(body.get("message_ts", "")),
                                          home=bool(body.get("home")))
        return JSONResponse({"status": response.status_code})

    async def home(self, request: Request) -> Response:
        body = await _body(request)
        response = await self.stack.event({"type": "app_home_opened", "user": body.get("user"), "tab": "home"})
        return JSONResponse({"status": response.status_code})

    async def meeting(self, request: Request) -> Response:
        verb, body = request.path_params["verb"], await _body(request)
        meeting_id = await self.follow_link(channel_of(str(body.get("user"))))
        if not meeting_id:
            return JSONResponse({"error": "this channel is not linked to a meeting yet"}, status_code=409)
        if verb == "join":
            await self.stack.join(meeting_id, str(body.get("name") or "guest"))
        elif verb == "leave":
            await self.stack.control(f"meetings/{meeting_id}/leave", {"participant_id": body.get("id")})
        elif verb == "say":  # a line of the session's transcript, at the time it is said
            await self.stack.control(f"meetings/{meeting_id}/say", {"participant_id": body.get("id"),
                                                                    "text": str(body.get("text") or "")})
        elif verb == "end":
            await self.stack.control(f"meetings/{meeting_id}/end", {})
        else:
            return JSONResponse({"error": "unknown meeting action"}, status_code=404)
        self.stack.slack.version += 1
        return JSONResponse({"ok": True})

    def calls_shown(self, channel: str) -> dict[str, Any]:
        """The Slack calls the channel's messages show (a `call` block names one), by id."""
        return {call["id"]: {k: call[k] for k in ("title", "join_url", "users", "ended", "duration", "date_start")}
                for call in self.stack.slack.call_in(channel)}

    def steps_run(self, channel: str) -> list[dict[str, Any]]:
        """The Workflow Builder steps run from this page in the channel, newest first."""
        runs = [e for e in self.stack.slack.executions.values() if e["inputs"].get("channel_id") == channel]
        return [{"step": e["callback_id"], "by": ((e["inputs"].get("interactivity") or {}).get("interactor") or {})
                 .get("id"), "state": e["state"], "outputs": e["outputs"], "error": e["error"]}
                for e in sorted(runs, key=lambda e: -e["at"])[:6]]

    async def workflow(self, request: Request) -> Response:
        """Run one of recbot's Workflow Builder steps in the channel: as a person (Slack fills `interactivity`
        with them), or as a scheduled trigger (nobody)."""
        body = await _body(request)
        step, by = str(body.get("step", "")), body.get("by") or None
        if step not in ("start_recording", "pause_recording", "resume_recording", "stop_recording"):
            return JSONResponse({"error": "unknown step"}, status_code=400)
        inputs = {"minutes": body["minutes"]} if step == "pause_recording" and body.get("minutes") else {}
        channel = channel_of(str(body.get("user")))
        _, response = await self.stack.run_step(step, channel, user=str(by) if by else None, inputs=inputs)
        self.stack.slack.version += 1
        return JSONResponse({"status": response.status_code})

    async def file(self, request: Request) -> Response:
        """A file shared in the channel, as a person downloading it would read it."""
        found = self.stack.slack.files.get(request.path_params["file_id"])
        if found is None or not found.shared:
            return Response("no such file", status_code=404)
        return Response(found.content or b"", media_type="text/plain; charset=utf-8")

    async def faults(self, request: Request) -> Response:
        body = await _body(request)
        kind = body.get("kind")
        emulator, slack = self.stack.emulator, self.stack.slack
        if kind == "platform_500":
            emulator.api_faults.next_mode, emulator.api_faults.next_count = "500", 3
        elif kind == "drop_webhook":
            emulator.webhook_faults.drop_next += 1
        elif kind == "duplicate_webhooks":
            emulator.webhook_faults.duplicate = 0.0 if emulator.webhook_faults.duplicate else 1.0
        elif kind == "slack_429":
            slack.faults.next_mode, slack.faults.next_count = "429", 3
        elif kind == "clear":
            emulator.api_faults.next_count = 0
            emulator.webhook_faults.drop_next, emulator.webhook_faults.duplicate = 0, 0.0
            slack.faults.next_count = 0
        else:
            return JSONResponse({"error": "unknown fault"}, status_code=400)
        return JSONResponse({"ok": True})


def meeting_status(outlook: dict[str, Any], participants: list[dict[str, Any]]) -> str:
    """The meeting panel's line: what the session is doing, and what the demo is waiting for."""
    notes = " and ".join(outlook["notes"])
    if outlook["session"] is None:
        return "no session yet: join to start one"
    if outlook["session"] == "live" and participants:
        return f"live · {len(participants)} {'person' if len(participants) == 1 else 'people'} in it"
    if outlook["session"] == "live":
        said = [f"everyone left: the session ends in {_secs(outlook['ends_in'])}"]
        if outlook["stops_in"] is not None:
            said.append(f"the recording stops in {_secs(outlook['stops_in'])}")
        if outlook["notes_in"] is not None:
            said.append(f"then {notes} expected in about {_secs(outlook['notes_in'])}")
        return "; ".join(said)
    if outlook["notes_in"] is not None:
        return f"the session ended; {notes} expected in about {_secs(outlook['notes_in'])}"
    if outlook["written"]:
        return f"the session ended; {' and '.join(outlook['written'])} written: recbot posts them in the thread"
    return "the session ended: join to start a new one"


def _secs(seconds: float) -> str:
    return f"{max(1, round(seconds))} s"


def mentions(text: str) -> str:
    """`@bob` as Slack sends it in a slash command with escaping on: `<@U0BOB|bob>`."""
    by_name = {p["name"]: p["id"] for p in PEOPLE}

    def escaped(m: re.Match) -> str:
        user = by_name.get(m.group(1).lower())
        return f"<@{user}|{m.group(1)}>" if user else m.group(0)

    return re.sub(r"(?<![<\w])@([A-Za-z0-9._-]+)", escaped, text)


async def _body(request: Request) -> dict[str, Any]:
    try:
        data = await request.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _asset(name: str) -> str:
    return resources.files("bot.workbench").joinpath("static", name).read_text(encoding="utf-8")
