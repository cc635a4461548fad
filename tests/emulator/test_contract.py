"""Contract test: the real Dyte v2 spec (a copy, changed in memory) against the emulator.

Every operation the emulator serves is fuzzed with schemathesis in both flavours: no 5xx, and every
2xx body conforms to the spec. Then each operation is called once on real objects, so that 2xx
answers are checked for certain rather than by chance.
"""

import base64
import copy
import time

import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from bot.emulator.app import Emulator
from bot.emulator.state import Timing
from tests.conftest import shared_spec

OPERATIONS = {"get_all_meetings", "create_meeting", "get_meeting", "GetActiveSession", "get_all_recordings",
              "start_recording", "get_active_recording", "get_one_recording", "pause_resume_stop_recording",
              "getAllWebhooks", "addWebhook", "getWebhook", "replaceWebhook", "editWebhook", "deleteWebhook",
              "KickAllParticipants", "GetSessionTranscript", "GetSessionSummary", "post-sessions-session_id-summary",
              "GetSessionParticipants", "GetSessions", "GetSessionDetails"}
CHECKS = [not_a_server_error, response_schema_conformance]


def spec_copy(flavour: str) -> dict:
    """The spec as recbot's flavour sees it; the file itself is never touched."""
    if "spec" not in _SPEC_CACHE:
        _SPEC_CACHE["spec"] = yaml.safe_load(shared_spec("dyte-v2-openapi.yaml").read_text())
    spec = copy.deepcopy(_SPEC_CACHE["spec"])
    for item in spec["paths"].values():
        for op in item.values():
            if isinstance(op, dict):
                op.pop("servers", None)
    if flavour == "realtimekit":  # docs/platform.md: the documented renames
        status = spec["components"]["parameters"]["recordingStatus"]["schema"]["items"]["enum"]
        status += ["ERRORED", "PAUSED"]
        body = spec["components"]["requestBodies"]["StartRecording"]["content"]["application/json"]["schema"]
        body["properties"]["realtimekit_bucket_config"] = body["properties"].pop("dyte_bucket_config", {})
    return spec


_SPEC_CACHE: dict = {}


def setup(flavour: str):
    emu = Emulator(timing=Timing(start_delay=0, upload_delay=0))
    c = emu.creds
    if flavour == "dyte":
        base = "http://testserver/v2"
        headers = {"Authorization": "Basic " + base64.b64encode(f"{c.org_id}:{c.api_key}".encode()).decode()}
    else:
        base = f"http://testserver/client/v4/accounts/{c.account_id}/realtime/kit/{c.app_id}"
        headers = {"Authorization": f"Bearer {c.token}"}
    schema = schemathesis.openapi.from_dict(spec_copy(flavour))
    ops = {}
    for result in schema.get_all_operations():
        op = result.ok()
        if op.definition.raw.get("operationId") in OPERATIONS:
            ops[op.definition.raw["operationId"]] = op
    assert set(ops) == OPERATIONS
    return emu, base, headers, ops


@pytest.mark.parametrize("flavour", ["dyte", "realtimekit"])
@pytest.mark.parametrize("operation_id", sorted(OPERATIONS))
def test_fuzzed_requests_get_no_5xx_and_conformant_2xx(flavour, operation_id):
    emu, base, headers, ops = setup(flavour)
    meeting = emu.platform.create_meeting(time.time(), "seed")
    emu.platform.start_recording(time.time(), meeting.id)

    @settings(max_examples=25, deadline=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(case=ops[operation_id].as_strategy())
    def run(case):
        response = case.call(app=emu.app, base_url=base, headers=headers)
        case.validate_response(response, checks=CHECKS)

    run()


@pytest.mark.parametrize("flavour", ["dyte", "realtimekit"])
def test_every_operation_answers_2xx_conformant_on_real_objects(flavour):
    emu, base, headers, ops = setup(flavour)
    now = time.time()
    meeting = emu.platform.create_meeting(now, "real")
    emu.platform.join(now, meeting.id, "Ann")
    rec = emu.platform.start_recording(now, meeting.id)
    emu.platform.tick(now + 0.01)
    hook = emu.add_webhook(flavour, "n", "http://127.0.0.1:1/x", ["meeting.ended"])
    told = emu.platform.create_meeting(now, "transcribed", transcribe_on_end=True, summarize_on_end=True)
    ann = emu.platform.join(now, told.id, "Ann")
    session = emu.platform.live_session(told.id)
    emu.platform.leave(now + 1, told.id, ann)
    emu.platform.tick(now + 1 + emu.platform.timing.session_end)
    emu.platform.tick(now + 1 + emu.platform.timing.session_end + emu.platform.timing.notes_delay)
    calls = [
        ("get_all_meetings", {}, {}, None),
        ("create_meeting", {}, {}, {"title": "new"}),
        ("get_meeting", {"meeting_id": meeting.id}, {}, None),
        ("GetActiveSession", {"meeting_id": meeting.id}, {}, None),
        ("get_all_recordings", {}, {"meeting_id": meeting.id}, None),
        ("get_active_recording", {"meeting_id": meeting.id}, {}, None),
        ("get_one_recording", {"recording_id": rec.id}, {}, None),
        ("pause_resume_stop_recording", {"recording_id": rec.id}, {}, {"action": "pause"}),
        ("start_recording", {}, {}, {"meeting_id": meeting.id, "allow_multiple_recordings": True}),
        ("getAllWebhooks", {}, {}, None),
        ("addWebhook", {}, {}, {"name": "a", "url": "http://127.0.0.1:2/y", "events": ["meeting.started"]}),
        ("getWebhook", {"webhook_id": hook["id"]}, {}, None),
        ("editWebhook", {"webhook_id": hook["id"]}, {}, {"enabled": False}),
        ("replaceWebhook", {"webhook_id": hook["id"]}, {}, {"name": "b", "url": "http://127.0.0.1:3/z",
                                                            "events": ["meeting.ended"]}),
        ("deleteWebhook", {"webhook_id": hook["id"]}, {}, None),
        ("KickAllParticipants", {"meeting_id": meeting.id}, {}, None),
        ("GetSessionParticipants", {"session_id": session.id}, {}, None),
        ("GetSessions", {}, {"associated_id": told.id}, None),
        ("GetSessionDetails", {"session_id": session.id}, {}, None),
        ("GetSessionTranscript", {"session_id": session.id}, {}, None),
        ("GetSessionSummary", {"session_id": session.id}, {}, None),
        ("post-sessions-session_id-summary", {"session_id": session.id}, {}, None),
    ]
    for operation_id, path, query, body in calls:
        op = ops[operation_id]
        kwargs = {"path_parameters": path, "query": query}
        if body is not None:
            kwargs["body"] = body
            kwargs["media_type"] = "application/json"
        case = op.Case(**kwargs)
        response = case.call(app=emu.app, base_url=base, headers=headers)
        assert 200 <= response.status_code < 300, (operation_id, response.text)
        case.validate_response(response, checks=CHECKS)
