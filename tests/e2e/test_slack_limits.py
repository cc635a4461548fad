"""Slack as it really limits, end to end (CONTRACT.md "Slack's limits"): the local Slack limits per
method and workspace at TEST_SCALE (bot/workbench/stack.py), and whatever it answers, recbot makes no
call inside a Retry-After window, loses no message, and says so when nobody can receive one."""

import asyncio
import dataclasses
import json
import time

import pytest

from bot.models import Status, Team
from bot.slack.courier import Courier
from bot.slack.holds import FLIGHT, Holds, flight
from bot.slack.identity import Directory
from bot.slack.limits import Limit
from bot.store import Store
from tests.conftest import ADMIN, ALICE, BOB, CHANNEL, gone_owner, until
from tests.e2e.helpers import card_of, reply_to, run, started, status_is, thread_texts
from tests.e2e.test_slack_spent import spend_response_urls


def shown(stack, rec) -> str:
    card = card_of(stack, rec)
    return card.text if card else ""


def drained(stack) -> bool:
    return not {"pending", "sending"} & set(stack.runtime.store.outbox.counts())


async def test_cards_wait_out_a_429_on_chat_update_in_the_whole_workspace(linked):
    """Six live cards, chat.update limited tighter than published: Slack answers 429, and recbot makes no
    call of chat.update to the workspace until Retry-After has passed; every card ends on its last state."""
    recs = [await started(linked, ALICE, "start" if n == 0 else "start --multi") for n in range(6)]
    linked.slack.limits.tighter["chat.update"] = Limit(1, 1.0)
    # all at once, as six people would: six cards to edit in the same second, more than the limit allows
    await asyncio.gather(*(run(linked, BOB, f"pause #{rec.handle}") for rec in recs))
    for rec in recs:
        await status_is(linked, rec.id, Status.PAUSED)
    await asyncio.gather(*(run(linked, ALICE, f"resume #{rec.handle}") for rec in recs))
    for rec in recs:
        await status_is(linked, rec.id, Status.RECORDING)
    await until(lambda: all("Recording" in shown(linked, r) for r in recs)
                and drained(linked), timeout=30, message="every card on its last state")
    assert linked.slack.limits.answered_429 >= 1  # Slack did limit
    assert linked.slack.limits.inside == []  # and recbot never called inside the window it set
    assert not linked.runtime.store.outbox.counts().get("failed")


async def test_a_process_makes_no_call_of_a_method_another_has_in_flight_so_none_lands_in_its_429s_window(linked):
    """Found by the chaos run with two processes on one database: each counted its own calls and learnt the
    other's 429 only from the store, so a call one made while the other's call of the same method to the same
    workspace was on its way landed in the Retry-After window Slack had just set. A method's call to a
    workspace is in flight in one process at a time (taken in the trip that claims its row), and the 429 it
    meets is in the store before the next is made, by any process."""
    recs = [await started(linked, ALICE, "start" if n == 0 else "start --multi") for n in range(3)]
    await until(lambda: drained(linked), timeout=10, message="drained")
    options = linked.options
    other = Courier(Store(linked.database), linked.runtime.courier.tokens, scale=options.slack_scale,
                   card_interval=options.card_interval)  # another process on the same database, driven by hand
    try:
        linked.slack.limits.tighter["chat.update"] = Limit(1, 4.0)
        linked.slack.slow["chat.update"] = 3.0  # each answer 3 s on its way back
        for rec in recs:
            assert (await linked.command(BOB, f"pause #{rec.handle}")).status_code == 200

        def waiting() -> int:  # card edits due, while this process's edit is answered 429 (the answer on its way)
            return linked.runtime.store.db.scalar("SELECT COUNT(*) FROM outbox WHERE kind = 'card' AND state = "
                                                  "'pending'") if linked.slack.limits.answered_429 else 0

        await until(waiting, timeout=10, message="Slack's 429 on its way, and another card's edit due")
        await other.drain()  # the other process, meanwhile: it may not make that edit now
        linked.slack.limits.tighter.clear()  # the rest as fast as the windows already set allow
        linked.slack.slow.clear()
        await until(lambda: all("Paused" in shown(linked, r) for r in recs) and drained(linked), timeout=30,
                    message="every card paused")
        assert linked.slack.limits.inside == []
    finally:
        await other.aclose()
        other.store.close()


