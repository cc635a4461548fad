"""Two recbot processes on one PostgreSQL database: commands to either, webhooks to one, both sending the
outbox and running the background jobs. Every post leaves once and in order; the jobs run in one."""

import contextlib
import dataclasses

from bot.asgi_server import BackgroundServer
from bot.models import Status
from bot.web import create_app
from tests.conftest import ALICE, BOB, CHANNEL, make_stack, until
from tests.e2e.helpers import run, status_is, thread_texts


@contextlib.asynccontextmanager
async def second_process(stack, **options):
    """Another recbot on the same settings and database (its own port, store, courier and workers)."""
    app = create_app(stack.settings, dataclasses.replace(stack.options, **options))
    server = BackgroundServer(app, stack.host, 0)
    await server.start()
    try:
        yield app.state.runtime, server.port
    finally:
        await server.stop()


@contextlib.contextmanager
def via(stack, port: int):
    """Send what follows to the process on `port`, as a load balancer would."""
    before = stack.bot_port
    stack.bot_port = port
    try:
        yield
    finally:
        stack.bot_port = before


async def test_commands_to_either_process_take_effect_once_and_each_post_leaves_once(tmp_path, postgres):
    async with make_stack(tmp_path, env={"REC_DATABASE": postgres.new_database()}) as s:
        first = s.bot_port
        async with second_process(s) as (other, port):
            meeting = await s.new_meeting("Two processes")
            await s.join(meeting, "Ann")
            await run(s, ALICE, f"link {meeting}")
            with via(s, port):
                await run(s, ALICE, "start")
            [rec] = await until(lambda: s.runtime.store.recordings_of_meeting(meeting), message="the recording")
            await status_is(s, rec.id, Status.RECORDING)
            for n, (user, action, state) in enumerate([(BOB, "pause", Status.PAUSED), (ALICE, "resume",
                                                        Status.RECORDING)] * 3):
                with via(s, port if n % 2 else first):
                    await run(s, user, action)
                await status_is(s, rec.id, state)
            with via(s, port):
                await run(s, ALICE, "stop")
            await status_is(s, rec.id, Status.UPLOADED, timeout=15)
            await until(lambda: any("Download" in t for t in thread_texts(s, rec)), timeout=15,
                        message="the download link")
            await until(lambda: not {"pending", "sending"} & set(s.runtime.store.outbox.counts()), timeout=10,
                        message="both outboxes drained")
            texts = thread_texts(s, rec)
            assert sum("paused by" in t for t in texts) == 3 and sum("resumed by" in t for t in texts) == 3
            assert sum("Download" in t for t in texts) == 1
            assert len(s.slack.channel(CHANNEL)) == 1  # one card
            rows = [m.metadata["event_payload"]["outbox_row"] for m in s.slack.messages.values() if m.metadata]
            assert len(rows) == len(set(rows))  # no outbox row was posted twice
            order = [t for t in texts if "paused by" in t or "resumed by" in t]
            assert [("paused" in t) for t in order] == [True, False] * 3  # in the order they happened
            senders = {r["claimed_by"].rsplit(":", 1)[-1] for r in s.runtime.store.db.all(
                "SELECT claimed_by FROM outbox WHERE claimed_by IS NOT NULL")}
            assert senders <= {s.runtime.courier.owner.rsplit(":", 1)[-1], other.courier.owner.rsplit(":", 1)[-1]}
            jobs = {r["name"]: r["owner"] for r in s.runtime.store.db.all("SELECT name, owner FROM leases")}
            assert {"deliveries", "timers"} <= set(jobs)  # each job held by one process at a time
            # Both processes' calls, each one's start check included, counted in one budget. The stack's own
            # calls (it registers the webhook, outside recbot) are not; a background call still under way
            # is counted before the platform sees it, hence the wait.
            made = sum(r["path"] == "/webhooks" for r in s.emulator.requests)

            def counted():
                return int(s.runtime.store.db.scalar(
                    "SELECT SUM(used) FROM rate_use WHERE bucket = 'Dyte API, per IP'"))

            await until(lambda: counted() == s.emulator.api_requests - made, timeout=5,
                        message="every platform call recbot made counted once in the shared budget")


async def test_when_the_process_holding_the_jobs_stops_the_other_takes_them_over(tmp_path, postgres):
    async with make_stack(tmp_path, env={"REC_DATABASE": postgres.new_database()}) as s:
        async with second_process(s) as (other, port):
            holder = await until(lambda: s.runtime.store.leases.holder("deliveries"), message="a holder")
            mine = holder == s.runtime.workers.owner
            meeting = await s.new_meeting("Failover")
            await s.join(meeting, "Ann")
            await run(s, ALICE, f"link {meeting}")
            await run(s, ALICE, "start")
            [rec] = await until(lambda: s.runtime.store.recordings_of_meeting(meeting), message="the recording")
            await status_is(s, rec.id, Status.RECORDING)
            if mine:  # the first process holds the jobs: stop it, and keep talking to the other
                await s.stop_bot()
                s.bot_port = port
            else:
                await other.workers.stop()  # its leases are released as it stops
            survivor = other if mine else s.runtime
            await until(lambda: survivor.store.leases.holder("deliveries") == survivor.workers.owner, timeout=15,
                        message="the jobs taken over")
            await run(s, BOB, "pause")
            await status_is(s, rec.id, Status.PAUSED) if not mine else await until(
                lambda: other.store.recording(rec.id).status is Status.PAUSED, message="paused")


async def test_a_webhook_one_process_stored_wakes_the_other_that_applies_them(tmp_path, postgres):
    """The platform's webhooks go to the first process; the second holds the job of applying them and
    looks for stored ones only once a minute here: what wakes it is PostgreSQL's NOTIFY, at once."""
    async with make_stack(tmp_path, env={"REC_DATABASE": postgres.new_database()}) as s:
        store = s.runtime.store
        async with second_process(s, delivery_tick=60.0) as (other, _):
            await until(lambda: store.leases.holder("deliveries"), message="a holder")
            store.db.execute("UPDATE leases SET owner = ?, until = ? WHERE name = 'deliveries'",
                             (other.workers.owner, store.clock() + 600))  # the second one applies webhooks
            meeting = await s.new_meeting("Woken")
            await s.join(meeting, "Ann")
            await run(s, ALICE, f"link {meeting}")
            await run(s, ALICE, "start")
            await until(lambda: store.recordings_of_meeting(meeting), message="the recording")

            def applied():
                rows = store.db.all("SELECT processed_at FROM deliveries")
                return rows and all(r["processed_at"] is not None for r in rows)

            # The first process cannot take the job back (its lease is the other's for ten minutes unless the
            # other renews it, which it does only when it runs): so they were applied by the other, woken.
            await until(applied, timeout=8, message="the webhooks applied by the other process")
