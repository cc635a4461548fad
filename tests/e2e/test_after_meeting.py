"""After the meeting, as the channel sees it: marks at their place in the file, who was there, the
transcript and summary in the threads, auto-record, the consent notice and the channel's settings."""

import asyncio
import json
import re

from bot.emulator.media import wav_duration
from bot.models import Status
from tests.conftest import ALICE, BOB, CHANNEL, linked_stack, until
from tests.e2e.helpers import ack_text, card_of, reply_to, run, started, status_is, thread_texts


def emulator_offset(stack, rec_id: str, at: float) -> float:
    """Where wall time `at` is in the emulator's stitched file: the recorded time before it."""
    offset = 0.0
    for start, end in stack.emulator.platform.recordings[rec_id].segments:
        if at < start:
            break
        offset += min(at, end if end is not None else at) - start
    return offset


def texts_of(message) -> str:
    return "\n".join(b["text"]["text"] for b in message.blocks or [] if isinstance(b.get("text"), dict))


def seconds(mss: str) -> int:
    m, s = mss.split(":")
    return int(m) * 60 + int(s)


async def leave_all(stack, meeting_id: str) -> None:
    session = stack.emulator.platform.live_session(meeting_id)
    for pid in list(session.participants if session else ()):
        await stack.control(f"meetings/{meeting_id}/leave", {"participant_id": pid})


async def test_marks_are_chapters_at_their_place_in_the_file_across_two_pauses(linked):
    stack = linked
    rec = await started(stack, ALICE)
    await asyncio.sleep(1.1)
    _, said = await run(stack, BOB, "mark intro done")
    shown = re.match(r":bookmark: Marked #1 at `(\d+:\d\d)` in the file: intro done", said)
    [mark] = stack.runtime.store.notes.marks(rec.id)  # a loaded machine may take a while to answer: the place
    at = emulator_offset(stack, rec.id, mark.at)       # said is the file's then, at least the second waited for
    assert shown and seconds(shown[1]) >= 1 and abs(seconds(shown[1]) - at) <= 1.0, (said, at)
    await run(stack, BOB, "pause")
    await status_is(stack, rec.id, Status.PAUSED)
    _, refused = await run(stack, BOB, "mark")
    assert "nothing is being recorded" in refused.lower() and "paused" in refused
    await asyncio.sleep(1.5)
    await run(stack, ALICE, "resume")
    await status_is(stack, rec.id, Status.RECORDING)
    await asyncio.sleep(1.2)
    before = len(stack.slack.ephemeral_for(BOB))
    await stack.click(BOB, "rec_mark", rec.id)  # the card's Mark button: a mark without text
    assert "Marked #1" in await reply_to(stack, BOB, before)
    await run(stack, BOB, "pause")
    await status_is(stack, rec.id, Status.PAUSED)
    await asyncio.sleep(1.0)
    await run(stack, ALICE, "resume")
    await status_is(stack, rec.id, Status.RECORDING)
    await asyncio.sleep(1.1)
    await run(stack, ALICE, 'mark "wrap-up"')
    await run(stack, ALICE, "stop")
    await status_is(stack, rec.id, Status.UPLOADED)
    final = await until(lambda: [t for t in thread_texts(stack, rec) if "is ready" in t], message="the final reply")
    reply = next(m for m in stack.slack.thread(CHANNEL, stack.runtime.store.recording(rec.id).card_ts)
                 if "is ready" in m.text)
    shown = texts_of(reply)
    listed = re.findall(r"^• `(\d+:\d\d)` (.*) \(<@(U\w+)>\)$", shown, re.M)
    assert [(text, who) for _, text, who in listed] == [("intro done", BOB), ("_(mark)_", BOB), ("wrap-up", ALICE)]
    marks = stack.runtime.store.notes.marks(rec.id)
    file_length = wav_duration(stack.emulator.platform.recordings[rec.id].file)
    for (mss, _, _), mark in zip(listed, marks, strict=True):
        expected = emulator_offset(stack, rec.id, mark.at)
        assert abs(seconds(mss) - expected) <= 1.0, (mss, expected)  # pauses do not shift them
        assert expected <= file_length
    assert seconds(listed[2][0]) >= 3  # after three recorded stretches, not the wall time since the start
    assert final


