"""Webhooks to threads: the durable pipeline, under duplicates, reordering, drops, restarts and 429s."""

import asyncio
import itertools
import json
import socket
import time

import httpx
import pytest
from slack_sdk.errors import SlackApiError

from bot.emulator.delivery import Signer, render
from bot.emulator.media import wav_duration
from bot.ledger import summarize
from bot.models import Status, Team
from bot.store import Store
from bot.web import Options
from bot.workbench.stack import TEST_SCALE
from bot.workers import REDELIVERY
from tests.conftest import ALICE, BOB, CHANNEL, linked_stack, until
from tests.e2e.helpers import card_of, run, started, status_is, thread_texts


def count(texts, needle):
    return sum(needle in t for t in texts)


async def post_webhook(stack, body: bytes, headers: dict):
    return await stack.http.post(stack.webhook_url, content=body, headers=headers)


def sign(stack, payload: dict, signer=None, prefix="dyte", uuid="u-1") -> tuple[bytes, dict]:
    body = json.dumps(payload, separators=(",", ":")).encode()
    signer = signer or stack.emulator.signer
    return body, {"content-type": "application/json", f"{prefix}-signature": signer.sign(body),
                  f"{prefix}-uuid": uuid, f"{prefix}-webhook-id": "w"}


async def test_webhook_route_refuses_forged_changed_unsigned_malformed_and_oversized(linked):
    payload = {"event": "meeting.started", "meeting": {"id": linked.meeting_id, "status": "LIVE"}}
    body, headers = sign(linked, payload)
    assert (await post_webhook(linked, body, headers)).status_code == 200
    _, forged = sign(linked, payload, signer=Signer())
    assert (await post_webhook(linked, body, forged)).status_code == 401
    assert (await post_webhook(linked, body.replace(b"LIVE", b"DEAD"), headers)).status_code == 401
    assert (await post_webhook(linked, body, {"content-type": "application/json"})).status_code == 401
    junk, junk_headers = b"[1,2,3]", {"dyte-signature": linked.emulator.signer.sign(b"[1,2,3]")}
    assert (await post_webhook(linked, junk, junk_headers)).status_code == 400
    big = b"{" + b" " * (1024 * 1024) + b"}"
    assert (await post_webhook(linked, big, {"dyte-signature": "x"})).status_code == 413

    async def chunks():
        for _ in range(20):
            yield b" " * 65536

    try:  # refused with 413, or the connection closed on the sender while it is still sending
        streamed = await linked.http.post(linked.webhook_url, content=chunks(), headers={"dyte-signature": "x"})
        assert streamed.status_code == 413
    except httpx.HTTPError:
        pass
    stored = [bytes(r["body"]) for r in linked.runtime.store.db.all("SELECT body FROM deliveries")]
    assert body in stored and not any(b"DEAD" in b or b.startswith(b"[") or len(b) > 1024 * 1024 for b in stored)


async def test_a_duplicated_delivery_posts_once(linked):
    linked.emulator.webhook_faults.duplicate = 1.0
    rec = await started(linked, ALICE)
    await run(linked, ALICE, "stop")
    await status_is(linked, rec.id, Status.UPLOADED)
    await until(lambda: count(thread_texts(linked, rec), "Download the recording") == 1, message="link")
    await asyncio.sleep(0.3)
    texts = thread_texts(linked, rec)
    assert count(texts, "Download the recording") == 1 and count(texts, "is recording") == 1
    assert linked.emulator.webhook_faults.counts["duplicated"] >= 4
    twins = linked.runtime.store.db.all("SELECT COUNT(*) AS n FROM deliveries WHERE same_body_as IS NOT NULL")
    assert twins[0]["n"] >= 4  # recognised, applied again harmlessly, posted once


async def test_a_replayed_delivery_is_applied_once_and_a_reused_id_with_another_body_is_not_lost(linked):
    payload = {"event": "meeting.ended", "reason": "HOST_ENDED_MEETING",
               "meeting": {"id": linked.meeting_id, "status": "LIVE"}}
    body, headers = sign(linked, payload, uuid="same")
    # signed by the platform, so its own event: applying it is harmless, dropping it could lose news
    body2, headers2 = sign(linked, {**payload, "reason": "ALL_PARTICIPANTS_LEFT"}, uuid="same")
    for answer in [await post_webhook(linked, *sent) for sent in ((body, headers), (body, headers), (body2, headers2))]:
        assert answer.status_code == 200 and answer.json() == {"ok": True}  # stored, all three
    outcomes = "SELECT outcome FROM deliveries WHERE delivery_id = 'same' ORDER BY id"
    db = linked.runtime.store.db
    await until(lambda: all(r["outcome"] for r in db.all(outcomes)), message="applied")
    first, replay, other = [r["outcome"] for r in db.all(outcomes)]
    assert replay == REDELIVERY and REDELIVERY not in (first, other)


