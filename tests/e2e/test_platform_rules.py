"""The platform's own rules seen from the channel: ending a meeting for everyone (kick-all) and the
keep-alive of meetings made with `/rec new`."""

from bot.models import Status
from tests.conftest import ALICE, BOB, CHANNEL, linked_stack, until
from tests.e2e.helpers import reply_to, run, started, status_is, thread_texts


def end_button(message: dict) -> dict:
    (button,) = [e for b in message["blocks"] or [] if b["type"] == "actions" for e in b["elements"]]
    return button


async def test_end_asks_first_then_stops_every_recording_and_ends_the_session(linked):
    stack = linked
    first = await started(stack, ALICE)
    second = await started(stack, ALICE, "start --multi")
    await run(stack, BOB, "pause #2")
    await status_is(stack, second.id, Status.PAUSED)

    _, asked = await run(stack, ALICE, "end")
    assert "End *Weekly sync* for everyone?" in asked and "#1 (recording), #2 (paused)" in asked
    confirm = stack.slack.ephemeral_for(ALICE)[-1]
    button = end_button(confirm)
    assert button["action_id"] == "rec_end" and button["value"] == stack.meeting_id
    platform = stack.emulator.platform
    assert platform.live_session(stack.meeting_id) is not None  # nothing happened before the button
    assert {r.status for r in (platform.recordings[first.id], platform.recordings[second.id])} == {
        Status.RECORDING, Status.PAUSED}

    before = len(stack.slack.ephemeral_for(ALICE))
    response = await stack.click(ALICE, "rec_end", button["value"])
    assert response.status_code == 200
    answer = await reply_to(stack, ALICE, before)
    assert "#1 stopped." in answer and "#2 stopped." in answer
    assert "Ended the meeting for everyone (2 participants left it)." in answer
    assert platform.live_session(stack.meeting_id) is None
    for rec in (first, second):
        await status_is(stack, rec.id, Status.UPLOADED)
        await until(lambda r=rec: any("stopped by <@U0ALICE>" in t for t in thread_texts(stack, r)),
                    message="the stop in the thread")


async def test_end_is_for_controllers_and_its_button_for_this_channel_s_meeting(linked):
    stack = linked
    await started(stack, ALICE)
    _, answer = await run(stack, BOB, "end")
    assert "Only this channel's controllers" in answer
    before = len(stack.slack.ephemeral_for(BOB))
    refused = await stack.click(BOB, "rec_end", stack.meeting_id)  # the button is checked like the command
    assert refused.status_code == 200
    assert "Only this channel's controllers" in await reply_to(stack, BOB, before)
    other = await stack.new_meeting("Someone else's")
    await stack.join(other, "Zed")
    before = len(stack.slack.ephemeral_for(ALICE))
    await stack.click(ALICE, "rec_end", other)  # a value copied from another channel's confirmation
    assert "does not belong" in await reply_to(stack, ALICE, before)
    assert stack.emulator.platform.live_session(other) is not None
    assert stack.emulator.platform.live_session(stack.meeting_id) is not None


async def test_end_with_nobody_in_the_meeting_says_so(linked):
    stack = linked
    await stack.control(f"meetings/{stack.meeting_id}/end")
    before = len(stack.slack.ephemeral_for(ALICE))
    await stack.click(ALICE, "rec_end", stack.meeting_id)
    assert "no live session" in await reply_to(stack, ALICE, before)


async def test_new_meetings_keep_their_session_alive_as_configured(tmp_path):
    async with linked_stack(tmp_path, flavour="realtimekit", env={"REC_KEEP_ALIVE": "5m"}) as stack:
        _, answer = await run(stack, ALICE, "new Retro")
        assert "Created and linked" in answer
        meeting_id = stack.runtime.store.link(CHANNEL).meeting_id
        assert stack.emulator.platform.meetings[meeting_id].keep_alive == 300