async def test_a_card_another_process_posted_after_the_drain_read_it_is_edited_only_outside_chat_updates_window(
        linked):
    """Found by reading the outbox after the chaos runs (#35): a drain chooses a card's row by the card it read,
    a post when it had none; if another process posted the card before this one claimed the row, the send edits
    it (chat.update) under chat.postMessage's turn, window and holds, so it could land in chat.update's
    Retry-After window. The claim reads the method again and leaves such a row to the next drain."""
    one, two = [await started(linked, ALICE, "start" if n == 0 else "start --multi") for n in range(2)]
    await until(lambda: drained(linked), timeout=10, message="drained")
    linked.slack.limits.tighter["chat.update"] = Limit(1, 10.0)
    await run(linked, BOB, "pause #1")
    await until(lambda: "Paused" in shown(linked, one), timeout=10, message="#1's card paused")
    await run(linked, BOB, "pause #2")  # its edit: Slack's 429, chat.update held in the workspace for ~10 s
    await until(lambda: linked.slack.limits.answered_429, timeout=10, message="Slack's 429 on chat.update")
    linked.slack.limits.tighter.clear()
    await run(linked, ALICE, "resume #1")  # #1's card to edit, due now, which this process holds back
    db = linked.runtime.store.db
    await until(lambda: db.scalar("SELECT COUNT(*) FROM outbox WHERE kind = 'card' AND state = 'pending' AND "
                                  "recording_id = ?", one.id), timeout=10, message="#1's card edit queued")
    other = Courier(Store(linked.database), linked.runtime.courier.tokens, scale=linked.options.slack_scale,
                    card_interval=linked.options.card_interval)  # another process on the same database
    due = other._due

    def read_before_the_post(tx, now):  # its drain read #1 before the other process's post of its card committed
        *rest, recordings, holds, org_wide = due(tx, now)
        recordings = {k: dataclasses.replace(r, card_ts=None) if k == one.id else r for k, r in recordings.items()}
        return *rest, recordings, holds, org_wide

    try:
        other._due = read_before_the_post
        await other.drain()
        other._due = due
        await until(lambda: "Recording" in shown(linked, one) and "Paused" in shown(linked, two)
                    and drained(linked), timeout=30, message="both cards on their last state")
        assert linked.slack.limits.inside == []
        assert len([m for m in linked.slack.messages.values() if m.channel == CHANNEL and m.thread_ts is None
                    and "#1" in m.text]) == 1  # edited, never posted twice
    finally:
        await other.aclose()
        other.store.close()


async def test_an_answer_sent_as_a_direct_message_where_recbot_cannot_post_waits_out_chat_post_messages_429(linked):
    """Found by reading the outbox after the chaos runs (#35): an ephemeral answer recbot could not post in its
    channel was sent as a direct message (chat.postMessage) inside the same send, counted as chat.postEphemeral,
    so it could land in chat.postMessage's Retry-After window. It is a direct message's row of its own now."""
    linked.slack.limits.tighter["chat.postMessage"] = Limit(1, 10.0)
    team = Team(linked.runtime.store.link(CHANNEL).team_id)  # the workspace's, as the answer's row will say
    await linked.runtime.courier.tell(BOB, "one", team)
    await linked.runtime.courier.tell(BOB, "two", team)  # Slack's 429: chat.postMessage held in the workspace ~10 s
    await until(lambda: linked.slack.limits.answered_429, timeout=10, message="Slack's 429 on chat.postMessage")
    linked.slack.limits.tighter.clear()
    spend_response_urls(linked, "expired_url")
    linked.slack.not_member.add(CHANNEL)  # a private channel recbot was removed from
    assert (await linked.command(ALICE, f"allow <@{BOB}|bob>")).status_code == 200
    dm = await until(lambda: [m for m in linked.slack.messages.values() if m.channel == ALICE], timeout=30,
                     message="the answer as a direct message")
    assert BOB in dm[0].text
    assert linked.slack.limits.inside == []
    assert not linked.runtime.store.outbox.counts().get("failed")


