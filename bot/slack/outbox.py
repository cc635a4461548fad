"""The one way out to Slack: a durable table of posts and edits, drained by one worker.

- A card is rendered from the store when it is sent, so edits of the same card coalesce (the
  latest state wins) and a card is edited at most once per `card_interval`.
- Thread replies of a recording go out in order, after its card exists.
- Calls are counted as Slack counts them (`bot/slack/limits.py`): per workspace and method, and per
  channel for posts; one call of a method to a workspace in flight; a 429 holds that method in that
  workspace, for every process, until Retry-After. The most urgent rows take the budget first.
- A refusal degrades the row (compact, text alone, a line pointing to `/rec history`); only "nobody
  can receive it" gives it up, told to the linker. 5xx and network errors retry with backoff.
- A channel the bot has lost marks the link broken, keeps its rows aside and tells the linker.
- After a restart, pending rows are sent exactly once: every post carries its row id in the message
  metadata, and a row a crash caught mid-send is first looked for in its thread or channel, at Slack's
  Tier-1 pace (this needs channels:history/groups:history; without them such a row is sent again).
See docs/reliability.md, "Slack's limits".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable
from typing import Any

import httpx
from slack_sdk.errors import SlackApiError

from bot import logs, metrics
from bot.models import Actor, Outgoing, Recording, Team
from bot.slack import blocks, kinds, limits
from bot.slack.holds import HOLD, Holds, retry_after
from bot.slack.installs import NotInstalled, Tokens
from bot.slack.limits import Window
from bot.slack.sender import RespondFailed, Sender, Where
from bot.store import OutboxRow, Store, StoreBusy
from bot.store.leases import new_owner

log = logging.getLogger(__name__)

LOST_CHANNEL = {"not_in_channel", "channel_not_found", "is_archived"}
TRIGGER_GONE = {"expired_trigger_id", "exchanged_trigger_id", "invalid_trigger_id"}  # 3 s, once
# uninstalled (many workspaces)
REVOKED = {"token_revoked", "invalid_auth", "account_inactive", "team_access_not_granted"}
# Nobody can receive the row any more: given up, and said so to whoever linked the channel.
GONE = {"user_not_in_channel", "user_not_found", "user_disabled", "cannot_dm_bot", "ekm_access_denied",
        "message_not_found", "thread_not_found"}
TOLD = (Outgoing.CARD, Outgoing.THREAD, Outgoing.NOTE, Outgoing.CHANNEL)  # a channel's: its linker is told
WAIT = {"ratelimited", "rate_limited", "message_limit_exceeded"}  # later, the method held back
TRANSIENT = {"fatal_error", "internal_error", "service_unavailable", "request_timeout", "restricted_action"}
IN_THREAD = tuple(k.value for k, c in kinds.KINDS.items() if c.in_thread)  # in order, once the card exists
CLAIM_CHUNK = 20  # rows claimed and rendered per trip to the store's thread


class Outbox:
    def __init__(self, store: Store, tokens: Tokens, *, clock: Callable[[], float] = time.time,
                 scale: float = 1.0, card_interval: float = 1.0,
                 max_backoff: float = 60.0, http: httpx.AsyncClient | None = None, concurrency: int = 16):
        self.store, self.tokens, self.clock = store, tokens, clock
        self.concurrency = concurrency  # Slack calls in flight at once, each to a different thread or card
        self.max_backoff = max_backoff
        self.scale, self.card_interval = scale, card_interval  # scale: Slack's limits as the local Slack's (tests)
        self.http = http or httpx.AsyncClient(timeout=10.0)
        store.outbox.rank = kinds.rank  # how urgent each row is, written with it
        self.sender = Sender(store, tokens, self.http, clock=clock, on_card=self._card_sent)
        self._windows: dict[tuple[str, str], Window] = {}  # (workspace, method or channel): calls counted
        self.holds = Holds(store)  # a 429's hold, kept in the store for every process and every direct call
        self._holds: dict[tuple[str, str], float] = {}  # (workspace, method) -> not before: a 429's Retry-After
        self._slots: dict[int, list[list[float]]] = {}  # row -> its calls' places in the windows, until answered
        self._last_card: dict[str, float] = {}
        self._wake = asyncio.Event()
        self._claimed: set[int] = set()  # rows this process has tried; other 'sending' rows predate a crash
        self._sent: dict[int, tuple[OutboxRow, str | None]] = {}  # sent, but the store could not record it yet
        self._unsure: set[int] = set()  # rows that may have reached Slack before a crash: looked for first
        self._looking: dict[Where, asyncio.Task] = {}  # look-ups under way
        # Several processes may share the database: each row is sent by the one that leased it.
        self.owner = new_owner()
        self._loop: asyncio.AbstractEventLoop | None = None

    def wake(self) -> None:
        """Send what is due now; from any thread (decisions are written on the store's)."""
        loop = self._loop
        if loop is None or asyncio._get_running_loop() is loop:
            self._wake.set()
            return
        with contextlib.suppress(RuntimeError):  # the loop has closed: nothing is waiting
            loop.call_soon_threadsafe(self._wake.set)

    async def respond(self, url: str, text: str, reply_blocks: list[dict[str, Any]] | None,
                      asker: Actor | None = None) -> None:
        """An ephemeral reply on a response_url (raises StoreBusy when the outbox cannot take it); who asked
        where, so that once the response_url is spent it goes to them in that channel instead."""
        payload: dict[str, Any] = {"url": url, "text": text, "blocks": reply_blocks}
        if asker is not None and asker.user_id and asker.channel_id:
            payload |= {"user": asker.user_id, "channel": asker.channel_id}
        await self.store.aio.outbox.enqueue(Outgoing.RESPOND, payload, team=asker.team if asker else None)
        self.wake()

    async def tell(self, user_id: str, text: str, team: Team | None = None) -> None:
        """A direct message to one person (the answer to a form, which has no response_url)."""
        await self.store.aio.outbox.enqueue(Outgoing.DM, {"user": user_id, "text": text}, team=team)
        self.wake()

    async def complete_step(self, execution_id: str, token: str | None, team: Team, *,
                            outputs: dict[str, Any] | None = None, error: str | None = None) -> None:
        """A Workflow Builder step's end: its outputs, or why it failed."""
        payload: dict[str, Any] = {"execution_id": execution_id, "token": token}
        payload |= {"error": error} if error is not None else {"outputs": outputs or {}}
        await self.store.aio.outbox.enqueue(Outgoing.STEP_DONE, payload, team=team)
        self.wake()

    async def refresh_home(self, user_id: str, team: Team | None = None) -> None:
        """App Home, rendered from the store when sent; pending refreshes for one person merge."""
        await self.store.aio.outbox.enqueue(Outgoing.HOME, {"user": user_id}, coalesce_key=f"home:{user_id}", team=team)
        self.wake()

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        while True:
            self._wake.clear()
            try:
                delay = await self.drain()
            except Exception:  # the worker must never die; the rows stay and are tried again
                log.exception("outbox drain failed")
                delay = 1.0
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=max(0.01, min(delay, 1.0)))
            except TimeoutError:
                pass

    async def drain(self) -> float:
        """Send every row that may go now, the most urgent first. Returns how long until the next one may."""
        now = self.clock()
        wait = 60.0
        held_recordings: set[str] = set()  # recordings whose earlier replies have not gone yet
        if self._sent:  # record what went out before anything else
            await self._record_sent(list(self._sent.values()))
        soonest, behind, due, caught, recordings, holds = await self.store.call(self._due, now)
        self._holds.update({k: v for k, v in holds.items() if v > self._holds.get(k, 0.0)})
        if soonest is not None:
            wait = min(wait, soonest - now)
        for row in [*due, *caught]:  # caught mid-send by a crash: until looked up, it may be out already
            if row.state == "sending" and row.id not in self._claimed and row.id not in self._sent:
                self._unsure.add(row.id)
        wait = min(wait, self._look_up(list({row.id: row for row in [*due, *caught]}.values()), recordings, now))
        launch: list[tuple[OutboxRow, str]] = []  # one row per thread or card at a time: each keeps its order
        cards_in_flight: set[str] = set()
        # One call of a method to a workspace at a time: a 429 is known before the next such call is made, so
        # none is made inside its Retry-After window (calls in flight together would all land in it).
        flying: set[tuple[str, str]] = set()
        again = False  # rows wait only for calls in flight: drain again as soon as they are answered

        for row in self._by_priority(due, recordings):
            if row.id in self._sent:  # it went out; only its record is missing: never send it twice
                held_recordings.add(row.recording_id or "")
                continue
            now = self.clock()
            kind = kinds.of(row)
            channel = row.channel_id or row.payload.get("user") or "*"
            ordered = row.recording_id if kind.in_thread else None  # a thread's replies keep their order
            if ordered and (ordered in held_recordings or behind.get(ordered, row.id) < row.id):
                continue  # an earlier reply in its thread has not gone yet
            if row.id in self._unsure:  # it is being looked for; its thread waits
                held_recordings.add(ordered or "")
                continue
            rec = recordings.get(row.recording_id) if row.recording_id else None
            if kind.in_thread and (rec is None or rec.card_ts is None):
                held_recordings.add(row.recording_id or "")
                continue
            if kind.serial and row.recording_id in cards_in_flight:
                continue  # one edit of a card (or a call) at a time: a later render must not land first
            if row.kind == Outgoing.CARD and rec is not None and rec.card_ts:
                since = now - self._last_card.get(rec.id, -1e9)
                if since < self.card_interval:
                    wait = min(wait, self.card_interval - since)
                    continue
            windows = self._windows_for(row, kind, rec, channel)
            if windows and windows[0][0] in flying:  # one call of a method to a workspace at a time (below)
                again = True
                if ordered:
                    held_recordings.add(ordered)
                continue
            team = row.team_id or row.enterprise_id or ""
            later = max([self._wait(key, window, now) for key, window in windows] +  # and the others it calls
                        [self._holds.get((team, method), 0.0) - now for method in kind.also] + [0.0])
            if later > 0:  # Slack's budget for this method (or this channel) is spent, or a 429 holds it back
                wait = min(wait, later)
                if ordered:
                    held_recordings.add(ordered)
                continue
            self._slots[row.id] = [window.take() for _, window in windows]
            if windows:
                flying.add(windows[0][0])
            if ordered:  # its later replies wait until it has gone: the next drain, at once
                held_recordings.add(ordered)
                again = True
            if kind.serial and row.recording_id:
                cards_in_flight.add(row.recording_id)
            launch.append((row, channel))
        await self._fly(launch)
        return 0.0 if again else wait

    def _by_priority(self, due: list[OutboxRow], recordings: dict[str, Recording]) -> list[OutboxRow]:
        """The rows in the order they take the budget: the most urgent first (`kinds`), oldest first within
        a priority. A thread's replies keep their order: they all rank as its most urgent one."""
        rank = {row.id: kinds.of(row).priority(row, recordings.get(row.recording_id or "")) for row in due}
        thread: dict[str, int] = {}
        for row in due:
            if kinds.of(row).in_thread and row.recording_id:  # the store ranks it by its unread replies too
                mine = rank[row.id] if row.rank is None else min(rank[row.id], row.rank)
                thread[row.recording_id] = min(thread.get(row.recording_id, mine), mine)
        return sorted(due, key=lambda row: (thread.get(row.recording_id or "", rank[row.id])
                                            if kinds.of(row).in_thread else rank[row.id], row.id))

    def _windows_for(self, row: OutboxRow, kind: kinds.Kind, rec: Recording | None,
                     channel: str) -> list[tuple[tuple[str, str], Window]]:
        """The windows a send of this row counts in: its method's in its workspace, and its channel's for a
        post (none for a response_url)."""
        team, method = row.team_id or row.enterprise_id or "", kind.method_of(row, rec)
        if not method:
            return []
        out = [((team, method), self._window((team, method), limits.limit_of(method, self.scale)))]
        if kind.paced_per_channel and method == "chat.postMessage":
            key = (team, "channel:" + channel)
            out.append((key, self._window(key, limits.per_channel(self.scale))))
        return out

    def _look_up(self, due: list[OutboxRow], recordings: dict[str, Recording], now: float) -> float:
        """Look for the posts a crash may have caught: one call per channel (or thread) for all of its rows,
        each when its method's budget allows (Tier 1: one a minute), in the background so that every other
        row goes on meanwhile. Returns how long until the next look-up may be made."""
        groups: dict[Where, list[OutboxRow]] = {}
        plain: list[OutboxRow] = []  # caught too, but an edit, or where recbot may not look: sent again
        for row in due:
            if row.id not in self._unsure:
                continue
            where = self.sender.where(row, recordings.get(row.recording_id or ""))
            if where is None:  # it cannot be looked for: it is sent again, at the risk of showing twice
                self._unsure.discard(row.id)
                self._claimed.add(row.id)
                plain.append(row)
                continue
            groups.setdefault(where, []).append(row)
        wait = 60.0
        for where, rows in groups.items():
            if where in self._looking:
                continue
            key = (where.team, where.method)
            window = self._window(key, limits.limit_of(where.method, self.scale))
            if (later := self._wait(key, window, now)) > 0:
                wait = min(wait, later)
                continue
            # their recordings' other caught rows are taken too, in order: a row behind one that another process
            # holds may not be taken, and would need a look-up of its own, a minute later
            also = [r for r in plain if r.recording_id in {row.recording_id for row in rows}]
            self._looking[where] = asyncio.create_task(self._look(where, rows, also, window.take()))
        return wait

    async def _look(self, where: Where, rows: list[OutboxRow], also: list[OutboxRow], slot: list[float]) -> None:
        """One look-up: the rows found are recorded as sent (never sent twice); when the look-up covered all
        the messages since they were tried, the others are sent as usual."""
        try:
            claims = await self.store.call(lambda: {r.id: self.store.outbox.claim(r.id, self.owner)
                                                    for r in sorted([*rows, *also], key=lambda r: r.id)})
            mine = [r for r in rows if claims[r.id]]
            for row in mine:
                self._claimed.add(row.id)
            found, complete = await self.sender.look_up(where, mine) if mine else ({}, True)
        except SlackApiError as exc:
            response = exc.response
            if getattr(response, "status_code", 200) == 429:
                await self._hold(rows[0], where.method, self.clock() + retry_after(response))
            log.warning("could not look for %d outbox row(s) in %s: %s; trying again", len(rows), where.channel,
                        response.get("error") if hasattr(response, "get") else exc)
            return
        except NotInstalled:
            self._unsure.difference_update(r.id for r in rows)  # sent as usual, and so given up as usual
            return
        except Exception as exc:  # the store or the network: looked for again on a later drain
            log.warning("could not look for %d outbox row(s) in %s: %s", len(rows), where.channel, exc)
            return
        finally:
            limits.settle([slot], self.clock())
            self._looking.pop(where, None)
            self.wake()
        for row in mine:
            if row.id in found or complete:
                self._unsure.discard(row.id)
        if found:
            log.info("outbox row(s) %s were sent before a restart; not sending them again", sorted(found))
            await self._record_sent([(row, found[row.id]) for row in mine if row.id in found])

    def _window(self, key: tuple[str, str], limit: limits.Limit) -> Window:
        if (window := self._windows.get(key)) is None:
            window = self._windows[key] = Window(limit)
        return window

    def _wait(self, key: tuple[str, str], window: Window, now: float) -> float:
        held = self._holds.get(key, 0.0) - now
        return max(held, window.wait(now))

    async def _fly(self, launch: list[tuple[OutboxRow, str]]) -> None:
        """Claim and render the rows in a few trips to the store's thread, send them (`concurrency` at a
        time), and record what went out in one more. A trip each to claim and to record every row made the
        store's thread the queue a card edit waited in: at 200 webhooks/s a card's row took p50 1.0 s, p99
        1.8 s from created to sent (0.25 s and 0.46 s this way)."""
        claims: dict[int, tuple[bool, Any]] = {}
        for start in range(0, len(launch), CLAIM_CHUNK):  # other work on the store's thread goes in between
            try:
                claims |= await self.store.call(self._claim, [row for row, _ in launch[start:start + CLAIM_CHUNK]])
            except StoreBusy:
                break  # the rest waits for the next drain
        slots = asyncio.Semaphore(self.concurrency)

        async def fly(row: OutboxRow, channel: str) -> tuple[OutboxRow, str | None] | None:
            async with slots:
                return await self._send(row, channel, *claims[row.id])

        try:
            results = await asyncio.gather(*(fly(row, channel) for row, channel in launch if row.id in claims),
                                           return_exceptions=True)
        finally:
            answered = self.clock()
            for row, _ in launch:
                limits.settle(self._slots.pop(row.id, []), answered)
        sent = [r for r in results if isinstance(r, tuple)]
        if sent:
            await self._record_sent(sent)
        failed = [r for r in results if isinstance(r, BaseException)]
        if failed:
            raise failed[0]

    def _due(self, now: float) -> tuple[float | None, dict[str, int], list[OutboxRow], list[OutboxRow],
                                        dict[str, Recording], dict[tuple[str, str], float]]:
        """What a drain reads, in one trip to the store's thread: when the next waiting row is due, the
        first unsent reply of each thread, the rows due now, those a crash caught (to be looked for), their
        recordings, and the 429s any process got."""
        soonest, behind = self.store.outbox.waiting(now, IN_THREAD)
        due = self.store.outbox.due(now, owner=self.owner, threads=IN_THREAD)
        caught = self.store.outbox.caught(self.owner) if not self._looking else []
        wanted = {row.recording_id for row in [*due, *caught] if row.recording_id}
        recordings = {rec_id: rec for rec_id in wanted if (rec := self.store.recording(rec_id)) is not None}
        holds: dict[tuple[str, str], float] = {}
        for account, until in self.store.budgets.blocked(HOLD).items():
            _, team, method = account.split(":", 2)
            holds[(team, method)] = until
        return soonest, behind, due, caught, recordings, holds

    async def _send(self, row: OutboxRow, channel: str, claimed: bool,
                    rendered: Any) -> tuple[OutboxRow, str | None] | None:
        """Send one row; (the row, its ts) when it went out, None when it must wait (rows after it in the
        same thread wait too)."""
        if not claimed:
            return None  # another process is sending it
        self._claimed.add(row.id)
        logs.bind(workspace=row.team_id or row.enterprise_id, channel=row.channel_id, recording=row.recording_id)
        try:
            if isinstance(rendered, Exception):
                raise rendered
            ts = await self.sender.deliver(row, rendered)
        except NotInstalled as exc:  # uninstalled (or never installed): nothing more goes to that workspace
            log.info("outbox row %s (%s) dropped: the workspace has no install (%s)", row.id, row.kind, exc)
            await self.store.aio.outbox.fail(row.id, f"not installed: {exc}")
            return None
        except SlackApiError as exc:
            await self._slack_error(row, channel, exc)
            return None
        except (httpx.HTTPError, OSError, TimeoutError) as exc:
            await self._retry(row, f"network: {type(exc).__name__}")
            return None
        except RespondFailed as exc:
            if exc.spent:
                await self._elsewhere(row, str(exc))
            elif exc.retry:
                await self._retry(row, str(exc))
            elif row.payload.get("blocks") and kinds.level(row) < kinds.of(row).most_compact:
                await self.store.aio.outbox.degrade(row.id, str(exc))  # the text alone, without the blocks
            else:
                await self.store.aio.outbox.fail(row.id, str(exc))
            return None
        except Exception as exc:
            log.exception("could not send outbox row %s (%s)", row.id, row.kind)
            await self._retry(row, f"unexpected: {type(exc).__name__}")
            return None
        return row, ts

    def _claim(self, rows: list[OutboxRow]) -> dict[int, tuple[bool, Any]]:
        """Take each row and read what sending it needs: (taken, rendered). A failure to read is handed back,
        to be answered as a failure to send: the row is already taken."""
        claims: dict[int, tuple[bool, Any]] = {}
        for row in rows:
            if not self.store.outbox.claim(row.id, self.owner):
                claims[row.id] = (False, None)
                continue
            try:
                claims[row.id] = (True, self.sender.render(row))
            except Exception as exc:
                claims[row.id] = (True, exc)
        return claims

    async def _record_sent(self, sent: list[tuple[OutboxRow, str | None]]) -> None:
        """Mark rows sent, in one commit. If the store is busy, they are kept here as sent and recorded on
        the next drain, so that none is sent again meanwhile."""
        try:
            await self.store.call(self._write_sent, sent)
        except StoreBusy:
            self._sent |= {row.id: (row, ts) for row, ts in sent}
            return
        now = self.clock()
        for row, _ in sent:
            self._sent.pop(row.id, None)
            if (webhook_at := row.payload.get("webhook_at")) is not None:
                metrics.TO_SLACK.labels(row.kind).observe(max(0.0, now - webhook_at))

    def _write_sent(self, sent: list[tuple[OutboxRow, str | None]]) -> None:
        with self.store.transaction():
            for row, ts in sent:
                self.store.outbox.done(row.id, ts=ts)
                if row.kind == Outgoing.CARD and row.recording_id and ts:  # a new card's ts, if it could not be kept
                    self.store.keep_card_ts(row.recording_id, ts)
                if kinds.of(row).paced_per_channel and row.channel_id:
                    self.store.mark_link_broken(row.channel_id, None)  # recbot is back in the channel, if lost

    async def _elsewhere(self, row: OutboxRow, why: str) -> None:
        """A spent response_url, a form's trigger too old: the same answer goes to the same person another way
        (`kinds.Ephemeral`), at once."""
        payload = kinds.elsewhere(row)
        if payload is None:  # a row that does not say who asked, where
            await self.store.aio.outbox.fail(row.id, why)
            return
        log.info("outbox row %s (%s): %s; answering in the channel instead", row.id, row.kind, why)
        await self.store.aio.outbox.redirect(row.id, Outgoing.EPHEMERAL, payload, why)

    async def _retry(self, row: OutboxRow, error: str) -> None:
        delay = min(self.max_backoff, 0.5 * 2 ** min(row.attempts, 7)) * random.uniform(1.0, 1.3)
        await self.store.aio.outbox.retry(row.id, self.clock() + delay, error, unsure=row.id in self._unsure)

    async def _slack_error(self, row: OutboxRow, channel: str, exc: SlackApiError) -> None:
        """What a refusal does to the row. Only "nobody can receive this any more" gives it up; a rate limit
        waits, a refusal of what was sent degrades it, and anything else is tried again later: a refusal
        recbot does not know never loses a message (docs/reliability.md)."""
        response = exc.response
        error = str(response.get("error", "")) if hasattr(response, "get") else ""
        status = getattr(response, "status_code", 200)
        method = str(getattr(response, "api_url", "") or "").rsplit("/", 1)[-1]
        if status == 429 or error in WAIT:
            # told in the body, without a Retry-After: wait out the method's window
            seconds = retry_after(response) if status == 429 else limits.limit_of(method, self.scale).seconds
            until = self.clock() + seconds
            log.warning("Slack rate-limited %s in workspace %s (%s): holding that method back %.1f s", method,
                        row.team_id or row.enterprise_id, error or status, seconds)
            await self._hold(row, method, until)
            await self.store.aio.outbox.retry(row.id, until, error or "ratelimited", unsure=row.id in self._unsure)
        elif error in TRIGGER_GONE and row.kind == Outgoing.MODAL:  # too late for the form: say so to who asked
            await self._elsewhere(row, error)
        elif error in LOST_CHANNEL and row.channel_id:
            await self.store.call(self._lost_channel, row.channel_id, error)
        elif error == "token_expired" and self.tokens.many:  # expired sooner than its install said: refresh, again
            self.tokens.stale(row.team)
            await self._retry(row, error)
        elif error in REVOKED and self.tokens.many:  # uninstalled; the event saying so may be on its way
            await self._give_up(row, error, tell=False)
        elif error in GONE:
            await self._give_up(row, error, tell=row.kind in TOLD)
        elif status >= 500 or error in TRANSIENT:
            await self._retry(row, f"slack {status} {error}")
        elif kinds.level(row) < kinds.of(row).most_compact:
            log.warning("Slack refused outbox row %s (%s) with %s; sending a more compact form", row.id, row.kind,
                        error or status)
            await self.store.aio.outbox.degrade(row.id, error or f"http {status}")
        else:  # refused even at its most compact: kept, and tried again later
            log.error("Slack refused outbox row %s (%s) at its most compact, with %s; trying again later", row.id,
                      row.kind, error or status)
            await self._retry(row, error or f"http {status}")

    async def _hold(self, row: OutboxRow, method: str, until: float) -> None:
        """A 429: nothing more of `method` goes to the row's workspace before `until`, from any process."""
        key = (row.team_id or row.enterprise_id or "", method)
        self._holds[key] = max(self._holds.get(key, 0.0), until)
        await self.holds.hold(key[0], method, until - self.clock())

    async def _give_up(self, row: OutboxRow, error: str, *, tell: bool) -> None:
        """Nobody can receive the row any more: logged with the row and the error, and said to whoever linked
        the channel, by DM, when there is someone to tell."""
        log.warning("outbox row %s (%s, channel %s, recording %s) given up: %s", row.id, row.kind, row.channel_id,
                    row.recording_id, error)
        await self.store.call(self._failed, row, error, tell)

    def _failed(self, row: OutboxRow, error: str, tell: bool) -> None:
        with self.store.transaction():
            self.store.outbox.fail(row.id, error)
            link = self.store.link(row.channel_id) if tell and row.channel_id else None
            if link is not None:
                self.store.outbox.enqueue(Outgoing.DM, {"user": link.linked_by,
                                                        "text": blocks.given_up(link, row.kind, error)}, team=link.team)

    def _lost_channel(self, channel_id: str, error: str) -> None:
        with self.store.transaction():  # keep its rows aside, mark the link and tell the linker: all or nothing
            held = self.store.outbox.hold_channel(channel_id, error)
            link = self.store.link(channel_id)
            if link and self.store.mark_link_broken(channel_id, error):
                self.store.outbox.enqueue(Outgoing.DM, {"user": link.linked_by,
                                                        "text": blocks.lost_channel(link, error)}, team=link.team)
        log.warning("lost channel %s (%s); %d message(s) kept aside", channel_id, error, held)

    def _card_sent(self, recording_id: str) -> None:
        self._last_card[recording_id] = self.clock()

    async def aclose(self) -> None:
        """Stopping: rows this process leased are left to the next one at once, not when the lease runs out."""
        try:
            await self.store.aio.outbox.release(self.owner)
        except StoreBusy:
            log.warning("could not release the outbox rows this process held; they pass on when their lease ends")
        await self.http.aclose()
