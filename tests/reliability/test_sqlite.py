"""SQLite under pressure: a busy database, a locked one, and a kill in the middle of writes."""

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from bot.models import Status
from bot.store import Store
from tests.conftest import ALICE, BOB, CHANNEL, until
from tests.e2e.helpers import run, started, status_is


async def test_a_briefly_locked_database_is_waited_for(linked):
    rec = await started(linked, ALICE)
    # Another process (a backup, an operator) holds the write lock for a second; its own thread here.
    blocker = sqlite3.connect(linked.database, check_same_thread=False)
    blocker.execute("BEGIN EXCLUSIVE")
    release = threading.Timer(1.0, lambda: (blocker.execute("COMMIT"), blocker.close()))
    release.start()
    _, reply = await run(linked, ALICE, "pause", timeout=15)
    release.join()
    assert reply == "#1 paused."
    await status_is(linked, rec.id, Status.PAUSED)


async def test_a_database_locked_too_long_gives_a_clear_answer_and_changes_nothing(linked, monkeypatch):
    rec = await started(linked, ALICE)
    store = linked.runtime.store
    store.db.execute("PRAGMA busy_timeout = 200")  # shorter than recbot's 0.5 s, to see what follows sooner
    blocker = sqlite3.connect(linked.database)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        before = len(linked.slack.ephemeral_for(ALICE))
        response = await linked.command(ALICE, "pause")
        assert response.status_code == 200
        reply = await until(lambda: linked.slack.ephemeral_for(ALICE)[before:], timeout=10, message="a reply")
        assert "could not reach its database" in reply[0]["text"]
        body = b'{"event":"meeting.started","meeting":{"id":"m"}}'
        webhook = await linked.http.post(linked.webhook_url, content=body,
                                         headers={"dyte-signature": linked.emulator.signer.sign(body)})
        assert webhook.status_code == 503 and webhook.headers["retry-after"]  # RealtimeKit retries only a 5xx
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
        store.db.execute("PRAGMA busy_timeout = 500")
    assert store.recording(rec.id).status is Status.RECORDING
    assert linked.emulator.platform.recordings[rec.id].status is Status.RECORDING


WRITER = textwrap.dedent("""
    import sys, time
    from bot.models import Status
    from bot.store import Store
    store = Store(sys.argv[1])
    for n in range(100000):
        rid = f"r{n % 50}"
        rec = store.recording(rid)
        if rec is None:
            store.add_recording(recording_id=rid, meeting_id="m", channel_id="C", status=Status.RECORDING,
                                title="t", started_by="U", origin="slack", multi=True, at=time.time(),
                                source="command")
            continue
        new = Status.PAUSED if rec.status is Status.RECORDING else Status.RECORDING
        store.transition(rid, rec.status, new, at=time.time(), actor="U", source="command")
        store.outbox.enqueue("thread", {"notice": "x"}, channel_id="C", recording_id=rid)
        if n == 200:
            print("writing", flush=True)
""")


@pytest.mark.parametrize("delay", [0.05, 0.3, 0.7])
def test_a_kill_during_writes_leaves_a_consistent_store(tmp_path, delay):
    path = str(tmp_path / "kill.sqlite3")
    proc = subprocess.Popen([sys.executable, "-c", WRITER, path], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": os.getcwd()})
    assert proc.stdout.readline().strip() == "writing"
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    store = Store(path)
    assert store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    for row in store.db.all("SELECT id, status FROM recordings"):
        last = store.ledger(row["id"])[-1]
        assert last.status.value == row["status"]  # no transition half-applied
    store.close()


async def test_a_message_slack_took_is_not_sent_again_when_its_record_must_wait(linked):
    """Slack accepted it, then the database was locked: the outbox keeps it as sent, records it later."""
    rec = await started(linked, ALICE)
    await until(lambda: not {"pending", "sending"} & set(linked.runtime.store.outbox.counts()), message="quiet")
    store = linked.runtime.store
    store.db.execute("PRAGMA busy_timeout = 100")
    blocker = sqlite3.connect(linked.database, check_same_thread=False)
    posts = linked.slack.count("chat.postMessage")

    def release() -> None:
        if blocker.in_transaction:
            blocker.execute("ROLLBACK")

    def lock_after_the_post(request):  # the lock is taken the moment Slack has the message, for a second
        linked.slack.after_post = None
        blocker.execute("BEGIN EXCLUSIVE")
        asyncio.get_running_loop().call_later(1.0, release)

    linked.slack.after_post = lock_after_the_post
    try:
        await run(linked, BOB, "pause", timeout=15)
        await asyncio.sleep(1.5)
    finally:
        linked.slack.after_post = None
        if blocker.in_transaction:
            blocker.execute("ROLLBACK")
        blocker.close()
        store.db.execute("PRAGMA busy_timeout = 500")
    await until(lambda: not {"pending", "sending"} & set(store.outbox.counts()), timeout=10, message="all recorded")
    texts = [m.text for m in linked.slack.thread(CHANNEL, store.recording(rec.id).card_ts)]
    assert sum("paused by" in t for t in texts) == 1
    assert linked.slack.count("chat.postMessage") == posts + 1
