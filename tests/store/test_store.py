"""The store through its public methods: transactions that nest, its own busy error, the queues."""

import sqlite3

import pytest

from bot.models import Status, Timer
from bot.store import Store, StoreBusy
from tests.conftest import database
from tests.store.faults import Faults


@pytest.fixture
def store(tmp_path, engine):
    s = Store(database(tmp_path, "s.sqlite3"), clock=lambda: 1000.0)
    s.faults = Faults(s)
    yield s
    s.close()


def add(store, rid="r1", meeting="m1"):
    return store.add_recording(recording_id=rid, meeting_id=meeting, channel_id="C1", status=Status.INVOKED,
                               title="t", started_by="U1", origin="slack", multi=False, at=1000.0, source="command")


def test_a_transaction_is_all_or_nothing(store):
    with pytest.raises(RuntimeError), store.transaction():
        add(store)
        store.outbox.enqueue("card", {}, recording_id="r1", coalesce_key="card:r1")
        raise RuntimeError("the decision fails half-way")
    assert store.recording("r1") is None and store.outbox.counts() == {}


def test_an_inner_transaction_rolls_back_alone(store):
    with store.transaction():
        add(store, "r1")
        with pytest.raises(RuntimeError), store.transaction():
            add(store, "r2")
            raise RuntimeError("inner")
        add(store, "r3")
    assert [store.recording(r) is not None for r in ("r1", "r2", "r3")] == [True, False, True]


def test_a_failing_write_raises_storebusy_and_leaves_nothing(store):
    store.faults.fail_when, store.faults.fail_times = "INSERT INTO ledger", 1
    with pytest.raises(StoreBusy):
        add(store)
    assert store.recording("r1") is None  # the recording row went back with its ledger entry
    assert add(store).handle == 1


def test_handles_count_per_meeting_and_transitions_are_compare_and_set(store):
    assert add(store, "a", "m1").handle == 1 and add(store, "b", "m1").handle == 2 and add(store, "c", "m2").handle == 1
    assert add(store, "a", "m1") is None
    assert store.transition("a", Status.INVOKED, Status.RECORDING, at=1, actor=None, source="platform")
    assert not store.transition("a", Status.INVOKED, Status.RECORDING, at=1, actor=None, source="platform")
    assert [e.status for e in store.ledger("a")] == [Status.INVOKED, Status.RECORDING]


def test_a_transition_asked_for_before_the_state_it_replaces_was_seen_is_refused(store):
    add(store, "a")
    assert store.transition("a", Status.INVOKED, Status.RECORDING, at=1, actor=None, source="platform", seen_at=10.0)
    assert store.transition("a", Status.RECORDING, Status.PAUSED, at=2, actor=None, source="platform", seen_at=20.0)
    assert store.transition("a", Status.PAUSED, Status.RECORDING, at=3, actor=None, source="platform", seen_at=30.0)
    # the status is what the question found, but it was asked at 25, before the resume seen at 30: refused
    assert not store.transition("a", Status.RECORDING, Status.PAUSED, at=4, actor=None, source="platform",
                                asked_at=25.0, seen_at=26.0)
    assert store.recording("a").seen_at == 30.0 and len(store.ledger("a")) == 4
    assert not store.transition("a", Status.RECORDING, Status.PAUSED, at=4, actor=None, source="platform",
                                asked_at=0.0)  # a webhook: no time of its own, so never a flip
    assert store.transition("a", Status.RECORDING, Status.PAUSED, at=5, actor=None, source="platform",
                            asked_at=31.0, seen_at=32.0)
    assert store.recording("a").seen_at == 32.0


def test_pending_card_refreshes_merge_and_a_retried_one_merges_into_a_newer(store):
    store.outbox.enqueue("card", {}, recording_id="r", coalesce_key="card:r")
    store.outbox.enqueue("card", {}, recording_id="r", coalesce_key="card:r")
    (row,) = store.outbox.due()
    store.outbox.claim(row.id)
    store.outbox.enqueue("card", {}, recording_id="r", coalesce_key="card:r")  # a newer state while sending
    store.outbox.retry(row.id, 2000.0, "slack 500")
    assert store.outbox.counts() == {"merged": 1, "pending": 1}