async def test_an_admin_question_waits_for_another_processs_users_info_in_flight_and_keeps_its_429(linked):
    """Found by the chaos runs (two processes, seed 3: one users.info inside a Retry-After window): the admin
    question (users.info, a direct call) read the holds but took no turn across processes, so one process's
    question went while another's was answered 429 on its way back. It takes the turn the outbox's calls take
    (`Holds.call`): the second waits for the first's answer, finds its hold, and fails closed."""
    here = linked.runtime.directory
    there = Directory(linked.runtime.tokens, Holds(Store(linked.database)))  # another process's
    linked.slack.limits.tighter["users.info"] = Limit(1, 10.0)
    linked.slack.slow["users.info"] = 1.5  # each answer 1.5 s on its way back
    try:
        assert await here.is_admin(ADMIN)
        asked = asyncio.create_task(here.is_admin(BOB))  # Slack answers 429; the answer is on its way
        await until(lambda: linked.slack.limits.answered_429, timeout=10, message="Slack's 429 on users.info")
        assert not await there.is_admin(ALICE)  # meanwhile, in the other process: not asked, held
        assert not await asked
        assert linked.slack.limits.inside == []
        assert (there.held(ALICE) or 0) > 0 and (here.held(BOB) or 0) > 0
        assert [c["args"].get("user") for c in linked.slack.calls if c["method"] == "users.info"] == [ADMIN, BOB]
    finally:
        linked.slack.slow.clear()
        there.holds.store.close()


async def test_a_call_in_flight_when_its_process_was_killed_waits_out_its_lease_after_a_restart(linked):
    """Found by the full chaos run (two processes, seed 3, 19:13 UTC on f3bd489): bot1 was killed 3 ms after Slack
    answered its chat.postMessage 429, before it wrote the hold. Its restart freed what the dead process held at
    once, the call's lease too, and bot0 posted 0.54 s later, inside the window only the dead process had heard of.
    The call's lease now runs out by itself (`FLIGHT`); here it was taken for 4 s, as if the kill came near its end."""
    rec = await started(linked, ALICE)
    await until(lambda: drained(linked), timeout=10, message="drained")
    team = linked.runtime.store.db.scalar("SELECT team_id FROM outbox WHERE kind = 'card'")
    owner = gone_owner()
    await linked.runtime.store.write(lambda tx: tx.leases.hold(flight((team, "chat.postMessage")), owner, 4.0))
    linked.slack.limits.hold((team, "chat.postMessage"), time.time(), 3, "limit")  # its answer, heard by nobody
    assert await linked.runtime.store.write(lambda tx: tx.leases.free_the_dead()) == 1  # the restart
    assert (await linked.command(BOB, "pause")).status_code == 200
    await until(lambda: any(" paused by" in t for t in thread_texts(linked, rec)), timeout=30,
                message="the pause's reply in the thread")
    assert linked.slack.limits.inside == []


@pytest.mark.engines("postgres")  # SQLite's write lock makes a claim's trip one step: nothing commits between its reads
async def test_a_process_that_takes_a_call_another_just_let_go_of_sees_the_429_it_was_answered(linked):
    """Found by the full chaos run (two processes, seed 1, 17:36 UTC on 467e635): bot1's card edit in Alpha was
    answered 429 (Retry-After 5 s) and put back to pending, and 74 ms later bot0, whose drain had read it as due,
    claimed it and made it 1.4 s later, inside the window. bot0's claim had read the holds at the start of its trip
    to the store, then taken the call's lease (`slack-call:<workspace>:chat.update`) in a later statement: bot1
    wrote its hold and let go of the lease in between (PostgreSQL's read committed; SQLite's write lock makes the
    trip one step). The hold is written before its lease is let go, so a process reads the holds once it has the
    lease. Here the other process's 429 and its letting go are played by hand while this one's claim waits on the
    lease's row."""
    import psycopg

    rec = await started(linked, ALICE)
    await until(lambda: drained(linked), timeout=10, message="drained")
    options = linked.options
    other = Courier(Store(linked.database), linked.runtime.courier.tokens, scale=options.slack_scale,
                   card_interval=options.card_interval)  # another process on the same database, driven by hand
    team = linked.runtime.store.db.scalar("SELECT team_id FROM outbox WHERE kind = 'card'")
    lease = flight((team, "chat.update"))
    gone = "elsewhere:1:a"  # the process whose chat.update is on its way (of another host: never "dead here")
    await linked.runtime.store.write(lambda tx: tx.leases.hold(lease, gone, FLIGHT))
    hand = psycopg.connect(linked.database)
    try:
        assert (await linked.command(BOB, "pause")).status_code == 200
        await until(lambda: linked.runtime.store.db.scalar(
            "SELECT COUNT(*) FROM outbox WHERE kind = 'card' AND state = 'pending'"), message="the card's edit due")
        hand.execute("SELECT 1 FROM leases WHERE name = %s FOR UPDATE", (lease,))  # its answer is being written
        drain = asyncio.create_task(other.drain())  # reads the holds (none yet), then waits on the lease's row
        await until(lambda: drain.done() or linked.runtime.store.db.scalar(
            "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"),
            timeout=30, message="the other process's claim waiting on the lease")
        linked.slack.limits.hold((team, "chat.update"), time.time(), 5, "limit")  # Slack answered it 429
        hand.execute("INSERT INTO rate_blocks (account, until) VALUES (%s, %s)",
                     (f"slack:{team}:chat.update", time.time() + 5))  # its hold, then the lease let go
        hand.execute("DELETE FROM leases WHERE name = %s", (lease,))
        hand.commit()
        await drain
        await until(lambda: "Paused" in shown(linked, rec) and drained(linked), timeout=30, message="the card paused")
        assert linked.slack.limits.inside == []
    finally:
        hand.close()
        await other.aclose()
        other.store.close()


