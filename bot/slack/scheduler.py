"""The outbox's worker: which rows go now and in what order. A drain reads the rows due, the most urgent
first (`kinds`); a thread's replies in order once its card exists; a card edited at most once per
`card_interval`; one call of a method to a workspace in flight; each within Slack's budget per workspace and
method (and per channel for posts) and outside any 429's Retry-After. Rows a crash caught mid-send are looked
for first, in the background (`_look_up`). `Flight` (flight.py) sends what it launches. On the loop; `_due` is
a function over a Tx (`store.read`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from slack_sdk.errors import SlackApiError

from bot.models import Outgoing, Recording
from bot.slack import kinds, limits
from bot.slack.flight import Flight, Launch
from bot.slack.holds import FLIGHT, RESPOND_URL, counted_in, flight, holds_of
from bot.slack.installs import NotInstalled
from bot.slack.limits import Window
from bot.slack.not_ok import not_ok
from bot.slack.sender import Where
from bot.store import OutboxRow, Tx

log = logging.getLogger("bot.slack.outbox")  # the outbox's one logger, whichever of its rooms writes

CONTENDED = 0.05  # seconds before a drain tries again a row whose method another process had in flight
IN_THREAD = tuple(k.value for k, c in kinds.KINDS.items() if c.in_thread)  # in order, once the card exists


class Scheduler(Flight):
    """A part of `Courier`: the worker's loop and its choice of rows, over the state `Courier.__init__` sets."""

    card_interval: float
    _windows: dict[tuple[str, str], Window]
    _org_wide: dict[tuple[str | None, str | None], bool]  # (org, workspace): served by the org-wide install
    _last_card: dict[str, float]
    _wake: asyncio.Event
    _looking: dict[Where, asyncio.Task]
    _loop: asyncio.AbstractEventLoop | None

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

    def wake(self) -> None:
        """Send what is due now; from any thread (decisions are written on the store's)."""
        loop = self._loop
        if loop is None or asyncio._get_running_loop() is loop:
            self._wake.set()
            return
        with contextlib.suppress(RuntimeError):  # the loop has closed: nothing is waiting
            loop.call_soon_threadsafe(self._wake.set)

    async def drain(self) -> float:
        """Send every row that may go now, the most urgent first. Returns how long until the next one may."""
        now = self.clock()
        wait = 60.0
        held_recordings: set[str] = set()  # recordings whose earlier replies have not gone yet
        if self._sent:  # record what went out before anything else
            await self._record_sent(list(self._sent.values()))
        soonest, behind, due, caught, recordings, holds, org_wide = await self.store.read(self._due, now)
        self._holds.update({k: v for k, v in holds.items() if v > self._holds.get(k, 0.0)})
        self._org_wide.update(org_wide)
        if soonest is not None:
            wait = min(wait, soonest - now)
        for row in [*due, *caught]:  # caught mid-send by a crash: until looked up, it may be out already
            if row.state == "sending" and not self._mine(row) and row.id not in self._sent:
                self._unsure.add(row.id)
        wait = min(wait, self._look_up(list({row.id: row for row in [*due, *caught]}.values()), recordings, now))
        launch: Launch = []  # one row per thread or card at a time
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
            also = [self._key(row, method) for method in kind.also]  # the other methods one send may call
            # (answers on response_urls are not one at a time: Slack documents no limit there)
            calls = [key for key, _ in windows[:1]] + [key for key in also if key[1] != RESPOND_URL]
            if flying.intersection(calls):  # one call of a method to a workspace at a time (below)
                again = True
                if ordered:
                    held_recordings.add(ordered)
                continue
            later = max([self._wait(key, window, now) for key, window in windows] +
                        [self._holds.get(key, 0.0) - now for key in also] + [0.0])
            if later > 0:  # Slack's budget for this method (or this channel) is spent, or a 429 holds it back
                wait = min(wait, later)
                if ordered:
                    held_recordings.add(ordered)
                continue
            self._slots[row.id] = [window.take() for _, window in windows]
            flying.update(calls)
            if ordered:  # its later replies wait until it has gone: the next drain, at once
                held_recordings.add(ordered)
                again = True
            if kind.serial and row.recording_id:
                cards_in_flight.add(row.recording_id)
            launch.append((row, channel, calls))
        if await self._fly(launch):  # another process's call of a row's method was in flight: soon again
            wait = min(wait, CONTENDED)
        return 0.0 if again else wait

    def _mine(self, row: OutboxRow) -> bool:
        """Whether a 'sending' row is in this process's hands: taken by it last, not only tried by it once. A
        row it tried before (and put back to pending) may since have been taken by another process, sent, and
        the process killed before it recorded it: it is looked up like any other caught row (the chaos run's
        reply said twice, two processes, seed 1, docs/reliability.md)."""
        return row.claimed_by == self.owner and row.id in self._claimed

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
        method = kind.method_of(row, rec)
        if not method:
            return []
        key = self._key(row, method)
        out = [(key, self._window(key, limits.limit_of(method, self.scale)))]
        if kind.paced_per_channel and method == "chat.postMessage":
            key = (key[0], "channel:" + channel)
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
        key, now = (where.team, where.method), self.clock()

        def take(tx: Tx) -> dict[int, bool]:  # none while another process's look-up there is in flight, or held
            if holds_of(tx).get(key, 0.0) > now or not tx.leases.hold(flight(key), self.owner, FLIGHT):
                return {}
            return {r.id: tx.outbox.claim(r.id, self.owner) for r in sorted([*rows, *also], key=lambda r: r.id)}

        mine: list[OutboxRow] = []
        try:
            claims = await self.store.write(take)
            mine = [r for r in rows if claims.get(r.id)]
            for row in mine:
                self._claimed.add(row.id)
            found, complete = await self.sender.look_up(where, mine) if mine else ({}, True)
        except SlackApiError as exc:
            refused = not_ok(exc)
            if refused.status == 429:
                await self._hold(rows[0], where.method, self.clock() + refused.retry_after)
            log.warning("could not look for %d outbox row(s) in %s: %s; trying again", len(rows), where.channel,
                        refused)
            return
        except NotInstalled:
            self._unsure.difference_update(r.id for r in rows)  # sent as usual, and so given up as usual
            return
        except Exception as exc:  # the store or the network: looked for again on a later drain
            log.warning("could not look for %d outbox row(s) in %s: %s", len(rows), where.channel, exc)
            return
        finally:
            limits.settle([slot], self.clock())
            with contextlib.suppress(Exception):  # else it runs out (FLIGHT)
                await self.store.write(lambda tx: tx.leases.release(flight(key), self.owner))
            self._looking.pop(where, None)
            self.wake()
        for row in mine:
            if row.id in found or complete:
                self._unsure.discard(row.id)
        if found:
            log.info("outbox row(s) %s were sent before a restart; not sending them again", sorted(found))
            await self._record_sent([(row, found[row.id]) for row in mine if row.id in found])

    def _key(self, row: OutboxRow, method: str) -> tuple[str, str]:
        """(workspace, method): what a call of `method` for this row counts in and is held by (`counted_in`: for
        an org-wide install, a call that names no channel counts for the org)."""
        org_wide = self._org_wide.get((row.enterprise_id, row.team_id), False)
        return counted_in(row.team, method, row.channel_id or row.payload.get("channel"), org_wide=org_wide), method

    def _window(self, key: tuple[str, str], limit: limits.Limit) -> Window:
        if (window := self._windows.get(key)) is None:
            window = self._windows[key] = Window(limit)
        return window

    def _wait(self, key: tuple[str, str], window: Window, now: float) -> float:
        held = self._holds.get(key, 0.0) - now
        return max(held, window.wait(now))

    def _due(self, tx: Tx, now: float) -> tuple[float | None, dict[str, int], list[OutboxRow], list[OutboxRow],
                                        dict[str, Recording], dict[tuple[str, str], float],
                                        dict[tuple[str | None, str | None], bool]]:
        """What a drain reads, in one trip to the store's thread: when the next waiting row is due, the
        first unsent reply of each thread, the rows due now, those a crash caught (to be looked for), their
        recordings, the 429s any process got, and which of their Grid workspaces an org-wide install serves."""
        soonest, behind = tx.outbox.waiting(now, IN_THREAD)
        due = tx.outbox.due(now, owner=self.owner, threads=IN_THREAD)
        caught = tx.outbox.caught(self.owner) if not self._looking else []
        wanted = {row.recording_id for row in [*due, *caught] if row.recording_id}
        recordings = {rec_id: rec for rec_id in wanted if (rec := tx.recording(rec_id)) is not None}
        holds = holds_of(tx)
        grid: set[tuple[str | None, str | None]] = {(r.enterprise_id, r.team_id) for r in [*due, *caught]
                                                    if r.enterprise_id}
        org_wide = {(org, team): tx.workspaces.org_wide(org, team) for org, team in grid}
        return soonest, behind, due, caught, recordings, holds, org_wide
