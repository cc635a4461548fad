"""Signed slash commands and button clicks into the real app; assertions on what Slack would show."""

import asyncio
import json
import time

from bot.models import Status, Timer
from tests.conftest import ADMIN, ALICE, BOB, CHANNEL, EVE, until
from tests.e2e.helpers import (
    button_ids,
    card_of,
    reply_to,
    run,
    started,
    status_is,
    thread_texts,
)


async def test_help_and_usage_answer_in_the_ack(stack):
    for text in ("", "help"):
        ack, _ = await run(stack, ALICE, text)
        assert "/rec link" in ack
    ack, _ = await run(stack, ALICE, "pasue")
    assert "Did you mean `/rec pause`?" in ack and "/rec start" in ack
    audit = await until(stack.runtime.store.audit_log, message="the usage audited")  # written after the ack
    assert audit[0]["action"] == "usage"


async def test_commands_need_a_link_first(stack):
    _ack, reply = await run(stack, ALICE, "start")
    assert "not linked to a meeting yet" in reply
    assert stack.slack.channel(CHANNEL) == []


async def test_link_checks_the_meeting_exists(stack):
    _, reply = await run(stack, ALICE, "link 00000000-0000-0000-0000-000000000000")
    assert "No meeting `00000000-0000-0000-0000-000000000000` exists" in reply
    assert stack.runtime.store.link(CHANNEL) is None
    meeting = await stack.new_meeting("Standup")
    _, reply = await run(stack, ALICE, f"link <https://app.dyte.io/meeting/{meeting}|Standup>")
    assert "Linked this channel to *Standup*" in reply
    link = stack.runtime.store.link(CHANNEL)
    assert (link.meeting_id, link.linked_by, link.team_id) == (meeting, ALICE, "T0DEMO")


async def test_new_creates_and_links(stack):
    _, reply = await run(stack, ALICE, "new Design review")
    assert "Created and linked this channel to *Design review*" in reply
    link = stack.runtime.store.link(CHANNEL)
    assert stack.emulator.platform.meetings[link.meeting_id].title == "Design review"


async def test_unlink_keeps_history(linked):
    rec = await started(linked, ALICE)
    await run(linked, ALICE, "stop")
    await status_is(linked, rec.id, Status.UPLOADED)
    _, reply = await run(linked, ALICE, "unlink")
    assert "Unlinked" in reply and linked.runtime.store.link(CHANNEL) is None
    assert linked.runtime.store.recording(rec.id) is not None
    assert [r.id for r in linked.runtime.store.history(CHANNEL)] == [rec.id]


async def test_start_posts_one_card_and_a_thread_reply(linked):
    rec = await started(linked, ALICE)
    await until(lambda: "Recording" in (card_of(linked, rec).text if card_of(linked, rec) else ""))
    cards = linked.slack.channel(CHANNEL)
    assert len(cards) == 1
    assert button_ids(cards[0]) == ["rec_pause", "rec_mark", "rec_stop"]
    assert json.dumps(cards[0].blocks).count(rec.id) >= 2
    await until(lambda: len(thread_texts(linked, rec)) >= 2)
    assert "requested by <@U0ALICE>" in thread_texts(linked, rec)[0]


async def test_second_start_explains_and_multi_starts_another(linked):
    first = await started(linked, ALICE)
    _, reply = await run(linked, ALICE, "start")
    assert "already has an active recording: #1 (recording)" in reply and "--multi" in reply
    await run(linked, BOB, "pause")
    await status_is(linked, first.id, Status.PAUSED)
    _, reply = await run(linked, ALICE, "start")
    assert "`/rec resume` to continue it" in reply
    second = await started(linked, ALICE, "start --multi")
    assert second.handle == 2 and second.multi
    # a card of its own, as soon as the channel's posts allow (about one a second, in bursts of three)
    await until(lambda: len(linked.slack.channel(CHANNEL)) == 2, message="a second card")


