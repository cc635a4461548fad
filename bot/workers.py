"""Background work: apply stored webhook deliveries, run timers, reconcile with the platform.

Each job runs in one process at a time, whichever holds its lease (`bot.store.leases`): with several
processes on one database, deliveries are applied once and in order, timers fire once, and the
reconciler's rate budget is spent once, not once per process. A lease outlives its holder by at most
`LEASE_TTL` seconds, then another process takes the job over.

Taking webhooks in comes before applying them. A delivery is durable once stored, and the platform
waits for the answer (and retries what times out), so while this process's door is flooded (`FLOOD`
deliveries a second or more, five times the sustained load recbot is built for) the worker applies one
batch every `FLOOD_PAUSE` and leaves the cores to the door; the backlog is applied, in order, when the
flood ends. Under wrk the apply had taken a third of the web process's time (py-spy: its store thread
held 37% of the samples, 8% with this), and ingest rose from 43-49% to 50-53% of bare Starlette.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from bot import metrics
from bot.platform.limits import Bucket
from bot.platform.webhooks import Event, Ignored, MeetingEvent, SessionFile, WebhookParseError, parse_event
from bot.service import RetryLater, Service
from bot.service.outcomes import Applied
from bot.store import Store, StoreBusy, Tx
from bot.store.leases import new_owner

log = logging.getLogger(__name__)

LEASE_TTL = 10.0
RETENTION_TICK = 60.0  # how often transcript lines past REC_TRANSCRIPT_DAYS are deleted
FLOOD = 1000  # deliveries a second taken in by this process's door
FLOOD_PAUSE = 0.25  # between two batches of `BATCH` while flooded: at least 400 applied a second
BATCH = 100
REDELIVERY = "not applied: a redelivery"


class Workers:
    def __init__(self, service: Service, store: Store, *, reconcile_tick: float = 5.0, timer_tick: float = 0.5,
                 delivery_tick: float = 1.0):
        self.service, self.store = service, store
        self.reconcile_tick, self.timer_tick, self.delivery_tick = reconcile_tick, timer_tick, delivery_tick
        self._deliveries = asyncio.Event()
        self.arrivals = Bucket("webhooks taken in at this process's door", FLOOD, 1.0)  # counted, not limited
        self._flooding = False
        self.tasks: list[asyncio.Task] = []
        self.reconciled = 0
        self.owner = new_owner()
        self._stop_listening: Callable[[], None] | None = None

    async def holds(self, job: str, ttl: float = LEASE_TTL) -> bool:
        """Whether this process does `job` now (taking or renewing its lease)."""
        try:
            return await self.store.write(lambda tx: tx.leases.hold(job, self.owner, ttl))
        except StoreBusy:
            return False

    def wake_deliveries(self) -> None:
        """A delivery came in at this process's door."""
        self.arrivals.stamps.append(time.monotonic())
        self._deliveries.set()

    def flooded(self) -> bool:
        """Whether `FLOOD` or more deliveries came in at this process's door in the last second."""
        flooding = self.arrivals.wait(time.monotonic()) > 0
        if flooding != self._flooding:
            self._flooding = flooding
            rate = len(self.arrivals.stamps)
            if flooding:
                log.warning("webhooks arrive at %d a second: each is stored and answered first, and applied "
                            "at about %d a second until this passes", rate, BATCH / FLOOD_PAUSE)
            else:
                log.warning("webhooks now arrive at %d a second: the ones waiting are applied at full speed", rate)
        return flooding

    async def start(self) -> None:
        with contextlib.suppress(StoreBusy):
            if freed := await self.store.write(lambda tx: tx.leases.free_the_dead()):
                log.info("let go of what %d crashed process(es) of this host still held", freed)
        loop = asyncio.get_running_loop()
        # Webhooks another process stored wake this one at once (PostgreSQL), not at its next look.
        self._stop_listening = self.store.on_deliveries(lambda: loop.call_soon_threadsafe(self._deliveries.set))
        self.tasks = [asyncio.create_task(self._forever("deliveries", self.process_deliveries, self._deliveries,
                                                        self.delivery_tick)),
                      asyncio.create_task(self._forever("timers", self.service.guards.run_due_timers, None,
                                                        self.timer_tick)),
                      asyncio.create_task(self._forever("retention", self.service.after.forget_old_transcripts,
                                                        None, RETENTION_TICK)),
                      asyncio.create_task(self._reconcile_forever())]

    async def stop(self) -> None:
        if self._stop_listening is not None:
            await asyncio.to_thread(self._stop_listening)
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        with contextlib.suppress(StoreBusy):
            await self.store.write(lambda tx: tx.leases.release_all(self.owner))  # the others need not wait for them

    async def _forever(self, job: str, step, event: asyncio.Event | None, interval: float) -> None:
        while True:
            if event is not None:
                event.clear()
            try:
                if await self.holds(job):
                    await step()
            except Exception:
                log.exception("background step %s failed", getattr(step, "__name__", step))
            if event is None:
                await asyncio.sleep(interval)
            else:
                try:
                    await asyncio.wait_for(event.wait(), timeout=interval)
                except TimeoutError:
                    pass

    async def process_deliveries(self) -> int:
        """Apply stored deliveries in the order they arrived; returns how many were finished."""
        finished = 0
        while True:
            if finished:
                if self.flooded():  # the door first; the backlog waits, stored
                    await asyncio.sleep(FLOOD_PAUSE)
                if not await self.holds("deliveries"):  # a long backlog: the lease is renewed as it goes
                    return finished
            rows = await self.store.read(lambda tx: tx.deliveries.pending(limit=BATCH))
            if not rows:
                return finished
            repeats = [row for row in rows if row["repeats"]]
            rows = [row for row in rows if not row["repeats"]]
            news: list[tuple[str, Event | WebhookParseError]] = []
            for row in rows:
                try:
                    news.append((row["account"], parse_event(bytes(row["body"]))))
                except WebhookParseError as exc:
                    news.append((row["account"], exc))
            applied: list[str] = []  # outcomes of `rows` as logged (`logged`), in order, as they are decided
            stopped = False
            try:
                stopped = await self._apply_in_order(rows, news, applied)
            finally:
                metrics.WEBHOOK_AT.set(None)
                # A repeat is finished only once what came before it is: one finished ahead of its original
                # would make the original look like a repeat of it, and it would never be applied.
                until = rows[len(applied)]["id"] if len(applied) < len(rows) else float("inf")
                done = [(row["id"], REDELIVERY, row["same_body_as"]) for row in repeats if row["id"] < until]
                done += [(row["id"], outcome, row["same_body_as"]) for row, outcome in zip(rows, applied, strict=False)]
                if done:  # one commit for the outcomes of the batch
                    await self.store.write(_finish, done)
            finished += len(done)
            if stopped:
                return finished

    async def _apply_in_order(self, rows: list[dict], news: list[tuple[str, Event | WebhookParseError]],
                              applied: list[str]) -> bool:
        """Apply `news` in order, adding each outcome to `applied` as it is decided; True when one must wait
        (the store was busy, or the service said to try again later): it and those after it stay pending."""
        while len(applied) < len(rows):
            # the Slack messages this causes say when their webhook came (`recbot_webhook_to_slack_seconds`);
            # a run applied in one trip is dated by its first, so the figure errs on the long side
            metrics.WEBHOOK_AT.set(rows[len(applied)]["received_at"])
            # most news is a known recording's: a run of it goes in one trip
            run, busy = await self.service.news.apply_updates(news[len(applied):])
            applied += map(str, run)  # a recording's news: the outcome alone says it
            if len(applied) == len(rows):
                break
            row, (account, event) = rows[len(applied)], news[len(applied)]
            try:
                if busy:
                    raise StoreBusy("the store was busy")
                applied.append(await self._apply_one(row["id"], account, event))
            except RetryLater:
                await asyncio.sleep(0.05)
                return True  # keep the order: try again from this one
            except StoreBusy as exc:  # nothing of it was written (another process wrote first, say)
                log.info("webhook delivery %s must wait: %s", row["id"], exc)
                await asyncio.sleep(0.2)
                return True
        return False

    async def _apply_one(self, delivery: int, account: str, event: Event | WebhookParseError) -> str:
        if isinstance(event, WebhookParseError):
            return f"unparseable: {event}"
        try:
            return logged(event, await self.service.news.apply_delivered(account, event))
        except (RetryLater, StoreBusy):
            raise
        except Exception as exc:
            log.exception("could not apply webhook delivery %s", delivery)
            return f"error: {type(exc).__name__}"

    def budget_per_tick(self) -> float:
        """Reconciler calls allowed per tick: a share of the platform's documented limit."""
        per_minute = self.service.guardrails.reconcile_share * self.service.platform.limiter.strictest_per_minute
        return per_minute * self.reconcile_tick / 60.0

    async def _reconcile_forever(self) -> None:
        tokens = 0.0  # the budget is earned tick by tick, never spent ahead
        started: float | None = self.service.clock()  # at start, every unfinished recording is checked once
        while True:
            await asyncio.sleep(self.reconcile_tick)
            tokens = min(tokens + self.budget_per_tick(), self.budget_per_tick() + 1)
            if not await self.holds("reconciler", ttl=max(LEASE_TTL, 3 * self.reconcile_tick)):
                tokens, started = 0.0, None  # another process reconciles, with the one budget
                continue
            try:
                limit = int(tokens)
                checked = await self.service.guards.reconcile(limit, older_than=started)
                self.reconciled += checked
                tokens -= checked
                if checked < limit:
                    started = None
            except Exception:
                log.exception("reconciler step failed")


def logged(event: Event, outcome: Applied) -> str:
    """A delivery's stored `outcome`: what it came to, and of what when it was not a recording's news."""
    if isinstance(event, Ignored):
        return f"{outcome} {event.kind}"  # ignored recording.statusUpdate TRANSCODING: not an event recbot acts on
    if isinstance(event, SessionFile):
        return f"{event.kind} {outcome}"  # transcript posted, summary held: a pause overlapped the session
    if isinstance(event, MeetingEvent):
        return f"meeting {event.kind}: {outcome}"  # meeting left: people are still there
    return str(outcome)


def _finish(tx: Tx, done: list[tuple[int, str, int | None]]) -> None:
    tx.deliveries.finish(done)