async def test_identical_bodies_are_distinct_events_when_their_ids_differ(linked):
    """Two pauses of one recording send byte-identical payloads; the second must not be lost."""
    rec = await started(linked, ALICE)
    snapshot = linked.emulator.platform.recording_api(linked.emulator.platform.recordings[rec.id], time.time())
    meeting = linked.emulator.platform.meeting_webhook(linked.meeting_id)
    for hook in linked.emulator.platform.webhooks.values():
        hook["enabled"] = False  # recbot learns only from the deliveries below
    paused = render({"event": "recording.statusUpdate", "snapshot": {**snapshot, "status": "PAUSED"},
                     "meeting": meeting}, "dyte")
    resumed = render({"event": "recording.statusUpdate", "snapshot": {**snapshot, "status": "RECORDING"},
                      "meeting": meeting}, "dyte")
    for n, (action, payload) in enumerate((("pause", paused), ("resume", resumed), ("pause", paused))):
        linked.emulator.platform.act(time.time(), rec.id, action)
        body, headers = sign(linked, payload, uuid=f"d{n}")
        assert (await post_webhook(linked, body, headers)).status_code == 200
        await asyncio.sleep(0.2)
    await status_is(linked, rec.id, Status.PAUSED)


async def test_a_reordered_pair_leaves_the_right_final_state(linked):
    rec = await started(linked, ALICE)
    linked.emulator.webhook_faults.reorder = 1.0
    await run(linked, BOB, "pause")
    await run(linked, ALICE, "resume")
    await run(linked, BOB, "pause")
    await asyncio.sleep(1.5)
    assert linked.runtime.store.recording(rec.id).status is Status.PAUSED
    assert linked.emulator.platform.recordings[rec.id].status is Status.PAUSED
    assert "Paused" in card_of(linked, rec).text
    # a stale RECORDING arriving late cannot move it back
    stale = {"event": "recording.statusUpdate", "snapshot": {**linked.emulator.platform.recording_api(
        linked.emulator.platform.recordings[rec.id], time.time()), "status": "RECORDING"},
        "meeting": linked.emulator.platform.meeting_webhook(linked.meeting_id)}
    body, headers = sign(linked, render(stale, "dyte"), uuid="late")
    assert (await post_webhook(linked, body, headers)).status_code == 200
    await asyncio.sleep(0.3)
    assert linked.runtime.store.recording(rec.id).status is Status.PAUSED


async def test_a_dropped_webhook_is_repaired_by_the_reconciler(tmp_path):
    options = Options(slack_scale=TEST_SCALE, card_interval=0.1, reconcile_tick=0.2)
    async with linked_stack(tmp_path, options=options, env={"REC_RECONCILE_AFTER": "1s"}) as s:
        rec = await started(s, ALICE)
        s.emulator.webhook_faults.drop_next = 1000
        s.emulator.platform.act(time.time(), rec.id, "stop")  # from the meeting; every webhook lost
        s.emulator.advance()
        began = time.monotonic()
        await status_is(s, rec.id, Status.UPLOADED, timeout=10)
        assert time.monotonic() - began < 5
        texts = await until(lambda: [t for t in thread_texts(s, rec) if "Download" in t], message="link in thread")
        assert len(texts) == 1
        assert any("stopped" in t for t in thread_texts(s, rec))


