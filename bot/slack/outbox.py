"""The one way out to Slack: a durable table of posts and edits, drained by one worker.

- A card is rendered from the store when it is sent, so edits of the same card coalesce (the
  latest state wins) and a card is edited at most once per `card_interval`.
- Thread replies of a recording go out in order, after its card exists.
- About one message per second per channel (a small burst allowed); `Retry-After` is honoured;
  5xx and network errors retry with backoff; nothing is dropped.
- A channel the bot has lost marks the link broken, keeps its rows aside and tells the linker.
- After a restart, pending rows are sent exactly once: every post carries its row id in the message
  metadata, and a row a crash caught mid-send is first looked for in its thread or channel (this
  needs channels:history/groups:history; without them such a row is sent again).
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
from bot.slack import blocks, kinds
from bot.slack.installs import NotInstalled, Tokens
from bot.slack.sender import RespondFailed, Sender
from bot.store import OutboxRow, Store, StoreBusy
from bot.store.leases import new_owner

log = logging.getLogger(__name__)

LOST_CHANNEL = {"not_in_channel", "channel_not_found", "is_archived"}
REFUSED_AS_RENDERED = {"invalid_blocks", "msg_too_long", "invalid_blocks_format"}
TRIGGER_GONE = {"expired_trigger_id", "exchanged_trigger_id", "invalid_trigger_id"}  # 3 s, once
REVOKED = {"token_revoked", "invalid_auth", "account_inactive", "team_access_not_granted"}
IN_THREAD = tuple(k.value for k, c in kinds.KINDS.items() if c.in_thread)  # in order, once the card exists
CLAIM_CHUNK = 20  # rows claimed and rendered per trip to the store's thread


class TokenBucket:
    def __init__(self, rate: float, burst: float, now: float):
        self.rate, self.burst, self.tokens, self.last = rate, burst, burst, now

    def take(self, now: float) -> float:
        """0 if a token was taken, else seconds until one is available."""
        self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
        self.last = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


class Outbox:
    def __init__(self, store: Store, tokens: Tokens, *, clock: Callable[[], float] = time.time,
                 per_channel_rate: float = 1.0, burst: float = 3.0, card_interval: float = 1.0,
                 max_backoff: float = 60.0, http: httpx.AsyncClient | None = None, concurrency: int = 16):
        self.store, self.tokens, self.clock = store, tokens, clock
        self.concurrency = concurrency  # Slack calls in flight at once, each to a different thread or card
        self.max_backoff = max_backoff
        self.rate, self.burst, self.card_interval = per_channel_rate, burst, card_interval
        self.http = http or httpx.AsyncClient(timeout=10.0)
        self.sender = Sender(store, tokens, self.http, clock=clock, on_card=self._card_sent)
        self._buckets: dict[str, TokenBucket] = {}
        self._blocked: dict[str, float] = {}  # channel (or "*") -> not before
        self._last_card: dict[str, float] = {}
        self._wake = asyncio.Event()
        self._claimed: set[int] = set()  # rows this process has tried; other 'sending' rows predate a crash
        self._sent: dict[int, tuple[OutboxRow, str | None]] = {}  # sent, but the store could not record it yet
        self._unsure: set[int] = set()  # rows that may have reached Slack before a crash
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
        """Send every row that may go now. Returns how long until the next one may."""
        now = self.clock()
        wait = 60.0
        held_recordings: set[str] = set()  # recordings whose earlier replies have not gone yet
        if self._sent:  # record what went out before anything else
            await self._record_sent(list(self._sent.values()))
        soonest, behind, due, recordings = await self.store.call(self._due, now)
        if soonest is not None:
            wait = min(wait, soonest - now)
        launch: list[tuple[OutboxRow, str]] = []  # one row per thread or card at a time: each keeps its order
        cards_in_flight: set[str] = set()
        launched_in_thread = False

        for row in due:
            if row.id in self._sent:  # it went out; only its record is missing: never send it twice
                held_recordings.add(row.recording_id or "")
                continue
            now = self.clock()
            kind = kinds.of(row)
            # What a 429 blocks: the channel, else for a call or a step's end its own method (calls.*, functions.*
            # are limited per method), else everything ("*")
            channel = row.channel_id or row.payload.get("user") or \
                (kind.method if kind.kind in (Outgoing.CALL, Outgoing.STEP_DONE) else "*")
            ordered = row.recording_id if kind.in_thread else None  # a thread's replies keep their order
            if ordered and (ordered in held_recordings or behind.get(ordered, row.id) < row.id):
                continue  # an earlier reply in its thread has not gone yet
            blocked = max(self._blocked.get(channel, 0.0), self._blocked.get("*", 0.0))
            if blocked > now:
                wait = min(wait, blocked - now)
                if ordered:
                    held_recordings.add(ordered)
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
            if kind.paced_per_channel:
                bucket = self._buckets.setdefault(channel, TokenBucket(self.rate, self.burst, now))
                if (later := bucket.take(now)) > 0:
                    wait = min(wait, later)
                    if ordered:
                        held_recordings.add(ordered)
                    continue
            if ordered:  # its later replies wait until it has gone: the next drain, at once
                held_recordings.add(ordered)
                launched_in_thread = True
            if kind.serial and row.recording_id:
                cards_in_flight.add(row.recording_id)
            launch.append((row, channel))
        await self._fly(launch)
        return 0.0 if launched_in_thread else wait

    async def _fly(self, launch: list[tuple[OutboxRow, str]]) -> None:
        """Claim and render the rows in a few trips to the store's thread, send them (`concurrency` at a
        time), and record what went out in one more. A trip each to claim and to record every row made the
        store's thread the queue a card edit waited in: at 200 webhooks/s a card's row took p50 1.0 s, p99
        1.8 s from created to sent (0.25 s and 0.46 s this way)."""
        for row, _ in launch:
            if row.state == "sending" and row.id not in self._claimed:
                self._unsure.add(row.id)  # caught mid-send by a crash: until looked up, it may be out already
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

        results = await asyncio.gather(*(fly(row, channel) for row, channel in launch if row.id in claims),
                                       return_exceptions=True)
        sent = [r for r in results if isinstance(r, tuple)]
        if sent:
            await self._record_sent(sent)
        failed = [r for r in results if isinstance(r, BaseException)]
        if failed:
            raise failed[0]

    def _due(self, now: float) -> tuple[float | None, dict[str, int], list[OutboxRow], dict[str, Recording]]:
        """What a drain reads, in one trip to the store's thread: when the next waiting row is due, the
        first unsent reply of each thread, the rows due now, and their recordings."""
        soonest, behind = self.store.outbox.waiting(now, IN_THREAD)
        due = self.store.outbox.due(now, owner=self.owner)
        wanted = {row.recording_id for row in due if row.recording_id}
        recordings = {rec_id: rec for rec_id in wanted if (rec := self.store.recording(rec_id)) is not None}
        return soonest, behind, due, recordings

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
            ts = None
            if row.id in self._unsure:
                ts = await self.sender.find_sent(row)  # a failed look-up raises: the row stays unsure
                self._unsure.discard(row.id)
            if ts is not None:
                log.info("outbox row %s was sent before a restart; not sending it again", row.id)
                if row.kind == Outgoing.CARD and row.recording_id:
                    await self.store.aio.update_recording(row.recording_id, card_ts=ts)
            else:
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
        response = exc.response
        error = str(response.get("error", "")) if hasattr(response, "get") else ""
        status = getattr(response, "status_code", 200)
        if status == 429 or error == "ratelimited":
            try:
                retry_after = float(response.headers.get("Retry-After", response.headers.get("retry-after", 1)))
            except (TypeError, ValueError, AttributeError):
                retry_after = 1.0
            until = self.clock() + retry_after
            self._blocked[channel] = max(self._blocked.get(channel, 0.0), until)
            await self.store.aio.outbox.retry(row.id, until, "ratelimited", unsure=row.id in self._unsure)
        elif error in TRIGGER_GONE and row.kind == Outgoing.MODAL:  # too late for the form: say so to who asked
            await self._elsewhere(row, error)
        elif error in LOST_CHANNEL and row.channel_id:
            await self.store.call(self._lost_channel, row.channel_id, error)
        elif error in REFUSED_AS_RENDERED and kinds.level(row) < kinds.of(row).most_compact:
            log.warning("Slack refused outbox row %s (%s) as rendered (%s); sending a more compact form", row.id,
                        row.kind, error)
            await self.store.aio.outbox.degrade(row.id, error)
        elif error == "token_expired" and self.tokens.many:  # expired sooner than its install said: refresh, again
            self.tokens.stale(row.team)
            await self._retry(row, error)
        elif error in REVOKED and self.tokens.many:  # uninstalled; the event saying so may be on its way
            log.warning("outbox row %s (%s) not sent: %s", row.id, row.kind, error)
            await self.store.aio.outbox.fail(row.id, error)
        elif error == "user_not_in_channel":  # a whisper to someone who left the channel: nobody to tell
            await self.store.aio.outbox.fail(row.id, error)
        elif status >= 500 or error in ("fatal_error", "internal_error", "service_unavailable", "request_timeout"):
            await self._retry(row, f"slack {status} {error}")
        else:
            log.error("Slack refused outbox row %s (%s): %s", row.id, row.kind, error or status)
            await self.store.aio.outbox.fail(row.id, error or f"http {status}")

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
