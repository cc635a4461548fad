"""The emulator as Cloudflare's own client sees it: the official Python SDK (`cloudflare` on PyPI,
generated from Cloudflare's OpenAPI spec) drives it with `_strict_response_validation=True`.

Every RealtimeKit operation recbot calls, and sessions (list, details), the transcript and the summary,
webhooks (create, list, get, edit, delete) and kick-all: each answer must parse into the SDK's model
for that operation, with no field the model does not know (a Dyte-only field is a fault of the fake).
The SDK's own request forms are accepted too (its repeated `status`)."""

from __future__ import annotations

import time

import cloudflare  # the official SDK: a test dependency (pyproject.toml), never skipped
import pytest
from pydantic import BaseModel

from tests.conftest import until


def unknown_fields(model: object, path: str = "") -> list[str]:
    """Fields of an answer that the SDK's model for it does not declare, anywhere within it."""
    found: list[str] = []
    if isinstance(model, BaseModel):
        found += [f"{path}.{name}" for name in model.__pydantic_extra__ or {}]
        for name in type(model).model_fields:
            found += unknown_fields(getattr(model, name), f"{path}.{name}")
    elif isinstance(model, list):
        for item in model:
            found += unknown_fields(item, f"{path}[]")
    return found


@pytest.fixture
async def sdk(emulator):
    c = emulator.creds
    client = cloudflare.AsyncCloudflare(api_token=c.token, base_url=f"{emulator.url}/client/v4", max_retries=0,
                                        _strict_response_validation=True)
    yield client.realtime_kit, {"account_id": c.account_id, "app_id": c.app_id}
    await client.close()


# What recbot's client calls (tests/platform/test_sdk_requests.py checks its requests), by the SDK's names.
RECBOTS = {"meetings.create", "meetings.get", "meetings.get_meeting_by_id", "active_session.get_active_session",
           "active_session.kick_all_participants", "recordings.start_recordings", "recordings.get_one_recording",
           "recordings.get_active_recordings", "recordings.get_recordings", "recordings.pause_resume_stop_recording",
           "sessions.get_session_details", "sessions.get_session_participants", "sessions.get_session_transcripts",
           "sessions.get_session_summary", "sessions.generate_summary_of_transcripts"}


class Calls:
    """Each SDK call checked the same way: it parses strictly, and nothing in it is unknown to the model."""

    def __init__(self):
        self.done: list[str] = []

    async def __call__(self, name: str, call):
        answer = await call
        assert not unknown_fields(answer), (name, unknown_fields(answer))
        self.done.append(name)
        return answer


