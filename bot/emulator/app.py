"""`recbot emulator`: a Dyte v2 / RealtimeKit compatible platform on one port.

`/v2/…` takes HTTP Basic `org_id:api_key`; `/client/v4/accounts/{account}/realtime/kit/{app}/…`
takes a Bearer token. Credentials are checked before existence (401 before 404), every 4xx uses the
error envelope, and a refused action changes nothing. `/_emulator/…` holds the controls a real
platform does not have: participants, faults, timing and the transition history.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.emulator.delivery import Deliverer, Signer, WebhookFaults
from bot.emulator.state import EmuError, Platform, Timing
from bot.faults import Dice
from bot.platform.models import Status, iso

WEBHOOK_EVENTS = {"meeting.started", "meeting.ended", "meeting.participantJoined", "meeting.participantLeft",
                  "meeting.chatSynced", "recording.statusUpdate", "livestreaming.statusUpdate",
                  "meeting.transcript", "meeting.summary"}


@dataclass
class Credentials:
    org_id: str = "emulator-org"
    api_key: str = "emulator-key"
    account_id: str = "emulator-account"
    app_id: str = "emulatorapp00000000000000000000a"
    token: str = "emulator-token"


@dataclass
class ApiFaults(Dice):
    """Faults on the REST API: modes "500", "429" and "hang" (the action is done, the answer comes late)."""

    hang_seconds: float = 5.0
    latency: float = 0.0  # added to every API answer (benchmarks: a slow platform)
    counts: dict[str, int] = field(default_factory=lambda: {"500": 0, "429": 0, "hang": 0})


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"success": False, "error": {"code": status, "message": message}},
                        status_code=status, headers=headers)


def _ok(data: Any, status: int = 200, **extra: Any) -> JSONResponse:
    return JSONResponse({"success": True, "data": data, **extra}, status_code=status)


class Emulator:
    def __init__(self, *, credentials: Credentials | None = None, timing: Timing | None = None,
                 public_url: str = "http://127.0.0.1:8090", signer: Signer | None = None,
                 webhook_url: str | None = None, clock=time.time):
        self.creds = credentials or Credentials()
        self.platform = Platform(timing, public_url)
        self.clock = clock
        self.signer = signer or Signer()
        self.api_faults = ApiFaults()
        self.api_requests = 0  # REST calls answered, faults included
        self.webhook_faults = WebhookFaults()
        self.deliverer: Deliverer | None = None
        self._wake = asyncio.Event()
        self._ticker: asyncio.Task | None = None
        self._initial_webhook = webhook_url
        self.app = Starlette(routes=self._routes(), lifespan=self._lifespan)

    # -- lifecycle ---------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _lifespan(self, app):
        await self.start()
        try:
            yield
        finally:
            await self.stop()

    async def start(self) -> None:
        self.deliverer = Deliverer(self.signer, self.webhook_faults)
        self._wake = asyncio.Event()
        self._ticker = asyncio.create_task(self._tick_forever())
        if self._initial_webhook:
            self._add_webhook("dyte", "recbot", self._initial_webhook, sorted(WEBHOOK_EVENTS))

    async def stop(self) -> None:
        if self._ticker:
            self._ticker.cancel()
            await asyncio.gather(self._ticker, return_exceptions=True)
        if self.deliverer:
            await self.deliverer.aclose()

    async def _tick_forever(self) -> None:
        while True:
            self.advance()
            deadline = self.platform.next_deadline(self.clock())
            timeout = 1.0 if deadline is None else max(0.005, min(1.0, deadline - self.clock()))
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout)
            except TimeoutError:
                pass

    def advance(self) -> None:
        """Apply due transitions and hand their events to the deliverer."""
        self.platform.tick(self.clock())
        events = self.platform.take_events()
        if self.deliverer:
            for event in events:
                for webhook in list(self.platform.webhooks.values()):
                    self.deliverer.enqueue(webhook, event)
        self._wake.set()

    # -- routing -----------------------------------------------------------------------

    def _routes(self) -> list[Route]:
        methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
        return [
            Route("/.well-known/webhooks.json", self.well_known, methods=["GET"]),
            Route("/v2/{rest:path}", self.dyte_api, methods=methods),
            Route("/client/v4/accounts/{account}/realtime/kit/{app}/{rest:path}", self.rtk_api, methods=methods),
            Route("/_emulator/", self.control_index, methods=["GET"]),
            Route("/_emulator/files/{name}", self.serve_file, methods=["GET"]),
            Route("/_emulator/{rest:path}", self.control, methods=["GET", "POST"]),
        ]

    async def well_known(self, request: Request) -> Response:
        return JSONResponse({"success": True, "data": {"publicKey": self.signer.public_pem}, "message": ""})

    async def dyte_api(self, request: Request) -> Response:
        auth = request.headers.get("authorization", "")
        expected = "Basic " + base64.b64encode(f"{self.creds.org_id}:{self.creds.api_key}".encode()).decode()
        if auth != expected:
            return _error(401, "Unauthorized")
        return await self._api(request, "dyte", request.path_params["rest"])

    async def rtk_api(self, request: Request) -> Response:
        p = request.path_params
        if (request.headers.get("authorization") != f"Bearer {self.creds.token}"
                or p["account"] != self.creds.account_id or p["app"] != self.creds.app_id):
            return _error(401, "Authentication error")
        return await self._api(request, "realtimekit", p["rest"])

    async def _api(self, request: Request, flavour: str, path: str) -> Response:
        self.api_requests += 1
        fault = self.api_faults.draw()
        if fault == "500":
            self.api_faults.counts["500"] += 1
            return _error(500, "Internal server error (injected by the emulator)")
        if fault == "429":
            self.api_faults.counts["429"] += 1
            return _error(429, "Too many requests (injected by the emulator)", {"retry-after": "1"})
        if self.api_faults.latency:
            await asyncio.sleep(self.api_faults.latency)
        self.advance()
        try:
            body = await self._json(request)
            response = self._dispatch(request.method, "/" + path.strip("/"), request.query_params, body, flavour)
        except EmuError as exc:
            response = _error(exc.status, exc.message)
        self.advance()
        if fault == "hang":  # the action is done, the answer comes too late: a lost response
            self.api_faults.counts["hang"] += 1
            await asyncio.sleep(self.api_faults.hang_seconds)
        return response

    @staticmethod
    async def _json(request: Request) -> Any:
        if request.method in ("GET", "DELETE"):
            return None
        raw = await request.body()
        if not raw.strip():
            return {}
        try:
            return json.loads(raw)
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise EmuError(400, "BAD_REQUEST: the body is not valid JSON") from None

    def _dispatch(self, method: str, path: str, query, body: Any, flavour: str) -> Response:
        now, p = self.clock(), self.platform
        for pattern, handlers in _TABLE:
            m = re.fullmatch(pattern, path)
            if not m:
                continue
            handler = handlers.get(method)
            if handler is None:
                raise EmuError(405, f"Method {method} is not supported on {path}")
            if body is not None and not isinstance(body, dict):
                raise EmuError(400, "BAD_REQUEST: the body must be a JSON object")
            return handler(self, now, p, query, body or {}, flavour, *m.groups())
        raise EmuError(404, f"No route for {method} {path}")

    # -- REST handlers -----------------------------------------------------------------

    def h_list_meetings(self, now, p, query, body, flavour):
        page, per_page = _paging(query)
        items = sorted(p.meetings.values(), key=lambda m: m.created_at, reverse=True)
        search = query.get("search")
        if search:
            items = [m for m in items if search.lower() in m.title.lower()]
        return _page([p.meeting_api(m) for m in items], page, per_page)

    def h_create_meeting(self, now, p, query, body, flavour):
        title = body.get("title")
        if title is not None and not isinstance(title, str):
            raise EmuError(400, 'BAD_REQUEST: "title" must be a string')
        record_on_start = body.get("record_on_start")
        if record_on_start is not None and not isinstance(record_on_start, bool):
            raise EmuError(400, 'BAD_REQUEST: "record_on_start" must be a boolean')
        return _ok(p.meeting_api(p.create_meeting(now, title, bool(record_on_start))), 201)

    def h_get_meeting(self, now, p, query, body, flavour, meeting_id):
        return _ok(p.meeting_api(p.meeting(meeting_id)))

    def h_active_session(self, now, p, query, body, flavour, meeting_id):
        session = p.live_session(meeting_id)
        if session is None:
            raise EmuError(404, f"No active session found for meeting_id {meeting_id}")
        return _ok(p.session_api(session, now))

    def h_list_recordings(self, now, p, query, body, flavour):
        page, per_page = _paging(query)
        items = sorted(p.recordings.values(), key=lambda r: r.invoked_at, reverse=True)
        if meeting_id := query.get("meeting_id"):
            items = [r for r in items if r.meeting_id == meeting_id]
        if status := query.get("status"):
            try:
                wanted = {Status(s.strip().upper()) for s in status.split(",") if s.strip()}
            except ValueError:
                raise EmuError(400, f'BAD_REQUEST: "status" must be recording statuses, got {status!r}') from None
            items = [r for r in items if r.status in wanted]
        return _page([{**p.recording_api(r, now), "meeting": p.meeting_api(p.meetings[r.meeting_id])}
                      for r in items], page, per_page)

    def h_start_recording(self, now, p, query, body, flavour):
        meeting_id = body.get("meeting_id")
        if not isinstance(meeting_id, str) or not meeting_id:
            raise EmuError(400, 'BAD_REQUEST: "meeting_id" is required')
        multiple = body.get("allow_multiple_recordings", False)
        if not isinstance(multiple, bool):
            raise EmuError(400, 'BAD_REQUEST: "allow_multiple_recordings" must be a boolean')
        max_seconds = body.get("max_seconds")
        if max_seconds is not None and (not isinstance(max_seconds, int) or isinstance(max_seconds, bool)
                                        or not 60 <= max_seconds <= 86400):
            raise EmuError(400, 'BAD_REQUEST: "max_seconds" must be an integer from 60 to 86400')
        rec = p.start_recording(now, meeting_id, allow_multiple=multiple, max_seconds=max_seconds)
        return _ok(p.recording_api(rec, now))

    def h_active_recording(self, now, p, query, body, flavour, meeting_id):
        return _ok(p.recording_api(p.active_recording(meeting_id), now))

    def h_get_recording(self, now, p, query, body, flavour, recording_id):
        return _ok(p.recording_api(p.recording(recording_id), now))

    def h_act_recording(self, now, p, query, body, flavour, recording_id):
        action = body.get("action")
        if not isinstance(action, str):
            p.recording(recording_id)
            raise EmuError(400, 'BAD_REQUEST: "action" is required')
        rec = p.act(now, recording_id, action)
        return _ok(p.recording_api(rec, now))

    def h_list_webhooks(self, now, p, query, body, flavour):
        return _ok([_webhook_api(w) for w in p.webhooks.values() if w["flavour"] == flavour])

    def h_add_webhook(self, now, p, query, body, flavour):
        name, url, events = _webhook_fields(body, partial=False)
        enabled = body.get("enabled", True)
        if not isinstance(enabled, bool):
            raise EmuError(400, 'BAD_REQUEST: "enabled" must be a boolean')
        return _ok(_webhook_api(self._add_webhook(flavour, name, url, events, enabled)), 201)

    def _add_webhook(self, flavour, name, url, events, enabled=True) -> dict[str, Any]:
        stamp = iso(self.clock())
        webhook = {"id": str(uuid.uuid4()), "name": name, "url": url, "events": list(events), "enabled": enabled,
                   "created_at": stamp, "updated_at": stamp, "flavour": flavour}
        self.platform.webhooks[webhook["id"]] = webhook
        return webhook

    def _webhook(self, webhook_id: str, flavour: str) -> dict[str, Any]:
        webhook = self.platform.webhooks.get(webhook_id)
        if webhook is None or webhook["flavour"] != flavour:
            raise EmuError(404, f"No webhook found for webhook_id {webhook_id}")
        return webhook

    def h_get_webhook(self, now, p, query, body, flavour, webhook_id):
        return _ok(_webhook_api(self._webhook(webhook_id, flavour)))

    def h_edit_webhook(self, now, p, query, body, flavour, webhook_id, *, partial=True):
        webhook = self._webhook(webhook_id, flavour)
        name, url, events = _webhook_fields(body, partial=partial)
        enabled = body.get("enabled", webhook["enabled"])
        if not isinstance(enabled, bool):
            raise EmuError(400, 'BAD_REQUEST: "enabled" must be a boolean')
        webhook.update({k: v for k, v in (("name", name), ("url", url), ("events", events)) if v is not None})
        webhook.update(enabled=enabled, updated_at=iso(now))
        return _ok(_webhook_api(webhook))

    def h_replace_webhook(self, now, p, query, body, flavour, webhook_id):
        return self.h_edit_webhook(now, p, query, body, flavour, webhook_id, partial=False)

    def h_delete_webhook(self, now, p, query, body, flavour, webhook_id):
        webhook = self._webhook(webhook_id, flavour)
        del p.webhooks[webhook_id]
        return _ok(_webhook_api(webhook))

    # -- controls (not part of the real platform) --------------------------------------

    CONTROLS = [
        ("GET", "/_emulator/", "this list"),
        ("POST", "/_emulator/meetings", "create a meeting without credentials: {title}"),
        ("POST", "/_emulator/meetings/{meeting_id}/join", "a participant joins: {name}; returns {participant_id}"),
        ("POST", "/_emulator/meetings/{meeting_id}/leave", "a participant leaves: {participant_id}"),
        ("POST", "/_emulator/meetings/{meeting_id}/end", "the host ends the meeting for everyone"),
        ("GET", "/_emulator/meetings/{meeting_id}", "the meeting, its live session and participants"),
        ("POST", "/_emulator/faults", "API faults: {mode: 500|429|hang, count} or {rates: {...}}, "
                                      "{hang_seconds}, {latency}; {clear: true} resets"),
        ("POST", "/_emulator/webhook-faults", "webhook faults: {drop, duplicate, reorder, delay, drop_next}"),
        ("POST", "/_emulator/timing", "delays in seconds: {start_delay, upload_delay, empty_stop, session_end}"),
        ("GET", "/_emulator/state", "settings, fault counters and every recording"),
        ("GET", "/_emulator/history", "every recording transition, in order"),
        ("GET", "/_emulator/deliveries", "every webhook delivery attempt"),
        ("GET", "/_emulator/files/{recording_id}.wav", "the stitched file (the download_url)"),
    ]

    async def control_index(self, request: Request) -> Response:
        return JSONResponse([{"method": m, "path": p, "description": d} for m, p, d in self.CONTROLS])

    async def control(self, request: Request) -> Response:
        path = "/" + request.path_params["rest"].strip("/")
        try:
            body = await self._json(request) if request.method == "POST" else {}
            if not isinstance(body, dict):
                raise EmuError(400, "the body must be a JSON object")
            response = self._control(request.method, path, body)
        except EmuError as exc:
            response = _error(exc.status, exc.message)
        except (TypeError, ValueError) as exc:
            response = _error(400, f"bad control request: {exc}")
        self.advance()
        return response

    def _control(self, method: str, path: str, body: dict[str, Any]) -> Response:
        now, p = self.clock(), self.platform
        self.advance()
        if method == "POST" and path == "/meetings":
            return _ok(p.meeting_api(p.create_meeting(now, str(body.get("title") or ""))), 201)
        if m := re.fullmatch(r"/meetings/([^/]+)", path):
            meeting = p.meeting(m.group(1))
            session = p.live_session(meeting.id)
            return _ok({**p.meeting_api(meeting),
                        "session": p.session_api(session, now) if session else None,
                        "participants": [{"id": k, "name": v} for k, v in (session.participants.items()
                                                                            if session else ())]})
        if method == "POST" and (m := re.fullmatch(r"/meetings/([^/]+)/(join|leave|end)", path)):
            meeting_id, verb = m.groups()
            if verb == "join":
                return _ok({"participant_id": p.join(now, meeting_id, str(body.get("name") or "participant"))})
            if verb == "leave":
                p.leave(now, meeting_id, str(body.get("participant_id")))
            else:
                p.end_meeting(now, meeting_id)
            return _ok({})
        if method == "POST" and path == "/faults":
            f = self.api_faults
            if body.get("clear"):
                f.next_mode, f.next_count, f.rates, f.latency = None, 0, {}, 0.0
            if "mode" in body:
                if body["mode"] not in ("500", "429", "hang"):
                    raise EmuError(400, "mode is one of 500, 429, hang")
                f.next_mode, f.next_count = body["mode"], int(body.get("count", 1))
            if "rates" in body:
                f.rates = {k: float(v) for k, v in dict(body["rates"]).items() if k in ("500", "429", "hang")}
            f.hang_seconds = float(body.get("hang_seconds", f.hang_seconds))
            f.latency = float(body.get("latency", f.latency))
            return _ok(self._state_faults())
        if method == "POST" and path == "/webhook-faults":
            w = self.webhook_faults
            for name in ("drop", "duplicate", "reorder", "delay"):
                if name in body:
                    setattr(w, name, float(body[name]))
            if "drop_next" in body:
                w.drop_next = int(body["drop_next"])
            return _ok(self._state_faults())
        if method == "POST" and path == "/timing":
            for name in ("start_delay", "upload_delay", "empty_stop", "session_end"):
                if name in body:
                    setattr(p.timing, name, float(body[name]))
            return _ok(vars(p.timing))
        if method == "GET" and path == "/state":
            return _ok({"timing": vars(p.timing), **self._state_faults(),
                        "recordings": [p.recording_api(r, now) for r in p.recordings.values()]})
        if method == "GET" and path == "/history":
            return _ok(p.history)
        if method == "GET" and path == "/deliveries":
            return _ok(self.deliverer.log if self.deliverer else [])
        raise EmuError(404, f"No emulator control {method} {path}; see GET /_emulator/")

    def _state_faults(self) -> dict[str, Any]:
        w = self.webhook_faults
        return {"api_faults": {"rates": self.api_faults.rates, "counts": self.api_faults.counts,
                               "latency": self.api_faults.latency},
                "webhook_faults": {"drop": w.drop, "duplicate": w.duplicate, "reorder": w.reorder,
                                   "delay": w.delay, "counts": w.counts}}

    async def serve_file(self, request: Request) -> Response:
        name = request.path_params["name"]
        rec = self.platform.recordings.get(name.removesuffix(".wav"))
        if rec is None or rec.file is None or request.query_params.get("token") != rec.file_token:
            return _error(404, "No such file, or the link is wrong")
        return Response(rec.file, media_type="audio/wav",
                        headers={"content-disposition": f'inline; filename="{rec.id}.wav"'})


def _paging(query) -> tuple[int, int]:
    try:
        page = int(float(query.get("page_no", 1) or 1))
        per_page = int(float(query.get("per_page", 20) or 20))
    except ValueError:
        raise EmuError(400, 'BAD_REQUEST: "page_no" and "per_page" must be numbers') from None
    if page < 0 or per_page < 0:
        raise EmuError(400, 'BAD_REQUEST: "page_no" and "per_page" must not be negative')
    return max(page, 1), min(max(per_page, 1), 1000)


def _page(items: list, page: int, per_page: int) -> JSONResponse:
    start = (page - 1) * per_page
    chunk = items[start:start + per_page]
    return _ok(chunk, paging={"total_count": len(items), "start_offset": start + 1 if chunk else 0,
                              "end_offset": start + len(chunk)})


def _webhook_api(webhook: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in webhook.items() if k != "flavour"}


def _webhook_fields(body: dict[str, Any], *, partial: bool):
    name, url, events = body.get("name"), body.get("url"), body.get("events")
    if not partial:
        for key, value in (("name", name), ("url", url), ("events", events)):
            if value is None:
                raise EmuError(400, f'BAD_REQUEST: "{key}" is required')
    if name is not None and not isinstance(name, str):
        raise EmuError(400, 'BAD_REQUEST: "name" must be a string')
    if url is not None and (not isinstance(url, str) or not re.match(r"^https?://[^\s/]+", url)):
        raise EmuError(400, 'BAD_REQUEST: "url" must be a valid http(s) uri')
    if events is not None and (not isinstance(events, list) or not all(e in WEBHOOK_EVENTS for e in events)):
        raise EmuError(400, f'BAD_REQUEST: "events" must be a list of {sorted(WEBHOOK_EVENTS)}')
    return name, url, events


E = Emulator
_TABLE: list[tuple[str, dict[str, Any]]] = [
    (r"/meetings", {"GET": E.h_list_meetings, "POST": E.h_create_meeting}),
    (r"/meetings/([^/]+)", {"GET": E.h_get_meeting}),
    (r"/meetings/([^/]+)/active-session", {"GET": E.h_active_session}),
    (r"/recordings", {"GET": E.h_list_recordings, "POST": E.h_start_recording}),
    (r"/recordings/active-recording/([^/]+)", {"GET": E.h_active_recording}),
    (r"/recordings/([^/]+)", {"GET": E.h_get_recording, "PUT": E.h_act_recording}),
    (r"/webhooks", {"GET": E.h_list_webhooks, "POST": E.h_add_webhook}),
    (r"/webhooks/([^/]+)", {"GET": E.h_get_webhook, "PATCH": E.h_edit_webhook, "PUT": E.h_replace_webhook,
                            "DELETE": E.h_delete_webhook}),
]