async def test_restart_with_rows_pending_posts_each_exactly_once(linked):
    rec = await started(linked, ALICE)
    await until(lambda: count(thread_texts(linked, rec), "is recording") == 1)
    linked.slack.faults.rates = {"500": 1.0}
    await run(linked, BOB, "pause")
    await run(linked, ALICE, "resume")
    await run(linked, ALICE, "stop")
    await status_is(linked, rec.id, Status.UPLOADED)
    pending = linked.runtime.store.outbox.counts().get("pending", 0) + linked.runtime.store.outbox.counts().get(
        "sending", 0)
    assert pending >= 5
    await linked.stop_bot()
    linked.slack.faults.rates = {}
    await linked.start_bot()
    await until(lambda: count(thread_texts(linked, rec), "Download the recording") == 1, timeout=15, message="link")
    await asyncio.sleep(0.5)
    texts = thread_texts(linked, rec)
    for needle in ("paused by", "resumed by", "stopped by", "Download the recording"):
        assert count(texts, needle) == 1, (needle, texts)
    order = [next(i for i, t in enumerate(texts) if n in t) for n in ("paused by", "resumed by", "stopped by")]
    assert order == sorted(order)
    assert len(linked.slack.channel(CHANNEL)) == 1


async def test_slack_429_bursts_delay_but_lose_nothing(linked):
    rec = await started(linked, ALICE)
    linked.slack.faults.rates = {"429": 0.6}
    for _ in range(3):
        await run(linked, BOB, "pause")
        await run(linked, ALICE, "resume")
    await run(linked, ALICE, "stop")
    await status_is(linked, rec.id, Status.UPLOADED)
    # the burst lasts until a dozen 429s were answered (or all went through): how long that takes is Slack's
    # pacing and the machine's load, not what the test is about; then everything arrives, once
    await until(lambda: linked.slack.faults.counts["429"] >= 12
                or count(thread_texts(linked, rec), "Download the recording") == 1, timeout=60, message="a burst")
    linked.slack.faults.rates = {}
    await until(lambda: count(thread_texts(linked, rec), "Download the recording") == 1, timeout=60, message="all")
    texts = thread_texts(linked, rec)
    assert count(texts, "paused by") == 3 and count(texts, "resumed by") == 3
    assert linked.slack.faults.counts["429"] > 0
    await until(lambda: "Uploaded" in card_of(linked, rec).text, message="final card")


async def test_recordings_started_elsewhere_get_their_own_card(linked):
    linked.emulator.platform.start_recording(time.time(), linked.meeting_id)
    linked.emulator.advance()
    rec = await until(lambda: linked.runtime.store.recordings_of_meeting(linked.meeting_id), message="adopted")
    assert rec[0].origin == "meeting" and rec[0].started_by is None
    await until(lambda: card_of(linked, rec[0]), message="its card")
    # the thread reply follows the card (it is held until the card exists)
    await until(lambda: any("started from the meeting" in t for t in thread_texts(linked, rec[0])),
                message="the adopted notice in its thread")


async def test_automatic_stops_say_what_happened(linked):
    linked.emulator.platform.timing.empty_stop = 0.2
    rec = await started(linked, ALICE)
    for pid in list(linked.emulator.platform.meetings[linked.meeting_id].session.participants):
        await linked.control(f"meetings/{linked.meeting_id}/leave", {"participant_id": pid})
    await status_is(linked, rec.id, Status.UPLOADED)
    await until(lambda: any("stopped automatically: everyone left" in t for t in thread_texts(linked, rec)))
    await until(lambda: "Stopped automatically (everyone left)" in json.dumps(card_of(linked, rec).blocks),
                message="the card's last action")


async def test_errored_alerts_whoever_started_it(linked):
    rec = await started(linked, ALICE)
    snap = {**linked.emulator.platform.recording_api(linked.emulator.platform.recordings[rec.id], time.time()),
            "status": "ERRORED"}
    payload = render({"event": "recording.statusUpdate", "snapshot": snap,
                      "meeting": linked.emulator.platform.meeting_webhook(linked.meeting_id)}, "realtimekit")
    body, headers = sign(linked, payload, prefix="rtk", uuid="err")
    assert (await post_webhook(linked, body, headers)).status_code == 200
    await status_is(linked, rec.id, Status.ERRORED)
    ts = card_of(linked, rec).ts
    alert = await until(lambda: [m for m in linked.slack.thread(CHANNEL, ts) if "failed" in m.text])
    assert "<@U0ALICE>" in alert[0].text and alert[0].broadcast


