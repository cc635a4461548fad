"""One pending row per card (`outbox_coalesce`), whichever process puts a card's row back to pending.

The chaos run over four workspaces (two processes on PostgreSQL, docs/reliability.md) saw a drain fail
three times on the index: a card row being retried went back to pending while the other process's
decision, not yet committed, had queued the card's newer state. The retry looked for a pending row, saw
none (uncommitted), and its UPDATE then met the other's row in the index."""

import threading
import time

import pytest

from bot.store import Store
from tests.conftest import database


@pytest.fixture
def two(tmp_path, engine):
    url = database(tmp_path, "two.sqlite3")
    a, b = Store(url, clock=lambda: 1000.0), Store(url, clock=lambda: 1000.0)
    if engine == "postgres":  # a's UPDATE waits for b's commit: the test waits for that wait, not for a time
        a.db.execute("SET lock_timeout = '60s'")
        a.db.execute("SET statement_timeout = '60s'")
    yield a, b
    a.close()
    b.close()


def until_waiting_for_a_lock(store: Store, worker: threading.Thread) -> None:
    """Until another connection to this database waits on a lock (or the worker is done: it did not wait)."""
    deadline = time.monotonic() + 60
    while worker.is_alive() and not store.db.scalar("SELECT COUNT(*) FROM pg_stat_activity WHERE datname = "
                                                    "current_database() AND wait_event_type = 'Lock'"):
        assert time.monotonic() < deadline, "a's row never waited on b's"
        time.sleep(0.005)


@pytest.mark.parametrize("step", ["retry", "degrade", "release_channel"])
def test_a_card_row_put_back_to_pending_merges_into_the_newer_one_another_process_queues_meanwhile(
        two, engine, step):
    a, b = two
    a.outbox.enqueue("card", {}, channel_id="C1", recording_id="r", coalesce_key="card:r")
    (row,) = a.outbox.due()
    if step == "release_channel":  # recbot lost the channel, and is back: its kept card row goes again
        assert a.outbox.hold_channel("C1", "not_in_channel") == 1
    else:  # a is sending it; Slack answers 500, or refuses the card as rendered
        assert a.outbox.claim(row.id, "a")
    errors: list[BaseException] = []

    def put_back() -> None:
        try:
            if step == "retry":
                a.outbox.retry(row.id, 2000.0, "slack 500")
            elif step == "degrade":
                a.outbox.degrade(row.id, "invalid_blocks")
            else:
                a.outbox.release_channel("C1")
        except BaseException as exc:  # the test says what it was
            errors.append(exc)

    with b.db.transaction():  # b's decision queues the card's newer state, not committed yet
        b.outbox.enqueue("card", {}, channel_id="C1", recording_id="r", coalesce_key="card:r")
        if engine == "postgres":
            worker = threading.Thread(target=put_back)
            worker.start()
            until_waiting_for_a_lock(b, worker)
    if engine == "postgres":
        worker.join()
    else:  # SQLite's write lock keeps a out until b has committed: the same moment, serialised
        put_back()
    assert errors == []
    assert a.outbox.counts() == {"merged": 1, "pending": 1}
    (pending,) = a.outbox.due()
    assert pending.id != row.id
    if step == "degrade":  # Slack refused the card as rendered: the state that goes is compact too
        assert pending.payload.get("compact") == 1


def test_a_row_redirected_to_its_asker_leaves_its_coalesce_key_and_meets_no_pending_row_of_it(two):
    """`redirect` (a spent response_url, a form's trigger too old: the same words to the same person as an
    ephemeral) does not merge: the redirected row is another message, which must neither meet
    `outbox_coalesce` nor merge into a row of the key it had. The rows it is given today carry no key; should
    one ever carry one (here an App Home row's), it leaves it, so no pending row of that key, committed by
    another process or not, stands in its way."""
    a, b = two
    a.outbox.enqueue("home", {"user": "U1", "channel": "C1", "text": "hi"}, coalesce_key="home:U1")
    (row,) = a.outbox.due()
    assert a.outbox.claim(row.id, "a")
    b.outbox.enqueue("home", {"user": "U1"}, coalesce_key="home:U1")  # a newer refresh, pending
    a.outbox.redirect(row.id, "ephemeral", {"user": "U1", "channel": "C1", "text": "hi"}, "expired_url")
    assert a.outbox.counts() == {"pending": 2}
    assert sorted(r.kind for r in a.outbox.due()) == ["ephemeral", "home"]