async def test_pause_resume_stop_apply_to_every_fitting_recording_or_to_n(linked):
    one = await started(linked, ALICE)
    two = await started(linked, ALICE, "start --multi")
    _, reply = await run(linked, BOB, "pause")
    assert reply == "#1 paused.\n#2 paused."
    _, reply = await run(linked, ALICE, "resume #2")
    assert reply == "#2 resumed."
    await status_is(linked, two.id, Status.RECORDING)
    assert linked.runtime.store.recording(one.id).status is Status.PAUSED
    _, reply = await run(linked, ALICE, "resume #2")
    assert "#2 is recording, so there is nothing to resume" in reply
    _, reply = await run(linked, ALICE, "stop #7")
    assert "There is no recording #7" in reply
    _, reply = await run(linked, ALICE, "stop")
    assert reply == "#1 stopped.\n#2 stopped."
    for rec in (one, two):
        await status_is(linked, rec.id, Status.UPLOADED)
    _, reply = await run(linked, ALICE, "stop")
    assert "Nothing to stop: nothing is active" in reply


async def test_timed_pause_is_accepted_and_confirmed(linked):
    rec = await started(linked, ALICE)
    _, reply = await run(linked, BOB, "pause for 10m")
    assert reply == "#1 paused for 10m; it resumes by itself."
    stored = linked.runtime.store.recording(rec.id)
    assert stored.pause_until - time.time() > 590
    assert linked.runtime.store.timers.pending(Timer.RESUME, rec.id).due_at - time.time() > 590
    await until(lambda: any("It resumes by itself" in t for t in thread_texts(linked, rec)))


async def test_status_history_and_who_are_ephemeral_and_immediate(linked):
    ack, _ = await run(linked, BOB, "status")
    assert "nothing is being recorded" in ack
    rec = await started(linked, ALICE)
    await run(linked, BOB, "pause")
    await status_is(linked, rec.id, Status.PAUSED)
    response = await linked.command(BOB, "status")
    body = response.json()
    assert "#1 paused" in body["text"] and body["blocks"][0]["type"] == "header"
    history = (await linked.command(BOB, "history")).json()
    assert "Weekly sync" in json.dumps(history["blocks"])
    await run(linked, ALICE, f"allow <@{BOB}|bob>")
    who = (await linked.command(BOB, "who")).json()
    assert "<@U0BOB>" in who["text"] and "<@U0ALICE>" in who["text"]


async def test_buttons_act_like_commands(linked):
    rec = await started(linked, ALICE)
    card = card_of(linked, rec)
    assert (await linked.click(BOB, "rec_pause", rec.id, message_ts=card.ts)).status_code == 200
    await status_is(linked, rec.id, Status.PAUSED)
    await until(lambda: button_ids(card_of(linked, rec)) == ["rec_resume", "rec_stop"], message="card edited")
    assert "Paused by <@U0BOB>" in json.dumps(card_of(linked, rec).blocks)
    await linked.click(ALICE, "rec_resume", rec.id)
    await status_is(linked, rec.id, Status.RECORDING)
    await linked.click(ALICE, "rec_stop", rec.id)
    await status_is(linked, rec.id, Status.UPLOADED)
    await until(lambda: button_ids(card_of(linked, rec)) == ["rec_refresh_link"], message="uploaded card")
    before = len(linked.slack.ephemeral_for(ALICE))
    await linked.click(ALICE, "rec_refresh_link", rec.id)
    assert "Fresh link for #1" in await reply_to(linked, ALICE, before)
    # the thread's replies, at the channel's pace (card edits have a budget of their own, and may be ahead)
    await until(lambda: any("paused by <@U0BOB>" in t for t in thread_texts(linked, rec))
                and any("resumed by <@U0ALICE>" in t for t in thread_texts(linked, rec)), message="the thread")


