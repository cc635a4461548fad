"""How recbot waits before trying again: one policy, `Backoff` (each wait twice the last, up to a cap, a
little longer at random where many may retry at once), and one loop, `patiently`.

Each place that retries names its own schedule beside it (the store when busy, a pause the platform did
not answer, an outbox row Slack refused, …); they differ in how long, never in how.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Backoff:
    first: float  # the first wait, in seconds
    cap: float  # no wait is longer (before jitter)
    factor: float = 2.0  # each wait is this many times the last
    jitter: float = 0.0  # up to this share longer, at random, so that many retries do not come together

    def delay(self, attempt: int, asked: float | None = None) -> float:
        """The wait after try number `attempt` (0: the first) failed; `asked` (a Retry-After) instead of the
        schedule's when the other side said how long."""
        base = asked or min(self.cap, self.first * self.factor ** min(attempt, 64))
        return base * random.uniform(1.0, 1.0 + self.jitter) if self.jitter else base

    def delays(self, tries: int) -> tuple[float, ...]:
        """The waits between `tries` + 1 tries."""
        return tuple(self.delay(attempt) for attempt in range(tries))


async def patiently(work: Callable[[], Awaitable[T]], delays: tuple[float, ...],
                    again: type[BaseException] | tuple[type[BaseException], ...]) -> T:
    """`work()`, tried again after each of `delays` while it raises `again`; the last try's error escapes."""
    for delay in delays:
        try:
            return await work()
        except again:
            await asyncio.sleep(delay)
    return await work()
