"""`recbot migrate --to postgresql://…`: a SQLite store with real history, copied and checked, then served."""

import asyncio
import subprocess
import sys

from bot.models import Status
from bot.store import Store
from tests.conftest import ALICE, BOB, CHANNEL, make_stack, until
from tests.e2e.helpers import run, started, status_is


async def test_a_sqlite_store_is_copied_checked_and_carries_on_in_postgres(tmp_path, postgres):
    async with make_stack(tmp_path) as s:  # SQLite
        meeting = await s.new_meeting("Weekly")
        await s.join(meeting, "Ann")
        await run(s, ALICE, f"link {meeting}")
        s.meeting_id = meeting
        rec = await started(s, ALICE)
        await run(s, BOB, "pause")
        await status_is(s, rec.id, Status.PAUSED)
        await until(lambda: not s.runtime.store.outbox.counts().get("pending"), message="the outbox drained")
        sqlite_path, env = s.database, s.settings_env()
        ledger = [(e.status, e.actor) for e in s.runtime.store.ledger(rec.id)]
    url = postgres.new_database()
    command = [sys.executable, "-m", "bot", "migrate", "--to", url]
    done = await asyncio.to_thread(subprocess.run, command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "checked each one" in done.stdout
    again = await asyncio.to_thread(subprocess.run, command, env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 1 and "not empty" in again.stderr  # never over data
    copy = Store(url)
    assert [(e.status, e.actor) for e in copy.ledger(rec.id)] == ledger
    assert copy.link(CHANNEL).meeting_id == meeting
    copy.audit(channel_id=CHANNEL, user_id=ALICE, action="after", outcome="ok")  # ids carry on past the copy
    assert copy.db.scalar("SELECT COUNT(DISTINCT id) FROM audit") == copy.db.scalar("SELECT COUNT(*) FROM audit")
    copy.close()
    assert Store(sqlite_path).recording(rec.id).status is Status.PAUSED  # the source is left as it was
    # recbot on the copy knows the channel's paused recording (a fresh emulator behind it, so only the store can)
    async with make_stack(tmp_path, env={"REC_DATABASE": url}) as s:
        _, answer = await run(s, ALICE, "status")
        assert "#1" in answer and "paused" in answer.lower()


def test_migrate_refuses_the_wrong_direction(tmp_path):
    done = subprocess.run([sys.executable, "-m", "bot", "migrate", "--from", "postgresql://x/y", "--to",
                           str(tmp_path / "x.sqlite3")], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "into PostgreSQL" in done.stderr
