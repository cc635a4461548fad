"""The emulator's REST API: one handler per documented operation, by (path pattern, method).

Handlers take `(now, platform, query, body, flavour, *path groups)` and answer in the platform's
envelope; what the platform refuses raises `EmuError`, which becomes its error envelope.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from bot.emulator.errors import EmuError
from bot.emulator.meeting_options import meeting_options
from bot.emulator.state import Platform
from bot.platform.models import iso

WEBHOOK_EVENTS = {"meeting.started", "meeting.ended", "meeting.participantJoined", "meeting.participantLeft",
                  "meeting.chatSynced", "recording.statusUpdate", "livestreaming.statusUpdate",
                  "meeting.transcript", "meeting.summary"}


def error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"success": False, "error": {"code": status, "message": message}},
                        status_code=status, headers=headers)


def ok(data: Any, status: int = 200, **extra: Any) -> JSONResponse:
    return JSONResponse({"success": True, "data": data, **extra}, status_code=status)


def list_meetings(now, p, query, body, flavour):
    page, per_page = paging(query, p.modes.per_page_cap)
    items = sorted(p.meetings.values(), key=lambda m: m.created_at, reverse=True)
    search = query.get("search")
    if search:
        items = [m for m in items if search.lower() in m.title.lower()]
    return _page(items, page, per_page, lambda m: p.meeting_api(m, flavour, listed=True))

def create_meeting(now, p, query, body, flavour):
    return ok(p.meeting_api(p.create_meeting(now, **meeting_options(body, flavour)), flavour), 201)

def get_meeting(now, p, query, body, flavour, meeting_id):
    return ok(p.meeting_api(p.meeting(meeting_id), flavour))

def active_session(now, p, query, body, flavour, meeting_id):
    session = p.live_session(meeting_id)
    if session is None:
        raise EmuError(404, f"No active session found for meeting_id {meeting_id}")
    return ok(p.session_api(session, now))

def kick_all(now, p, query, body, flavour, meeting_id):
    kicked = p.kick_all(now, meeting_id)
    return ok({"action": "kick_all", "kicked_participants_count": kicked})

def session_details(now, p, query, body, flavour, session_id):
    """Dyte's spec wraps the session (`data.session`); Cloudflare's SDK has it as `data` itself."""
    session = p.session_api(p.session(session_id), now)
    return ok(session if flavour == "realtimekit" else {"session": session})

def session_participants(now, p, query, body, flavour, session_id):
    session = p.session(session_id)
    people = []
    for a in session.attendance:
        person = {"id": a["id"], "user_id": a["id"], "custom_participant_id": a["id"], "display_name": a["name"],
                  "preset_name": "group_call_participant", "joined_at": iso(a["joined_at"]),
                  "duration": round(((a["left_at"] or now) - a["joined_at"]) / 60, 4),
                  "created_at": iso(a["joined_at"]), "updated_at": iso(a["left_at"] or a["joined_at"])}
        if a["left_at"]:
            person["left_at"] = iso(a["left_at"])
        people.append(person)
    return ok({"participants": people})

def session_transcript(now, p, query, body, flavour, session_id):
    url, expiry = p.session_file(p.session(session_id), "transcript", now)
    return ok({"sessionId": session_id, "transcript_download_url": url, "transcript_download_url_expiry": iso(expiry)})

def session_summary(now, p, query, body, flavour, session_id):
    url, expiry = p.session_file(p.session(session_id), "summary", now)
    return ok({"sessionId": session_id, "summaryDownloadUrl": url, "summaryDownloadUrlExpiry": iso(expiry)})

def generate_summary(now, p, query, body, flavour, session_id):
    p.request_summary(now, session_id)  # Dyte's spec and Cloudflare's SDK answer differently; each its own
    return ok({"success": True, "message": "Success"} if flavour == "dyte" else {"session_id": session_id,
                                                                                 "status": "IN_PROGRESS"})

def list_recordings(now, p, query, body, flavour):
    page, per_page = paging(query, p.modes.per_page_cap)
    items = sorted(p.recordings.values(), key=lambda r: r.invoked_at, reverse=True)
    if meeting_id := query.get("meeting_id"):
        items = [r for r in items if r.meeting_id == meeting_id]
    if (wanted := p.modes.statuses(query.getlist("status"))) is not None:  # read as the switch says
        items = [r for r in items if r.status in wanted]
    return _page(items, page, per_page,
                 lambda r: {**p.recording_api(r, now, reasons=False),
                            "meeting": p.meeting_api(p.meetings[r.meeting_id], flavour, listed=True)})

def start_recording(now, p, query, body, flavour):
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
    return ok(p.recording_api(rec, now))

def active_recording(now, p, query, body, flavour, meeting_id):
    return ok(p.recording_api(p.active_recording(meeting_id), now, reasons=False))

def get_recording(now, p, query, body, flavour, recording_id):
    return ok(p.recording_api(p.recording(recording_id), now))

def act_recording(now, p, query, body, flavour, recording_id):
    action = body.get("action")
    if not isinstance(action, str):
        p.recording(recording_id)
        raise EmuError(400, 'BAD_REQUEST: "action" is required')
    rec = p.act(now, recording_id, action)
    return ok(p.recording_api(rec, now))

def list_webhooks(now, p, query, body, flavour):
    return ok([_webhook_api(w) for w in p.webhooks.values() if w["flavour"] == flavour])

def add_webhook(now, p, query, body, flavour):
    name, url, events = _webhook_fields(body, partial=False)
    enabled = body.get("enabled", True)
    if not isinstance(enabled, bool):
        raise EmuError(400, 'BAD_REQUEST: "enabled" must be a boolean')
    return ok(_webhook_api(new_webhook(p, now, flavour, name, url, events, enabled)), 201)

def new_webhook(p, now, flavour, name, url, events, enabled=True) -> dict[str, Any]:
    stamp = iso(now)
    webhook = {"id": str(uuid.uuid4()), "name": name, "url": url, "events": list(events), "enabled": enabled,
               "created_at": stamp, "updated_at": stamp, "flavour": flavour}
    p.webhooks[webhook["id"]] = webhook
    return webhook

def _webhook(p, webhook_id: str, flavour: str) -> dict[str, Any]:
    webhook = p.webhooks.get(webhook_id)
    if webhook is None or webhook["flavour"] != flavour:
        raise EmuError(404, f"No webhook found for webhook_id {webhook_id}")
    return webhook

def get_webhook(now, p, query, body, flavour, webhook_id):
    return ok(_webhook_api(_webhook(p, webhook_id, flavour)))

def edit_webhook(now, p, query, body, flavour, webhook_id, *, partial=True):
    webhook = _webhook(p, webhook_id, flavour)
    name, url, events = _webhook_fields(body, partial=partial)
    enabled = body.get("enabled", webhook["enabled"])
    if not isinstance(enabled, bool):
        raise EmuError(400, 'BAD_REQUEST: "enabled" must be a boolean')
    webhook.update({k: v for k, v in (("name", name), ("url", url), ("events", events)) if v is not None})
    webhook.update(enabled=enabled, updated_at=iso(now))
    return ok(_webhook_api(webhook))

def replace_webhook(now, p, query, body, flavour, webhook_id):
    return edit_webhook(now, p, query, body, flavour, webhook_id, partial=False)

def delete_webhook(now, p, query, body, flavour, webhook_id):
    webhook = _webhook(p, webhook_id, flavour)
    del p.webhooks[webhook_id]
    return ok(_webhook_api(webhook))


def paging(query, cap: int = 1000) -> tuple[int, int]:
    """`page_no` and `per_page`, the latter cut to the server's cap: the spec gives it no maximum, so a
    server may answer fewer than asked (`per_page_cap` in bot/emulator/modes.py)."""
    try:
        page = int(float(query.get("page_no", 1) or 1))
        per_page = int(float(query.get("per_page", 20) or 20))
    except ValueError:
        raise EmuError(400, 'BAD_REQUEST: "page_no" and "per_page" must be numbers') from None
    if page < 0 or per_page < 0:
        raise EmuError(400, 'BAD_REQUEST: "page_no" and "per_page" must not be negative')
    return max(page, 1), min(max(per_page, 1), cap)


def page_of(items: list, page: int, per_page: int, shown: Callable[[Any], Any] = lambda item: item
            ) -> tuple[list, dict[str, int]]:
    """One page of `items` and its `paging`; only that page is rendered (`shown`)."""
    start = (page - 1) * per_page
    chunk = [shown(item) for item in items[start:start + per_page]]
    return chunk, {"total_count": len(items), "start_offset": start + 1 if chunk else 0,
                   "end_offset": start + len(chunk)}


def _page(items: list, page: int, per_page: int, shown: Callable[[Any], Any] = lambda item: item) -> JSONResponse:
    chunk, pages = page_of(items, page, per_page, shown)
    return ok(chunk, paging=pages)


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


TABLE: list[tuple[str, dict[str, Any]]] = [
    (r"/meetings", {"GET": list_meetings, "POST": create_meeting}),
    (r"/meetings/([^/]+)", {"GET": get_meeting}),
    (r"/meetings/([^/]+)/active-session", {"GET": active_session}),
    (r"/meetings/([^/]+)/active-session/kick-all", {"POST": kick_all}),
    (r"/sessions/([^/]+)", {"GET": session_details}),
    (r"/sessions/([^/]+)/participants", {"GET": session_participants}),
    (r"/sessions/([^/]+)/transcript", {"GET": session_transcript}),
    (r"/sessions/([^/]+)/summary", {"GET": session_summary, "POST": generate_summary}),
    (r"/recordings", {"GET": list_recordings, "POST": start_recording}),
    (r"/recordings/active-recording/([^/]+)", {"GET": active_recording}),
    (r"/recordings/([^/]+)", {"GET": get_recording, "PUT": act_recording}),
    (r"/webhooks", {"GET": list_webhooks, "POST": add_webhook}),
    (r"/webhooks/([^/]+)", {"GET": get_webhook, "PATCH": edit_webhook, "PUT": replace_webhook,
                            "DELETE": delete_webhook}),
]


async def read_json(request: Request) -> Any:
    """A request's JSON body (None for GET and DELETE, {} for an empty body)."""
    if request.method in ("GET", "DELETE"):
        return None
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise EmuError(400, "BAD_REQUEST: the body is not valid JSON") from None


def dispatch(method: str, path: str, query, body: Any, flavour: str, now: float, p: Platform,
             table: list[tuple[str, dict[str, Any]]] = TABLE) -> Response:
    """One REST call, by the table above; raises EmuError for what the platform refuses."""
    for pattern, handlers in table:
        m = re.fullmatch(pattern, path)
        if not m:
            continue
        handler = handlers.get(method)
        if handler is None:
            raise EmuError(405, f"Method {method} is not supported on {path}")
        if body is not None and not isinstance(body, dict):
            raise EmuError(400, "BAD_REQUEST: the body must be a JSON object")
        return handler(now, p, query, body or {}, flavour, *m.groups())
    raise EmuError(404, f"No route for {method} {path}")