async def test_a_busy_channel_is_paced_at_slacks_rate_with_no_429(linked):
    """Twenty pauses and resumes: forty thread replies and as many card edits, at one post a second per
    channel (at TEST_SCALE): Slack never has to say 429, and the thread keeps its order."""
    rec = await started(linked, ALICE)
    for _ in range(10):
        await run(linked, BOB, "pause")
        await run(linked, ALICE, "resume")
    await until(lambda: drained(linked), timeout=30, message="drained")
    texts = thread_texts(linked, rec)
    kinds = [("paused" if " paused by" in t else "resumed") for t in texts if " paused by" in t or "resumed by" in t]
    assert kinds == ["paused", "resumed"] * 10
    assert linked.slack.limits.answered_429 == 0 and linked.slack.limits.inside == []


async def test_an_unknown_refusal_of_the_ready_reply_degrades_and_keeps_the_download_link(linked):
    rec = await started(linked, ALICE)
    linked.slack.refuse("chat.postMessage", "msg_blocks_too_long", times=0,
                        when=lambda args: "is ready" in str(args.get("text")) and bool(args.get("blocks")))
    await run(linked, ALICE, "stop")
    await status_is(linked, rec.id, Status.UPLOADED)
    ready = await until(lambda: [t for t in thread_texts(linked, rec) if "is ready" in t], timeout=15,
                        message="the ready reply, as text")
    assert "Download the recording" in ready[0]
    assert not linked.runtime.store.outbox.counts().get("failed")


async def test_a_refusal_of_every_form_ends_in_a_line_pointing_to_rec_history(linked):
    rec = await started(linked, ALICE)
    # four: as designed, once more as designed (a refusal recbot does not know may pass), compact, text alone
    linked.slack.refuse("chat.postMessage", "a_refusal_new_to_recbot", times=4,
                        when=lambda args: "is ready" in str(args.get("text")))
    await run(linked, ALICE, "stop")
    await status_is(linked, rec.id, Status.UPLOADED)
    pointer = await until(lambda: [t for t in thread_texts(linked, rec) if "/rec history" in t], timeout=15,
                          message="the line pointing to /rec history")
    assert "ready" in pointer[0]
    history = (await linked.command(ALICE, "history")).json()
    assert "|download>" in json.dumps(history["blocks"])  # where the line points: the link is there


async def test_rate_limited_in_the_body_waits_and_loses_nothing(linked):
    rec = await started(linked, ALICE)
    for error in ("rate_limited", "message_limit_exceeded", "restricted_action"):
        linked.slack.refuse("chat.postMessage", error, when=lambda args: "paused by" in str(args.get("text")))
    await run(linked, BOB, "pause")
    await until(lambda: any("paused by" in t for t in thread_texts(linked, rec)), timeout=30,
                message="the pause's reply, in the end")
    assert not linked.runtime.store.outbox.counts().get("failed")


