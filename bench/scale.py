"""Scale: fill a database (`fill PATH CHANNELS ACTIVE LEDGER_ROWS`), then measure `/rec status` in a
fresh process (`measure PATH ACTIVE`), so resident memory is that of a process serving, not filling."""

from __future__ import annotations

import json
import random
import sys
import time
import uuid

from bot.store import Store, Tx


def fill(path: str, channels: int, active: int, ledger_rows: int) -> None:
    store = Store(path)
    now = time.time()
    per_recording = 20
    finished = max(0, ledger_rows // per_recording - active)
    c = store.db.conn
    with store.transaction():
        c.executemany("INSERT INTO links (channel_id, team_id, meeting_id, meeting_title, linked_by, linked_at) "
                      "VALUES (?, 'T1', ?, ?, 'U1', ?)",
                      ((f"C{i:06d}", f"M{i:06d}", f"Meeting {i}", now) for i in range(channels)))
        rows, ledger = [], []
        for n in range(active + finished):
            channel = n % channels if n >= active else n  # one active recording in each of the first channels
            rec_id = str(uuid.uuid4())
            status = "RECORDING" if n < active else "UPLOADED"
            handle = n // channels + 1
            rows.append((rec_id, f"M{channel:06d}", f"C{channel:06d}", handle, status, f"Meeting {channel}", "U1",
                         "slack", now - 3600, now, now))
            start = now - 3600
            for k in range(per_recording):
                kind = "PAUSED" if k % 2 else "RECORDING"
                if n >= active and k == per_recording - 1:
                    kind = "UPLOADED"
                ledger.append((rec_id, kind, start + k * 60, "U1", "command"))
        c.executemany("INSERT INTO recordings (id, meeting_id, channel_id, handle, status, meeting_title, started_by, "
                      "origin, created_at, updated_at, last_news_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        c.executemany("INSERT INTO ledger (recording_id, status, at, actor, source) VALUES (?, ?, ?, ?, ?)", ledger)
    store.db.execute("VACUUM")
    store.close()


async def measure(path: str, active: int) -> dict:
    from bot.models import Actor, Command
    from bot.platform.client import PlatformClient
    from bot.service import Service
    from bot.slack.replies import words

    store = Store(path)
    service = Service(store, PlatformClient("dyte", "http://127.0.0.1:9/v2", org_id="o", api_key="k"))
    status = Command("status")
    latencies = []
    for i in range(3000):
        channel = f"C{random.randrange(active):06d}" if i % 2 else f"C{random.randrange(active, active * 10):06d}"
        began = time.perf_counter()
        words(await service.commands.handle(Actor("U1", channel, "T1"), status))
        latencies.append((time.perf_counter() - began) * 1000)
    latencies.sort()
    # What a trip to the store's thread costs beside the same read made in place (the loop otherwise idle).
    inline, hop = [], []
    for _ in range(3000):
        channel = f"C{random.randrange(active * 10):06d}"
        began = time.perf_counter()
        store.link(channel)
        inline.append((time.perf_counter() - began) * 1e6)
        began = time.perf_counter()
        await store.read(Tx.link, channel)
        hop.append((time.perf_counter() - began) * 1e6)
    inline.sort()
    hop.sort()
    rss_kb = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmRSS"))
    return {"status_p50_ms": latencies[len(latencies) // 2], "status_p99_ms": latencies[int(len(latencies) * 0.99)],
            "rss_mb": rss_kb / 1024, "read_inline_p50_us": inline[len(inline) // 2],
            "read_on_store_thread_p50_us": hop[len(hop) // 2]}


if __name__ == "__main__":
    import asyncio

    if sys.argv[1] == "fill":
        fill(sys.argv[2], *map(int, sys.argv[3:6]))
    else:
        print(json.dumps(asyncio.run(measure(sys.argv[2], int(sys.argv[3])))))