def test_an_unsure_row_stays_sending_and_a_lost_channel_is_held_then_released(store):
    store.outbox.enqueue("thread", {"notice": "paused"}, channel_id="C1", recording_id="r")
    (row,) = store.outbox.due()
    store.outbox.claim(row.id)
    store.outbox.retry(row.id, 2000.0, "network", unsure=True)
    assert store.outbox.due()[0].state == "sending" and store.outbox.due()[0].attempts == 1
    assert store.outbox.hold_channel("C1", "not_in_channel") == 1 and store.outbox.due() == []
    assert store.outbox.release_channel("C1") == 1
    store.outbox.done(row.id, ts="1.2")
    assert store.outbox.counts() == {"sent": 1}


def test_a_redelivery_is_known_when_it_comes_to_be_applied_and_a_twin_body_is_kept(store):
    """Storing (what a 2xx waits for) only appends; `pending` says which rows repeat one before them (the
    same body and id), whether that one is applied already or earlier in the same batch."""
    def one(delivery_id, body_hash, body=b"{}"):
        return {"delivery_id": delivery_id, "body_hash": body_hash, "flavour": "dyte", "webhook_id": None,
                "body": body}

    store.deliveries.add_many([one("u0", "h0")])
    (first,) = store.deliveries.pending()
    store.deliveries.finish([(first["id"], "applied", first["same_body_as"])])
    # an id seen before with another body is another event, not a redelivery
    store.deliveries.add_many([one("u1", "h1"), one("u1", "h1"), one("u2", "h1"), one("u0", "h0"),
                               one(None, "h0"), one(None, "h2", b"\x00"), one("u0", "h9")])
    rows = store.deliveries.pending()
    assert [(r["delivery_id"], r["repeats"]) for r in rows] == [
        ("u1", False), ("u1", True), ("u2", False), ("u0", True), (None, False), (None, False), ("u0", False)]
    ids = [first["id"]] + [r["id"] for r in rows]
    assert ids == sorted(ids)  # in arrival order
    assert [r["same_body_as"] for r in rows] == [None, ids[1], ids[2], ids[0], ids[4], None, None]
    assert bytes(rows[5]["body"]) == b"\x00"
    store.deliveries.finish([(r["id"], "applied", r["same_body_as"]) for r in rows[:3]])
    assert [r["id"] for r in store.deliveries.pending()] == ids[4:]
    assert store.db.all("SELECT same_body_as FROM deliveries WHERE id = ?", ids[3])[0]["same_body_as"] == ids[2]


def test_finishing_a_batch_keeps_each_deliverys_own_outcome_and_twin(store):
    """One statement marks a batch (more than one past 150): each row still gets its own outcome and the
    earlier delivery it has the same body as, or none."""
    store.deliveries.add_many([{"delivery_id": f"u{i}", "body_hash": f"h{i}", "flavour": "dyte", "webhook_id": None,
                                "body": b"{}"} for i in range(320)])
    rows = store.deliveries.pending(limit=320)
    ids = [r["id"] for r in rows]
    store.deliveries.finish([(id_, f"outcome {n % 3}", ids[n - 1] if n % 2 else None) for n, id_ in enumerate(ids)])
    assert store.deliveries.pending() == []
    marked = store.db.all("SELECT id, outcome, same_body_as, processed_at FROM deliveries ORDER BY id")
    assert [(m["outcome"], m["same_body_as"]) for m in marked] == [
        (f"outcome {n % 3}", ids[n - 1] if n % 2 else None) for n in range(320)]
    assert all(m["processed_at"] is not None for m in marked)
    # ids past 32 bits (PostgreSQL's are BIGINT) are marked as well
    big = 3_000_000_000
    store.db.execute("INSERT INTO deliveries (id, body_hash, flavour, received_at, body) "
                     "VALUES (?, 'hb', 'dyte', 0, ?)", (big, b"{}"))
    store.deliveries.finish([(big, "applied", ids[0])])
    assert store.db.all("SELECT outcome, same_body_as FROM deliveries WHERE id = ?", big) == [
        {"outcome": "applied", "same_body_as": ids[0]}]


def test_timers_replace_cancel_and_fire_once(store):
    store.timers.set(Timer.PAUSE_REMINDER, "r", 1100.0, {"paused_by": "U1"})
    store.timers.set(Timer.PAUSE_REMINDER, "r", 1200.0, {"paused_by": "U2"})  # replaces the first
    store.timers.set(Timer.RESUME, "r", 1150.0)
    assert [t.kind for t in store.timers.due(1300.0)] == [Timer.RESUME, Timer.PAUSE_REMINDER]
    assert store.timers.pending(Timer.PAUSE_REMINDER, "r").payload == {"paused_by": "U2"}
    store.timers.cancel("r", (Timer.RESUME,))
    (reminder,) = store.timers.due(1300.0)
    assert store.timers.finish(reminder.id) and not store.timers.finish(reminder.id)
    assert store.timers.due(1300.0) == []


