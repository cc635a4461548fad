"""A 429's hold, for every Slack call recbot makes: after a 429, nothing more of that method goes to that
workspace, from any process, until its Retry-After has passed (CONTRACT.md, "Slack's limits"). Kept in the
store's rate_blocks as "slack:<workspace>:<method>"; the outbox reads them all in its drain, a direct call
(users.info for the admin question) asks here before calling Slack."""

from __future__ import annotations

from typing import Any

from bot.store import Store
from bot.store.engine import StoreBusy

HOLD = "slack:"
RESPOND_URL = "response_url"  # a response_url's answers, held after a 429 as a method is


def retry_after(response: Any) -> float:
    """A 429's Retry-After, in seconds (the local Slack's may have decimals when its limits are scaled)."""
    try:
        return float(response.headers.get("Retry-After", response.headers.get("retry-after", 1)))
    except (TypeError, ValueError, AttributeError):
        return 1.0


class Holds:
    def __init__(self, store: Store):
        self.store = store
        self._mine: dict[str, float] = {}  # this process's own 429s, held even when the store is busy


    async def held(self, workspace: str, method: str) -> float:
        """Seconds before `method` may be called in `workspace` again (0.0: now)."""
        account = f"{HOLD}{workspace}:{method}"
        until = self._mine.get(account, 0.0)
        try:
            until = max(until, (await self.store.read(lambda tx: tx.budgets.blocked(account))).get(account, 0.0))
        except StoreBusy:
            pass  # the store is busy: this process's own 429s still hold
        return max(0.0, until - self.store.budgets.clock())

    async def hold(self, workspace: str, method: str, seconds: float) -> None:
        """Slack answered 429: no process calls `method` in `workspace` for `seconds`."""
        account = f"{HOLD}{workspace}:{method}"
        self._mine[account] = max(self._mine.get(account, 0.0), self.store.budgets.clock() + seconds)
        try:
            await self.store.write(lambda tx: tx.budgets.block(account, seconds))
        except StoreBusy:
            pass  # this process holds back anyway; the others learn it from their own 429
