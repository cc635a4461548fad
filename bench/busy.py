"""Bench "a busy workspace": many recordings in one workspace changing state, against the local Slack
limiting as Slack does at production pacing (scale 1: Tier 3 chat.update 50 a minute for the whole
workspace, posts 3 in 3 s a channel and 300 a minute in all). In one process: the loopback Stack.

State changes are made on the platform (the emulator), each one a signed webhook to recbot: every
second, a share of the live recordings pause or resume, and some stop, so that about half have stopped
(and been uploaded) by the end. Measured: calls made inside a Retry-After window Slack set (target 0),
the download links delivered (target: every uploaded recording's), each one's delay from the UPLOADED
webhook to the post that shows it (p50, p99), and card edits sent against state changes.

BENCH_BUSY_RECORDINGS (200) and BENCH_BUSY_MINUTES (10) size it.
"""

from __future__ import annotations

import asyncio
import os
import random
import time


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100.0 * len(ordered)))]


async def busy_workspace(folder: str, quick: bool) -> dict:
    from bot.emulator.state import Timing
    from bot.models import Status
    from bot.web import Options
    from bot.workbench.stack import Stack

    n = 20 if quick else int(os.environ.get("BENCH_BUSY_RECORDINGS", 200))
    minutes = 0.5 if quick else float(os.environ.get("BENCH_BUSY_MINUTES", 10))
    changes_per_s = n / 30.0  # each live recording changes about every 30 s
    stops_per_s = n / 2 / (minutes * 60)  # about half stop during the run
    rng = random.Random(29)
    stack = Stack(os.path.join(folder, "busy.sqlite3"), timing=Timing(start_delay=1.0, upload_delay=3.0),
                  options=Options(card_interval=1.0))  # scale 1: Slack's limits as published
    stack.slack.add_user("U0A", "a")
    async with stack:
        store, platform = stack.runtime.store, stack.emulator.platform
        began = time.time()
        gate = asyncio.Semaphore(8)

        async def prepare(i: int) -> None:
            async with gate:
                meeting = await stack.new_meeting(f"m{i}")
                await stack.join(meeting, "Ann")
                channel = f"C{i:04d}"
                await stack.command("U0A", f"link {meeting}", channel=channel)
                while store.link(channel) is None:  # the link is made after the ack
                    await asyncio.sleep(0.05)
                await stack.command("U0A", "start", channel=channel)

        await asyncio.gather(*(prepare(i) for i in range(n)))
        deadline = time.monotonic() + 60 + n * 2
        while time.monotonic() < deadline:
            live = [r for r in store.unfinished() if r.status is Status.RECORDING]
            if len(live) == n:
                break
            await asyncio.sleep(0.5)
        setup_s = time.time() - began
        recs = {r.id: r for r in store.unfinished()}

        run_began = time.time()
        history_before = len(platform.history)
        stopped: set[str] = set()
        changes = 0
        while time.time() - run_began < minutes * 60:
            second = time.time()
            live = [rid for rid, r in recs.items() if rid not in stopped
                    and platform.recordings[rid].status in (Status.RECORDING, Status.PAUSED)]
            for rid in rng.sample(live, min(len(live), rng.choices(
                    [int(changes_per_s), int(changes_per_s) + 1], [1 - changes_per_s % 1, changes_per_s % 1])[0])):
                action = "pause" if platform.recordings[rid].status is Status.RECORDING else "resume"
                platform.act(time.time(), rid, action)
                changes += 1
            for rid in rng.sample(live, min(len(live), int(stops_per_s) + (rng.random() < stops_per_s % 1))):
                if platform.recordings[rid].status in (Status.RECORDING, Status.PAUSED):
                    platform.act(time.time(), rid, "stop")
                    stopped.add(rid)
                    changes += 1
            stack.emulator.advance()
            await asyncio.sleep(max(0.0, 1.0 - (time.time() - second)))
        run_s = time.time() - run_began

        # The platform's own moves (UPLOADING -> UPLOADED) go on; then recbot is given time to catch up.
        settle_began = time.time()
        while time.time() - settle_began < 300:
            stack.emulator.advance()
            counts = store.outbox.counts()
            if not {"pending", "sending"} & set(counts) and all(
                    platform.recordings[rid].status is Status.UPLOADED for rid in stopped):
                break
            await asyncio.sleep(1.0)
        settle_s = time.time() - settle_began

        uploaded_at = {h["recording_id"]: h["at"] for h in platform.history if h["to"] == "UPLOADED"}
        card_ts = {rid: store.recording(rid).card_ts for rid in recs}
        ready_posts: dict[str, float] = {}
        for call in stack.slack.calls:
            if call["method"] == "chat.postMessage" and call["ok"] and "is ready" in str(call["args"].get("text")):
                ready_posts.setdefault(str(call["args"].get("thread_ts")), call["at"])
        delays = [ready_posts[card_ts[rid]] - uploaded_at[rid] for rid in stopped
                  if rid in uploaded_at and card_ts.get(rid) in ready_posts]
        queued, waited = [], []  # the ready link's delay in two: until its outbox row existed, then in the outbox
        for row in store.db.all("SELECT recording_id, created_at, sent_at, payload FROM outbox WHERE kind = 'thread' "
                                "AND state = 'sent' AND payload LIKE '%uploaded%'"):
            if row["recording_id"] in stopped and '"notice": "uploaded"' in row["payload"]:
                queued.append(row["created_at"] - uploaded_at[row["recording_id"]])
                waited.append(row["sent_at"] - row["created_at"])
        state_changes = len(platform.history) - history_before
        edits = sum(1 for c in stack.slack.calls if c["method"] == "chat.update" and c["ok"] and c["at"] >= run_began)
        posts = sum(1 for c in stack.slack.calls if c["method"] == "chat.postMessage" and c["ok"]
                    and c["at"] >= run_began)
        limits = stack.slack.limits
        cards_right = sum(1 for rid in recs if (m := stack.slack.messages.get((recs[rid].channel_id, card_ts[rid])))
                          and platform.recordings[rid].status.value.title()[:5] in m.text)
        outbox = store.outbox.counts()
    r = {"recordings": n, "minutes": minutes, "setup_s": round(setup_s, 1), "run_s": round(run_s, 1),
         "settle_s": round(settle_s, 1), "commanded_changes": changes, "state_changes": state_changes,
         "card_edits": edits, "posts": posts, "uploaded": len(uploaded_at), "stopped": len(stopped),
         "ready_links": len(delays), "ready_p50_s": pct(delays, 50), "ready_p99_s": pct(delays, 99),
         "ready_max_s": max(delays, default=float("nan")), "ready_row_created_p50_s": pct(queued, 50),
         "ready_row_created_p99_s": pct(queued, 99), "ready_row_in_outbox_p50_s": pct(waited, 50),
         "ready_row_in_outbox_p99_s": pct(waited, 99), "cards_right_at_end": cards_right,
         "calls_inside_retry_after": len(limits.inside), "answered_429": limits.answered_429,
         "outbox_left": {k: v for k, v in outbox.items() if k in ("pending", "sending", "failed")}}
    r["goal"] = "0 calls inside a Retry-After window; every uploaded recording's download link delivered"
    r["met"] = r["calls_inside_retry_after"] == 0 and r["ready_links"] == len(stopped) and not r["outbox_left"]
    return r
