"""The one way out to Slack: the courier, the worker that drains the outbox (a durable table of posts and edits).

- A card is rendered from the store when it is sent, so edits of the same card coalesce (the
  latest state wins) and a card is edited at most once per `card_interval`.
- Thread replies of a recording go out in order, after its card exists.
- Calls are counted as Slack counts them (`bot/slack/limits.py`): per workspace and method, and per
  channel for posts; one call of a method to a workspace in flight; a 429 holds that method in that
  workspace, for every process, until Retry-After. The most urgent rows take the budget first.
- A refusal degrades the row (compact, text alone, a line pointing to `/rec history`); only "nobody
  can receive it" gives it up, told to the linker. 5xx, a proxy's page and network errors retry with
  backoff (to a minute); a refusal recbot does not know is first sent once more as it was (not_ok.py).
- A channel the bot has lost marks the link broken, keeps its rows aside and tells the linker.
- After a restart, pending rows are sent exactly once: every post carries its row id in the message
  metadata, and a row a crash caught mid-send is first looked for in its thread or channel, at Slack's
  Tier-1 pace (this needs channels:history/groups:history; without them such a row is sent again).
See docs/reliability.md, "Slack's limits". `Courier` is the way in and the state; `Scheduler` (scheduler.py)
chooses what goes now; `Flight` (flight.py) sends it and answers each refusal.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import httpx

from bot.models import Actor, Outgoing, Team
from bot.retry import Backoff
from bot.slack import kinds
from bot.slack.holds import Holds
from bot.slack.installs import Tokens
from bot.slack.limits import Window
from bot.slack.scheduler import Scheduler
from bot.slack.sender import Sender, Where
from bot.store import OutboxRow, Store, StoreBusy, Tx
from bot.store.leases import new_owner

log = logging.getLogger("bot.slack.outbox")  # the outbox's one logger, whichever of its rooms writes


class Courier(Scheduler):
    """The way in: what the rest of recbot queues (replies, direct messages, a step's end, App Home) and the
    state the worker (`Scheduler`, scheduler.py) and its rows in flight (`Flight`, flight.py) share."""

    def __init__(self, store: Store, tokens: Tokens, *, clock: Callable[[], float] = time.time,
                 scale: float = 1.0, card_interval: float = 1.0,
                 max_backoff: float = 60.0, http: httpx.AsyncClient | None = None, concurrency: int = 16):
        self.store, self.tokens, self.clock = store, tokens, clock
        self.concurrency = concurrency  # Slack calls in flight at once, each to a different thread or card
        self.backoff = Backoff(0.5, max_backoff, jitter=0.3)  # a row Slack did not take: 0.5 s, 1 s, … max_backoff
        self.scale, self.card_interval = scale, card_interval  # scale: Slack's limits as the local Slack's (tests)
        self.http = http or httpx.AsyncClient(timeout=10.0)
        store.outbox.rank = kinds.rank  # how urgent each row is, written with it
        self.sender = Sender(store, tokens, self.http, clock=clock, on_card=self._card_sent)
        self._windows: dict[tuple[str, str], Window] = {}  # (workspace, method or channel): calls counted
        # Several processes may share the database: each row is sent by the one that leased it.
        self.owner = new_owner()
        self.holds = Holds(store, self.owner)  # a 429's hold, kept in the store for every process and direct call
        self._holds: dict[tuple[str, str], float] = {}  # (workspace, method) -> not before: a 429's Retry-After
        self._org_wide: dict[tuple[str | None, str | None], bool] = {}  # (org, workspace): an org-wide install's
        self._slots: dict[int, list[list[float]]] = {}  # row -> its calls' places in the windows, until answered
        self._last_card: dict[str, float] = {}
        self._wake = asyncio.Event()
        self._claimed: set[int] = set()  # rows this process has taken (still its own: `Scheduler._mine`)
        self._sent: dict[int, tuple[OutboxRow, str | None]] = {}  # sent, but the store could not record it yet
        self._unsure: set[int] = set()  # rows that may have reached Slack before a crash: looked for first
        self._odd: set[int] = set()  # rows sent once more as they were after a refusal recbot does not know
        self._looking: dict[Where, asyncio.Task] = {}  # look-ups under way
        self._loop: asyncio.AbstractEventLoop | None = None

    async def respond(self, url: str, text: str, reply_blocks: list[dict[str, Any]] | None,
                      asker: Actor | None = None) -> None:
        """An ephemeral reply on a response_url (raises StoreBusy when the outbox cannot take it); who asked
        where, so that once the response_url is spent it goes to them in that channel instead."""
        payload: dict[str, Any] = {"url": url, "text": text, "blocks": reply_blocks}
        if asker is not None and asker.user_id and asker.channel_id:
            payload |= {"user": asker.user_id, "channel": asker.channel_id}
        team = asker.team if asker else None
        await self.store.write(lambda tx: tx.outbox.enqueue(Outgoing.RESPOND, payload, team=team))
        self.wake()

    async def tell(self, user_id: str, text: str, team: Team | None = None) -> None:
        """A direct message to one person (the answer to a form, which has no response_url)."""
        await self.store.write(lambda tx: tx.outbox.enqueue(Outgoing.DM, {"user": user_id, "text": text}, team=team))
        self.wake()

    async def complete_step(self, execution_id: str, token: str | None, team: Team, *,
                            outputs: dict[str, Any] | None = None, error: str | None = None) -> None:
        """A Workflow Builder step's end: its outputs, or why it failed."""
        payload: dict[str, Any] = {"execution_id": execution_id, "token": token}
        payload |= {"error": error} if error is not None else {"outputs": outputs or {}}
        await self.store.write(lambda tx: tx.outbox.enqueue(Outgoing.STEP_DONE, payload, team=team))
        self.wake()

    async def refresh_home(self, user_id: str, team: Team | None = None) -> None:
        """App Home, rendered from the store when sent; pending refreshes for one person merge."""
        await self.store.write(lambda tx: tx.outbox.enqueue(Outgoing.HOME, {"user": user_id},
                                                            coalesce_key=f"home:{user_id}", team=team))
        self.wake()

    def _let_go(self, tx: Tx) -> None:
        tx.outbox.release(self.owner)
        tx.leases.release_all(self.owner)  # the calls it had in flight (`flight`)

    def _card_sent(self, recording_id: str) -> None:
        self._last_card[recording_id] = self.clock()

    async def aclose(self) -> None:
        """Stopping: rows this process leased are left to the next one at once, not when the lease runs out."""
        try:
            await self.store.write(self._let_go)
        except StoreBusy:
            log.warning("could not release the outbox rows this process held; they pass on when their lease ends")
        await self.http.aclose()
