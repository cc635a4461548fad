"""recbot against each reading of what RealtimeKit's two official sources leave open (the emulator's
`/_emulator/modes`, docs/platform.md): how the recordings list reads `status`, a `per_page` cap, and
the code of an undocumented refusal, 5xx included."""

import time

import pytest

from bot.models import Status
from tests.conftest import ALICE, linked_stack, until
from tests.e2e.helpers import run, status_is


def silence(stack) -> list[dict]:
    """recbot hears nothing of what happens next on the platform (its webhooks are off)."""
    hooks = list(stack.emulator.platform.webhooks.values())
    for hook in hooks:
        hook["enabled"] = False
    return hooks


@pytest.mark.parametrize("status_filter", ["spec", "sdk"])
async def test_a_recording_started_from_the_meeting_is_found_whichever_way_status_is_read(tmp_path, status_filter):
    """After a refused start recbot lists the meeting's active recordings: a server that takes only one
    comma-joined value from the published enum, or only the parameter repeated, answers it alike."""
    async with linked_stack(tmp_path, flavour="realtimekit") as stack:
        await stack.control("modes", {"status_filter": status_filter})
        silence(stack)
        p = stack.emulator.platform
        elsewhere = p.start_recording(time.time() - 30, stack.meeting_id)
        stack.emulator.advance()
        p.act(time.time(), elsewhere.id, "pause")  # PAUSED: not in the published enum
        _, reply = await run(stack, ALICE, "start")
        assert "The platform refused" in reply
        adopted = await until(lambda: stack.runtime.store.recording(elsewhere.id), message="the adoption")
        assert adopted.origin == "meeting"
        await status_is(stack, elsewhere.id, Status.PAUSED)
        filters = [v for r in stack.emulator.requests for k, v in r["query"] if k == "status"]
        assert all(v in ("INVOKED", "RECORDING", "UPLOADING", "UPLOADED") for v in filters)


async def test_lists_are_read_to_their_total_count_when_the_server_caps_per_page(tmp_path):
    """The spec sets `per_page` no maximum: a server answering one a page must not hide the active
    recording behind the first (shorter than asked) page."""
    async with linked_stack(tmp_path, flavour="realtimekit") as stack:
        await stack.control("modes", {"per_page_cap": 1})
        silence(stack)
        p, now = stack.emulator.platform, time.time()
        elsewhere = p.start_recording(now - 60, stack.meeting_id)
        for _ in range(2):  # newer ones, already stopped: the list shows them first
            p.act(now, p.start_recording(now - 10, stack.meeting_id, allow_multiple=True).id, "stop")
        stack.emulator.advance()
        _, reply = await run(stack, ALICE, "start")
        assert "The platform refused" in reply
        adopted = await until(lambda: stack.runtime.store.recording(elsewhere.id), message="the adoption")
        assert adopted.status is Status.RECORDING
        pages = [r for r in stack.emulator.requests if r["method"] == "GET" and r["path"] == "/recordings"]
        assert len(pages) >= 3  # page 1 was short of what was asked, and not the end


@pytest.mark.parametrize("refusal", [409, 503])
async def test_ending_a_meeting_that_has_no_live_session_asks_before_answering(tmp_path, refusal):
    """Kick-all with nobody in the meeting: no code is documented for it. Whatever comes back, recbot
    asks whether a session is live and says what it finds."""
    async with linked_stack(tmp_path, flavour="realtimekit") as stack:
        await stack.control("modes", {"refusal_status": refusal})
        await stack.control(f"meetings/{stack.meeting_id}/end")
        before = len(stack.slack.ephemeral_for(ALICE))
        await stack.click(ALICE, "rec_end", stack.meeting_id)
        answer = await until(lambda: stack.slack.ephemeral_for(ALICE)[before:], message="the answer")
        assert "no live session now" in answer[0]["text"]
        asked = [r["path"] for r in stack.emulator.requests][-2:]
        assert asked == [f"/meetings/{stack.meeting_id}/active-session/kick-all",
                         f"/meetings/{stack.meeting_id}/active-session"]


async def test_a_start_answered_5xx_that_did_start_is_said_as_started(tmp_path):
    """A start the platform carried out although a gateway answered 502: recbot finds its recording and
    says it started, never "failed"; one the platform did not carry out is never said as started."""
    async with linked_stack(tmp_path, flavour="realtimekit") as stack:
        await stack.control("faults", {"mode": "502", "count": 1})
        _, reply = await run(stack, ALICE, "start")
        assert "Starting recording #1" in reply
        (rec,) = stack.runtime.store.recordings_of_meeting(stack.meeting_id)
        assert rec.id in stack.emulator.platform.recordings
        await stack.control("faults", {"mode": "500", "count": 1})
        _, reply = await run(stack, ALICE, "start --multi")
        assert "Could not start" in reply and "not answering" in reply and "Nothing changed" in reply
        assert len(stack.emulator.platform.recordings) == 1
