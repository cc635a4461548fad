"""`recbot migrate --to postgresql://…`: a SQLite store with real history, copied and checked, then served."""

import asyncio
import subprocess
import sys

import pytest

from bot.ledger import Summary
from bot.models import LastAction, Recording, Source, Status
from bot.slack import blocks
from bot.store import Store
from bot.store.databases import open_database
from bot.store.schema import migrate
from tests.conftest import ALICE, BOB, CHANNEL, database, make_stack, until
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


# the card's last action as version 12 stored it (a sentence), and what the card said of it
OLD_LAST_ACTIONS = [
    ("started", None, None, None),
    ("paused", "U1", None, "Paused by <@U1>"),
    ("stopped", "U1", "from the meeting", "Stopped by <@U1>"),
    ("paused from the meeting", None, None, "Paused from the meeting"),
    ("resumed automatically", None, None, "Resumed automatically"),
    ("stopped automatically (everyone left)", None, "everyone left", "Stopped automatically (everyone left)"),
    ("stopped automatically (the meeting ended while paused)", None, "the meeting ended while paused",
     "Stopped automatically (the meeting ended while paused)"),
    ("stopped from the meeting", None, "from the meeting", "Stopped from the meeting"),
    ("recording", "U1", None, None),  # the oldest stores' start (migration 14)
    ("recording from the meeting", None, None, None),
]


@pytest.mark.parametrize("engine", ["sqlite", "postgres"], indirect=True)
def test_migrations_13_14_turn_the_cards_last_action_into_meaning_and_the_card_reads_as_before(tmp_path, engine):
    """The service wrote the card's last action as a sentence; from version 13 it stores the verb
    (`LastAction`) and where it came from (`last_source`), and blocks.py words them. Old rows are migrated so
    that every card says what it said."""
    db = open_database(database(tmp_path))
    assert migrate(db, to=12) == 12
    for n, (said, actor, stop_reason, _) in enumerate(OLD_LAST_ACTIONS):
        db.execute("INSERT INTO recordings (id, meeting_id, channel_id, handle, status, origin, last_actor, "
                   "last_action, stop_reason, created_at, updated_at, last_news_at) "
                   "VALUES (?, 'm', 'C1', ?, 'UPLOADING', 'slack', ?, ?, ?, 0, 0, 0)",
                   (f"r{n}", n + 1, actor, said, stop_reason))
    assert migrate(db) >= 14
    for n, (said, actor, _, card_said) in enumerate(OLD_LAST_ACTIONS):
        rec = Recording.from_row(dict(db.all("SELECT * FROM recordings WHERE id = ?", f"r{n}")[0]))
        assert isinstance(rec.last_action, LastAction) or said.startswith("recording")
        assert blocks.last_action(rec) == (card_said and card_said.removesuffix(f" by <@{actor}>"))
    meeting = Recording.from_row(dict(db.all("SELECT * FROM recordings WHERE id = 'r3'")[0]))
    assert meeting.last_action is LastAction.PAUSED and meeting.last_source is Source.MEETING
    _, card = blocks.card(meeting, Summary((), 0.0, 0.0))
    assert {"type": "mrkdwn", "text": "*Last action*\nPaused from the meeting"} in card[1]["fields"]
    db.close()


@pytest.mark.parametrize("engine", ["sqlite", "postgres"], indirect=True)
def test_migration_16_gives_outcome_unknown_a_column_of_its_own(tmp_path, engine):
    """Until version 15, `last_news_at` 0 also meant "outcome unknown", and `updated_at` kept since when. From 16
    `unknown_since` says it (NULL: known), and `last_news_at` is only when the last news came."""
    db = open_database(database(tmp_path))
    assert migrate(db, to=15) == 15
    for rec_id, updated_at, last_news_at in (("unknown", 1090.0, 0.0), ("known", 1100.0, 1100.0)):
        db.execute("INSERT INTO recordings (id, meeting_id, channel_id, handle, status, origin, created_at, "
                   "updated_at, last_news_at) VALUES (?, 'm', 'C1', ?, 'RECORDING', 'slack', 1000, ?, ?)",
                   (rec_id, int(updated_at), updated_at, last_news_at))
    assert migrate(db) >= 16
    unknown, known = (Recording.from_row(dict(db.all("SELECT * FROM recordings WHERE id = ?", i)[0]))
                      for i in ("unknown", "known"))
    assert unknown.outcome_unknown and unknown.unknown_since == 1090.0  # asked then: a later pause is dated so
    assert not known.outcome_unknown and known.unknown_since is None and known.last_news_at == 1100.0
    db.close()
