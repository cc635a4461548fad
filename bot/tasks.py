"""Work that runs after a request has been answered, and that shutdown waits for."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Any

log = logging.getLogger(__name__)


class Tasks:
    def __init__(self) -> None:
        self._running: set[asyncio.Task] = set()
        self._idle = asyncio.Event()
        self._idle.set()

    def spawn(self, work: Awaitable[Any], what: str) -> None:
        """Run `work` in the background; an error is logged with its traceback, never lost silently."""
        self._idle.clear()

        async def run() -> None:
            try:
                await work
            except Exception:
                log.exception("failed while handling %s", what)

        task = asyncio.get_running_loop().create_task(run())
        self._running.add(task)
        task.add_done_callback(lambda done: self._done(done, work))

    def _done(self, task: asyncio.Task, work: Awaitable[Any]) -> None:
        if task.cancelled() and hasattr(work, "close"):
            work.close()  # cancelled before it began: never awaited, and that is fine
        self._running.discard(task)
        if not self._running:
            self._idle.set()

    async def cancel(self) -> None:
        """Stop what is still running (a process that stops does the same to it)."""
        for task in list(self._running):
            task.cancel()
        await asyncio.gather(*self._running, return_exceptions=True)

    async def wait_idle(self, timeout: float) -> bool:
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
            return True
        except TimeoutError:
            return False
