"""The layered limiter on a controllable clock: 20 simulated minutes never exceed any bucket, a 429
storm sends nothing into its window while a stop still goes first, and two processes sharing a database
spend one budget."""

import asyncio
import random

import pytest

from bot.platform.accounts import SharedBudget
from bot.platform.limits import Limiter, Priority, background, buckets_for
from bot.store import Store
from tests.conftest import database


class Clock:
    def __init__(self):
        self.now = 0.0
        self.trips = 0  # trips to a store's thread under way: simulated time stands still meanwhile

    def __call__(self):
        return self.now

    async def sleep(self, seconds: float) -> None:
        while self.trips:  # a trip takes a real millisecond, in which no simulated minute may pass
            await asyncio.sleep(0.0002)
        self.now += max(seconds, 1e-6)
        await asyncio.sleep(0)


class TimedBudget(SharedBudget):
    """The shared budget, its trips to the database taking no simulated time."""

    def __init__(self, store: Store, account: str, clock: Clock):
        super().__init__(store, account)
        self.clock = clock

    async def take(self, buckets) -> float:
        self.clock.trips += 1
        try:
            return await super().take(buckets)
        finally:
            self.clock.trips -= 1


def limiter(flavour="realtimekit"):
    clock = Clock()
    return Limiter(buckets_for(flavour), clock=clock, sleep=clock.sleep), clock


def never_over(stamps: list[tuple[float, bool]], limit: int, window: float, recording_only: bool) -> bool:
    times = sorted(t for t, rec in stamps if rec or not recording_only)
    return all(j - i <= limit for i in range(len(times)) for j in [_first_after(times, times[i] + window, i)])


def _first_after(times, t, start):
    lo, hi = start, len(times)
    while lo < hi:
        mid = (lo + hi) // 2
        if times[mid] < t:
            lo = mid + 1
        else:
            hi = mid
    return lo


async def test_twenty_simulated_minutes_of_load_never_exceed_any_bucket():
    lim, clock = limiter()
    sent: list[tuple[float, bool]] = []

    async def caller(n: int) -> None:
        rng = random.Random(n)
        while clock.now < 1200:
            recording = rng.random() < 0.7
            await lim.acquire(recording_api=recording, priority=rng.choice(list(Priority)))
            sent.append((clock.now, recording))
            await clock.sleep(rng.random() * 0.05)

    await asyncio.wait_for(asyncio.gather(*(caller(n) for n in range(40))), timeout=120)
    assert len(sent) > 4000  # the load really pressed against the limits
    for bucket in lim.buckets:
        assert never_over(sent, bucket.limit, bucket.window, bucket.recording_only), bucket.name
    # the global Cloudflare bucket is the one that binds: about 1,080 calls in any 5 minutes
    assert len([t for t, _ in sent if 600 <= t < 900]) <= 1080


async def test_a_429_storm_sends_nothing_into_the_window_and_a_stop_goes_first():
    lim, clock = limiter("dyte")
    order: list[str] = []
    await lim.block(300)  # the global limit: refused for five minutes

    async def call(name: str, priority: Priority, *, in_background: bool = False) -> None:
        if in_background:
            background.set(True)
        await lim.acquire(recording_api=True, priority=priority)
        order.append(f"{name}@{clock.now:.0f}")

    tasks = [asyncio.create_task(call(f"check{n}", Priority.ASKED, in_background=True)) for n in range(5)]
    await asyncio.sleep(0)
    tasks += [asyncio.create_task(call("resume", Priority.ASKED)), asyncio.create_task(call("pause", Priority.PAUSE)),
              asyncio.create_task(call("stop", Priority.STOP))]
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=10)
    assert all(float(o.split("@")[1]) >= 300 for o in order)  # nothing inside the window
    assert [o.split("@")[0] for o in order[:3]] == ["stop", "pause", "resume"]  # then the background checks
    assert lim.usage()["blocked_for_s"] == 0


@pytest.mark.parametrize("engine", ["sqlite", "postgres"], indirect=True)
async def test_two_processes_on_one_database_spend_one_budget_and_share_a_429(tmp_path, engine):
    """Each process's limiter alone would allow the whole budget; counted in the database, the two
    together stay within every bucket, and a 429 that one got blocks the other."""
    clock = Clock()
    url = database(tmp_path)
    stores = [Store(url, clock=clock) for _ in range(2)]
    limiters = []
    for store in stores:
        lim = Limiter(buckets_for("realtimekit"), clock=clock, sleep=clock.sleep)
        lim.shared = TimedBudget(store, "acct", clock)
        limiters.append(lim)
    sent: list[tuple[float, bool]] = []

    async def caller(lim: Limiter, n: int) -> None:
        rng = random.Random(n)
        while clock.now < 660:
            recording = rng.random() < 0.7
            await lim.acquire(recording_api=recording, priority=Priority.ASKED)
            sent.append((clock.now, recording))
            await clock.sleep(rng.random() * 0.2)

    try:
        await asyncio.wait_for(asyncio.gather(*(caller(limiters[n % 2], n) for n in range(10))), timeout=120)
        assert len(sent) > 2000  # both pressed against the limits
        for bucket in limiters[0].buckets:
            assert never_over(sent, bucket.limit, bucket.window, bucket.recording_only), bucket.name
        await limiters[0].block(60)
        assert stores[1].budgets.take("acct", [b.spec() for b in limiters[1].buckets]) == pytest.approx(60)
    finally:
        for store in stores:
            store.close()


async def test_calls_that_come_or_go_while_the_shared_budget_is_asked_are_neither_lost_nor_doubled():
    """Counting in the shared budget takes a trip to the database: meanwhile a stop may queue ahead of
    the call being counted, or that call's caller may give up."""

    class SlowShared:
        async def take(self, buckets) -> float:
            await asyncio.sleep(0.02)
            return 0.0

        async def block(self, seconds: float) -> None:
            pass

    lim = Limiter(buckets_for("dyte"))
    lim.shared = SlowShared()
    await lim.block(0.05)  # everything queues behind the pump
    order: list[str] = []

    async def call(name: str, priority: Priority) -> None:
        await lim.acquire(recording_api=True, priority=priority)
        order.append(name)

    first = asyncio.create_task(call("resume", Priority.ASKED))
    given_up = asyncio.create_task(call("check", Priority.ASKED))
    await asyncio.sleep(0.06)  # the pump is counting "resume" in the shared budget now
    stop = asyncio.create_task(call("stop", Priority.STOP))
    given_up.cancel()
    await asyncio.wait_for(asyncio.gather(first, stop), timeout=5)
    assert sorted(order) == ["resume", "stop"] and lim.usage()["waiting"] == 0
