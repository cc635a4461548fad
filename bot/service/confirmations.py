"""Asking the platform which of RECORDING and PAUSED is true, for as many recordings as it takes, at
a cost that does not grow with the rate of webhooks.

Those two states alternate and their webhooks carry no time of their own, so a pair that arrives
out of order would leave a card saying "paused" while it records: recbot never applies them as
they come, it asks. A burst for one recording is one question, asked once its news has been quiet
for 0.1 s (or at most 1 s after it began). Many recordings at once are one paged list of the
active recordings (100 a page) instead of one call each: 200 webhooks a second across 1,000
recordings cost ten calls a round however many changed, and the limiter paces the rounds within
every documented limit. A round that lists takes in the news still settling too, since the list
shows it at no extra cost (a burst then costs a round's list, not a call of its own). News that came
after a question was asked waits for the next round.

An answer is applied only if it was asked for after what the stored state rests on was seen (else it
may be older than that: ask again), and a recording an action is being taken on (its lease is held,
by any process) waits until the action has written its own answer, so the thread says who did it; an
action whose answer did not come in time lets go of the lease at once (`actions.Turn`), so news waits for
no action's look.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from enum import Enum

from bot.models import Source, Status
from bot.platform.accounts import Platforms
from bot.platform.errors import PlatformError
from bot.platform.models import PlatformRecording
from bot.service.transitions import Report
from bot.service.truth import Outdated, Truth
from bot.store import Store, StoreBusy, Tx
from bot.tasks import Tasks

log = logging.getLogger(__name__)



class Answer(Enum):
    """What became of one answer in a round."""

    APPLIED = "applied"
    OUTDATED = "outdated"  # something newer was seen while asking: ask again
    BUSY = "busy"  # the store was busy: it stays pending for the next round


PAGE = 100  # recordings per page of GET /recordings
WINDOW = 0.1  # a recording is asked about once its news has been quiet this long…
MAX_WAIT = 1.0  # …or once its first unconfirmed news is this old
SHARE = 0.6  # at most this share of the strictest documented rate limit goes to confirming
APPLY_CHUNK = 20  # answers applied per trip to the store's thread (a round's 100 took it for ~100 ms at a time)


class Confirmations:
    def __init__(self, store: Store, platform: Platforms, truth: Truth, tasks: Tasks, *,
                 window: float = WINDOW, monotonic: Callable[[], float] = time.monotonic):
        self.store, self.platform, self.truth, self.tasks = store, platform, truth, tasks
        self.window, self.monotonic = window, monotonic  # pacing; the wall clock is truth.clock
        self.pending: dict[str, float] = {}  # recording id -> when its latest unconfirmed news came
        self.first: dict[str, float] = {}  # recording id -> when its oldest unconfirmed news came
        self.calls = 0  # platform calls made to confirm (the bench reads it)
        self._running = False

    def ask(self, recording_id: str) -> None:
        self.pending[recording_id] = self.monotonic()
        self.first.setdefault(recording_id, self.pending[recording_id])
        if not self._running:
            self._running = True
            self.tasks.spawn(self._rounds(), "confirming RECORDING/PAUSED news")

    async def _rounds(self) -> None:
        """Rounds as news comes, paced so that confirming spends at most SHARE of the platform's strictest
        limit: a round that listed 1,000 active recordings (ten calls) is followed by a longer pause than
        one that asked about one, so the budget lasts and people's own calls never queue behind them."""
        per_second = SHARE * self.platform.limiter.strictest_per_minute / 60.0
        try:
            while self.pending:
                began, calls = self.monotonic(), self.calls
                await asyncio.sleep(self.window / 2)
                await self.round()
                await asyncio.sleep(max(0.0, (self.calls - calls) / per_second - (self.monotonic() - began)))
        finally:
            self._running = False

    async def round(self) -> int:
        """Ask once about every recording whose news has settled (a burst is asked about once, after it);
        returns how many recordings it settled."""
        asked_at = self.monotonic()
        acting = await self.store.read(lambda tx: tx.leases.acted_on())
        askable = [rec_id for rec_id in self.pending if rec_id not in acting]
        wanted = [rec_id for rec_id in askable if asked_at - self.pending[rec_id] >= self.window
                  or asked_at - self.first[rec_id] >= MAX_WAIT]
        if not wanted:
            return 0
        pages = -(-await self.store.read(Tx.count_in, (Status.RECORDING, Status.PAUSED)) // PAGE)
        if len(wanted) > pages:  # the list it takes shows news still settling at no extra cost: ask about it now
            wanted = askable
        sent = self.truth.clock()  # the wall clock: answers are ordered against what any process has seen
        try:
            seen = await self._look(wanted, pages)
        except PlatformError as exc:  # the reconciler asks again later; nothing is applied unconfirmed
            log.warning("could not confirm %d recording(s): %s", len(wanted), exc.message)
            for rec_id in wanted:
                self._done(rec_id, asked_at)
            return 0
        came = self.truth.clock()
        reports = {rec_id: Report.of(found, asked_at=sent, seen_at=came) for rec_id in wanted
                   if (found := seen.get(rec_id)) is not None}
        outcomes: dict[str, Answer] = {}
        items = list(reports.items())
        for start in range(0, len(items), APPLY_CHUNK):  # other work on the store's thread goes in between
            chunk = dict(items[start:start + APPLY_CHUNK])
            try:
                outcomes |= await self.store.write(self._apply_all, chunk)
            except StoreBusy:  # the chunk could not be committed: none of it was written
                outcomes |= dict.fromkeys(chunk, Answer.BUSY)
        settled = 0
        for rec_id in wanted:
            outcome = outcomes.get(rec_id)  # None: the platform did not list it
            if outcome is Answer.OUTDATED:
                self.pending[rec_id] = self.monotonic()
                continue
            if outcome is Answer.BUSY:
                continue
            settled += outcome is Answer.APPLIED
            self._done(rec_id, asked_at)
        return settled

    def _apply_all(self, tx: Tx, reports: dict[str, Report]) -> dict[str, Answer]:
        """The round's answers, applied in one trip to the store's thread, each its own decision (a savepoint:
        one that fails is undone alone), committed together."""
        outcomes = {}
        for rec_id, report in reports.items():
            try:
                with tx.transaction():
                    self.truth.apply(tx, rec_id, report, actor=None, source=Source.MEETING, aside=True)
                outcomes[rec_id] = Answer.APPLIED
            except Outdated:
                outcomes[rec_id] = Answer.OUTDATED
            except StoreBusy:
                outcomes[rec_id] = Answer.BUSY
        return outcomes

    def _done(self, rec_id: str, asked_at: float) -> None:
        if self.pending.get(rec_id, 0.0) <= asked_at:  # no news since the question: done with it
            self.pending.pop(rec_id, None)
            self.first.pop(rec_id, None)

    async def _look(self, wanted: list[str], pages: int) -> dict[str, PlatformRecording]:
        """One call per recording when that is fewer calls than listing every active one (`pages` pages);
        else the list, and a call each for those it no longer shows (they stopped meanwhile)."""
        if len(wanted) <= pages:
            return await self._each(wanted)
        self.calls += pages
        # PAUSED is not in the published spec's filter: the client lists without one (docs/platform.md), so a
        # page may hold stopped recordings too and `pages` is a floor.
        listed = await self.platform.list_recordings(statuses=[Status.RECORDING, Status.PAUSED], per_page=PAGE)
        seen = {r.id: r for r in listed if r.id in set(wanted)}
        missing = [rec_id for rec_id in wanted if rec_id not in seen]
        if missing and len(missing) <= pages:
            seen |= await self._each(missing)
        return seen

    async def _each(self, wanted: list[str]) -> dict[str, PlatformRecording]:
        self.calls += len(wanted)
        found = await asyncio.gather(*(self.platform.get_recording(rec_id) for rec_id in wanted),
                                     return_exceptions=True)
        errors = [f for f in found if isinstance(f, BaseException)]
        if errors and len(errors) == len(found) and isinstance(errors[0], PlatformError):
            raise errors[0]
        return {rec_id: f for rec_id, f in zip(wanted, found, strict=True) if isinstance(f, PlatformRecording)}
