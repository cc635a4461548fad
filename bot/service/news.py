"""Webhook news, already verified and stored: recording updates, meeting events, transcripts and
summaries. On the loop; the methods that take a `tx` are below the store boundary (`store.write`)."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Collection, Sequence
from typing import cast

from bot.config import Guardrails
from bot.models import Notice, Recording, Source, Status, StopReason, Timer
from bot.platform.accounts import Platforms
from bot.platform.errors import PlatformError
from bot.platform.webhooks import Event, Ignored, MeetingEvent, MeetingKind, RecordingUpdate, SessionFile
from bot.service.after import AfterMeeting
from bot.service.calls import Calls
from bot.service.confirmations import Confirmations
from bot.service.decisions import Writer
from bot.service.outcomes import Applied
from bot.service.permissions import named_controllers
from bot.service.transitions import Report, last_pause
from bot.service.truth import Outdated, RetryLater, Truth
from bot.store import Store, StoreBusy, Tx

log = logging.getLogger(__name__)



class News:
    def __init__(self, store: Store, platform: Platforms, truth: Truth, writer: Writer, after: AfterMeeting,
                 confirmations: Confirmations, auto_record: Callable[[str], Awaitable[Applied]], calls: Calls,
                 guardrails: Guardrails, clock: Callable[[], float] = time.time):
        self.store, self.platform, self.truth, self.writer, self.after = store, platform, truth, writer, after
        self.confirmations, self.auto_record, self.clock = confirmations, auto_record, clock
        self.guardrails = guardrails
        self.calls = calls
        self.ignored_kinds: set[str] = set()

    async def apply_event(self, event: Event) -> Applied:
        """One webhook. Returns what it came to (the worker logs it)."""
        if isinstance(event, Ignored):
            if event.kind not in self.ignored_kinds:  # once per kind: the platform may send many
                self.ignored_kinds.add(event.kind)
                log.info("ignoring webhooks of this kind (stored, answered 2xx): %s", event.kind)
            return Applied.IGNORED
        if isinstance(event, SessionFile):
            return await self.after.on_file(event)
        if isinstance(event, MeetingEvent):
            return await self.meeting_event(event)
        return await self._apply_update(None, event)

    async def apply_delivered(self, account: str, event: Event) -> Applied:
        """One webhook that came in on `account`'s route: refused when it names what another account holds
        (one account's webhooks never move another workspace's recordings), else `apply_event`."""
        if isinstance(event, RecordingUpdate):
            return await self._apply_update(account, event)
        if not await self.store.read(self.platform.owns, account, event):
            _refused(event)
            return Applied.NOT_OWNED
        return await self.apply_event(event)

    async def _apply_update(self, account: str | None, event: RecordingUpdate) -> Applied:
        """A recording's news alone (`apply_updates` takes a run of it): what the batch stops for is done here."""
        outcome = await self.store.write(self._update, account, event, self.truth.starts_in_flight())
        if outcome is Applied.UNKNOWN:
            raise RetryLater("a start of this meeting is in flight")
        if outcome is Applied.ATTENDANCE:
            # no join or leave webhook came (not subscribed, or lost): the final reply asks the platform
            rec = await self.store.read(Tx.recording, event.recording_id)
            assert rec is not None and rec.session_id  # what ATTENDANCE says
            await self.after.fill_attendance(rec.session_id, rec.meeting_id)
            outcome = await self.store.write(self._update, account, event, (), True)
        self._heard(event, outcome)
        return outcome

    async def apply_updates(self, news: Sequence[tuple[str, Event | Exception]]) -> tuple[list[Applied], bool]:
        """The leading run of `news` (each with the account whose route it came in on) that is a known
        recording's update or one to adopt, applied in order in one trip to the store, each its own decision,
        ownership checked as `apply_delivered` does. Returns their outcomes, stopping before the first that
        needs more (another kind of event or a body that is none, a start of its meeting in flight, the
        platform to ask who was there): `apply_delivered` takes that one. Also whether it stopped because
        the store was busy (another process wrote first): then the next one waits.

        Why in one trip: at 200 webhooks/s the store's thread also applies confirmations and renders the
        outbox, and four trips a webhook, each queued behind them for ~5 ms, left the worker seconds behind.
        The leading news that writes nothing (another account's, or an unknown recording's of a meeting no
        channel links: much of what a busy organisation sends) is decided in a read before it: a write trip
        holds SQLite's one write lock from its start, and while it read a hundred of those, the ingest process
        could not commit the deliveries coming in (docs/performance.md, the ingest's p99)."""
        starting = self.truth.starts_in_flight()
        try:
            outcomes = await self.store.read(self._read_only_run, news, starting)
        except StoreBusy:
            return [], True
        busy = False
        rest = news[len(outcomes):]
        if rest and isinstance(rest[0][1], RecordingUpdate):
            try:
                written, busy = await self.store.write(self._updates, rest, starting)
            except StoreBusy:  # the run could not be committed: none of it was written
                written, busy = [], True
            outcomes += written
        for (_, event), outcome in zip(news, outcomes, strict=False):
            self._heard(cast(RecordingUpdate, event), outcome)  # `_updates` decides only recordings' updates
        return outcomes, busy

    def _heard(self, event: RecordingUpdate, outcome: Applied) -> None:
        """What follows an update's outcome on the loop: the platform asked which state is true, or a warning."""
        if outcome is Applied.CONFIRMING:
            self.confirmations.ask(event.recording_id)
        elif outcome is Applied.NOT_OWNED:
            _refused(event)

    def _read_only_run(self, tx: Tx, news: Sequence[tuple[str, Event | Exception]],
                       starting: Collection[str]) -> list[Applied]:
        """The outcomes of the leading run of `news` that writes nothing (`_read_only`), read without a write."""
        outcomes: list[Applied] = []
        for account, event in news:
            try:
                outcome = self._read_only(tx, account, event, starting) if isinstance(event, RecordingUpdate) else None
            except StoreBusy:
                raise
            except Exception:  # a fault: `_updates` meets it again, as it would have without this read
                break
            if outcome is None:
                break
            outcomes.append(outcome)
        return outcomes

    def _read_only(self, tx: Tx, account: str | None, event: RecordingUpdate,
                   starting: Collection[str]) -> Applied | None:
        """What a recording's news comes to when it writes nothing, seen by reading alone, by the rules `_update`
        applies under the lock: another account's (refused), or an unknown recording's that cannot be adopted
        (`Truth.links_to_adopt_in`). None: it may write (`_update` decides)."""
        if not self._owned(tx, account, event):
            return Applied.NOT_OWNED
        if event.meeting_id in starting or tx.recording(event.recording_id) is not None:
            return None
        found = self.truth.links_to_adopt_in(tx, event)
        return found if isinstance(found, Applied) else None

    def _owned(self, tx: Tx, account: str | None, event: RecordingUpdate) -> bool:
        """Whether news that came on `account`'s route (None: not known) may speak of its recording."""
        return account is None or self.platform.owns(tx, account, event)

    def _updates(self, tx: Tx, news: Sequence[tuple[str, Event | Exception]],
                 starting: set[str]) -> tuple[list[Applied], bool]:
        """Each update its own decision (a savepoint: one that fails is undone alone), committed together."""
        outcomes: list[Applied] = []
        for account, event in news:
            if not isinstance(event, RecordingUpdate):
                break
            try:
                with tx.transaction():
                    outcome = self._update(tx, account, event, starting)
            except StoreBusy:
                return outcomes, True
            except Exception:  # a fault: `apply_delivered` meets it again, and answers for it
                break
            if outcome in (Applied.UNKNOWN, Applied.ATTENDANCE):  # nothing of it was written: done on the loop
                break
            outcomes.append(outcome)
        return outcomes, False

    def _update(self, tx: Tx, account: str | None, event: RecordingUpdate, starting: Collection[str],
                attendance_filled: bool = False) -> Applied:
        """Apply a recording's news, on the store's thread: refused when it came on another account's route
        (`account`, None when that is not known), adopted when recbot does not know the recording. UNKNOWN and
        ATTENDANCE write nothing: a start of its meeting is in flight (its webhook is the start's own, not one
        to adopt: try again later), or the platform must be asked who was there first."""
        if not self._owned(tx, account, event):
            return Applied.NOT_OWNED
        rec = tx.recording(event.recording_id)
        if rec is None:  # adopted, or NO_MEETING / NOT_LINKED as `_read_only` says (`Truth.links_to_adopt_in`)
            return Applied.UNKNOWN if event.meeting_id in starting else self.truth.adopt_here(tx, event)
        if event.status is Status.UPLOADED and rec.session_id and not attendance_filled \
                and not tx.notes.attendance(rec.session_id):
            return Applied.ATTENDANCE
        try:  # a webhook has no time of its own: as if asked for at the start of time, it never flips a state
            moved = self.truth.apply(tx, rec.id, Report.of(event, asked_at=0.0), actor=None, source=Source.PLATFORM)
        except Outdated:
            # RECORDING and PAUSED alternate and webhooks may arrive out of order: ask which is true now (and
            # should this process die first, the reconciler asks at once)
            tx.outcome_unknown(rec.id)
            return Applied.CONFIRMING
        return Applied.APPLIED if moved else Applied.NO_CHANGE

    async def meeting_event(self, event: MeetingEvent) -> Applied:
        """Who comes and goes is kept for the final reply; a start may begin an auto-recording; and when
        the meeting ends, or its last person leaves, while a recording is paused (a paused recording
        does not stop by itself), say so and stop it after a grace."""
        if event.kind is MeetingKind.STARTED:
            if event.session_id:
                await self.calls.live(event.meeting_id, event.session_id, event.meeting_title, event.at)
            return await self.auto_record(event.meeting_id)
        if event.kind is MeetingKind.ENDED:
            await self.calls.ended(event.meeting_id, event.session_id, event.at)
        if event.kind in (MeetingKind.JOINED, MeetingKind.LEFT):
            noted = await self.store.write(self.after.on_participant, event)
            if event.kind is MeetingKind.JOINED:
                return noted
        if event.kind not in (MeetingKind.ENDED, MeetingKind.LEFT):
            return Applied.NOTED
        paused = await self.store.read(Tx.recordings_of_meeting, event.meeting_id, [Status.PAUSED])
        if not paused:
            return Applied.NOTHING_PAUSED
        if event.kind is MeetingKind.LEFT:
            try:
                session = await self.platform.get_active_session(event.meeting_id)
            except PlatformError:
                return Applied.NOT_CHECKED
            if session is not None and session.live_participants > 0:
                return Applied.PEOPLE_THERE
        why = StopReason.EVERYONE_LEFT if event.kind is MeetingKind.LEFT else StopReason.MEETING_ENDED
        for rec in paused:
            await self.store.write(self._remind_paused, rec, why)
        return Applied.REMINDED

    def _remind_paused(self, tx: Tx, rec: Recording, reason: StopReason) -> None:
        """Say that a paused recording was left paused, and stop it after a grace: once."""
        grace = self.guardrails.ended_paused_grace
        if tx.timers.pending(Timer.ENDED_PAUSED, rec.id):
            return
        pause = last_pause(tx.ledger(rec.id))
        paused_by = pause.actor if pause else None
        if grace > 0:
            tx.timers.set(Timer.ENDED_PAUSED, rec.id, self.clock() + grace, {"paused_by": paused_by})
        self.writer.remind(tx, rec, Notice.ENDED_WHILE_PAUSED, named_controllers(tx, rec.channel_id),
                           paused_by=paused_by, grace=grace, reason=reason)
        self.writer.on_write()


def _refused(event: Event) -> None:
    log.warning("a webhook names %s of another platform account; ignored",
                f"recording {event.recording_id}" if isinstance(event, RecordingUpdate)
                else f"meeting {getattr(event, 'meeting_id', None)}")
