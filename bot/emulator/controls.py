"""The emulator's controls, which a real platform does not have: participants, faults, timing and
what happened (transitions, deliveries)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from bot.emulator.delivery import Deliverer, Signer, WebhookFaults
from bot.emulator.errors import EmuError
from bot.emulator.rest import error, ok, read_json
from bot.faults import Dice

if TYPE_CHECKING:
    from bot.emulator.state import Platform

FAULTS = ("500", "429", "hang", "502")  # 502: the request was carried out, its answer lost at a gateway


@dataclass
class ApiFaults(Dice):
    """Faults on the REST API: modes "500", "429", "hang" (the action is done, the answer comes late) and
    "502" (the action is done, a gateway loses its answer)."""

    hang_seconds: float = 5.0
    latency: float = 0.0  # added to every API answer (benchmarks: a slow platform)
    counts: dict[str, int] = field(default_factory=lambda: {"500": 0, "429": 0, "hang": 0, "502": 0})


class Emulated(Protocol):
    """What the controls reach of the emulator (`bot.emulator.app.Emulator`), so that they need not import it."""

    api_faults: ApiFaults
    webhook_faults: WebhookFaults
    deliverer: Deliverer | None
    signer: Signer
    api_requests: int
    clock: Callable[[], float]

    def platform_of(self, name: str | None) -> Platform: ...

    def advance(self) -> None: ...

CONTROLS = [
    ("GET", "/_emulator/", "this list (every control takes ?account=ID for an account other than the default)"),
    ("POST", "/_emulator/meetings", "create a meeting without credentials: {title}"),
    ("POST", "/_emulator/meetings/{meeting_id}/join", "a participant joins: {name}; returns {participant_id}"),
    ("POST", "/_emulator/meetings/{meeting_id}/leave", "a participant leaves: {participant_id}"),
    ("POST", "/_emulator/meetings/{meeting_id}/say", "a participant says something now, a line of the session's "
                                                     "transcript: {participant_id, text}"),
    ("POST", "/_emulator/meetings/{meeting_id}/end", "the host ends the meeting for everyone"),
    ("GET", "/_emulator/meetings/{meeting_id}", "the meeting, its live session and participants"),
    ("POST", "/_emulator/faults", "API faults: {mode: 500|429|hang|502, count} or {rates: {...}}, "
                                  "{hang_seconds}, {latency}; {clear: true} resets"),
    ("POST", "/_emulator/webhook-faults", "webhook faults: {drop, duplicate, reorder, delay, drop_next}"),
    ("POST", "/_emulator/timing", "delays in seconds: {start_delay, upload_delay, empty_stop, session_end}"),
    ("POST", "/_emulator/rotate-key", "the webhook signing key is replaced by a new one"),
    ("POST", "/_emulator/modes", "what no source documents (bot/emulator/modes.py): {refusal_status: null|400|409|"
                                 "422|500|502|503}, {status_filter: spec|sdk|both}, {per_page_cap: N}, "
                                 "{stop_paused_when_empty: bool}, {rtk_all_statuses: bool}"),
    ("GET", "/_emulator/state", "settings, fault counters and every recording"),
    ("GET", "/_emulator/history", "every recording transition, in order"),
    ("GET", "/_emulator/deliveries", "every webhook delivery attempt"),
    ("GET", "/_emulator/files/{recording_id}.wav", "the stitched file (the download_url)"),
]


class Controls:
    def __init__(self, emu: Emulated):
        self.emu = emu


    async def index(self, request: Request) -> Response:
        return JSONResponse([{"method": m, "path": p, "description": d} for m, p, d in CONTROLS])

    async def control(self, request: Request) -> Response:
        path = "/" + request.path_params["rest"].strip("/")
        try:
            body = await read_json(request) if request.method == "POST" else {}
            if not isinstance(body, dict):
                raise EmuError(400, "the body must be a JSON object")
            platform = self.emu.platform_of(request.query_params.get("account"))
            response = self._control(request.method, path, body, platform)
        except EmuError as exc:
            response = error(exc.status, exc.message)
        except (TypeError, ValueError) as exc:
            response = error(400, f"bad control request: {exc}")
        self.emu.advance()
        return response

    def _control(self, method: str, path: str, body: dict[str, Any], p: Platform) -> Response:
        """`?account=ID` picks an account other than the default (see `Emulator.add_account`)."""
        now = self.emu.clock()
        self.emu.advance()
        if method == "POST" and path == "/meetings":
            options = {k: bool(body[k]) for k in ("transcribe_on_end", "summarize_on_end") if k in body}
            return ok(p.meeting_api(p.create_meeting(now, str(body.get("title") or ""), **options)), 201)
        if m := re.fullmatch(r"/meetings/([^/]+)", path):
            meeting = p.meeting(m.group(1))
            session = p.live_session(meeting.id)
            return ok({**p.meeting_api(meeting),
                        "session": p.session_api(session, now) if session else None,
                        "participants": [{"id": k, "name": v} for k, v in (session.participants.items()
                                                                            if session else ())]})
        if method == "POST" and (m := re.fullmatch(r"/meetings/([^/]+)/say", path)):
            return ok({"at": p.say(now, m.group(1), str(body.get("participant_id")), str(body.get("text") or ""))})
        if method == "POST" and (m := re.fullmatch(r"/meetings/([^/]+)/(join|leave|end)", path)):
            meeting_id, verb = m.groups()
            if verb == "join":
                return ok({"participant_id": p.join(now, meeting_id, str(body.get("name") or "participant"),
                                                    str(body["custom_id"]) if body.get("custom_id") else None)})
            if verb == "leave":
                p.leave(now, meeting_id, str(body.get("participant_id")))
            else:
                p.end_meeting(now, meeting_id)
            return ok({})
        if method == "POST" and path == "/faults":
            f = self.emu.api_faults
            if body.get("clear"):
                f.next_mode, f.next_count, f.rates, f.latency = None, 0, {}, 0.0
            if "mode" in body:
                if body["mode"] not in FAULTS:
                    raise EmuError(400, f"mode is one of {', '.join(FAULTS)}")
                f.next_mode, f.next_count = body["mode"], int(body.get("count", 1))
            if "rates" in body:
                f.rates = {k: float(v) for k, v in dict(body["rates"]).items() if k in FAULTS}
            f.hang_seconds = float(body.get("hang_seconds", f.hang_seconds))
            f.latency = float(body.get("latency", f.latency))
            return ok(self._state_faults())
        if method == "POST" and path == "/webhook-faults":
            w = self.emu.webhook_faults
            for name in ("drop", "duplicate", "reorder", "delay"):
                if name in body:
                    setattr(w, name, float(body[name]))
            if "drop_next" in body:
                w.drop_next = int(body["drop_next"])
            if "concurrency" in body and self.emu.deliverer:  # deliveries in flight at once (1: in order)
                self.emu.deliverer.concurrency = max(1, int(body["concurrency"]))
            return ok(self._state_faults())
        if method == "POST" and path == "/timing":
            for name in ("start_delay", "upload_delay", "empty_stop", "session_end", "notes_delay"):
                if name in body:
                    setattr(p.timing, name, float(body[name]))
            return ok(vars(p.timing))
        if method == "POST" and path == "/modes":
            return ok(p.modes.set(body))
        if method == "POST" and path == "/rotate-key":
            self.emu.signer.rotate()
            return ok({"publicKey": self.emu.signer.public_pem})
        if method == "GET" and path == "/state":
            return ok({"timing": vars(p.timing), **self._state_faults(), "api_requests": self.emu.api_requests,
                        "recordings": [p.recording_api(r, now) for r in p.recordings.values()]})
        if method == "GET" and path == "/history":
            return ok(p.history)
        if method == "GET" and path == "/deliveries":
            return ok(self.emu.deliverer.log if self.emu.deliverer else [])
        raise EmuError(404, f"No emulator control {method} {path}; see GET /_emulator/")

    def _state_faults(self) -> dict[str, Any]:
        w = self.emu.webhook_faults
        return {"api_faults": {"rates": self.emu.api_faults.rates, "counts": self.emu.api_faults.counts,
                               "latency": self.emu.api_faults.latency},
                "webhook_faults": {"drop": w.drop, "duplicate": w.duplicate, "reorder": w.reorder,
                                   "delay": w.delay, "counts": w.counts}}
