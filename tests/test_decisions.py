"""One decision, one transaction: a failure between any two writes of a decision, then a restart,
leaves the whole decision (with its notices and timers) or nothing that the reconciler does not
bring back whole. The two probes of issue 10, as tests."""

import asyncio
import json
import time

import pytest

from bot.config import Guardrails
from bot.models import Actor, Notice, Status, Timer
from bot.service import Service
from bot.service.outcomes import Say
from bot.slack.grammar import parse
from bot.store import Store, StoreBusy
from tests.conftest import client_for, database
from tests.store.faults import Faults

ALICE, BOB = Actor("U0ALICE", "C1", "T1"), Actor("U0BOB", "C1", "T1")


class World:
    def __init__(self, path, emulator, platform):
        self.path, self.emulator, self.platform = path, emulator, platform
        self.store = Store(path)
        self.faults = Faults(self.store)
        self.service = Service(self.store, platform, guardrails=Guardrails())

    async def restart(self) -> None:
        """The process dies (its background retries with it) and comes back on the same file."""
        await self.service.tasks.cancel()
        self.store.close()
        self.store = Store(self.path)
        self.service = Service(self.store, self.platform, guardrails=Guardrails())
        await self.service.guards.reconcile(100, older_than=time.time() + 1)

    def said(self, recording_id: str) -> list[str]:
        rows = self.store.db.all("SELECT payload FROM outbox WHERE kind = 'thread' AND recording_id = ? ORDER BY id",
                                 recording_id)
        return [json.loads(r["payload"])["notice"] for r in rows]


@pytest.fixture
async def make(tmp_path, emulator, engine):
    platform = client_for(emulator, "dyte")
    made = []

    async def world_recording():
        w = World(database(tmp_path, f"db{len(made)}.sqlite3"), emulator, platform)
        made.append(w)
        meeting = emulator.platform.create_meeting(time.time(), "Sync")
        emulator.platform.join(time.time(), meeting.id, "Ann")
        assert (await w.service.commands.handle(ALICE, parse(f"link {meeting.id}"))).ok
        assert (await w.service.commands.handle(ALICE, parse("start"))).ok
        (rec,) = w.store.recordings_of_meeting(meeting.id)
        await asyncio.sleep(0.05)
        await w.service.truth.refresh(rec.id)
        assert w.store.recording(rec.id).status is Status.RECORDING
        w.rec_id = rec.id
        return w

    yield world_recording
    for w in made:
        await w.service.tasks.cancel()
        w.store.close()
    await platform.aclose()


def assert_whole_pause(w: World) -> None:
    """PAUSED everywhere, one ledger step, one notice, the card refreshed, the reminder set."""
    rec = w.store.recording(w.rec_id)
    assert w.emulator.platform.recordings[w.rec_id].status is Status.PAUSED
    assert rec.status is Status.PAUSED
    assert [e.status for e in w.store.ledger(w.rec_id)].count(Status.PAUSED) == 1
    assert w.said(w.rec_id).count(Notice.PAUSED) == 1
    assert w.store.db.scalar("SELECT COUNT(*) FROM outbox WHERE kind = 'card' AND recording_id = ? "
                             "AND state = 'pending'", w.rec_id) == 1
    assert w.store.timers.pending(Timer.PAUSE_REMINDER, w.rec_id) is not None


async def test_a_failure_at_any_write_of_a_pause_then_a_restart_leaves_it_whole_or_absent(make):
    probe = await make()
    probe.faults.writes = 0
    assert (await probe.service.commands.handle(BOB, parse("pause"))).ok
    writes = probe.faults.writes
    assert writes >= 6  # the request's audit row, then one decision: state, ledger, timer, audit, notice, card
    assert_whole_pause(probe)

    for k in range(1, writes + 1):
        w = await make()
        w.faults.writes, w.faults.fail_at = 0, k
        try:
            reply = await w.service.commands.handle(BOB, parse("pause"))
        except StoreBusy:  # the Slack door answers "busy, so it did nothing"
            reply = None
        platform_paused = w.emulator.platform.recordings[w.rec_id].status is Status.PAUSED
        if platform_paused:  # the platform acted: recbot must say so, never "it did nothing"
            assert reply is not None and reply.says in ([Say.SAVED_LATER], [Say.ACTED]), (k, reply)
            if reply.says == [Say.ACTED]:  # the failed write was only the recording's lease, taken again
                assert_whole_pause(w)
        await w.restart()
        if platform_paused:
            assert_whole_pause(w)
        else:  # the request itself could not be recorded: nothing was touched anywhere
            assert w.store.recording(w.rec_id).status is Status.RECORDING
            assert Notice.PAUSED not in w.said(w.rec_id)


async def test_a_locked_reminder_write_is_retried_and_the_pause_is_never_forgotten(make):
    w = await make()
    w.faults.fail_when, w.faults.fail_times = "INSERT INTO timers", 1
    reply = await w.service.commands.handle(BOB, parse("pause"))
    assert reply.says == [Say.SAVED_LATER]  # not "busy, so it did nothing": the platform paused
    assert w.store.recording(w.rec_id).status is Status.RECORDING  # nothing half-written meanwhile
    assert await w.service.tasks.wait_idle(5.0)
    assert_whole_pause(w)
    rec = w.store.recording(w.rec_id)
    assert rec.last_actor == "U0BOB"  # the retry keeps who paused it


async def test_a_busy_store_before_the_platform_call_does_nothing_and_says_so(make):
    w = await make()
    w.faults.fail_when, w.faults.fail_times = "INSERT INTO audit", 1
    with pytest.raises(StoreBusy):  # the Slack door answers "busy, so it did nothing"
        await w.service.commands.handle(BOB, parse("pause"))
    assert w.emulator.platform.recordings[w.rec_id].status is Status.RECORDING