async def test_double_and_concurrent_clicks_are_harmless(linked):
    rec = await started(linked, ALICE)
    await asyncio.gather(*(linked.click(BOB, "rec_pause", rec.id) for _ in range(5)))
    await status_is(linked, rec.id, Status.PAUSED)
    await asyncio.sleep(0.3)
    paused = [h for h in linked.emulator.platform.history if h["recording_id"] == rec.id and h["to"] == "PAUSED"]
    assert len(paused) == 1
    assert sum("paused by" in t for t in thread_texts(linked, rec)) == 1
    assert [e.status for e in linked.runtime.store.ledger(rec.id)].count(Status.PAUSED) == 1


async def test_permissions_privacy_first(linked):
    rec = await started(linked, ALICE)
    # anyone, even from another workspace, may pause
    _, reply = await run(linked, EVE, "pause")
    assert reply == "#1 paused."
    for user, text in ((BOB, "resume"), (BOB, "stop"), (BOB, "start --multi"), (BOB, "unlink"),
                       (BOB, f"allow <@{BOB}>"), (EVE, "resume"), (EVE, "stop")):
        _, reply = await run(linked, user, text)
        assert reply.startswith(":no_entry:"), (user, text, reply)
    assert linked.runtime.store.recording(rec.id).status is Status.PAUSED
    # the refusals were said in the acks; each is audited just after
    await until(lambda: len([a for a in linked.runtime.store.audit_log(CHANNEL) if a["outcome"] == "refused"]) >= 7,
                message="seven refusals audited")
    # admins are controllers; allow makes a controller; deny bars everything, pausing included
    _, reply = await run(linked, ADMIN, "resume")
    assert reply == "#1 resumed."
    await run(linked, ALICE, f"allow <@{BOB}>")
    _, reply = await run(linked, BOB, "pause")
    assert reply == "#1 paused."
    _, reply = await run(linked, BOB, "resume")
    assert reply == "#1 resumed."
    await run(linked, ALICE, f"deny <@{BOB}>")
    _, reply = await run(linked, BOB, "pause")
    assert "barred you" in reply
    assert "barred you" in (await linked.command(BOB, "status")).text


async def test_buttons_are_checked_like_commands(linked):
    rec = await started(linked, ALICE)
    await linked.click(EVE, "rec_pause", rec.id)
    await status_is(linked, rec.id, Status.PAUSED)
    before = len(linked.slack.ephemeral_for(BOB))
    await linked.click(BOB, "rec_resume", rec.id)
    assert "Only this channel's controllers" in await reply_to(linked, BOB, before)
    before = len(linked.slack.ephemeral_for(ALICE))
    await linked.click(ALICE, "rec_stop", rec.id, channel="C0OTHER")
    assert "does not belong to a recording of this channel" in await reply_to(linked, ALICE, before)
    before = len(linked.slack.ephemeral_for(ALICE))
    await linked.click(ALICE, "rec_stop", "'; DROP TABLE recordings; --")
    assert "does not belong" in await reply_to(linked, ALICE, before)
    assert linked.runtime.store.recording(rec.id).status is Status.PAUSED
    assert (await linked.click(ALICE, "rec_explode", rec.id)).status_code == 404


async def test_platform_errors_become_clear_messages_and_change_nothing(linked):
    rec = await started(linked, ALICE)
    edits = card_of(linked, rec).edits
    await linked.control("faults", {"mode": "500", "count": 1})  # one failure: a pause is tried again
    _, reply = await run(linked, ALICE, "pause", timeout=10)
    assert reply == "#1 paused."
    await run(linked, ALICE, "resume")
    # 409: the platform's state moved on without recbot hearing of it
    hooks = list(linked.emulator.platform.webhooks.values())
    for hook in hooks:  # recbot hears nothing of these
        hook["enabled"] = False
    for action in ("pause", "resume", "stop"):
        linked.emulator.platform.act(time.time(), rec.id, action)
    linked.emulator.advance()
    for hook in hooks:
        hook["enabled"] = True
    _, reply = await run(linked, ALICE, "pause")
    assert "#1 could not be paused" in reply and "(it is upload" in reply
    # a timeout
    await started(linked, ALICE, "start --multi")
    await linked.control("faults", {"mode": "hang", "count": 1, "hang_seconds": 12})
    began = time.monotonic()
    _, reply = await run(linked, ALICE, "pause #2", timeout=15)
    assert reply == "#2 paused." and time.monotonic() - began < 11.5  # the answer was lost; recbot asked
    assert card_of(linked, rec).edits >= edits
    # the platform is down: a pause fails after its tries, and the channel is told, with a button to try again
    third = await started(linked, ALICE, "start --multi")
    await linked.control("faults", {"rates": {"500": 1.0}})
    _, reply = await run(linked, ALICE, "pause #3", timeout=15)
    assert "Could not pause #3: the recording platform is not answering" in reply
    await linked.control("faults", {"clear": True})
    said = await until(lambda: [m for m in linked.slack.thread(CHANNEL, card_of(linked, third).ts)
                                if "still recording" in m.text], message="the failed pause in the thread")
    assert said[0].broadcast and button_ids(said[0]) == ["rec_pause"]