async def test_transcript_summary_and_attendance_in_each_thread_of_the_session(tmp_path):
    async with linked_stack(tmp_path, flavour="realtimekit") as stack:
        for name in ("transcribe", "summarize"):
            _, said = await run(stack, ALICE, f"settings {name} on")
            assert f"Set `{name}`" in said
        _, created = await run(stack, ALICE, "new Retro")
        assert "Created and linked" in created
        meeting = stack.runtime.store.link(CHANNEL).meeting_id
        assert stack.emulator.platform.meetings[meeting].transcribe_on_end
        stack.meeting_id = meeting
        await stack.join(meeting, "Ann")
        first = await started(stack, ALICE)
        await stack.join(meeting, "Ben")
        second = await started(stack, ALICE, "start --multi")
        await asyncio.sleep(0.3)
        await run(stack, ALICE, "stop")
        await stack.control("timing", {"empty_stop": 0.2, "session_end": 0.3, "notes_delay": 0.2})
        await leave_all(stack, meeting)
        for rec in (first, second):
            await status_is(stack, rec.id, Status.UPLOADED, timeout=10)
            texts = await until(lambda r=rec: (ts := thread_texts(stack, r)) and any("summary of" in t for t in ts)
                                and any("transcript of" in t for t in ts) and ts, timeout=10,
                                message="transcript and summary")
            assert any(f"transcript of #{rec.handle}'s session is ready" in t for t in texts)
        summary = next(m for m in stack.slack.thread(CHANNEL, stack.runtime.store.recording(first.id).card_ts)
                       if "summary of" in m.text)
        inline = texts_of(summary)
        assert "*Key points*" in inline and "• *Ann*" in inline  # markdown shown as mrkdwn
        final = next(m for m in stack.slack.thread(CHANNEL, stack.runtime.store.recording(second.id).card_ts)
                     if "is ready" in m.text)
        assert "Present while it recorded* (2): Ann, Ben" in texts_of(final)


async def test_summary_on_demand_is_asked_for_then_posted_once(tmp_path):
    async with linked_stack(tmp_path, flavour="realtimekit") as stack:
        await run(stack, ALICE, "settings transcribe on")
        await run(stack, ALICE, "new Standup")
        meeting = stack.runtime.store.link(CHANNEL).meeting_id
        stack.meeting_id = meeting
        await stack.join(meeting, "Ann")
        rec = await started(stack, ALICE)
        _, nothing = await run(stack, BOB, "summary")
        assert "is writing the summary" not in nothing  # the session is live: no transcript yet
        await run(stack, ALICE, "stop")
        await stack.control("timing", {"empty_stop": 0.2, "session_end": 0.3, "notes_delay": 0.2})
        await leave_all(stack, meeting)
        await until(lambda: any("transcript of" in t for t in thread_texts(stack, rec)), timeout=10,
                    message="the transcript")
        assert not any("summary of" in t for t in thread_texts(stack, rec))
        _, asked = await run(stack, BOB, "summary")
        assert "is writing the summary; it follows in #1's thread" in asked
        await until(lambda: any("summary of" in t for t in thread_texts(stack, rec)), timeout=10,
                    message="the summary")
        _, again = await run(stack, BOB, "summary")
        assert "already in #1's thread" in again
        assert sum("summary of" in t for t in thread_texts(stack, rec)) == 1