async def test_thread_of_a_recording_paused_twice_matches_the_stitched_file(linked):
    rec = await started(linked, ALICE)
    for pause, record in ((0.4, 0.6), (0.3, 0.5)):
        await run(linked, BOB, "pause")
        await asyncio.sleep(pause)
        await run(linked, ALICE, "resume")
        await asyncio.sleep(record)
    await run(linked, ALICE, "stop")
    await status_is(linked, rec.id, Status.UPLOADED)
    final = await until(lambda: [m for m in linked.slack.thread(CHANNEL, card_of(linked, rec).ts)
                                 if "Download" in m.text], message="final reply")
    assert "(2 pauses)" in final[0].text
    url = linked.runtime.store.recording(rec.id).download_url
    file = (await linked.http.get(url)).content
    summary = summarize(linked.runtime.store.ledger(rec.id), time.time())
    assert summary.pauses == 2
    # the ledger dates each step by the platform's answer, which a loaded machine delays (0.158 s off was seen)
    assert wav_duration(file) == pytest.approx(summary.recorded, abs=0.25)
    steps = [(h["to"], h["at"]) for h in linked.emulator.platform.history if h["recording_id"] == rec.id]
    paused = sum(b[1] - a[1] for a, b in itertools.pairwise(steps) if a[0] == "PAUSED")
    assert paused >= 0.6 and summary.paused == pytest.approx(paused, abs=0.25)  # the platform's own pauses
    blocks_text = json.dumps(final[0].blocks)
    assert blocks_text.count("recorded (") == 3 and blocks_text.count("paused (") == 2


async def test_a_post_interrupted_by_a_crash_is_not_posted_twice(linked):
    rec = await started(linked, ALICE)
    await run(linked, BOB, "pause")
    await until(lambda: count(thread_texts(linked, rec), "paused by") == 1)
    await until(lambda: not linked.runtime.store.outbox.counts().get("pending"))
    await linked.stop_bot()
    # As if the process had died between Slack's answer and the commit: the rows look mid-send.
    # ... by a process of this host that is gone now, whose leases have not run out: the restart takes them back.
    outside = Store(linked.database)
    outside.db.execute("UPDATE outbox SET state = 'sending', claimed_by = ?, lease_until = ? WHERE kind IN "
                       "('card', 'thread') AND recording_id = ?",
                       (f"{socket.gethostname()}:999999999:dead", time.time() + 600, rec.id))
    outside.close()
    cards_before = len(linked.slack.channel(CHANNEL))
    linked.slack.faults.next_mode, linked.slack.faults.next_count = "429", 2  # the look-ups are refused first
    await linked.start_bot()
    await until(lambda: not {"pending", "sending"} & set(linked.runtime.store.outbox.counts()), timeout=10,
                message="drained")
    texts = thread_texts(linked, rec)
    assert count(texts, "paused by") == 1 and count(texts, "requested by") == 1
    assert len(linked.slack.channel(CHANNEL)) == cards_before
    assert linked.slack.count("conversations.replies") >= 1


async def test_a_reply_sent_by_a_process_killed_before_recording_it_is_looked_up_by_one_that_tried_it_before(linked):
    """Found by the chaos run (two processes, seed 1): a reply this process had tried before (Slack refused
    it, so it went back to pending) was then sent by another process, killed before it recorded it. This
    process remembered the row as its own try and sent it again without looking it up: said twice."""
    rec = await started(linked, ALICE)
    await until(lambda: count(thread_texts(linked, rec), "is recording") == 1)
    await until(lambda: not {"pending", "sending"} & set(linked.runtime.store.outbox.counts()), message="drained")
    refusing = [True]
    linked.slack.refuse("chat.postMessage", "internal_error", times=0,
                        when=lambda args: refusing[0] and "paused by" in str(args.get("text")))
    await run(linked, BOB, "pause")
    await until(lambda: any(c["method"] == "chat.postMessage" and c.get("error") == "internal_error"
                            for c in linked.slack.calls), message="the reply tried by this process, and refused")
    outside = Store(linked.database)
    row_id = outside.db.scalar("SELECT MAX(id) FROM outbox WHERE kind = 'thread' AND recording_id = ?", rec.id)
    # Another process takes it (between two of this one's tries), sends it, and is killed before recording it.
    await until(lambda: outside.db.changed(
        "UPDATE outbox SET state = 'sending', claimed_by = 'other:1:dead', lease_until = ?, tried_at = ? "
        "WHERE id = ? AND state = 'pending'", time.time() + 600, time.time(), row_id) > 0,
        message="the reply taken by the other process")
    row = next(r for r in outside.outbox.due(owner="other:1:dead", threads=("thread",)) if r.id == row_id)
    refusing[0] = False
    sender = linked.runtime.courier.sender
    rendered = await linked.runtime.store.write(lambda tx: sender.render(tx, row))
    while True:  # the other process's send; the local Slack keeps a channel's pace, which its refused try may hold
        try:
            await sender.deliver(row, rendered)
            break
        except SlackApiError as e:
            if e.response.status_code != 429:
                raise
            await asyncio.sleep(float(e.response.headers.get("Retry-After", 1)))
    assert count(thread_texts(linked, rec), "paused by") == 1
    looked = linked.slack.count("conversations.replies")
    outside.db.execute("UPDATE outbox SET lease_until = 0 WHERE id = ?", (row_id,))  # its restart lets go of it
    outside.close()
    await until(lambda: linked.runtime.store.outbox.counts().get("sending", 0) == 0
                and not linked.runtime.store.outbox.counts().get("pending"), timeout=10, message="drained")
    assert count(thread_texts(linked, rec), "paused by") == 1
    assert linked.slack.count("conversations.replies") > looked


