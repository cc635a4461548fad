"""Signature checks and tolerant parsing, with the documented payloads (docs/platform.md)."""

import base64
import json

import pytest

from bot.config import load_public_key
from bot.models import Status
from bot.platform.models import FileKind, parse_time
from bot.platform.webhooks import (
    Ignored,
    MeetingEvent,
    MeetingKind,
    RecordingUpdate,
    SessionFile,
    SignatureError,
    WebhookParseError,
    event_name,
    key_from_document,
    parse_event,
    verify,
)
from tests.platform.keys import OTHER_SIGNER, PUBLIC_PEM, SIGNER

KEY = load_public_key(PUBLIC_PEM)

DYTE_RECORDING = {
    "event": "recording.statusUpdate",
    "recording": {"id": "97cb480d-5840-4528-ace3-919b5e386c68", "recordingId": "97cb480d-5840-4528-ace3-919b5e386c68",
                  "meetingId": "26c31468-55d4-4099-b49d-109778b182df",
                  "organizationId": "c94c437b-592a-4a39-b9e2-47ef1451e43b", "status": "RECORDING",
                  "startedTime": "2023-01-25 04:51:35.903816Z", "roomUUID": "56b81d16-5d4e-45ed-85b4-056587b00aa0",
                  "outputFileName": "26c31468-55d4-4099-b49d-109778b182df_1674622294193.mp4"},
    "meeting": {"id": "26c31468-55d4-4099-b49d-109778b182df", "sessionId": "56b81d16-5d4e-45ed-85b4-056587b00aa0",
                "title": "Meeting title", "status": "LIVE", "createdAt": "2023-01-25T04:51:22.116Z",
                "startedAt": "2023-01-26T03:36:23.224Z", "endedAt": None,
                "organizedBy": {"id": "c94c437b-592a-4a39-b9e2-47ef1451e43b", "name": "Dyte"}},
}

DYTE_UPLOADED_RECORDING = {
    "id": "97cb480d-5840-4528-ace3-919b5e386c68", "status": "UPLOADED", "fileSize": 2044680,
    "roomUUID": "56b81d16-5d4e-45ed-85b4-056587b00aa0", "meetingId": "26c31468-55d4-4099-b49d-109778b182df",
    "downloadUrl": "https://bucket.example/file.mp4?X-Amz-Signature=abc", "recordingId": "97cb480d",
    "startedTime": "2023-01-25 04:51:35.903816Z", "stoppedTime": "2023-01-25 05:21:35.903816Z",
    "organizationId": "c94c437b", "outputFileName": "x.mp4", "audioDownloadUrl": "https://bucket.example/a.mp3",
    "downloadUrlExpiry": "2023-04-21 04:46:55.608944Z",
    "stopReason": "{'reason':'ALL_PEERS_LEFT','caller':{'type':'INTERNAL'}}", "recordingDuration": 0,
}


def signed(body: bytes, signer=SIGNER, prefix="dyte"):
    return {f"{prefix}-signature": signer.sign(body), f"{prefix}-uuid": "u-1", f"{prefix}-webhook-id": "w-1"}


@pytest.mark.parametrize(("prefix", "flavour"), [("dyte", "dyte"), ("rtk", "realtimekit")])
def test_good_signature_names_the_flavour_and_delivery(prefix, flavour):
    body = json.dumps(DYTE_RECORDING).encode()
    delivery = verify(signed(body, prefix=prefix), body, KEY)
    assert (delivery.flavour, delivery.delivery_id, delivery.webhook_id) == (flavour, "u-1", "w-1")
    assert len(delivery.body_hash) == 64


def test_wrong_key_is_refused():
    body = b'{"event":"meeting.started"}'
    with pytest.raises(SignatureError):
        verify(signed(body, OTHER_SIGNER), body, KEY)


def test_changed_body_is_refused():
    body = json.dumps(DYTE_RECORDING).encode()
    headers = signed(body)
    with pytest.raises(SignatureError):
        verify(headers, body.replace(b"RECORDING", b"PAUSED"), KEY)


def test_reserialized_body_is_refused():
    body = json.dumps(DYTE_RECORDING, indent=2).encode()
    headers = signed(body)
    with pytest.raises(SignatureError):
        verify(headers, json.dumps(json.loads(body)).encode(), KEY)


@pytest.mark.parametrize("headers", [{}, {"dyte-uuid": "x"}, {"dyte-signature": "not base64!"},
                                     {"rtk-signature": base64.b64encode(b"short").decode()}])
def test_missing_or_garbled_signature_is_refused(headers):
    with pytest.raises(SignatureError):
        verify(headers, b"{}", KEY)


def test_key_documents_in_both_shapes_and_escaped_newlines():
    escaped = PUBLIC_PEM.replace("\n", "\\n")
    for document in ({"success": True, "data": {"publicKey": PUBLIC_PEM}, "message": ""},
                     {"success": True, "data": {"publicKey": escaped}},
                     {"signing_keys": [{"public_key": PUBLIC_PEM}]}):
        assert key_from_document(document).public_numbers() == KEY.public_numbers()
    with pytest.raises(ValueError):
        key_from_document({"data": {}})


def test_dyte_recording_example():
    event = parse_event(json.dumps(DYTE_RECORDING))
    assert isinstance(event, RecordingUpdate)
    assert event.status is Status.RECORDING
    assert event.meeting_id == "26c31468-55d4-4099-b49d-109778b182df"
    assert event.session_id == "56b81d16-5d4e-45ed-85b4-056587b00aa0"
    assert event.started_at == pytest.approx(parse_time("2023-01-25T04:51:35.903816Z"))
    assert event.meeting_title == "Meeting title"


