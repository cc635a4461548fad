"""Every request recbot's own client sends, captured at the emulator, checked against the parameter
types of Cloudflare's official SDK for that operation (`cloudflare.types.realtime_kit.*Params`): no
parameter or body field the SDK does not have, every value of its type, and the `status` filter in a
form the published spec takes too (one value, from its enum: docs/platform.md)."""

from __future__ import annotations

import inspect
import re
import time
import types
import typing
from typing import Any

import typing_extensions
from cloudflare.types import realtime_kit as rtk  # the official SDK: a test dependency, never skipped
from pydantic import TypeAdapter, ValidationError

from bot.models import Status
from bot.platform.client import PlatformClient
from tests.conftest import client_for, until
from tests.emulator.test_sdk import RECBOTS

# (method, path below the app) -> (the SDK's operation, its params type or None when it takes none)
OPERATIONS: dict[tuple[str, str], tuple[str, Any]] = {
    ("POST", r"/meetings"): ("meetings.create", rtk.MeetingCreateParams),
    ("GET", r"/meetings"): ("meetings.get", rtk.MeetingGetParams),
    ("GET", r"/meetings/[^/]+"): ("meetings.get_meeting_by_id", rtk.MeetingGetMeetingByIDParams),
    ("GET", r"/meetings/[^/]+/active-session"): ("active_session.get_active_session", None),
    ("POST", r"/meetings/[^/]+/active-session/kick-all"): ("active_session.kick_all_participants", None),
    ("GET", r"/sessions/[^/]+"): ("sessions.get_session_details", rtk.SessionGetSessionDetailsParams),
    ("GET", r"/sessions/[^/]+/participants"): ("sessions.get_session_participants",
                                               rtk.SessionGetSessionParticipantsParams),
    ("GET", r"/sessions/[^/]+/transcript"): ("sessions.get_session_transcripts",
                                             rtk.SessionGetSessionTranscriptsParams),
    ("GET", r"/sessions/[^/]+/summary"): ("sessions.get_session_summary", None),
    ("POST", r"/sessions/[^/]+/summary"): ("sessions.generate_summary_of_transcripts", None),
    ("GET", r"/recordings"): ("recordings.get_recordings", rtk.RecordingGetRecordingsParams),
    ("POST", r"/recordings"): ("recordings.start_recordings", rtk.RecordingStartRecordingsParams),
    ("GET", r"/recordings/active-recording/[^/]+"): ("recordings.get_active_recordings", None),
    ("GET", r"/recordings/[^/]+"): ("recordings.get_one_recording", None),
    ("PUT", r"/recordings/[^/]+"): ("recordings.pause_resume_stop_recording",
                                    rtk.RecordingPauseResumeStopRecordingParams),
    ("GET", r"/webhooks"): ("webhooks.get_webhooks", None),
    ("POST", r"/webhooks"): ("webhooks.create_webhook", rtk.WebhookCreateWebhookParams),
    ("PATCH", r"/webhooks/[^/]+"): ("webhooks.edit_webhook", rtk.WebhookEditWebhookParams),
}
PATH_IDS = {"account_id", "app_id"}  # in the SDK's params, but sent in the path
PUBLISHED = {"INVOKED", "RECORDING", "UPLOADING", "UPLOADED"}  # the published spec's status filter
NOT_API = {"aclose", "download_text", "from_settings"}  # no request to the platform's API


def operation(method: str, path: str) -> tuple[str, Any]:
    for (verb, pattern), found in OPERATIONS.items():
        if verb == method and re.fullmatch(pattern, path):
            return found
    raise AssertionError(f"recbot sent {method} {path}, which the SDK has no operation for here")


def bare(tp: Any) -> Any:
    """A type without Required/NotRequired/Annotated around it."""
    while typing.get_origin(tp) in (typing_extensions.Required, typing_extensions.NotRequired, typing.Annotated):
        tp = typing.get_args(tp)[0]
    return tp


def unknown_keys(value: Any, tp: Any, path: str = "") -> list[str]:
    """Keys of `value` that the SDK's TypedDict `tp` (or any nested in it) does not declare."""
    tp = bare(tp)
    if typing_extensions.is_typeddict(tp) and isinstance(value, dict):
        hints = typing.get_type_hints(tp, include_extras=True)
        found = [f"{path}.{key}" for key in value if key not in hints]
        for key, item in value.items():
            if key in hints:
                found += unknown_keys(item, hints[key], f"{path}.{key}")
        return found
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return min((unknown_keys(value, arg, path) for arg in typing.get_args(tp)), key=len, default=[])
    if isinstance(value, list) and typing.get_args(tp):
        return [k for item in value for k in unknown_keys(item, typing.get_args(tp)[0], f"{path}[]")]
    return []


