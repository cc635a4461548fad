"""The emulated platform's rules, on an explicit clock."""

import pytest

from bot.emulator.errors import EmuError
from bot.emulator.media import wav_duration
from bot.emulator.state import Platform, Timing
from bot.models import Status
from bot.transcript import parse_csv


@pytest.fixture
def p():
    return Platform(Timing(start_delay=2, upload_delay=3, empty_stop=60, session_end=120))


def statuses(p, rec_id):
    return [h["to"] for h in p.history if h["recording_id"] == rec_id]


def test_record_pause_record_stop_stitches_only_recorded_time(p):
    m = p.create_meeting(0, "m")
    p.join(0, m.id, "Ann")
    rec = p.start_recording(1, m.id)
    p.tick(3)                          # RECORDING from t=3
    p.act(10.5, rec.id, "pause")       # 7.5 s recorded
    p.act(40, rec.id, "resume")        # 29.5 s paused
    p.act(42.25, rec.id, "pause")      # 2.25 s recorded
    p.act(50, rec.id, "resume")
    p.act(51, rec.id, "stop")          # 1 s recorded
    assert rec.status is Status.UPLOADING
    p.tick(53.9)
    assert rec.status is Status.UPLOADING
    p.tick(54)
    assert rec.status is Status.UPLOADED
    assert wav_duration(rec.file) == pytest.approx(10.75, abs=0.1)
    assert statuses(p, rec.id) == ["INVOKED", "RECORDING", "PAUSED", "RECORDING", "PAUSED", "RECORDING",
                                   "UPLOADING", "UPLOADED"]
    api = p.recording_api(rec, 54)
    assert api["file_size"] == len(rec.file) and api["recording_duration"] == 11


def test_actions_in_the_wrong_state_change_nothing(p):
    m = p.create_meeting(0, "m")
    p.join(0, m.id, "Ann")
    rec = p.start_recording(0, m.id)
    for action in ("pause", "resume"):
        with pytest.raises(EmuError) as info:
            p.act(1, rec.id, action)
        assert info.value.status == 409
    assert rec.status is Status.INVOKED and statuses(p, rec.id) == ["INVOKED"]
    with pytest.raises(EmuError) as info:
        p.act(1, rec.id, "rewind")
    assert info.value.status == 400


def test_one_active_per_meeting_unless_multiple_paused_included(p):
    m = p.create_meeting(0, "m")
    p.join(0, m.id, "Ann")
    first = p.start_recording(0, m.id)
    p.tick(2)
    p.act(3, first.id, "pause")
    with pytest.raises(EmuError) as info:
        p.start_recording(4, m.id)
    assert info.value.status == 409
    second = p.start_recording(4, m.id, allow_multiple=True)
    p.tick(6)
    assert (first.status, second.status) == (Status.PAUSED, Status.RECORDING)
    assert p.active_recording(m.id).id == second.id


def test_everyone_leaving_stops_recording_but_not_paused(p):
    m = p.create_meeting(0, "m")
    ann = p.join(0, m.id, "Ann")
    running = p.start_recording(0, m.id)
    paused = p.start_recording(0, m.id, allow_multiple=True)
    p.tick(2)
    p.act(5, paused.id, "pause")
    p.leave(10, m.id, ann)
    p.tick(69)
    assert running.status is Status.RECORDING
    p.tick(70)
    assert running.status is Status.UPLOADING and running.stop_reason == "ALL_PEERS_LEFT"
    assert paused.status is Status.PAUSED
    p.tick(130)  # the session ends; the paused recording still waits for someone to stop it
    assert paused.status is Status.PAUSED and p.live_session(m.id) is None
    with pytest.raises(EmuError):
        p.act(131, paused.id, "resume")  # only within the session being recorded
    p.act(132, paused.id, "stop")
    assert paused.status is Status.UPLOADING


def test_events_for_every_transition_and_meeting_change(p):
    m = p.create_meeting(0, "m")
    ann = p.join(0, m.id, "Ann")
    rec = p.start_recording(0, m.id)
    p.tick(2)
    p.act(3, rec.id, "pause")
    p.leave(4, m.id, ann)
    names = [(e["event"], e.get("status")) for e in p.take_events()]
    assert names == [("meeting.started", None), ("meeting.participantJoined", None),
                     ("recording.statusUpdate", "INVOKED"), ("recording.statusUpdate", "RECORDING"),
                     ("recording.statusUpdate", "PAUSED"), ("meeting.participantLeft", None)]
    assert p.take_events() == []


def test_max_seconds_stops_by_itself(p):
    m = p.create_meeting(0, "m")
    p.join(0, m.id, "Ann")
    rec = p.start_recording(0, m.id, max_seconds=60)
    p.tick(2)
    p.tick(62)
    assert rec.status is Status.UPLOADING and rec.stop_reason == "MAX_SECONDS_REACHED"
    assert "stop_reason" not in p.recording_api(rec, 62)  # not a reason the spec knows