async def test_ack_does_not_wait_for_a_slow_platform(linked):
    await linked.control("faults", {"latency": 2.5})
    before = len(linked.slack.ephemeral_for(ALICE))
    began = time.monotonic()
    response = await linked.command(ALICE, "start")
    took = time.monotonic() - began
    assert response.status_code == 200 and "Starting the recording" in response.text
    assert took < 0.5, took
    reply = await reply_to(linked, ALICE, before)
    assert "Starting recording #1" in reply


async def test_app_home_lists_channels_and_recordings_and_its_buttons_work(linked):
    rec = await started(linked, ALICE)
    await linked.event({"type": "app_home_opened", "user": ALICE, "channel": "D0", "tab": "home"})
    home = await until(lambda: linked.slack.homes.get(ALICE), message="home published")
    assert "<#C0DEMO>" in json.dumps(home)
    assert "rec_pause" in json.dumps(home)
    await linked.click(ALICE, "rec_pause", rec.id, home=True)
    await status_is(linked, rec.id, Status.PAUSED)
    await until(lambda: "rec_resume" in json.dumps(linked.slack.homes.get(ALICE)), message="home refreshed")
    await linked.event({"type": "app_home_opened", "user": BOB, "tab": "messages"})
    await asyncio.sleep(0.2)
    assert BOB not in linked.slack.homes


async def test_lost_channel_keeps_updates_and_tells_the_linker(linked):
    rec = await started(linked, ALICE)
    linked.slack.not_member.add(CHANNEL)
    await run(linked, ALICE, "pause")
    await until(lambda: linked.runtime.store.link(CHANNEL).broken_reason == "not_in_channel", message="broken")
    dm = await until(lambda: [m for m in linked.slack.messages.values() if m.channel == ALICE], message="a DM")
    assert "/invite @recbot" in dm[0].text
    status = (await linked.command(BOB, "status")).json()
    assert "cannot post in this channel" in json.dumps(status["blocks"])
    linked.slack.not_member.discard(CHANNEL)
    await run(linked, ALICE, "resume")
    await until(lambda: any("paused by" in t for t in thread_texts(linked, rec)), message="kept update delivered")
    await until(lambda: any("resumed by" in t for t in thread_texts(linked, rec)), message="later update")
    assert linked.runtime.store.link(CHANNEL).broken_reason is None


async def test_forged_stale_and_missing_slack_signatures_are_refused(linked):
    raw = "command=%2Frec&text=stop&user_id=U0ALICE&channel_id=C0DEMO"
    bad = [linked.signed(raw, "application/x-www-form-urlencoded", secret="wrong"),
           linked.signed(raw, "application/x-www-form-urlencoded", timestamp=int(time.time()) - 301),
           {"content-type": "application/x-www-form-urlencoded"}]
    for headers in bad:
        response = await linked.http.post(f"{linked.bot_url}/slack/events", content=raw, headers=headers)
        assert response.status_code == 401
    assert linked.emulator.platform.recordings == {}