def test_a_database_that_cannot_be_opened_says_so(tmp_path, engine):
    missing = str(tmp_path / "missing-folder" / "x.sqlite3")
    if engine == "postgres":  # a server that is there, a database that is not
        missing = database(tmp_path).rsplit("/", 1)[0] + "/no_such_database"
    with pytest.raises(StoreBusy, match="cannot open"):
        Store(missing)


def test_schema_version_survives_a_reopen(tmp_path, engine):
    path = database(tmp_path, "v.sqlite3")
    first = Store(path)
    version = first.schema_version()
    first.close()
    again = Store(path)
    assert again.schema_version() == version >= 1 and again.healthy()
    again.close()
    if engine == "sqlite":
        assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == version


def test_releasing_a_lost_channel_keeps_one_refresh_per_card(store):
    store.outbox.enqueue("card", {}, channel_id="C1", recording_id="r", coalesce_key="card:r")
    (first,) = store.outbox.due()
    store.outbox.claim(first.id)  # caught mid-send, then a newer refresh is queued
    store.outbox.enqueue("card", {}, channel_id="C1", recording_id="r", coalesce_key="card:r")
    assert store.outbox.hold_channel("C1", "not_in_channel") == 2
    store.outbox.enqueue("card", {}, channel_id="C1", recording_id="r", coalesce_key="card:r")  # while lost
    assert store.outbox.release_channel("C1") == 0  # the pending one renders the latest state anyway
    assert store.outbox.counts() == {"merged": 2, "pending": 1}


def test_rows_waiting_out_a_backoff_never_hide_the_ones_behind_them(store):
    now = store.clock()
    for n in range(300):  # answers to a response_url that is down, each waiting for its next try
        store.outbox.enqueue("respond", {"url": f"http://down/{n}", "text": "x"})
    for row in store.outbox.due(now):
        store.outbox.retry(row.id, now + 60, "network")
    while store.outbox.due(now):
        for row in store.outbox.due(now):
            store.outbox.retry(row.id, now + 60, "network")
    store.outbox.enqueue("card", {}, channel_id="C1", recording_id="r1", coalesce_key="card:r1")
    store.outbox.enqueue("thread", {"notice": "paused"}, channel_id="C2", recording_id="r2")
    assert [r.kind for r in store.outbox.due(now + 1)] == ["card", "thread"]
    store.outbox.retry(store.outbox.due(now + 1)[1].id, now + 30, "ratelimited")
    store.outbox.enqueue("thread", {"notice": "resumed"}, channel_id="C2", recording_id="r2")
    soonest, behind = store.outbox.waiting(now + 1, ("thread", "whisper"))
    assert soonest == pytest.approx(now + 30) and set(behind) == {"r2"}  # the later reply waits behind it


def test_a_row_left_sending_before_leases_existed_is_taken_and_sent(store):
    """A row caught mid-send by a crash of a version without leases has no owner and no lease."""
    store.outbox.enqueue("card", {}, channel_id="C1", recording_id="r", coalesce_key="card:r")
    store.db.execute("UPDATE outbox SET state = 'sending', claimed_by = NULL, lease_until = NULL")
    (row,) = store.outbox.due(owner="me")
    assert store.outbox.claim(row.id, "me") and not store.outbox.claim(row.id, "another")
    assert store.outbox.due(owner="another") == []  # leased now: not another process's to send


def test_a_row_behind_one_another_process_is_sending_is_not_claimed(store):
    """A thread's replies keep their order and a card has one editor, however the processes interleave:
    the claim itself checks for an earlier row of the recording in another process's hands."""
    store.outbox.enqueue("thread", {"notice": "paused"}, channel_id="C1", recording_id="r")
    store.outbox.enqueue("thread", {"notice": "resumed"}, channel_id="C1", recording_id="r")
    first, second = store.outbox.due(owner="b")  # what b read before a claimed the first
    assert store.outbox.claim(first.id, "a")
    assert not store.outbox.claim(second.id, "b")
    store.outbox.done(first.id)
    assert store.outbox.claim(second.id, "b")


