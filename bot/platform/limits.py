"""The platform's rate limits, layered: one bucket per documented limit, each call taking from every
bucket that applies, so that recbot stays under all of them (docs/platform.md, "Rate limits").

- RealtimeKit: recording APIs 1,000 / 50 s; all RealtimeKit APIs 3,500 / 5 min; and every call with
  the token counts toward Cloudflare's global 1,200 / 5 min, past which every call, stops included, is
  refused for 5 minutes. Dyte v2: 2,000 / minute per IP.
- recbot allows itself 90% of each. When the budget is short, calls wait in priority order: stops
  first, then pauses, then the rest of what people asked, then recbot's own background checks.
- A 429 blocks every call until its `Retry-After` has passed: nothing is sent into the window.
- With several processes on one database (PostgreSQL), the limits are one budget for all of them
  (`shared`, `bot.store.budgets`): each call is also counted there, and a 429 blocks every process.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Protocol

from bot.store.engine import StoreBusy

log = logging.getLogger(__name__)

SHARE = 0.9


class Priority(IntEnum):
    STOP = 0
    PAUSE = 1
    ASKED = 2  # anything else a person asked for
    BACKGROUND = 3  # the reconciler and other checks of recbot's own


background: ContextVar[bool] = ContextVar("platform_background", default=False)  # set by the reconciler


@dataclass
class Bucket:
    name: str
    limit: int
    window: float
    recording_only: bool = False  # counts only calls to the recording APIs
    stamps: deque = field(default_factory=deque)

    def applies(self, recording_api: bool) -> bool:
        return recording_api or not self.recording_only

    def spec(self) -> tuple[str, int, float]:
        return self.name, self.limit, self.window

    def wait(self, now: float) -> float:
        """0 when a call may be counted now, else seconds until one may."""
        while self.stamps and now - self.stamps[0] >= self.window:
            self.stamps.popleft()
        return 0.0 if len(self.stamps) < self.limit else self.stamps[0] + self.window - now

    @property
    def per_minute(self) -> float:
        return self.limit * 60.0 / self.window


DOCUMENTED = {
    "dyte": [("Dyte API, per IP", 2000, 60.0, False)],
    "realtimekit": [("RealtimeKit recording APIs", 1000, 50.0, True), ("RealtimeKit APIs", 3500, 300.0, False),
                    ("Cloudflare API, per token", 1200, 300.0, False)],
}


def buckets_for(flavour: str, share: float = SHARE) -> list[Bucket]:
    return [Bucket(name, max(1, int(limit * share)), window, rec) for name, limit, window, rec in DOCUMENTED[flavour]]


class Shared(Protocol):
    """One rate budget for every process of the deployment (`bot.platform.accounts.SharedBudget`)."""

    async def take(self, buckets: Sequence[tuple[str, int, float]]) -> float: ...

    async def block(self, seconds: float) -> None: ...


class Limiter:
    def __init__(self, buckets: list[Bucket], *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep):
        self.buckets, self.clock, self.sleep = buckets, clock, sleep
        self.shared: Shared | None = None  # set when processes share the database
        self.blocked_until = 0.0
        self._waiting: list[tuple[int, int, asyncio.Future[None], bool]] = []  # priority, order, wait, recording API
        self._order = itertools.count()
        self._pump: asyncio.Task | None = None

    @property
    def strictest_per_minute(self) -> float:
        """What the strictest documented bucket allows a minute (the reconciler takes a share of it)."""
        return min(b.per_minute for b in self.buckets) / SHARE

    async def block(self, seconds: float) -> None:
        """The platform answered 429: nothing is sent until `seconds` have passed."""
        self.blocked_until = max(self.blocked_until, self.clock() + max(0.0, seconds))
        if self.shared is not None:
            try:
                await self.shared.block(seconds)
            except StoreBusy:
                log.warning("could not share a 429's block with the other processes")

    async def acquire(self, *, recording_api: bool, priority: Priority) -> None:
        if background.get():
            priority = Priority.BACKGROUND
        if not self._waiting and await self._try(recording_api) == 0.0:
            return
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiting, (int(priority), next(self._order), done, recording_api))
        if self._pump is None or self._pump.done():
            self._pump = asyncio.create_task(self._serve())
        await done

    def _room(self, recording_api: bool) -> float:
        now = self.clock()
        waits = [b.wait(now) for b in self.buckets if b.applies(recording_api)]
        return max([self.blocked_until - now, *waits, 0.0])

    async def _try(self, recording_api: bool) -> float:
        """Count one call if every bucket (this process's, then the shared one) has room: 0.0; else the
        seconds to wait, nothing counted. This process's count is taken first, so that calls made while
        the shared one is asked cannot pass it; it is given back if the shared one refuses."""
        if (wait := self._room(recording_api)) > 0:
            return wait
        applying = [b for b in self.buckets if b.applies(recording_api)]
        now = self.clock()
        for bucket in applying:
            bucket.stamps.append(now)
        if self.shared is not None:
            try:
                wait = await self.shared.take([b.spec() for b in applying])
            except StoreBusy:  # the database is slow: this process's own count keeps it within the limits alone
                wait = 0.0
            if wait > 0:
                for bucket in applying:
                    with contextlib.suppress(ValueError):  # aged out meanwhile
                        bucket.stamps.remove(now)
                return wait
        return 0.0

    async def _serve(self) -> None:
        """Let the waiting calls go, the most urgent first, as the buckets allow."""
        while self._waiting:
            first = self._waiting[0]
            _, _, done, recording_api = first
            if done.cancelled():
                heapq.heappop(self._waiting)
                continue
            wait = await self._try(recording_api)
            if wait > 0:
                await self.sleep(wait)
                continue
            # While the shared budget was asked, a more urgent call may have come first, or this one gone.
            if self._waiting[0] is first:
                heapq.heappop(self._waiting)
            else:
                self._waiting.remove(first)
                heapq.heapify(self._waiting)
            if not done.done():
                done.set_result(None)

    def usage(self) -> dict:
        """What /healthz and `recbot check` show: each bucket's use of its window, and any 429 block."""
        now = self.clock()
        for bucket in self.buckets:
            bucket.wait(now)
        return {"buckets": [{"name": b.name, "used": len(b.stamps), "allowed": b.limit, "window_s": b.window}
                            for b in self.buckets],
                "blocked_for_s": round(max(0.0, self.blocked_until - now), 1), "waiting": len(self._waiting)}
