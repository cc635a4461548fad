"""What real Slack accepts, end to end: the fake Slack refuses what Slack refuses, and recbot never
loses the message that matters (the download link) to a refusal."""

import asyncio

from bot.models import Status
from tests.conftest import ALICE, BOB, until
from tests.e2e.helpers import card_of, run, started, status_is, thread_texts


async def test_twenty_pauses_still_end_with_the_download_link(linked):
    rec = await started(linked, ALICE)
    for _ in range(20):
        await run(linked, BOB, "pause")
        await run(linked, ALICE, "resume")
    await run(linked, ALICE, "stop")
    await status_is(linked, rec.id, Status.UPLOADED)
    ready = await until(lambda: [t for t in thread_texts(linked, rec) if "is ready" in t], timeout=15,
                        message="the ready reply")
    assert "Download the recording" in ready[0]
    stored = linked.runtime.store.recording(rec.id)
    reply = next(m for m in linked.slack.thread(stored.channel_id, stored.card_ts) if "is ready" in m.text)
    assert "".join(b["text"]["text"] for b in reply.blocks).count("paused (") == 20
    assert linked.slack.refusals == []


async def test_a_message_slack_refuses_is_sent_again_in_its_compact_form(linked):
    rec = await started(linked, ALICE)
    await run(linked, BOB, "pause")
    await run(linked, ALICE, "resume")
    linked.slack.message_blocks = 1  # from now on Slack refuses anything of two blocks or more
    await run(linked, ALICE, "stop")
    await status_is(linked, rec.id, Status.UPLOADED)
    ready = await until(lambda: [t for t in thread_texts(linked, rec) if "is ready" in t], timeout=15,
                        message="the ready reply, compact")
    assert "Download the recording" in ready[0] and "Recorded" in ready[0]
    assert {r["error"] for r in linked.slack.refusals} == {"invalid_blocks"}
    await until(lambda: "Uploaded" in (card_of(linked, rec).text or ""), message="the card, compact")
    assert not linked.runtime.store.outbox.counts().get("failed")


async def test_a_hostile_title_never_pings_the_channel(linked):
    await run(linked, ALICE, "new <!channel> & <https://evil.example|free> stuff")
    response = await linked.command(ALICE, "status")
    body = response.json()
    assert "<!channel>" not in body["text"] and "&lt;!channel&gt;" in body["text"]
    linked.meeting_id = linked.runtime.store.link("C0DEMO").meeting_id
    await linked.join(linked.meeting_id, "Ann")
    rec = await started(linked, ALICE)
    await asyncio.sleep(0.2)
    card = card_of(linked, rec)
    assert "<!channel>" not in card.text and "<https://evil" not in card.text


async def test_usage_shows_its_placeholders(stack):
    ack, _ = await run(stack, ALICE, "help")
    assert "‹meeting id or URL›" in ack
    ack, reply = await run(stack, ALICE, "link")
    assert "‹meeting id or meeting URL›" in reply
