"""Learning the platform's truth: apply report to a recording, ask the platform about one, and adopt
recordings that were started elsewhere (from the meeting, or by `record_on_start`). `apply` and `adopt_here`
are below the store boundary (functions over a Tx, inside `store.write`); the async methods are on the loop."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Collection
from dataclasses import replace
from typing import Any

from bot.config import Guardrails
from bot.errors import RecbotError
from bot.ledger import LedgerReason
from bot.models import ACTIVE, ErrorReason, Link, Recording, Source, Status
from bot.platform.accounts import Platforms
from bot.platform.errors import NotFound, PlatformError
from bot.platform.models import FileKind, PlatformRecording
from bot.platform.webhooks import RecordingUpdate
from bot.retry import Backoff
from bot.service.decisions import Writer
from bot.service.outcomes import Applied
from bot.service.settings import ChannelSettings
from bot.service.transitions import Report, decide, decide_adoption
from bot.store import Store, StoreBusy, Tx
from bot.store.leases import recording_lease
from bot.tasks import Tasks

log = logging.getLogger(__name__)

SAVE_RETRIES = Backoff(0.2, 30.0, factor=2.5).delays(7)  # 0.2 s … 30 s, then the reconciler repairs it


class RetryLater(RecbotError):
    """The event cannot be applied yet (a start is still in flight); keep it and try again."""


class Outdated(RecbotError):
    """A report of RECORDING or PAUSED asked for before what the stored state rests on was seen: it may be
    older than that (they alternate, and carry no time of their own), so it is not applied; ask again."""


class ActedOn(Outdated):
    """A look made aside from any action (the reconciler's, a confirmation round's) at a recording an action is
    being taken on, by any process: the action's own answer is the news. The look may have been answered before
    the platform made the action; taken as news, a RECORDING that moves nothing clears the action's "asked" mark,
    and a pause whose answer then died with its process is dated when learned, its words kept (chaos run, two
    processes, seed 2, docs/reliability.md). Those looks skip such a recording when they begin; this holds the
    same when they apply, which may be seconds later."""


class Truth:
    def __init__(self, store: Store, platform: Platforms, writer: Writer, guardrails: Guardrails, tasks: Tasks,
                 clock: Callable[[], float] = time.time):
        self.store, self.platform, self.writer, self.guardrails, self.tasks = store, platform, writer, guardrails, tasks
        self.clock = clock
        self.starting: defaultdict[str, int] = defaultdict(int)  # meetings with a start in flight

    def apply(self, tx: Tx, recording_id: str, report: Report, *, actor: str | None, source: Source,
              reason: LedgerReason | None = None, until: float | None = None,
              audit: list[dict[str, Any]] | None = None, aside: bool = False) -> bool:
        """Decide from the stored state and write the decision whole; returns whether the recording moved.

        A report asked for (`report.asked_at`: a GET) that flips RECORDING and PAUSED raises Outdated
        unless it was asked for after what the stored state rests on was seen: the two alternate and
        carry no time of their own, so an older answer would undo a newer one (and the thread would say a
        pause the platform never made). Raises StoreBusy when the store cannot take it: the caller says
        what the platform did and calls `save_later`. A look made `aside` from any action raises ActedOn
        while an action on the recording is under way. On the store's thread, inside `store.write`."""
        if aside and tx.leases.holder(recording_lease(recording_id)) is not None:
            raise ActedOn(recording_id)
        for _ in range(3):  # the state read may be stale by the time it is written: decide again
            rec = tx.recording(recording_id)
            if rec is None:
                return False
            flip = report.status.rank == rec.status.rank == 1 and report.status is not rec.status
            if flip and report.asked_at is not None and report.asked_at <= rec.seen_at:
                raise Outdated(recording_id)
            guardrails, files = self._channel_rules(tx, rec.channel_id)
            decision = decide(rec, tx.ledger(recording_id), report, actor=actor, source=source,
                              now=self.clock(), guardrails=guardrails, reason=reason, until=until, files=files)
            decision.audit = list(audit or [])
            decision.asked_at = report.asked_at if flip else None
            decision.report_asked_at = report.asked_at
            decision.seen_at = report.seen_at or self.clock()
            if self.writer.write(tx, decision):
                return decision.moved
        return False

    def _channel_rules(self, tx: Tx, channel_id: str) -> tuple[Guardrails, tuple[str, ...]]:
        """recbot's guardrails as the channel's settings change them, and the session files it expects."""
        s = ChannelSettings.of(tx.notes.settings(channel_id))
        guardrails = self.guardrails if s.pause_reminder is None \
            else replace(self.guardrails, pause_reminder_after=s.pause_reminder)
        files = (((FileKind.TRANSCRIPT,) if s.transcribe or s.summarize else ())
                 + ((FileKind.SUMMARY,) if s.summarize else ()))
        return guardrails, files

    def save_later(self, what: str, write: Callable[[], Awaitable[Any]]) -> None:
        """The platform did something the store could not record yet: keep trying `write` in the
        background, and past that leave it to the reconciler, which learns it from the platform."""

        async def retry() -> None:
            for delay in SAVE_RETRIES:
                await asyncio.sleep(delay)
                try:
                    await write()
                    return
                except StoreBusy:
                    continue
                except Outdated:  # something newer was seen meanwhile: nothing of this is news any more
                    return
            log.error("could not record %s; the reconciler will learn it from the platform", what)

        self.tasks.spawn(retry(), f"saving {what}")

    async def refresh(self, recording_id: str, *, source: Source = Source.PLATFORM,
                      aside: bool = False) -> Recording | None:
        """Ask the platform for the truth about one recording and apply it; asked again if the answer is
        outdated (something newer was seen while asking). `aside`: a look made aside from any action (the
        reconciler's), left unapplied while an action on the recording is under way (`ActedOn`)."""
        if await self.store.read(Tx.recording, recording_id) is None:
            return None
        for _ in range(3):
            try:
                report = await self.ask(recording_id)
            except NotFound:
                report = Report.errored(recording_id, ErrorReason.GONE)
            except PlatformError:
                break
            try:
                await self.store.write(self.apply, recording_id, report, actor=None, source=source, aside=aside)
            except ActedOn:
                break
            except Outdated:
                continue
            break
        return await self.store.read(Tx.recording, recording_id)

    async def ask(self, recording_id: str) -> Report:
        """The platform's answer about one recording, with when it was asked for."""
        asked_at = self.clock()
        found = await self.platform.get_recording(recording_id)
        return Report.of(found, asked_at=asked_at, seen_at=self.clock())

    async def adopt(self, update: RecordingUpdate) -> Applied:
        """A recording recbot did not start gets its own card in the meeting's first linked channel."""
        if update.meeting_id and self.starting.get(update.meeting_id):  # on the loop, where starts are counted
            raise RetryLater("a start of this meeting is in flight")
        return await self.store.write(self.adopt_here, update)

    def starts_in_flight(self) -> set[str]:
        """The meetings a start is under way for (read on the loop, where starts are counted)."""
        return {meeting for meeting, count in self.starting.items() if count}

    def adopt_here(self, tx: Tx, update: RecordingUpdate) -> Applied:
        """`adopt`, on the store's thread, once the caller has seen that no start of its meeting is in flight
        (the webhook of a recording recbot is starting is its own, not one to adopt)."""
        links = self.links_to_adopt_in(tx, update)
        if isinstance(links, Applied):
            return links
        stopped = update.status.rank >= Status.UPLOADING.rank
        if stopped:  # recbot was down while it ran, or its news was lost: its file still belongs in the channel,
            # if it began after the link (an older recording was never the channel's); a failed one has no file
            links = [lk for lk in links if update.started_at is not None and lk.linked_at <= update.started_at]
            if update.status is Status.ERRORED or not links:
                return Applied.ALREADY_STOPPED
        link = min(links, key=lambda lk: lk.linked_at)
        report = Report.of(update)
        decision = decide_adoption(report, link, title=update.meeting_title, now=self.clock(),
                                   guardrails=self.guardrails)
        # adopted and brought to its state (stopped, uploaded) whole, or not at all: one write
        if not self.writer.write(tx, decision):
            return Applied.ALREADY_KNOWN
        if stopped:
            self.apply(tx, report.recording_id, replace(report, asked_at=0.0), actor=None, source=Source.PLATFORM)
        self.writer.on_write()
        return Applied.ADOPTED_STOPPED if stopped else Applied.ADOPTED

    @staticmethod
    def links_to_adopt_in(tx: Tx, update: RecordingUpdate) -> list[Link] | Applied:
        """The links of the meeting a recording recbot does not know is of, or why it cannot be adopted, seen
        by reading alone: its news names no meeting, or no channel links the meeting."""
        if not update.meeting_id:
            return Applied.NO_MEETING
        return tx.links_for_meeting(update.meeting_id) or Applied.NOT_LINKED

    async def adopt_active(self, link: Link, known: Collection[str] = ()) -> list[PlatformRecording] | None:
        """After a refused start: a recording may be running that recbot has not heard of. Returns the
        meeting's active recordings other than `known`, or None when the platform could not say."""
        try:
            found = await self.platform.list_recordings(link.meeting_id, statuses=list(ACTIVE))
        except PlatformError:
            return None
        for seen in found:
            if await self.store.read(Tx.recording, seen.id) is None:
                try:
                    await self.adopt(RecordingUpdate(recording_id=seen.id, meeting_id=link.meeting_id,
                                                     status=seen.status, session_id=seen.session_id,
                                                     started_at=seen.started_at, meeting_title=link.meeting_title))
                except RetryLater:  # another start of this meeting is in flight; its webhooks will tell
                    continue
        return [r for r in found if r.id not in known]
