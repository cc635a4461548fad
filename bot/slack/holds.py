"""A 429's hold, for every Slack call recbot makes: after a 429, nothing more of that method goes to that
workspace, from any process, until its Retry-After has passed (CONTRACT.md, "Slack's limits"). Kept in the
store's rate_blocks as "slack:<workspace>:<method>"; the outbox reads them all in its drain, a direct call
(users.info for the admin question, auth.test) takes its turn here (`Holds.call`) before calling Slack."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from bot.models import Team
from bot.store import Store, Tx
from bot.store.engine import StoreBusy
from bot.store.leases import CALL_IN_FLIGHT, new_owner

HOLD = "slack:"
RESPOND_URL = "response_url"  # a response_url's answers, held after a 429 as a method is
# Methods whose call names no conversation (a person, a trigger, a call, an upload not yet shared)
NO_CHANNEL = frozenset({"files.getUploadURLExternal", "users.info", "views.open", "views.publish", "calls.add",
                        "calls.update", "calls.end", "calls.participants.add", "calls.participants.remove"})


def counted_in(team: Team, method: str, channel: str | None, *, org_wide: bool) -> str:
    """The workspace whose limits a call of `method` counts against, as recbot keeps its windows and holds
    (`slack:<this>:<method>`): the row's workspace; but for an org-wide install, a call that names no
    conversation (`channel`: the one it names, if any) counts for the whole org. Slack publishes its limits
    "per API method per workspace/team per app" and nothing of an org-wide token's call that names no
    workspace's channel: holding it for the org is the safe side, and the local Slack counts it there."""
    conversation = bool(channel) and str(channel)[:1] in ("C", "G", "D") and method not in NO_CHANNEL
    if org_wide and team.enterprise_id and not conversation:
        return team.enterprise_id
    return team.team_id or team.enterprise_id or ""


def retry_after(response: Any) -> float:
    """A 429's Retry-After, in seconds (the local Slack's may have decimals when its limits are scaled)."""
    try:
        return float(response.headers.get("Retry-After", response.headers.get("retry-after", 1)))
    except (TypeError, ValueError, AttributeError):
        return 1.0


FLIGHT = 15.0  # seconds a process holds a method's flight in a workspace at most (its call's answer releases it)
PATIENCE = 3.0  # seconds a direct call waits for another process's call of its method in flight, then gives up
TURN = 0.05  # seconds between its looks meanwhile (the outbox's drain looks again as soon: scheduler.CONTENDED)


def flight(key: tuple[str, str]) -> str:
    """The lease a process holds while it has a call of `key` (workspace, method) in flight: one at a time
    across every process sharing the store, so a 429 is known (and held) before the next such call is made."""
    return f"{CALL_IN_FLIGHT}{key[0]}:{key[1]}"


def holds_of(tx: Tx) -> dict[tuple[str, str], float]:
    """Every hold still running, from any process: {(workspace, method): until}."""
    out: dict[tuple[str, str], float] = {}
    for account, until in tx.budgets.blocked(HOLD).items():
        _, team, method = account.split(":", 2)
        out[(team, method)] = until
    return out


class Holds:
    def __init__(self, store: Store, owner: str | None = None):
        self.store, self.owner = store, owner or new_owner()  # `owner`: who holds this process's calls in flight
        self._mine: dict[str, float] = {}  # this process's own 429s, held even when the store is busy

    @contextlib.asynccontextmanager
    async def call(self, workspace: str, method: str) -> AsyncIterator[float]:
        """A direct call's turn (one not through the outbox): what the outbox does for each of its rows, for one
        call. Yields 0.0 when `method` may be called in `workspace` now, the call then in flight in this process
        only (the lease `flight`, taken in the trip that reads the hold, let go when the block ends: a 429's hold,
        written inside it, is in the store first); else the seconds before it may (a 429 holds it, or another
        process's call stayed in flight, or the store stayed busy, for `PATIENCE`): the caller does not call."""
        key = f"{HOLD}{workspace}:{method}"
        lease, clock = flight((workspace, method)), self.store.budgets.clock

        def take(tx: Tx) -> float | None:  # seconds held, 0.0 taken, None: another process's call in flight
            until = max(self._mine.get(key, 0.0), tx.budgets.blocked(key).get(key, 0.0)) - clock()
            if until > 0:
                return until
            return 0.0 if tx.leases.hold(lease, self.owner, FLIGHT) else None

        deadline = clock() + PATIENCE
        while True:
            try:
                wait = await self.store.write(take)
            except StoreBusy:
                wait = None
            if wait is not None or clock() >= deadline:
                break
            await asyncio.sleep(TURN)
        if wait is None or wait > 0:
            yield PATIENCE if wait is None else wait
            return
        try:
            yield 0.0
        finally:
            with contextlib.suppress(StoreBusy):  # else it runs out (FLIGHT)
                await self.store.write(lambda tx: tx.leases.release(lease, self.owner))

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
