"""Off the record across a session's recordings, as the channels see it: "a pause overlapped the session" when
one of two recordings (in two channels) was paused, when a recording was stopped while paused and another began
in the same session, and when the channels say different things about a held summary. In every case the
platform's transcript and summary (the whole session's) are never linked, and no line said while nothing recorded
reaches Slack."""

import asyncio
import json
import time

from bot.emulator.delivery import render
from bot.models import Status
from bot.platform.models import iso
from bot.service.unsettled import LOOK_AGAIN
from bot.web import Options
from bot.workbench.stack import TEST_SCALE
from tests.conftest import ALICE, BOB, CHANNEL, linked_stack, until
from tests.e2e.helpers import recordings, run, started, status_is, thread_texts
from tests.e2e.test_off_the_record import SECRET, everything_slack_got

OTHER = "C0OTHER"


async def say(stack, ann: str, text: str, after: float = 1.8) -> None:
    """Ann says `text`, and the line is over (half a second a word, one second at least)."""
    await stack.control(f"meetings/{stack.meeting_id}/say", {"participant_id": ann, "text": text})
    await asyncio.sleep(after)


async def a_meeting_in_two_channels(stack) -> str:
    """Transcripts and summaries on in both; the meeting created here, linked in OTHER too; Ann joins."""
    for channel in (CHANNEL, OTHER):
        if channel == OTHER:
            _, linked = await run(stack, ALICE, f"link {stack.meeting_id}", channel=OTHER)
            assert "Linked" in linked, linked
        for name in ("transcribe", "summarize"):
            await run(stack, ALICE, f"settings {name} on", channel=channel)
        if channel == CHANNEL:
            await run(stack, ALICE, "new Pricing")
            stack.meeting_id = stack.runtime.store.link(CHANNEL).meeting_id
    return await stack.join(stack.meeting_id, "Ann")


async def session_ends(stack, ann: str) -> None:
    await stack.control("timing", {"empty_stop": 0.2, "session_end": 0.2, "notes_delay": 0.2})
    await stack.control(f"meetings/{stack.meeting_id}/leave", {"participant_id": ann})


def uploads(stack, rec):
    rec = stack.runtime.store.recording(rec.id)
    return [m for m in stack.slack.thread(rec.channel_id, rec.card_ts) if m.files]


def summaries(stack, rec):
    return [t for t in thread_texts(stack, rec) if "summary of" in t]


async def own_copies_and_summaries_held(stack, *recs) -> None:
    """Each recording's thread, once it is uploaded: recbot's own copy of the transcript and the summary held,
    never the platform's transcript link."""
    for rec in recs:
        await status_is(stack, rec.id, Status.UPLOADED, timeout=15)
        await until(lambda r=rec: uploads(stack, r) and summaries(stack, r), timeout=15,
                    message=f"#{rec.handle}'s own copy and its summary, held")
        assert all("not posted" in t for t in summaries(stack, rec)), summaries(stack, rec)
        assert not any("transcript of" in t and "is ready" in t for t in thread_texts(stack, rec))


def no_platform_file_linked(stack, session_id: str) -> None:
    got = everything_slack_got(stack)
    for kind in ("transcript", "summary"):
        url = stack.runtime.store.notes.file(session_id, kind)["url"]
        assert url.split("?")[0] not in got, kind