async def test_auto_record_starts_on_meeting_started_and_not_for_another_meeting(linked):
    stack = linked
    _, said = await run(stack, ALICE, "settings auto-record on")
    assert "`auto-record`: on" in said
    other = await stack.new_meeting("Not ours")
    await stack.join(other, "Zed")  # meeting.started for a meeting no channel links: nothing
    await stack.control(f"meetings/{stack.meeting_id}/end")
    await stack.join(stack.meeting_id, "Ann")  # a new session: meeting.started
    rec = await until(lambda: stack.runtime.store.recordings_of_meeting(stack.meeting_id), message="auto-record")
    await status_is(stack, rec[0].id, Status.RECORDING)
    card = await until(lambda: card_of(stack, rec[0]), message="the card")
    assert "auto-record" in json.dumps(card.blocks)
    await until(lambda: any("records it automatically (auto-record)" in t for t in thread_texts(stack, rec[0])),
                message="the auto-record reply")
    assert stack.runtime.store.recordings_of_meeting(other) == []
    assert [r.meeting_id for r in stack.emulator.platform.recordings.values()] == [stack.meeting_id]


async def test_the_consent_notice_is_broadcast_when_recording_starts_and_said_on_resume(linked):
    stack = linked
    await run(stack, ALICE, 'settings notice "This meeting is recorded for the team\'s notes."')
    rec = await started(stack, ALICE)
    recording = await until(lambda: [m for m in stack.slack.thread(CHANNEL, stack.runtime.store.recording(
        rec.id).card_ts) if "is recording" in m.text], message="the recording reply")
    assert recording[0].broadcast and "recorded for the team's notes" in recording[0].text
    await run(stack, BOB, "pause")
    await run(stack, ALICE, "resume")
    resumed = await until(lambda: [t for t in thread_texts(stack, rec) if "resumed by" in t], message="resume")
    assert "recorded for the team's notes" in resumed[0]


async def test_settings_are_for_controllers_checked_shown_and_have_a_form(linked):
    stack = linked
    _, refused = await run(stack, BOB, "settings auto-record on")
    assert "Only this channel's controllers" in refused
    _, wrong = await run(stack, ALICE, "settings keep-alive 20m")
    assert wrong.startswith("Not set:") and "1m" in wrong
    _, unknown = await run(stack, ALICE, "settings colour blue")
    assert "There is no setting `colour`" in unknown
    assert stack.runtime.store.notes.settings(CHANNEL) == {}
    status = await stack.command(ALICE, "status")
    assert "Settings: the defaults" in json.dumps(json.loads(status.text)["blocks"])

    response = await stack.command(ALICE, "settings")
    assert response.status_code == 200 and ack_text(response) == ""
    opened = await until(lambda: stack.slack.views, message="the settings form")
    view = opened[0]["view"]
    assert view["callback_id"] == "rec_settings" and view["private_metadata"] == CHANNEL
    values = {"auto-record": {"value": {"type": "checkboxes", "selected_options": [{"value": "on"}]}},
              "summary-type": {"value": {"type": "static_select", "selected_option": {"value": "daily_standup"}}},
              "pause-reminder": {"value": {"type": "plain_text_input", "value": "5m"}},
              "keep-alive": {"value": {"type": "plain_text_input", "value": "30m"}}}
    bad = await stack.submit(ALICE, view, values)
    assert json.loads(bad.text)["response_action"] == "errors" and "keep-alive" in json.loads(bad.text)["errors"]
    values["keep-alive"]["value"]["value"] = "3m"
    saved = await stack.submit(ALICE, view, values)
    assert saved.status_code == 200 and not saved.text
    await until(lambda: stack.runtime.store.notes.settings(CHANNEL).get("auto-record") == "on", message="saved")
    assert stack.runtime.store.notes.settings(CHANNEL) == {"auto-record": "on", "summary-type": "daily_standup",
                                                           "pause-reminder": "300.0", "keep-alive": "180.0"}
    status = await stack.command(BOB, "status")
    assert "auto-record on" in json.dumps(json.loads(status.text)["blocks"])
    audit = stack.runtime.store.db.all("SELECT * FROM audit WHERE action = 'settings' AND outcome = 'ok'")
    assert len(audit) == 2  # the form opened, then saved