async def test_every_operation_recbot_uses_parses_strictly_in_the_sdk(sdk, emulator):
    rk, ids = sdk
    account, app = ids["account_id"], ids["app_id"]
    emulator.platform.timing.notes_delay = 0.0
    call = Calls()
    made = await call("meetings.create", rk.meetings.create(
        app, account_id=account, title="Retro", transcribe_on_end=True, summarize_on_end=True,
        session_keep_alive_time_in_secs=120, record_on_start=False,
        ai_config={"summarization": {"summary_type": "team_meeting", "text_format": "markdown"},
                   "transcription": {"language": "en-US"}},
        recording_config={"max_seconds": 3600, "realtimekit_bucket_config": {"enabled": True}}))
    meeting = made.data
    # RealtimeKit's meeting, as made: no Dyte-only field, every option answered back as given.
    assert (meeting.title, meeting.transcribe_on_end, meeting.summarize_on_end) == ("Retro", True, True)
    assert meeting.session_keep_alive_time_in_secs == 120
    assert meeting.ai_config.summarization.summary_type == "team_meeting"
    assert meeting.recording_config.max_seconds == 3600
    assert not hasattr(meeting, "preferred_region")
    fetched = await call("meetings.get_meeting_by_id", rk.meetings.get_meeting_by_id(meeting.id, **ids))
    assert fetched.data.ai_config.model_dump() == meeting.ai_config.model_dump()
    listed = await call("meetings.get", rk.meetings.get(app, account_id=account, per_page=5, page_no=1))
    assert meeting.id in [m.id for m in listed.data]

    emulator.platform.join(time.time(), meeting.id, "Ann")
    live = await call("active_session.get_active_session", rk.active_session.get_active_session(meeting.id, **ids))
    started = await call("recordings.start_recordings", rk.recordings.start_recordings(
        app, account_id=account, meeting_id=meeting.id, allow_multiple_recordings=False, max_seconds=3600))
    rec = started.data
    await until(lambda: emulator.platform.recordings[rec.id].status.value == "RECORDING", message="recording")
    await call("recordings.get_one_recording", rk.recordings.get_one_recording(rec.id, **ids))
    await call("recordings.get_active_recordings", rk.recordings.get_active_recordings(meeting.id, **ids))
    paused = await call("recordings.pause_resume_stop_recording",
                        rk.recordings.pause_resume_stop_recording(rec.id, action="pause", **ids))
    assert paused.data.status == "PAUSED"
    both = await call("recordings.get_recordings", rk.recordings.get_recordings(  # the SDK repeats `status`
        app, account_id=account, meeting_id=meeting.id, status=["RECORDING", "PAUSED"], per_page=10, page_no=1))
    assert [r.id for r in both.data] == [rec.id] and both.paging.total_count == 1
    await call("recordings.pause_resume_stop_recording",
               rk.recordings.pause_resume_stop_recording(rec.id, action="resume", **ids))
    participants = await call("sessions.get_session_participants",
                              rk.sessions.get_session_participants(live.data.id, **ids))
    assert [p.display_name for p in participants.data.participants] == ["Ann"]
    sessions = await call("sessions.get_sessions", rk.sessions.get_sessions(
        app, account_id=account, associated_id=meeting.id, status="LIVE"))
    assert [s.id for s in sessions.data.sessions] == [live.data.id] and sessions.paging.total_count == 1
    details = await call("sessions.get_session_details", rk.sessions.get_session_details(live.data.id, **ids))
    assert details.data.status == "LIVE" and details.data.associated_id == meeting.id

    kicked = await call("active_session.kick_all_participants",
                        rk.active_session.kick_all_participants(meeting.id, **ids))
    assert kicked.data.kicked_participants_count == 1
    assert emulator.platform.recordings[rec.id].status.value in ("UPLOADING", "UPLOADED")
    ended = await call("sessions.get_session_details", rk.sessions.get_session_details(live.data.id, **ids))
    assert ended.data.status == "ENDED" and ended.data.ended_at
    session = emulator.platform.sessions[live.data.id]
    await until(lambda: "summary" in session.files, message="the transcript and the summary")
    transcript = await call("sessions.get_session_transcripts",
                            rk.sessions.get_session_transcripts(live.data.id, **ids))
    assert transcript.data.session_id == live.data.id and transcript.data.transcript_download_url
    summary = await call("sessions.get_session_summary", rk.sessions.get_session_summary(live.data.id, **ids))
    assert summary.data.summary_download_url
    await call("sessions.generate_summary_of_transcripts",
               rk.sessions.generate_summary_of_transcripts(live.data.id, **ids))
    assert set(call.done) == RECBOTS | {"sessions.get_sessions", "sessions.get_session_details",
                                        "sessions.get_session_summary", "sessions.get_session_transcripts"}


async def test_webhooks_round_trip_through_the_sdk(sdk):
    rk, ids = sdk
    account, app = ids["account_id"], ids["app_id"]
    call = Calls()
    made = await call("webhooks.create_webhook", rk.webhooks.create_webhook(
        app, account_id=account, name="recbot", url="https://example.test/webhooks",
        events=["recording.statusUpdate", "meeting.ended"], enabled=True))
    hook = made.data
    listed = await call("webhooks.get_webhooks", rk.webhooks.get_webhooks(app, account_id=account))
    assert [w.id for w in listed.data] == [hook.id]
    got = await call("webhooks.get_webhook_by_id", rk.webhooks.get_webhook_by_id(hook.id, **ids))
    assert got.data.events == ["recording.statusUpdate", "meeting.ended"]
    edited = await call("webhooks.edit_webhook", rk.webhooks.edit_webhook(
        hook.id, url="https://example.test/other", enabled=False, **ids))
    assert (edited.data.url, edited.data.enabled) == ("https://example.test/other", False)
    await call("webhooks.delete_webhook", rk.webhooks.delete_webhook(hook.id, **ids))
    assert len(set(call.done)) == 5
    assert (await rk.webhooks.get_webhooks(app, account_id=account)).data == []


async def test_the_sdks_errors_are_raised_as_its_own_exceptions(sdk, emulator):
    """Refusals reach the SDK as the HTTP errors it types: a missing object is its NotFoundError, an
    undocumented refusal whatever code the emulator is set to give."""
    rk, ids = sdk
    with pytest.raises(cloudflare.NotFoundError):
        await rk.sessions.get_session_details("no-such-session", **ids)
    meeting = emulator.platform.create_meeting(time.time(), "m")
    emulator.platform.modes.refusal_status = 503
    with pytest.raises(cloudflare.InternalServerError):  # kick-all with no live session: nothing documented
        await rk.active_session.kick_all_participants(meeting.id, **ids)