async def test_a_pause_of_one_of_two_recordings_in_two_channels_keeps_the_platforms_files_from_both(tmp_path):
    """#1 (here) is paused while #2 (in OTHER) records: the platform's transcript and summary are of the whole
    session, so neither channel gets their links; each thread gets recbot's copy of what its own recording
    recorded, and the summary is held in both."""
    async with linked_stack(tmp_path, flavour="realtimekit") as stack:
        ann = await a_meeting_in_two_channels(stack)
        first = await started(stack, ALICE)
        await run(stack, ALICE, "start --multi", channel=OTHER)
        second = await until(lambda: [r for r in recordings(stack) if r.channel_id == OTHER], message="#2")
        await status_is(stack, second[0].id, Status.RECORDING)
        second = stack.runtime.store.recording(second[0].id)
        await asyncio.sleep(0.3)
        await say(stack, ann, "pricing is nine")
        await run(stack, BOB, f"pause #{first.handle}")
        await status_is(stack, first.id, Status.PAUSED)
        await asyncio.sleep(0.2)
        await say(stack, ann, "only the other channel records this", after=2.5)
        await run(stack, ALICE, f"resume #{first.handle}")
        await status_is(stack, first.id, Status.RECORDING)
        await asyncio.sleep(0.3)
        await say(stack, ann, "ship friday", after=1.3)
        await session_ends(stack, ann)
        await own_copies_and_summaries_held(stack, first, second)
        mine = stack.slack.file_text(uploads(stack, first)[0].files[0]["id"])
        theirs = stack.slack.file_text(uploads(stack, second)[0].files[0]["id"])
        assert "pricing is nine" in mine and "ship friday" in mine
        assert "only the other channel records this" not in mine  # not in #1's file: not in #1's copy
        assert "only the other channel records this" in theirs  # #2 recorded it: on the record there
        no_platform_file_linked(stack, first.session_id)
        _, here = await run(stack, BOB, "find other channel")
        assert "Nothing recorded" in here
        for channel in (CHANNEL, OTHER):
            _, said = await run(stack, BOB, "summary", channel=channel)
            assert "held" in said and "http" not in said, (channel, said)

        # A controller here posts it here; OTHER's hold is OTHER's own: its thread and `/rec summary` keep it
        held = next(m for m in stack.slack.thread(CHANNEL, stack.runtime.store.recording(first.id).card_ts)
                    if "summary of" in m.text)
        await stack.click(ALICE, "rec_post_summary", first.session_id, channel=CHANNEL, message_ts=held.ts)
        await until(lambda: any("posted the summary" in t for t in thread_texts(stack, first)), timeout=10,
                    message="the summary, posted here by Alice")
        _, said = await run(stack, BOB, "summary", channel=OTHER)
        assert "held" in said and "http" not in said, said
        assert not any("posted the summary" in t or "is ready" in t for t in summaries(stack, second))


async def test_a_recording_stopped_while_paused_then_another_in_the_same_session(tmp_path):
    """#1 is paused, then stopped while paused; #2 starts later in the same session. The session had a pause:
    both threads get recbot's copy (the paused line in neither), never the platform's links; the summary is
    held."""
    async with linked_stack(tmp_path, flavour="realtimekit") as stack:
        ann = await a_meeting_in_two_channels(stack)
        first = await started(stack, ALICE)
        await asyncio.sleep(0.3)
        await say(stack, ann, "pricing is nine")
        await run(stack, BOB, "pause")
        await status_is(stack, first.id, Status.PAUSED)
        await asyncio.sleep(0.2)
        await say(stack, ann, SECRET)
        await run(stack, ALICE, "stop")
        await status_is(stack, first.id, Status.UPLOADED, timeout=10)
        second = await started(stack, ALICE)
        assert second.session_id == stack.runtime.store.recording(first.id).session_id
        await asyncio.sleep(0.3)
        await say(stack, ann, "ship friday", after=1.3)
        await session_ends(stack, ann)
        await own_copies_and_summaries_held(stack, first, second)
        assert "pricing is nine" in stack.slack.file_text(uploads(stack, first)[0].files[0]["id"])
        assert "ship friday" in stack.slack.file_text(uploads(stack, second)[0].files[0]["id"])
        assert SECRET not in everything_slack_got(stack)
        no_platform_file_linked(stack, first.session_id)
        _, nothing = await run(stack, BOB, "find layoffs")
        assert "Nothing recorded" in nothing


async def test_a_channel_that_posts_summaries_after_a_pause_does_not_undo_one_that_holds_them(tmp_path):
    """OTHER says `summary-after-pause post`, this channel `hold`; each has a recording of the session, and this
    one paused. The summary is held in both threads (OTHER's may post it with the button, a controller's choice
    there), and `/rec summary` shows its link in neither."""
    async with linked_stack(tmp_path, flavour="realtimekit") as stack:
        ann = await a_meeting_in_two_channels(stack)
        _, said = await run(stack, ALICE, "settings summary-after-pause post", channel=OTHER)
        assert "summary-after-pause" in said
        first = await started(stack, ALICE)
        await run(stack, ALICE, "start --multi", channel=OTHER)
        second = await until(lambda: [r for r in recordings(stack) if r.channel_id == OTHER], message="#2")
        await status_is(stack, second[0].id, Status.RECORDING)
        second = stack.runtime.store.recording(second[0].id)
        await run(stack, BOB, "pause")  # both of the meeting's recordings: nothing records
        await status_is(stack, first.id, Status.PAUSED)
        await status_is(stack, second.id, Status.PAUSED)
        await asyncio.sleep(0.2)
        await say(stack, ann, SECRET)
        await run(stack, ALICE, "resume")
        await status_is(stack, first.id, Status.RECORDING)
        await asyncio.sleep(0.3)
        await say(stack, ann, "ship friday", after=1.3)
        await session_ends(stack, ann)
        await own_copies_and_summaries_held(stack, first, second)
        assert SECRET not in everything_slack_got(stack)
        no_platform_file_linked(stack, first.session_id)
        for channel in (CHANNEL, OTHER):
            _, said = await run(stack, BOB, "summary", channel=channel)
            assert "held" in said and "http" not in said, (channel, said)