async def test_slack_calls_share_kept_open_connections(linked):
    """The outbox's messages reuse connections to Slack: without a session of its own, slack_sdk opened a
    new TCP (and, to slack.com, TLS) connection for every message."""
    rec = await started(linked, ALICE)
    for action in ("pause", "resume", "pause", "resume"):
        await run(linked, ALICE, action)
    await run(linked, ALICE, "stop")
    await status_is(linked, rec.id, Status.UPLOADED)
    await until(lambda: any("ownload" in t for t in thread_texts(linked, rec)), timeout=15,
                message="the download link")
    calls = [c for c in linked.slack.calls if c["method"] in ("chat.postMessage", "chat.update") and c["ok"]]
    connections = {c["connection"] for c in calls}
    assert len(calls) >= 10
    assert len(connections) <= len(calls) // 3, f"{len(calls)} messages over {len(connections)} connections"


async def test_a_thread_waiting_for_its_crash_look_up_holds_back_no_other_row(linked):
    """Found by the chaos run (seed 3, both modes): a kill caught a reply mid-send; its thread waits until
    the reply is looked for (Tier 1: a minute each in production), and its hundreds of replies, ranked as
    its most urgent one, filled the drain's read of due rows: nothing else was sent for minutes."""
    rec = await started(linked, ALICE)
    await until(lambda: count(thread_texts(linked, rec), "is recording") == 1)
    await until(lambda: not {"pending", "sending"} & set(linked.runtime.store.outbox.counts()), message="drained")
    before = len(thread_texts(linked, rec))
    await linked.stop_bot()
    outside = Store(linked.database)
    first = outside.db.scalar("SELECT MIN(id) FROM outbox WHERE kind = 'thread' AND recording_id = ?", rec.id)
    columns = "kind, channel_id, recording_id, payload, next_at, created_at, team_id, enterprise_id"
    for _ in range(250):  # a thread with an urgent reply caught mid-send by a process now dead, and 249 behind it
        outside.db.execute(f"INSERT INTO outbox ({columns}, priority) SELECT {columns}, 1 FROM outbox WHERE id = ?",
                           (first,))
    outside.db.execute("UPDATE outbox SET state = 'sending', claimed_by = 'gone:1:dead', lease_until = 0, tried_at = ? "
                       "WHERE id = (SELECT MIN(id) FROM outbox WHERE state = 'pending')", (time.time(),))
    team = Team(**outside.db.one("SELECT team_id, enterprise_id FROM outbox WHERE id = ?", first))
    outside.close()
    linked.slack.refuse("conversations.replies", "ratelimited", times=0)  # the look-up does not get through
    await linked.start_bot()
    await until(lambda: any(c["method"] == "conversations.replies" for c in linked.slack.calls),
                message="the caught reply looked for (and taken by this process)")
    await linked.runtime.courier.tell(BOB, "meanwhile, elsewhere", team)  # as urgent as the thread, behind it
    await until(lambda: any("elsewhere" in m.text for m in linked.slack.channel(BOB)), timeout=10,
                message="the DM, while the thread waits for its look-up")
    assert len(thread_texts(linked, rec)) == before
    linked.slack.refusing.clear()
    await until(lambda: len(thread_texts(linked, rec)) >= before + 10, timeout=20,
                message="the thread, once its caught reply was looked for")