def test_host_ending_the_meeting_stops_recording_keeps_paused(p):
    m = p.create_meeting(0, "m")
    p.join(0, m.id, "Ann")
    running = p.start_recording(0, m.id)
    paused = p.start_recording(0, m.id, allow_multiple=True)
    p.tick(2)
    p.act(3, paused.id, "pause")
    p.end_meeting(5, m.id)
    assert running.status is Status.UPLOADING and paused.status is Status.PAUSED
    assert p.take_events()[-1]["reason"] == "HOST_ENDED_MEETING"


def test_record_on_start(p):
    m = p.create_meeting(0, "m", record_on_start=True)
    p.join(0, m.id, "Ann")
    p.join(1, m.id, "Bob")
    (rec,) = p.recordings.values()
    assert rec.start_reason == "RECORD_ON_START"


def test_keep_alive_sets_how_long_an_emptied_session_lives(p):
    m = p.create_meeting(0, "m", keep_alive=300)
    ann = p.join(0, m.id, "Ann")
    rec = p.start_recording(0, m.id)
    p.tick(2)
    p.leave(10, m.id, ann)
    p.tick(309)
    assert rec.status is Status.RECORDING and p.live_session(m.id) is not None
    assert p.next_deadline(309) == 310
    p.tick(310)
    assert rec.status is Status.UPLOADING and p.live_session(m.id) is None


def test_kick_all_ends_the_session_and_stops_every_recording_paused_too(p):
    m = p.create_meeting(0, "m")
    p.join(0, m.id, "Ann")
    p.join(0, m.id, "Bob")
    running = p.start_recording(0, m.id)
    paused = p.start_recording(0, m.id, allow_multiple=True)
    p.tick(2)
    p.act(5, paused.id, "pause")
    assert p.kick_all(6, m.id) == 2
    assert (running.status, paused.status) == (Status.UPLOADING, Status.UPLOADING)
    assert p.live_session(m.id) is None
    with pytest.raises(EmuError) as info:
        p.kick_all(7, m.id)
    assert info.value.status == 404


def test_a_transcribed_session_gets_a_transcript_then_a_summary_with_its_people(p):
    m = p.create_meeting(0, "Retro", transcribe_on_end=True, summarize_on_end=True)
    ann = p.join(0, m.id, "Ann")
    ben = p.join(5, m.id, "Ben")
    session = p.live_session(m.id)
    p.leave(40, m.id, ben)
    p.leave(60, m.id, ann)
    p.take_events()
    p.tick(60 + 120)  # the session ends this long after the last one left
    assert session.ended_at == 180 and p.next_deadline(180) == 182
    p.tick(182)
    events = {e["event"]: e for e in p.take_events()}
    assert {"meeting.transcript", "meeting.summary"} <= set(events)
    assert events["meeting.transcript"]["meeting"]["sessionId"] == session.id
    csv = p.files[session.files["transcript"]][0].decode()  # RealtimeKit's CSV: no header; ms, ids, name, text
    assert session.files["transcript"].endswith(".csv") and csv.startswith('"0","peer-0","","","Ann",')
    assert '"5000",' in csv and ',"Ben","' in csv
    vtt = p.files[session.files["transcript"].replace(".csv", ".vtt")][0].decode()  # an extra beside it
    assert vtt.startswith("WEBVTT") and "<v Ann>" in vtt and "<v Ben>" in vtt
    assert "00:00:05.000 --> 00:00:08.000\n<v Ben>" in vtt  # Ben speaks from when he joined
    summary = p.files[session.files["summary"]][0].decode()
    assert "Ann and Ben" in summary and summary.startswith("## Summary")


def test_what_a_participant_says_is_in_the_transcript_at_the_time_said(p):
    m = p.create_meeting(0, "Retro", transcribe_on_end=True)
    ann = p.join(100, m.id, "Ann")
    assert p.say(112.5, m.id, ann, 'the layoffs list is "ready", sadly') == 12.5
    with pytest.raises(EmuError):
        p.say(113, m.id, "nobody", "hello")
    session = p.live_session(m.id)
    p.leave(130, m.id, ann)
    p.tick(250)
    p.tick(252)
    rows = parse_csv(p.files[session.files["transcript"]][0].decode()).lines
    assert any(r.start == 12.5 and r.speaker == "Ann" and r.text == 'the layoffs list is "ready", sadly' for r in rows)


def test_a_summary_on_demand_needs_a_transcript(p):
    plain = p.create_meeting(0, "m")
    ann = p.join(0, plain.id, "Ann")
    session = p.live_session(plain.id)
    p.leave(10, plain.id, ann)
    p.tick(130)
    with pytest.raises(EmuError) as info:
        p.request_summary(130, session.id)
    assert info.value.status == 404
    transcribed = p.create_meeting(0, "t", transcribe_on_end=True)
    ann = p.join(0, transcribed.id, "Ann")
    session = p.live_session(transcribed.id)
    p.leave(10, transcribed.id, ann)
    p.tick(130)
    p.tick(132)
    assert "transcript" in session.files and "summary" not in session.files
    p.request_summary(133, session.id)
    p.tick(135)
    assert "summary" in session.files
