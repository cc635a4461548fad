"""The event loop never waits on the database: the store's work runs on its own thread, and the loop
serves others meanwhile. (Every other test checks the same from the outside: `conftest` fails a test in
which the app ran a statement on the loop's thread.)"""

import asyncio
import threading
import time

import pytest

from bot.store import Store, StoreBusy, StoreError, Tx
from tests.conftest import database


@pytest.fixture
def store(tmp_path, engine):
    s = Store(database(tmp_path, "s.sqlite3"), clock=lambda: 1000.0)
    yield s
    s.close()


async def test_the_loop_keeps_serving_while_a_decision_takes_its_time(store):
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    def slow_decision(tx: Tx) -> str:
        tx.set_link("C1", "T1", "m1", "Standup", "U1")
        time.sleep(0.3)  # a slow disk, a far database, a lock held by another writer
        return threading.current_thread().name

    ticking = asyncio.create_task(ticker())
    try:
        ran_on = await store.write(slow_decision)
    finally:
        ticking.cancel()
    assert ran_on.startswith("recbot-store")
    assert ticks >= 10  # the loop ticked all along (about 30 times); inline, it would not have ticked once
    link = await store.read(lambda tx: tx.link("C1"))
    assert link is not None and link.meeting_title == "Standup"


async def test_another_thread_never_sees_a_decision_half_done(store):
    started = threading.Event()

    def decision_that_fails(tx: Tx) -> None:
        tx.set_link("C1", "T1", "m1", "Standup", "U1")
        started.set()
        time.sleep(0.2)
        raise RuntimeError("the decision fails half-way")

    failing = asyncio.create_task(store.write(decision_that_fails))
    await asyncio.to_thread(started.wait, 5)
    seen = await asyncio.to_thread(store.link, "C1")  # from a third thread, while the transaction is open
    with pytest.raises(RuntimeError):
        await failing
    assert seen is None and store.link("C1") is None


async def test_errors_come_back_to_the_caller_and_a_closed_store_is_busy(store):
    def refuses(tx: Tx) -> None:
        raise StoreBusy("locked")

    with pytest.raises(StoreBusy, match="locked"):
        await store.write(refuses)
    with pytest.raises(ValueError):
        await store.read(lambda tx: int("not a number"))
    store.close()
    with pytest.raises(StoreBusy, match="closed"):
        await store.read(lambda tx: tx.link("C1"))


async def test_a_write_is_one_transaction_and_a_read_cannot_write(store):
    def links_two_then_fails(tx: Tx) -> None:
        tx.set_link("C1", "T1", "m1", "Standup", "U1")
        tx.set_link("C2", "T1", "m2", "Retro", "U1")
        raise RuntimeError("the decision fails after both")

    with pytest.raises(RuntimeError):
        await store.write(links_two_then_fails)
    assert await store.read(lambda tx: (tx.link("C1"), tx.link("C2"))) == (None, None)
    with pytest.raises(StoreError, match="a read may not write"):
        await store.read(lambda tx: tx.set_link("C1", "T1", "m1", "Standup", "U1"))
    assert store.link("C1") is None
    # the read's refusal wrote nothing and leaves the thread able to write
    assert await store.write(lambda tx: tx.set_link("C1", "T1", "m1", "Standup", "U1")) is None
    assert store.link("C1") is not None


async def test_a_function_over_a_tx_gets_its_arguments_there(store):
    def where(tx: Tx, channel_id: str, *, suffix: str) -> tuple[str, bool]:
        return threading.current_thread().name + suffix, tx.link(channel_id) is None

    ran_on, unlinked = await store.read(where, "C1", suffix="!")
    assert ran_on.startswith("recbot-store") and ran_on.endswith("!") and unlinked
    assert await store.write(lambda tx, c: tx.set_link(c, "T1", "m1", "Standup", "U1"), "C1") is None
    assert store.link("C1") is not None