def test_dyte_uploaded_with_repr_stop_reason_and_numeric_size():
    event = parse_event({**DYTE_RECORDING, "recording": DYTE_UPLOADED_RECORDING})
    assert event.status is Status.UPLOADED
    assert event.file_size == 2044680
    assert event.stop_reason == "ALL_PEERS_LEFT"
    assert event.audio_download_url.endswith("a.mp3")
    assert event.download_url_expiry == pytest.approx(parse_time("2023-04-21T04:46:55.608944Z"))
    assert event.stopped_at - event.started_at == pytest.approx(1800)


def test_realtimekit_uploaded_with_string_size_and_iso_times():
    rec = {**DYTE_UPLOADED_RECORDING, "fileSize": "2044680", "startedTime": "2026-06-03T10:00:00.000Z",
           "stoppedTime": "2026-06-03T10:30:00.000Z", "downloadUrlExpiry": "2026-06-10T10:30:00.000Z",
           "recordingDuration": 1800}
    del rec["stopReason"]
    event = parse_event({**DYTE_RECORDING, "recording": rec})
    assert event.file_size == 2044680 and event.duration == 1800 and event.stop_reason is None
    assert event.stopped_at - event.started_at == 1800


def test_unknown_fields_and_duplicate_keys_are_tolerated():
    raw = ('{"event":"recording.statusUpdate","recording":{"id":"r","status":"UPLOADING","createdAt":"a",'
           '"createdAt":"b","newField":{"x":1},"fileSize":null},"meeting":{"id":"m","status":"LIVE"}}')
    event = parse_event(raw)
    assert event.status is Status.UPLOADING and event.file_size is None


def test_meeting_ended_with_live_status_quirk():
    event = parse_event({"event": "meeting.ended", "reason": "ALL_PARTICIPANTS_LEFT",
                         "meeting": {**DYTE_RECORDING["meeting"], "endedAt": "2022-12-13T07:04:37.052Z"}})
    assert event.kind is MeetingKind.ENDED
    assert event == MeetingEvent(kind=MeetingKind.ENDED, meeting_id="26c31468-55d4-4099-b49d-109778b182df",
                                 session_id="56b81d16-5d4e-45ed-85b4-056587b00aa0", reason="ALL_PARTICIPANTS_LEFT",
                                 at=parse_time("2022-12-13T07:04:37.052Z"), meeting_title="Meeting title")


@pytest.mark.parametrize(("name", "kind"), [("meeting.participantJoined", MeetingKind.JOINED),
                                            ("meeting.participantLeft", MeetingKind.LEFT)])
def test_participant_events(name, kind):
    event = parse_event({"event": name, "meeting": DYTE_RECORDING["meeting"],
                         "participant": {"peerId": "p1", "userDisplayName": "Ann", "customParticipantId": "c1",
                                         "joinedAt": "2023-01-25T04:51:35.903Z", "leftAt": "2023-01-25T05:00:00Z"}})
    assert event.kind is kind and event.participant == "p1"


@pytest.mark.parametrize("name", ["meeting.chatSynced", "livestreaming.statusUpdate", "something.new"])
def test_other_events_are_ignored_not_errors(name):
    assert parse_event({"event": name, "sessionId": "s"}) == Ignored(event=name)


def test_transcripts_and_summaries_as_the_docs_show_them():
    meeting = {"id": "m1", "sessionId": "s1", "title": "Retro", "status": "LIVE"}
    transcript = parse_event({"event": "meeting.transcript", "meeting": meeting,
                              "transcriptDownloadUrl": "https://b/t.vtt",
                              "transcriptDownloadUrlExpiry": "2026-06-03T10:30:00.000Z"})
    assert transcript == SessionFile(FileKind.TRANSCRIPT, "m1", "s1", "https://b/t.vtt", 1780482600.0, "Retro")
    summary = parse_event({"event": "meeting.summary", "meeting": meeting, "summaryDownloadUrl": "https://b/s.md"})
    assert isinstance(summary, SessionFile) and summary.kind is FileKind.SUMMARY and summary.expiry is None
    assert parse_event({"event": "meeting.summary", "meeting": {"id": "m1"}}) == Ignored(
        "meeting.summary", "no meeting, session or download link")


@pytest.mark.parametrize("body", [b"", b"[]", b"not json", b'{"no":"event"}', b'{"event":5}', b"\xff\xfe"])
def test_bodies_that_are_not_webhooks(body):
    with pytest.raises(WebhookParseError):
        parse_event(body)
    with pytest.raises(WebhookParseError):
        event_name(body)


@pytest.mark.parametrize(("body", "why"), [
    (b'{"event":"recording.statusUpdate"}', "no recording object"),
    (b'{"event":"recording.statusUpdate","recording":{"id":"r","status":"NEW"}}', "status 'NEW'"),
    (b'{"event":"meeting.ended","meeting":{}}', "no meeting id"),
])
def test_webhooks_recbot_cannot_act_on_are_ignored_not_refused(body, why):
    """RealtimeKit never sends a delivery again after a 4xx: what is a webhook is kept, and ignored."""
    assert parse_event(body) == Ignored(event_name(body), why)


@pytest.mark.parametrize(("text", "expected"), [
    ("2023-01-25 04:51:35.903816Z", 1674622295.903816),
    ("2023-01-25T04:51:35.903Z", 1674622295.903),
    ("2023-01-25T04:51:35Z", 1674622295.0),
    ("2023-01-25T06:51:35+02:00", 1674622295.0),
    ("2023-01-25 04:51:35.9038161234Z", 1674622295.903816),
    (None, None), ("", None), ("yesterday", None), (1674622295903, 1674622295.903),
])
def test_parse_time(text, expected):
    assert parse_time(text) == (pytest.approx(expected) if expected else None)