async def test_a_transcript_that_comes_before_recbot_heard_its_recording_stop_waits_for_the_stop(tmp_path):
    """The platform writes a session's transcript once it ended, so its recordings have stopped; recbot may not
    have heard yet (the stop's webhooks late, the platform's API failing). Cut then, the ledger, open until now,
    counted every line said after the real stop as recorded: shown in recbot's copy and found by `/rec find`.
    The transcript waits until recbot knows the recording stopped instead, and is cut by the stop's own time."""
    after_stop = "the board meets at nine"
    quiet = Options(slack_scale=TEST_SCALE, card_interval=1.0 / TEST_SCALE, reconcile_tick=3600.0)  # no polling
    async with linked_stack(tmp_path, flavour="realtimekit", options=quiet) as stack:
        ann = await a_meeting_in_two_channels(stack)
        rec = await started(stack, ALICE)
        await asyncio.sleep(0.3)
        await say(stack, ann, "pricing is nine")
        await run(stack, BOB, "pause")  # a session with a pause: recbot's own copy, never the platform's link
        await status_is(stack, rec.id, Status.PAUSED)
        await run(stack, ALICE, "resume")
        await status_is(stack, rec.id, Status.RECORDING)
        await asyncio.sleep(0.3)
        await say(stack, ann, "ship friday", after=1.3)
        await stack.control("webhook-faults", {"drop": 1.0})  # from now on recbot hears nothing by itself
        p = stack.emulator.platform
        p.act(time.time(), rec.id, "stop")  # someone in the meeting stops it
        await say(stack, ann, after_stop)
        await session_ends(stack, ann)
        session = p.sessions[rec.session_id]
        await until(lambda: "transcript" in session.files, timeout=10, message="the platform's transcript")
        url, expiry = p.session_file(session, "transcript", time.time())
        event = {"event": "meeting.transcript", "meeting": p.meeting_webhook(stack.meeting_id, session),
                 "transcriptDownloadUrl": url, "transcriptDownloadUrlExpiry": iso(expiry)}
        body = json.dumps(render(event, "realtimekit"), separators=(",", ":")).encode()
        hook = next(iter(p.webhooks.values()))
        assert stack.runtime.store.recording(rec.id).status is Status.RECORDING  # as far as recbot knows
        answer = await stack.http.post(stack.webhook_url, content=body, headers={
            "content-type": "application/json", "rtk-signature": stack.emulator.signer.sign(body),
            "rtk-uuid": "late-stop", "rtk-webhook-id": hook["id"]})
        assert answer.status_code == 200, answer.text
        held = "SELECT id FROM timers WHERE kind = 'held_files' AND done = 0"
        await until(lambda: stack.runtime.store.db.all(held), timeout=10, message="the transcript, held")
        assert not uploads(stack, rec)
        await stack.control("webhook-faults", {"drop": 0.0})
        await asyncio.sleep(LOOK_AGAIN + 0.5)  # looked at again: still waiting
        assert not uploads(stack, rec) and stack.runtime.store.db.all(held)
        await run(stack, ALICE, "stop")  # recbot asks, and learns the stop, dated by the platform
        await status_is(stack, rec.id, Status.UPLOADED, timeout=10)
        upload = await until(lambda: uploads(stack, rec), timeout=20, message="recbot's own copy")
        copy = stack.slack.file_text(upload[0].files[0]["id"])
        assert "pricing is nine" in copy and "ship friday" in copy and after_stop not in copy
        assert after_stop not in everything_slack_got(stack)
        _, nothing = await run(stack, BOB, "find board")
        assert "Nothing recorded" in nothing
