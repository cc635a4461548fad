"""Long outages: Slack unreachable, then back; the platform unreachable."""

import asyncio
import time

from bot.models import Status
from bot.web import Options
from bot.workbench.stack import TEST_SCALE
from tests.conftest import ALICE, BOB, linked_stack, until
from tests.e2e.helpers import card_of, run, started, status_is, thread_texts


async def test_slack_unreachable_then_back_drains_in_order_coalesced_nothing_lost(tmp_path):
    """Slack is down (connection refused) while the meeting goes on; the outage here lasts seconds, not
    10 minutes: the outbox's backoff is capped at 1 s for the test instead of 60 s."""
    options = Options(slack_scale=TEST_SCALE, card_interval=0.1, max_backoff=1.0)
    async with linked_stack(tmp_path, options=options) as s:
        rec = await started(s, ALICE)
        await until(lambda: len(thread_texts(s, rec)) >= 2)
        edits_before = card_of(s, rec).edits
        await s.slack_server.stop()  # Slack is unreachable
        for _ in range(3):
            await s.click(BOB, "rec_pause", rec.id)
            await status_is(s, rec.id, Status.PAUSED)
            await s.click(ALICE, "rec_resume", rec.id)
            await status_is(s, rec.id, Status.RECORDING)
        await s.click(ALICE, "rec_stop", rec.id)
        await status_is(s, rec.id, Status.UPLOADED)
        await asyncio.sleep(2)
        pending = s.runtime.store.outbox.counts()
        assert pending.get("pending", 0) + pending.get("sending", 0) >= 8
        await s.slack_server.start()  # back, on the same port
        await until(lambda: any("Download" in t for t in thread_texts(s, rec)), timeout=20, message="drained")
        await asyncio.sleep(0.5)
        texts = thread_texts(s, rec)
        kinds = [next((k for k in ("paused", "resumed", "stopped", "ready") if k in t), "") for t in texts[2:]]
        assert kinds == ["paused", "resumed"] * 3 + ["stopped", "ready"], texts
        assert card_of(s, rec).edits - edits_before <= 3  # eleven changes, the card edited a few times
        assert "Uploaded" in card_of(s, rec).text


async def test_platform_unreachable_every_command_acks_at_once_and_says_so(linked):
    rec = await started(linked, ALICE)
    await linked.emulator_server.stop()
    for user, text, says in ((ALICE, "start --multi", "Could not start the recording"),
                             (BOB, "pause", "Could not pause #1"),
                             (ALICE, f"link {linked.meeting_id}", "Could not reach the meeting")):
        began = time.monotonic()
        ack, reply = await run(linked, user, text, timeout=20)
        assert ack.endswith("…")
        assert says in reply and "not answering" in reply
    response = await linked.command(BOB, "status")
    assert response.status_code == 200 and "#1" in response.json()["text"]
    assert time.monotonic() - began < 20
    assert linked.runtime.store.recording(rec.id).status is Status.RECORDING
    await linked.emulator_server.start()
