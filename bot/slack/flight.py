"""The outbox's rows in flight: claimed and rendered in a few trips to the store's thread, sent (`concurrency`
at a time), recorded as sent in one commit; and what each of Slack's answers does to its row: a rate limit
holds the method back, a refusal of what was sent degrades it, a lost channel keeps its rows aside, only
"nobody can receive it" gives it up, and anything else is tried again later (docs/reliability.md).
`Scheduler` (scheduler.py) chooses the rows; `Courier` (courier.py) is the way in and holds the state. On the loop;
`_claim`, `_write_sent` and `_failed` are functions over a Tx (`store.write`)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import httpx
from slack_sdk.errors import SlackApiError

from bot import logs, metrics
from bot.models import Outgoing
from bot.retry import Backoff
from bot.slack import blocks, kinds, limits
from bot.slack.holds import FLIGHT, RESPOND_URL, Holds, flight, holds_of
from bot.slack.installs import NotInstalled, RefreshFailed, Tokens
from bot.slack.not_ok import Answer, answer, not_ok
from bot.slack.sender import RespondFailed, Sender
from bot.store import OutboxRow, Store, StoreBusy, Tx

log = logging.getLogger("bot.slack.outbox")  # the outbox's one logger, whichever of its rooms writes

TOLD = (Outgoing.CARD, Outgoing.THREAD, Outgoing.NOTE)  # a channel's: its linker is told
CLAIM_CHUNK = 20  # rows claimed and rendered per trip to the store's thread
# a drain's launch: each row, the channel it goes to, and its calls (workspace, method) that take their turn
Launch = list[tuple[OutboxRow, str, list[tuple[str, str]]]]
# a claim's trip: {row: (taken, rendered)}, the calls taken in flight, the holds, whether a row waited for another
Claimed = tuple[dict[int, tuple[bool, Any]], set[tuple[str, str]], dict[tuple[str, str], float], bool]


class Flight:
    """A part of `Courier`: it sends what `Scheduler.drain` launched, over the state `Courier.__init__` sets."""

    store: Store
    tokens: Tokens
    clock: Callable[[], float]
    scale: float
    backoff: Backoff
    concurrency: int
    sender: Sender
    holds: Holds
    owner: str
    _holds: dict[tuple[str, str], float]
    _key: Callable[[OutboxRow, str], tuple[str, str]]  # (workspace, method) a call counts in (`Scheduler._key`)
    _slots: dict[int, list[list[float]]]
    _claimed: set[int]
    _sent: dict[int, tuple[OutboxRow, str | None]]
    _unsure: set[int]
    _odd: set[int]  # rows sent once more as they were after a refusal recbot does not know

    async def _fly(self, launch: Launch) -> bool:
        """Claim and render the rows in a few trips to the store's thread, send them (`concurrency` at a
        time), and record what went out in one more. A trip each to claim and to record every row made the
        store's thread the queue a card edit waited in: at 200 webhooks/s a card's row took p50 1.0 s, p99
        1.8 s from created to sent (0.25 s and 0.46 s this way). Each row's calls (workspace, method) are
        taken in flight, across processes, in the trip that claims it, and let go in the one that records it
        (`_claim`). Returns whether a row waited for another process's call in flight."""
        claims: dict[int, tuple[bool, Any]] = {}
        taken: set[tuple[str, str]] = set()  # the calls this process has in flight, let go once answered
        contended = False
        for start in range(0, len(launch), CLAIM_CHUNK):  # other work on the store's thread goes in between
            try:
                got, calls, held, busy = await self.store.write(self._claim, launch[start:start + CLAIM_CHUNK])
            except StoreBusy:
                break  # the rest waits for the next drain
            claims, contended = claims | got, contended or busy
            taken |= calls
            for key, until in held.items():  # a 429 another process got since this drain read the holds
                self._holds[key] = max(self._holds.get(key, 0.0), until)
        slots = asyncio.Semaphore(self.concurrency)

        async def fly(row: OutboxRow, channel: str) -> tuple[OutboxRow, str | None] | None:
            async with slots:
                return await self._send(row, channel, *claims[row.id])

        try:
            results = await asyncio.gather(*(fly(row, channel) for row, channel, _ in launch if row.id in claims),
                                           return_exceptions=True)
        finally:
            answered = self.clock()
            for row, _, _ in launch:
                limits.settle(self._slots.pop(row.id, []), answered)
        sent = [r for r in results if isinstance(r, tuple)]
        if sent or taken:
            await self._record_sent(sent, sorted(taken))
        failed = [r for r in results if isinstance(r, BaseException)]
        if failed:
            raise failed[0]
        return contended

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
            why = f"not installed: {exc}"
            await self.store.write(lambda tx: tx.outbox.fail(row.id, why))
            return None
        except SlackApiError as exc:
            await self._slack_error(row, exc)
            return None
        except RefreshFailed as exc:  # the workspace's token could not be refreshed this time: the row waits
            await self._retry(row, str(exc), after=exc.wait or None)
            return None
        except (httpx.HTTPError, OSError, TimeoutError) as exc:
            await self._retry(row, f"network: {type(exc).__name__}")
            return None
        except RespondFailed as exc:
            await self._respond_failed(row, exc)
            return None
        except Exception as exc:
            log.exception("could not send outbox row %s (%s)", row.id, row.kind)
            await self._retry(row, f"unexpected: {type(exc).__name__}")
            return None
        return row, ts

    def _claim(self, tx: Tx, launch: Launch) -> Claimed:
        """Take each row and read what sending it needs: {row: (taken, rendered)}. A failure to read is handed
        back, to be answered as a failure to send: the row is already taken. A row is not taken when it would call
        another method than the drain chose it for (`Kind.method_at_claim`: a card another process posted since is
        edited, not posted), nor while a 429 holds one of its calls (another process's, written since the drain
        read them: read once the calls' leases are taken, returned, to be waited out), nor while another process
        has a call of the same method to the same workspace in flight (the lease `flight`: else one's 429 finds the
        other's call on its way, docs/reliability.md). Returns the claims, the calls taken in flight, the holds,
        and whether a row waited for another process (or for a drain that chooses it by its method now)."""
        claims: dict[int, tuple[bool, Any]] = {}
        taken: set[tuple[str, str]] = set()
        leased: dict[int, bool] = {}
        for row, _, calls in launch:
            got = [key for key in calls if tx.leases.hold(flight(key), self.owner, FLIGHT)]
            taken.update(got)
            leased[row.id] = len(got) == len(calls)
        # The holds are read once the leases are this process's: a process answered 429 writes its hold before
        # it lets go of the call's lease, so whoever takes that lease next sees the hold (on PostgreSQL each
        # statement sees what was committed before it: read before the lease, the hold could be missed, the
        # two-process chaos run's chat.update inside a window, docs/reliability.md).
        now, holds, contended = self.clock(), holds_of(tx), False
        for row, _, calls in launch:
            method = kinds.of(row).method_at_claim(tx, row)
            if method is not None and calls and calls[0][1] != method:  # it would call another method than chosen
                claims[row.id], contended = (False, None), True  # for: chosen again at once, by that method
                continue
            if any(holds.get(key, 0.0) > now for key in calls):
                claims[row.id] = (False, None)
                continue
            if not leased[row.id] or not tx.outbox.claim(row.id, self.owner):
                contended = contended or not leased[row.id]
                claims[row.id] = (False, None)
                continue
            try:
                claims[row.id] = (True, self.sender.render(tx, row))
            except Exception as exc:
                claims[row.id] = (True, exc)
        return claims, taken, {k: v for k, v in holds.items() if v > now}, contended

    async def _record_sent(self, sent: list[tuple[OutboxRow, str | None]],
                           flights: list[tuple[str, str]] | None = None) -> None:
        """Mark rows sent, in one commit, and let go of the calls in flight (`flights`) in the same. If the store
        is busy, they are kept here as sent and recorded on the next drain, so that none is sent again
        meanwhile (the calls in flight are let go when their lease runs out, `FLIGHT`)."""
        try:
            await self.store.write(self._write_sent, sent, flights or [])
        except StoreBusy:
            self._sent |= {row.id: (row, ts) for row, ts in sent}
            return
        now = self.clock()
        for row, _ in sent:
            self._sent.pop(row.id, None)
            self._odd.discard(row.id)
            if (webhook_at := row.payload.get("webhook_at")) is not None:
                metrics.TO_SLACK.labels(row.kind).observe(max(0.0, now - webhook_at))

    def _write_sent(self, tx: Tx, sent: list[tuple[OutboxRow, str | None]], flights: list[tuple[str, str]]) -> None:
        for row, ts in sent:
            tx.outbox.done(row.id, ts=ts)
            if row.kind == Outgoing.CARD and row.recording_id and ts:  # a new card's ts, if it could not be kept
                tx.keep_card_ts(row.recording_id, ts)
            if kinds.of(row).paced_per_channel and row.channel_id:
                tx.mark_link_broken(row.channel_id, None)  # recbot is back in the channel, if lost
        for key in flights:
            tx.leases.release(flight(key), self.owner)

    async def _elsewhere(self, row: OutboxRow, why: str) -> None:
        """A spent response_url, a form's trigger too old: the same answer goes to the same person another way
        (`kinds.Ephemeral`); an ephemeral answer where recbot cannot post, as a direct message (`kinds.Dm`): at
        once, as a row of its own, so that its call keeps its own method's windows, holds and turn."""
        other = kinds.elsewhere(row)
        if other is None:  # a row that does not say who asked, where
            log.warning("outbox row %s (%s) given up: %s, and it does not say who asked where", row.id, row.kind, why)
            await self.store.write(lambda tx: tx.outbox.fail(row.id, why))
            return
        kind, payload = other
        log.info("outbox row %s (%s): %s; answering %s instead", row.id, row.kind, why,
                 "by direct message" if kind == Outgoing.DM else "in the channel")
        await self.store.write(lambda tx: tx.outbox.redirect(row.id, kind, payload, why))

    async def _retry(self, row: OutboxRow, error: str, *, after: float | None = None) -> float:
        """Try the row again `after` seconds (a 429's Retry-After), else after its backoff; returns the delay."""
        delay = self.backoff.delay(row.attempts) if after is None else after
        at, unsure = self.clock() + delay, row.id in self._unsure
        await self.store.write(lambda tx: tx.outbox.retry(row.id, at, error, unsure=unsure))
        return delay

    async def _slack_error(self, row: OutboxRow, exc: SlackApiError) -> None:
        """What a refusal does to the row (`not_ok.answer`), with a line saying which row, which method and
        which error: a refusal recbot does not know never loses a message (docs/reliability.md)."""
        refused = not_ok(exc)
        kind, error = kinds.of(row), refused.error or f"http {refused.status}"
        match answer(refused, modal=row.kind == Outgoing.MODAL, ephemeral=row.kind == Outgoing.EPHEMERAL,
                     channel=bool(row.channel_id), many=self.tokens.many,
                     level=kinds.level(row), most_compact=kind.most_compact, tried_once_more=row.id in self._odd):
            case Answer.HOLD:  # told in the body, without a Retry-After: wait out the method's window
                seconds = refused.retry_after or limits.limit_of(refused.method, self.scale).seconds
                log.warning("Slack rate-limited %s in workspace %s (%s): holding that method back %.1f s",
                            refused.method, row.team_id or row.enterprise_id, error, seconds)
                await self._hold(row, refused.method, self.clock() + seconds)
                await self._retry(row, error, after=seconds)
            case Answer.ELSEWHERE:  # too late for the form: say so to who asked
                await self._elsewhere(row, error)
            case Answer.LOST_CHANNEL:
                assert row.channel_id is not None  # `answer` says it only of a row with a channel
                await self._lose_channel(row.channel_id, error)
            case Answer.REFRESH:
                self.tokens.stale(row.team)
                await self._retry(row, error)
            case Answer.DROP | Answer.GIVE_UP as gone:
                await self._give_up(row, error, tell=gone is Answer.GIVE_UP and row.kind in TOLD)
            case Answer.DEGRADE:
                log.warning("outbox row %s (%s): %s; sending a more compact form", row.id, row.kind, refused)
                await self.store.write(lambda tx: tx.outbox.degrade(row.id, error))
            case verdict:  # AGAIN, ONCE_MORE, KEEP_TRYING: the same, later
                if verdict is Answer.ONCE_MORE:  # it may pass (Slack's new outage, a proxy's): as it was, once
                    self._odd.add(row.id)
                delay = await self._retry(row, str(refused))
                log.warning("outbox row %s (%s): %s; %s in %.1f s (attempt %d)", row.id, row.kind, refused,
                            "at its most compact, trying again" if verdict is Answer.KEEP_TRYING else "trying again",
                            delay, row.attempts + 1)

    async def _respond_failed(self, row: OutboxRow, exc: RespondFailed) -> None:
        """A response_url that did not take the answer: spent, or its text alone refused, the same words go to
        the person another way; its blocks refused, the text alone; a 429 holds the workspace's response_urls."""
        if exc.retry_after:
            log.warning("Slack rate-limited response_url in workspace %s: holding answers there back %.1f s",
                        row.team_id or row.enterprise_id, exc.retry_after)
            await self._hold(row, RESPOND_URL, self.clock() + exc.retry_after)
            await self._retry(row, str(exc), after=exc.retry_after)
        elif exc.retry:
            log.warning("outbox row %s (%s): %s; trying again in %.1f s", row.id, row.kind, exc,
                        await self._retry(row, str(exc)))
        elif not exc.spent and row.payload.get("blocks") and kinds.level(row) < kinds.of(row).most_compact:
            log.warning("outbox row %s (%s): %s; sending the text alone", row.id, row.kind, exc)
            await self.store.write(lambda tx: tx.outbox.degrade(row.id, str(exc)))
        else:
            await self._elsewhere(row, str(exc))

    async def _hold(self, row: OutboxRow, method: str, until: float) -> None:
        """A 429: nothing more of `method` goes to the row's workspace before `until`, from any process."""
        key = self._key(row, method)
        self._holds[key] = max(self._holds.get(key, 0.0), until)
        await self.holds.hold(key[0], method, until - self.clock())

    async def _give_up(self, row: OutboxRow, error: str, *, tell: bool) -> None:
        """Nobody can receive the row any more: logged with the row and the error, and said to whoever linked
        the channel, by DM, when there is someone to tell."""
        log.warning("outbox row %s (%s, channel %s, recording %s) given up: %s", row.id, row.kind, row.channel_id,
                    row.recording_id, error)
        await self.store.write(_failed, row, error, tell)

    async def _lose_channel(self, channel_id: str, error: str) -> None:
        held = await self.store.write(_lose, channel_id, error)
        log.warning("lost channel %s (%s); %d message(s) kept aside", channel_id, error, held)


def _failed(tx: Tx, row: OutboxRow, error: str, tell: bool) -> None:
    tx.outbox.fail(row.id, error)
    link = tx.link(row.channel_id) if tell and row.channel_id else None
    if link is not None:
        tx.outbox.enqueue(Outgoing.DM, {"user": link.linked_by, "text": blocks.given_up(link, row.kind, error)},
                          team=link.team)


def _lose(tx: Tx, channel_id: str, error: str) -> int:
    """A channel lost: its rows kept aside, its link marked and its linker told, all or nothing."""
    held = tx.outbox.hold_channel(channel_id, error)
    link = tx.link(channel_id)
    if link and tx.mark_link_broken(channel_id, error):
        tx.outbox.enqueue(Outgoing.DM, {"user": link.linked_by, "text": blocks.lost_channel(link, error)},
                          team=link.team)
    return held
