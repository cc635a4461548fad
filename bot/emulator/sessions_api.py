"""`GET /sessions` and `GET /sessions/{session_id}`: a meeting's sessions, live and ended.

The two official sources disagree on the details' shape: Dyte's v2 spec wraps it (`data.session`),
Cloudflare's SDK does not (`data` is the session); each flavour answers as its own source says.
"""

from __future__ import annotations

from typing import Any

from bot.emulator.errors import EmuError
from bot.emulator.rest import ok, page_of, paging

SORTS = {"createdAt": lambda s: s.started_at, "minutesConsumed": lambda s: (s.ended_at or float("inf")) - s.started_at}


def list_sessions(now, p, query, body, flavour):
    number, per_page = paging(query, p.modes.per_page_cap)
    status = query.get("status")
    if status is not None and status not in ("LIVE", "ENDED"):
        raise EmuError(400, 'BAD_REQUEST: "status" must be LIVE or ENDED')
    sort_by, order = query.get("sort_by", "createdAt"), query.get("sort_order", "DESC")
    if sort_by not in SORTS or order not in ("ASC", "DESC"):
        raise EmuError(400, 'BAD_REQUEST: "sort_by" is createdAt or minutesConsumed, "sort_order" ASC or DESC')
    items = sorted(p.sessions.values(), key=SORTS[sort_by], reverse=order == "DESC")
    if meeting_id := query.get("associated_id"):
        items = [s for s in items if s.meeting_id == meeting_id]
    if status:
        items = [s for s in items if (s.live and status == "LIVE") or (not s.live and status == "ENDED")]
    if search := (query.get("search") or "").lower():
        items = [s for s in items if search in s.id or search in s.meeting_id
                 or search in p.meetings[s.meeting_id].title.lower()]
    data, pages = page_of(items, number, per_page, lambda s: p.session_api(s, now))
    return ok({"sessions": data}, paging=pages)


def session_details(now, p, query, body, flavour, session_id):
    session = p.session_api(p.session(session_id), now)
    return ok(session if flavour == "realtimekit" else {"session": session})


ROUTES: list[tuple[str, dict[str, Any]]] = [(r"/sessions", {"GET": list_sessions}),
                                            (r"/sessions/([^/]+)", {"GET": session_details})]