def problems(request: dict[str, Any]) -> list[str]:
    name, params = operation(request["method"], request["path"])
    query: dict[str, Any] = {}
    for key, value in request["query"]:
        query.setdefault(key, []).append(value)
    body = request["body"] or {}
    if params is None:
        return [f"{name} takes no parameters, got {query or body}"] if query or body else []
    hints = typing.get_type_hints(params, include_extras=True)
    ids = {key: "x" for key in PATH_IDS if key in hints}
    found = unknown_keys({**query, **body}, params)
    lists = {key for key in query if typing.get_origin(bare(hints.get(key))) in (list, typing.List)}  # noqa: UP006
    as_sent = {key: values if key in lists else values[-1] for key, values in query.items()}
    try:  # a query is text, read as the server reads it; a body is JSON, taken as it is
        if request["body"] is None:
            TypeAdapter(params).validate_python({**ids, **as_sent})
        else:
            TypeAdapter(params).validate_python({**ids, **body}, strict=True)
            found += [f"{name}: a query beside a body: {query}"] if query else []
    except ValidationError as exc:
        found.append(f"{name}: {exc}")
    if len(query.get("status", [])) > 1 or any(s not in PUBLISHED for s in query.get("status", [])):
        found.append(f"{name}: status {query['status']} is not one value from the published enum")
    return found


async def test_every_request_recbots_client_sends_fits_the_sdks_parameter_types(emulator):
    emulator.platform.timing.notes_delay = 0.0
    client = client_for(emulator, "realtimekit", timeout=2.0)
    driven: set[str] = set()

    async def drive(name: str, *args, **kwargs):
        driven.add(name)
        return await getattr(client, name)(*args, **kwargs)

    meeting = await drive("create_meeting", "Retro", keep_alive=120, transcribe=True, summarize=True,
                          summary_type="team_meeting")
    await drive("get_meeting", meeting.id)
    await drive("list_meetings", per_page=5)
    emulator.platform.join(time.time(), meeting.id, "Ann")
    session = await drive("get_active_session", meeting.id)
    rec = await drive("start_recording", meeting.id, allow_multiple=False, max_seconds=3600)
    await until(lambda: emulator.platform.recordings[rec.id].status is Status.RECORDING, message="recording")
    await drive("get_recording", rec.id)
    await drive("get_active_recording", meeting.id)
    await drive("pause_recording", rec.id)
    for statuses in ([], [Status.RECORDING], [Status.INVOKED, Status.RECORDING], [Status.PAUSED]):
        await drive("list_recordings", statuses=statuses, per_page=2)
        await drive("list_recordings", meeting.id, statuses=statuses)
    await drive("resume_recording", rec.id)
    await drive("session_participants", session.id)
    assert await drive("session_started", session.id)
    await drive("stop_recording", rec.id)
    await drive("kick_all", meeting.id)
    await until(lambda: "summary" in emulator.platform.sessions[session.id].files, message="the notes")
    await drive("session_file", session.id, "transcript")
    await drive("session_file", session.id, "summary")
    await drive("generate_summary", session.id)
    hook = await drive("register_webhook", "https://example.test/webhooks")
    await drive("update_webhook", hook.id, url="https://example.test/other")
    await drive("list_webhooks")
    await client.aclose()

    calls = {name for name, member in inspect.getmembers(PlatformClient, inspect.iscoroutinefunction)
             if not name.startswith("_")} - NOT_API
    assert calls - driven == set(), "a client call this test does not make: add it above"
    sent = [r for r in emulator.requests if r["flavour"] == "realtimekit"]
    used = {operation(r["method"], r["path"])[0] for r in sent}
    assert {u for u in used if not u.startswith("webhooks.")} == RECBOTS  # each one tests/emulator/test_sdk.py drives
    assert [p for r in sent for p in problems(r)] == []


def test_the_check_catches_what_the_sdk_would_refuse():
    """The checker itself: a comma-joined or repeated status, an unknown field and a wrong type are caught."""
    def request(method, path, query=(), body=None):
        return {"method": method, "path": path, "query": list(query), "body": body}

    assert problems(request("GET", "/recordings", [("status", "RECORDING,PAUSED")]))
    assert problems(request("GET", "/recordings", [("status", "RECORDING"), ("status", "INVOKED")]))
    assert problems(request("GET", "/recordings", [("status", "PAUSED")]))  # not in the published enum
    assert problems(request("POST", "/meetings", body={"title": "t", "preferred_region": "us-east-1"}))
    assert problems(request("POST", "/recordings", body={"meeting_id": "m", "max_seconds": "60"}))
    assert problems(request("PUT", "/recordings/r", body={"action": "halt"}))
    assert problems(request("GET", "/recordings/r", [("page_no", "1")]))
    assert problems(request("GET", "/sessions/s/participants", [("per_page", "100")])) == []
    assert problems(request("GET", "/recordings", [("status", "RECORDING"), ("meeting_id", "m")])) == []