async def test_a_reply_nobody_can_receive_is_given_up_and_the_linker_is_told(linked):
    rec = await started(linked, ALICE)
    linked.slack.refuse("chat.postMessage", "ekm_access_denied", when=lambda args: "paused by" in str(
        args.get("text")))
    await run(linked, BOB, "pause")
    told = await until(lambda: [m for m in linked.slack.channel(ALICE) if "nobody there can receive" in m.text],
                       timeout=15, message="a DM to the linker")
    assert f"<#{CHANNEL}>" in told[0].text and "ekm_access_denied" in told[0].text
    assert linked.runtime.store.outbox.counts().get("failed") == 1
    await run(linked, ALICE, "resume")  # the thread goes on
    await until(lambda: any("resumed by" in t for t in thread_texts(linked, rec)), message="the next reply")


async def test_when_posts_are_short_the_download_link_goes_before_other_news(linked):
    """Slack allows one post a second in the workspace (tighter than published): a thread holding a
    download link goes ahead of another recording's queued replies, and each thread keeps its order."""
    one = await started(linked, ALICE)
    two = await started(linked, ALICE, "start --multi")
    await until(lambda: drained(linked), timeout=15, message="drained")
    linked.slack.limits.tighter["chat.postMessage"] = Limit(1, 1.0)
    for _ in range(3):
        await run(linked, BOB, f"pause #{one.handle}")
        await run(linked, ALICE, f"resume #{one.handle}")
    await run(linked, ALICE, f"stop #{two.handle}")
    await status_is(linked, two.id, Status.UPLOADED)
    await until(lambda: drained(linked), timeout=40, message="drained")
    card_one, card_two = (linked.runtime.store.recording(r.id).card_ts for r in (one, two))
    posts = [c["args"] for c in linked.slack.calls if c["method"] == "chat.postMessage" and c["ok"]]
    ready = next(n for n, a in enumerate(posts) if "is ready" in str(a.get("text")))
    news_of_one = [n for n, a in enumerate(posts) if a.get("thread_ts") == card_one]
    assert ready < news_of_one[-1], "the download link waited behind another recording's replies"
    assert posts[ready]["thread_ts"] == card_two
    texts = thread_texts(linked, one)
    kinds = [("paused" if " paused by" in t else "resumed") for t in texts if " paused by" in t or "resumed by" in t]
    assert kinds == ["paused", "resumed"] * 3
    assert linked.slack.limits.inside == []


async def test_after_a_429_on_users_info_the_admin_question_waits_out_retry_after_and_says_so(linked):
    """users.info (is this person a workspace admin?) is a direct call, outside the outbox: after Slack's 429
    recbot asks it nothing until Retry-After has passed, refuses who only an admin may be (failing closed)
    with a clear word, and asks again once the window is over."""
    rec = await started(linked, ALICE)
    linked.slack.add_user("U0CAROL", "carol")
    linked.slack.limits.tighter["users.info"] = Limit(1, 3.0)
    _, reply = await run(linked, BOB, "stop")  # a member: only an admin could; Slack answers
    assert reply.startswith(":no_entry:")
    _, reply = await run(linked, "U0CAROL", "stop")  # the second users.info within 3 s: 429
    assert "slow down" in reply and "try again in" in reply
    assert linked.slack.limits.answered_429 == 1
    def asked() -> int:
        return len([c for c in linked.slack.calls if c["method"] == "users.info"])

    before = asked()
    _, reply = await run(linked, ADMIN, "stop")  # an admin, inside the window: not asked, so not let in yet
    assert "Slack is asking recbot to slow down" in reply, reply
    shown_before = len(linked.slack.ephemeral_for(ADMIN))
    await linked.click(ADMIN, "rec_stop", rec.id)  # a button is checked as the command is
    assert "Slack is asking recbot to slow down" in await reply_to(linked, ADMIN, shown_before)
    assert asked() == before and linked.slack.limits.inside == []
    assert linked.runtime.store.recording(rec.id).status is Status.RECORDING
    await asyncio.sleep(max(0.0, max(linked.slack.limits.holds.values()) - linked.slack.clock()) + 0.1)
    await run(linked, ADMIN, "stop")  # after it: asked, an admin, and the recording stops
    await status_is(linked, rec.id, Status.UPLOADED)
    assert linked.slack.limits.inside == []