def test_on_postgresql_a_row_another_process_is_taking_is_skipped_not_waited_for(tmp_path, postgres):
    """FOR UPDATE SKIP LOCKED: while another connection holds the row (mid-claim), a claim answers
    False at once; waiting for the lock would end in StoreBusy (lock_timeout), since it is held throughout."""
    url = postgres.new_database()
    a, b = Store(url, clock=lambda: 1000.0), Store(url, clock=lambda: 1000.0)
    try:
        a.outbox.enqueue("card", {}, channel_id="C1", recording_id="r", coalesce_key="card:r")
        (row,) = a.outbox.due()
        with a.db.transaction():
            a.db.execute("SELECT id FROM outbox WHERE id = ? FOR UPDATE", (row.id,))
            assert not b.outbox.claim(row.id, "b")
        assert b.outbox.claim(row.id, "b")
    finally:
        a.close()
        b.close()


def test_two_processes_adding_recordings_of_one_meeting_number_them_in_turn(tmp_path, engine):
    """Each `#n` is the next of its meeting even when another process adds one in the same moment: the
    second waits for the first's transaction (PostgreSQL: an advisory lock; SQLite: the write lock)."""
    import threading

    url = database(tmp_path, "two.sqlite3")
    stores = [Store(url, clock=lambda: 1000.0) for _ in range(2)]
    try:
        barrier, handles = threading.Barrier(2), []

        def adder(store, n):
            barrier.wait()
            for i in range(10):
                handles.append(add(store, f"r{n}-{i}", "m").handle)

        threads = [threading.Thread(target=adder, args=(s, n)) for n, s in enumerate(stores)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(handles) == list(range(1, 21))
    finally:
        for store in stores:
            store.close()


def test_a_row_left_half_sent_by_a_dead_process_holds_back_the_later_rows_of_its_recording(store):
    """Its post may have reached Slack: until someone has looked it up, a later card row must not post a
    second card (nor a later reply overtake it), whoever takes it."""
    store.outbox.enqueue("card", {}, channel_id="C1", recording_id="r", coalesce_key="card:r")
    (first,) = store.outbox.due(owner="dead")
    assert store.outbox.claim(first.id, "dead")
    store.outbox.enqueue("card", {}, channel_id="C1", recording_id="r", coalesce_key="card:r")
    store.db.execute("UPDATE outbox SET lease_until = 0 WHERE claimed_by = 'dead'")  # its process is gone
    rows = store.outbox.due(owner="b")
    assert [r.id for r in rows] == [first.id]  # only the half-sent one, to be looked up
    second = store.db.scalar("SELECT MAX(id) FROM outbox")
    assert not store.outbox.claim(second, "b") and store.outbox.claim(first.id, "b")
    store.outbox.done(first.id, ts="1.0")
    assert store.outbox.claim(second, "b")


def test_a_step_learned_after_the_stop_goes_before_it_once(tmp_path, engine):
    """An action's answer that lost the race to the news of the stop: its step goes in the ledger just before
    the stop, the stop and what followed it kept after it in order; a second try (another process, the same
    answer saved later) finds it there and writes nothing."""
    s = Store(database(tmp_path, "t.sqlite3"))
    try:
        add(s, "a")
        for old, new, at in (("INVOKED", "RECORDING", 1000.0), ("RECORDING", "PAUSED", 1010.0),
                             ("PAUSED", "UPLOADING", 1030.0), ("UPLOADING", "UPLOADED", 1033.0)):
            assert s.transition("a", Status(old), Status(new), at=at, actor=None, source="platform")
        assert not s.step_before_stop("a", Status.RECORDING, Status.PAUSED, at=1020.0, actor="U1", source="button")
        assert s.step_before_stop("a", Status.PAUSED, Status.RECORDING, at=1030.0, actor="U1", source="button")
        assert not s.step_before_stop("a", Status.PAUSED, Status.RECORDING, at=1030.0, actor="U1", source="button")
        assert [(e.status.value, e.at, e.actor) for e in s.ledger("a")] == [
            ("INVOKED", 1000.0, "U1"), ("RECORDING", 1000.0, None),
            ("PAUSED", 1010.0, None), ("RECORDING", 1030.0, "U1"), ("UPLOADING", 1030.0, None),
            ("UPLOADED", 1033.0, None)]
    finally:
        s.close()


def test_leaving_recording_after_an_unanswered_action_is_dated_when_that_action_was_asked(tmp_path, engine):
    """Found by the chaos run (two processes, PostgreSQL): a pause the platform made at once but whose answer
    was lost with its process was learned 9 s later, dated then, and the transcript's lines said in between
    were kept as recorded and shown. The ledger cuts the transcript: it dates the pause no later than the
    ask. A second unanswered ask keeps the first one's time; an answered one clears it."""
    now = [1000.0]
    s = Store(database(tmp_path, "t.sqlite3"), clock=lambda: now[0])
    try:
        add(s, "a")
        assert s.transition("a", Status.INVOKED, Status.RECORDING, at=1000.0, actor=None, source="platform")
        now[0] = 1090.0
        s.action_asked("a")  # pause asked; the process dies before its answer is written
        now[0] = 1095.0
        s.action_asked("a")  # a second click asks again (its first look found nothing new)
        now[0] = 1099.0
        assert s.transition("a", Status.RECORDING, Status.PAUSED, at=1099.0, actor="U1", source="button")
        assert [(e.status, e.at) for e in s.ledger("a")][-1] == (Status.PAUSED, 1090.0)
        s.update_recording("a", last_news_at=1099.0, unknown_since=None)  # the answer is written: nothing unknown
        assert s.transition("a", Status.PAUSED, Status.RECORDING, at=1100.0, actor="U1", source="button")
        assert s.transition("a", Status.RECORDING, Status.UPLOADING, at=1110.0, actor=None, source="platform")
        assert [(e.status, e.at) for e in s.ledger("a")][-2:] == [(Status.RECORDING, 1100.0),
                                                                  (Status.UPLOADING, 1110.0)]
    finally:
        s.close()


def test_news_that_moves_nothing_keeps_an_unanswered_actions_ask_time(tmp_path, engine):
    """Found by the chaos run (seed 3, two processes, PostgreSQL, C004): a resume answered, then a pause
    asked that the platform made at once but whose answer died with its process; the resume's own webhook,
    applied after the pause was asked, counted as news and cleared the "outcome unknown" mark, so the pause,
    learned 6 s later, was dated then and the ledger said RECORDING over a line said while nothing recorded.
    News asked for before the ask (a webhook has no time: 0) leaves the mark; a later look clears it."""
    now = [1000.0]
    s = Store(database(tmp_path, "t.sqlite3"), clock=lambda: now[0])
    try:
        add(s, "a")
        assert s.transition("a", Status.INVOKED, Status.RECORDING, at=1000.0, actor=None, source="platform")
        now[0] = 1090.0
        s.action_asked("a")  # pause asked; its answer dies with its process
        now[0] = 1092.0
        s.news_seen("a", 0.0)  # the webhook of the earlier RECORDING: says nothing of the pause
        s.news_seen("a", 1089.0)  # nor does a look asked before the pause was
        assert s.recording("a").outcome_unknown
        now[0] = 1096.0
        assert s.transition("a", Status.RECORDING, Status.PAUSED, at=1096.0, actor=None, source="platform")
        assert [(e.status, e.at) for e in s.ledger("a")][-1] == (Status.PAUSED, 1090.0)
        now[0] = 1100.0
        s.action_asked("a")
        s.news_seen("a", 1101.0)  # a look asked after it: the outcome is known
        assert s.recording("a").last_news_at == 1100.0
        now[0] = 1105.0
        s.news_seen("a", 0.0)  # with nothing unknown, any news counts (the reconciler waits)
        assert s.recording("a").last_news_at == 1105.0
        s.action_asked("a")
        now[0] = 1106.0
        s.news_seen("a", None)  # and so does an action's own answer
        assert s.recording("a").last_news_at == 1106.0
    finally:
        s.close()


def test_a_thread_waiting_for_its_crash_look_up_does_not_hide_the_other_channels_rows(store):
    """Found by the chaos run (seed 3, both modes): a reply a kill caught mid-send waits for its look-up
    (Tier 1: a minute each), and with its hundreds of replies behind it ranked first, the drain's read of
    200 due rows held nothing that could go: ~750 rows of 20 channels stayed pending. A thread's pending
    replies after its first are not read; its 'sending' ones all are (they are looked up together)."""
    threads = ("thread", "whisper")
    store.outbox.rank = lambda kind, payload: 0 if kind == "thread" else 5  # the thread ranks first
    for n in range(3):
        store.outbox.enqueue("thread", {"n": n}, channel_id="C1", recording_id="r")
    caught = [r.id for r in store.outbox.due(owner="dead", threads=threads)]
    assert len(caught) == 1
    assert store.outbox.claim(caught[0], "dead")
    second = store.db.scalar("SELECT MIN(id) FROM outbox WHERE state = 'pending'")
    assert store.outbox.claim(second, "dead")  # two replies in flight when the process died
    for n in range(300):
        store.outbox.enqueue("thread", {"n": n}, channel_id="C1", recording_id="r")
    store.outbox.enqueue("dm", {"user": "U1", "text": "elsewhere"})
    store.outbox.enqueue("thread", {"n": 0}, channel_id="C2", recording_id="r2")
    store.db.execute("UPDATE outbox SET lease_until = 0 WHERE claimed_by = 'dead'")  # its process is gone
    rows = store.outbox.due(1e12, owner="b", threads=threads)
    assert [r.kind for r in rows].count("dm") == 1 and [r.recording_id for r in rows].count("r2") == 1
    assert [r.id for r in rows if r.recording_id == "r"] == [caught[0]]  # the first caught, to look up
    assert [r.id for r in store.outbox.caught("b")] == [caught[0], second]  # all caught, looked up together
    store.db.execute("UPDATE outbox SET claimed_by = 'b', lease_until = ?", (1e12,))  # b looks them up
    rows = store.outbox.due(1e12, owner="b", threads=threads, limit=3)
    assert [r.recording_id for r in rows] == ["r", "r", "r2"]


def test_a_sessions_file_is_held_while_an_outcome_is_unknown_then_cut_conservatively_after_the_bound(tmp_path,
                                                                                                       engine):
    """bot/service/unsettled.py: news sent to confirmation dates its unknown outcome when it came; a transcript that
    comes meanwhile is held on a durable timer (both kinds on one, each keeping when it was first held), and once
    held HOLD_FOR with the outcome still unknown it is cut as if nothing was recorded from when the unknown began."""
    from bot.models import Timer
    from bot.platform.models import FileKind
    from bot.platform.webhooks import SessionFile
    from bot.service import unsettled

    now = [1000.0]
    s = Store(database(tmp_path, "u.sqlite3"), clock=lambda: now[0])
    try:
        s.add_recording(recording_id="a", meeting_id="m1", channel_id="C1", status=Status.INVOKED, title="t",
                        started_by="U1", origin="slack", multi=False, at=1000.0, source="command", session_id="s1")
        assert s.transition("a", Status.INVOKED, Status.RECORDING, at=1000.0, actor=None, source="platform")
        transcript = SessionFile(FileKind.TRANSCRIPT, "m1", "s1", "https://files.example/t.csv", started_at=999.0)
        summary = SessionFile(FileKind.SUMMARY, "m1", "s1", "https://files.example/s.txt")
        s.add_recording(recording_id="z", meeting_id="m1", channel_id="C1", status=Status.INVOKED, title="t",
                        started_by="U1", origin="slack", multi=False, at=900.0, source="command", session_id="s0")
        assert s.transition("z", Status.INVOKED, Status.RECORDING, at=900.0, actor=None, source="platform")
        earlier = SessionFile(FileKind.TRANSCRIPT, "m1", "s0", "https://files.example/t0.csv", started_at=899.0)
        assert unsettled.decide(s, earlier, None, 1001.0)[0]  # still recording as recbot knows it: its stop is late
        assert s.transition("z", Status.RECORDING, Status.UPLOADING, at=950.0, actor=None, source="platform")
        assert unsettled.decide(s, earlier, 1001.0, 1005.0) == (False, None)  # all known: cut by the ledger
        now[0] = 1010.0
        s.outcome_unknown("a")  # a PAUSED webhook, sent to its confirmation round
        assert s.recording("a").unknown_since == 1010.0
        assert unsettled.decide(s, transcript, None, 1020.0) == (True, None)
        assert unsettled.decide(s, summary, None, 1030.0) == (True, None)
        assert unsettled.decide(s, transcript, 1020.0, 1040.0) == (True, None)  # looked at again: still held
        timer = s.timers.pending(Timer.HELD_FILES, "a")
        assert timer is not None and timer.due_at == 1040.0 + unsettled.LOOK_AGAIN
        held = unsettled.held_files(timer.payload)
        assert sorted((f.kind, since) for f, since in held) == [(FileKind.SUMMARY, 1030.0),
                                                                (FileKind.TRANSCRIPT, 1020.0)]
        assert next(f for f, _ in held if f.kind is FileKind.TRANSCRIPT) == transcript
        late = 1020.0 + unsettled.HOLD_FOR
        assert unsettled.decide(s, transcript, 1020.0, late) == (False, 1010.0)  # the bound: cut conservatively
        (_, cut), = unsettled.ledgers(s, "s1", late, until=1010.0)
        assert [(i.start, i.end) for i in cut.intervals] == [(1000.0, 1010.0)]  # nothing recorded after 1010
        (_, whole), = unsettled.ledgers(s, "s1", late)
        assert whole.intervals[-1].end == late
    finally:
        s.close()


def test_an_uploaded_recordings_outcome_is_never_marked_unknown_so_its_sessions_files_do_not_wait(tmp_path, engine):
    """The full suite's two-process chaos run never settled: a session's file waited on its held-files timer for a
    recording already uploaded whose outcome was marked unknown after the upload was written (an action whose
    answer never came, its look failing meanwhile). Nothing looks at an uploaded recording again (the reconciler
    looks at unfinished ones), so the file waited HOLD_FOR. An uploading one is still marked: it is looked at."""
    from bot.platform.models import FileKind
    from bot.platform.webhooks import SessionFile
    from bot.service import unsettled

    s = Store(database(tmp_path, "k.sqlite3"), clock=lambda: 1000.0)
    try:
        s.add_recording(recording_id="a", meeting_id="m1", channel_id="C1", status=Status.INVOKED, title="t",
                        started_by="U1", origin="slack", multi=False, at=990.0, source="command", session_id="s1")
        for was, now in ((Status.INVOKED, Status.RECORDING), (Status.RECORDING, Status.UPLOADING)):
            assert s.transition("a", was, now, at=995.0, actor=None, source="platform")
        s.outcome_unknown("a")
        assert s.recording("a").unknown_since == 1000.0  # uploading: the reconciler looks, and clears it
        assert s.transition("a", Status.UPLOADING, Status.UPLOADED, at=999.0, actor=None, source="platform")
        assert s.recording("a").unknown_since is None
        s.action_asked("a")
        s.outcome_unknown("a")
        assert s.recording("a").unknown_since is None
        transcript = SessionFile(FileKind.TRANSCRIPT, "m1", "s1", "https://files.example/t.csv", started_at=989.0)
        assert unsettled.decide(s, transcript, None, 1001.0) == (False, None)  # cut now, not held
    finally:
        s.close()


def test_an_install_is_marked_spent_once_and_never_over_a_pair_saved_meanwhile_and_a_new_install_clears_it(tmp_path,
                                                                                                          engine):
    """Slack refused an install's refresh token as used: the first to say so marks it (and only it says so); a
    refresh token that is no longer the install's (a pair saved by whoever refreshed it) marks nothing; an
    install made again clears the mark and says the one before it was spent."""
    s = Store(database(tmp_path, "w.sqlite3"), clock=lambda: 1000.0, secret_key="k" * 32)
    try:
        ws = s.workspaces
        bot = {"team_id": "T0B", "enterprise_id": None, "is_enterprise_install": False, "bot_token": "xoxe.xoxb-1",
               "bot_refresh_token": "xoxe-1-a"}
        assert ws.save_install(bot) is False
        assert ws.mark_spent("T:T0B", "xoxe-1-old") is False  # spent, but no longer the install's: saved meanwhile
        assert ws.find_install_state(None, "T0B") == (bot, None) and ws.spent() == []
        assert ws.mark_spent("T:T0B", "xoxe-1-a") is True
        assert ws.mark_spent("T:T0B", "xoxe-1-a") is False  # said once
        assert ws.find_install_state(None, "T0B")[1] == 1000.0
        assert [(i["team_id"], i["spent_at"]) for i in ws.spent()] == [("T0B", 1000.0)]
        assert ws.save_install({**bot, "bot_token": "xoxe.xoxb-2", "bot_refresh_token": "xoxe-1-b"}) is True
        assert ws.find_install_state(None, "T0B")[1] is None and ws.spent() == []
    finally:
        s.close()
