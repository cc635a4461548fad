"""recbot's own starters: timers (timed resumes, reminders, stopping what was left paused) and the
reconciler, which checks recordings with no report against the platform. On the loop; the methods that
take a `tx` are below the store boundary (run by `store.read` / `store.write`)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from bot.config import Guardrails
from bot.models import Actor, Notice, Recording, Source, Status, StopReason, Timer
from bot.platform.accounts import Platforms
from bot.platform.errors import PlatformError, PlatformUnavailable, RateLimited
from bot.platform.limits import background
from bot.service.actions import SNOOZE, Actions
from bot.service.after import AfterMeeting
from bot.service.calls import Calls
from bot.service.decisions import Writer, audit_row
from bot.service.permissions import named_controllers
from bot.service.transitions import Report, last_pause
from bot.service.truth import Truth
from bot.service.unsettled import held_files
from bot.store import DueTimer, Store, StoreBusy, Tx

TIMER_CLAIM = 120.0  # seconds a timer that acts on the platform is held by the process firing it (acting can
# wait a minute for the recording's lease): a process killed meanwhile leaves it to fire again after that, or
# at once when it starts again on the same host (`Leases.free_the_dead`)


class Guards:
    def __init__(self, store: Store, platform: Platforms, truth: Truth, writer: Writer, actions: Actions,
                 after: AfterMeeting, calls: Calls, guardrails: Guardrails, clock: Callable[[], float] = time.time):
        self.store, self.platform, self.truth, self.writer, self.actions = store, platform, truth, writer, actions
        self.calls = calls
        self.after, self.guardrails, self.clock = after, guardrails, clock

    async def run_due_timers(self) -> int:
        """Fire every due timer once; returns how many acted on a recording still in the state it was for
        (paused, or for the time limit, recording or paused)."""
        done = 0
        for timer, rec in await self.store.read(self._due_timers):
            fits = {Timer.TIME_LIMIT: (Status.RECORDING, Status.PAUSED), Timer.SESSION_FILES: tuple(Status),
                    Timer.HELD_FILES: tuple(Status)}.get(timer.kind, (Status.PAUSED,))
            if rec is None or rec.status not in fits:
                await self.store.write(_finish, timer)
                continue
            if timer.kind in (Timer.HEADS_UP, Timer.PAUSE_REMINDER, Timer.TIME_LIMIT):
                fired = await self.store.write(self._remind, timer, rec)  # firing and saying it are one decision
            elif timer.kind is Timer.HELD_FILES:  # cut first (once: claimed), fired after: a process that dies
                for file, since in held_files(timer.payload):  # between keeps the files (held again: a new timer)
                    await self.after.on_file(file, held_since=since)
                fired = await self.store.write(_finish, timer)
            elif await self.store.write(_claim, timer.id, self.clock(), self.actions.owner):
                # these act on the platform: claimed (one process fires it), finished once acted, so that a
                # process killed in between leaves it to fire again once the claim runs out
                if timer.kind is Timer.RESUME:
                    await self._resume(rec, timer)
                elif timer.kind is Timer.SESSION_FILES:
                    await self.after.check_files(rec, list(timer.payload.get("kinds") or []),
                                                 int(timer.payload.get("tries") or 0))
                else:
                    await self._stop_left_paused(rec, timer)
                await self.store.write(_finish, timer)
                fired = True
            else:
                fired = False
            done += fired
        return done

    def _due_timers(self, tx: Tx) -> list[tuple[DueTimer, Recording | None]]:
        return [(timer, tx.recording(timer.recording_id)) for timer in tx.timers.due(self.clock())]

    def _remind(self, tx: Tx, timer: DueTimer, rec: Recording) -> bool:
        if not tx.timers.finish(timer.id):
            return False
        if timer.kind is Timer.HEADS_UP:
            self.writer.notice(tx, rec, Notice.HEADS_UP, due=timer.payload.get("due"))
        elif timer.kind is Timer.TIME_LIMIT:
            self.writer.notice(tx, rec, Notice.TIME_LIMIT_SOON, due=timer.payload.get("due"))
        else:
            pause = last_pause(tx.ledger(rec.id))
            self.writer.remind(tx, rec, Notice.PAUSE_REMINDER, named_controllers(tx, rec.channel_id),
                               paused_by=timer.payload.get("paused_by") or (pause.actor if pause else None),
                               snooze=self.guardrails.pause_reminder_every or SNOOZE,
                               since=pause.at if pause else None)
            if self.guardrails.pause_reminder_every > 0:
                tx.timers.set(Timer.PAUSE_REMINDER, rec.id, self.clock() + self.guardrails.pause_reminder_every,
                              timer.payload)
        self.writer.on_write()
        return True

    async def _resume(self, rec: Recording, timer: DueTimer) -> None:
        actor = Actor(user_id=None, channel_id=rec.channel_id, via=Source.TIMER)
        line, ok = await self.actions.act_one(actor, rec.id, "resume", None)
        now = await self.store.read(Tx.recording, rec.id)
        if not ok and now is not None and now.status is Status.PAUSED:  # else resumed (a resume fired again
            # after its process died learns it did; or a person did) or stopped: nothing failed to say
            await self.store.write(self.writer.say, rec, Notice.AUTO_RESUME_FAILED,
                                   detail=line.params.get("message", ""), paused_by=timer.payload.get("paused_by"))

    async def _stop_left_paused(self, rec: Recording, timer: DueTimer) -> None:
        actor = Actor(user_id=None, channel_id=rec.channel_id, via=Source.GUARD)
        async with self.actions.serial(rec.id):
            if rec.outcome_unknown:  # fired again after its process died: did that one stop it?
                rec = await self.truth.refresh(rec.id) or rec
                if rec.status is not Status.PAUSED:
                    return
            if not await self.actions.mark_asked(rec.id):  # the store is busy: ask nothing now, try in a minute
                again = self.clock() + 60
                self.truth.save_later(f"the stop of {rec.id} left paused", lambda: self.store.write(
                    _stop_left_paused_at, rec.id, again, timer.payload))
                return
            try:
                report = Report.of(await self.platform.stop_recording(rec.id))
            except PlatformError as exc:
                await self.store.write(self._stop_failed, rec, timer, exc.message)
                return
            how: dict[str, Any] = {"actor": None, "source": Source.GUARD, "reason": StopReason.ENDED_WHILE_PAUSED,
                   "audit": [audit_row(actor, "stop", "ok", rec.id, "ended while paused")]}
            try:
                await self.store.write(self.truth.apply, rec.id, report, **how)
            except StoreBusy:
                self.truth.save_later(f"stop of {rec.id}", lambda: self.store.write(self.truth.apply, rec.id, report,
                                                                                     **how))

    def _stop_failed(self, tx: Tx, rec: Recording, timer: DueTimer, message: str) -> None:
        self.writer.notice(tx, rec, Notice.AUTO_STOP_FAILED, detail=message)
        tx.timers.set(Timer.ENDED_PAUSED, rec.id, self.clock() + 60, timer.payload)
        self.writer.on_write()

    async def reconcile(self, limit: int, *, older_than: float | None = None) -> int:
        """Check the recordings with the stalest report against the platform, at most `limit` calls.

        Due are those whose last report is older than `reconcile_after` (or than `older_than`, which
        at start is the start time, so every unfinished recording is checked once)."""
        cutoff = older_than if older_than is not None else self.clock() - self.guardrails.reconcile_after
        token = background.set(True)  # its calls wait behind what people asked for
        try:
            checked = await self._reconcile(limit, cutoff)
            return checked + await self.calls.reconcile(limit - checked)  # what is left: calls whose session ended
        finally:
            background.reset(token)

    async def _reconcile(self, limit: int, cutoff: float) -> int:
        acting, unfinished = await self.store.read(self._to_reconcile, limit * 2 + 10)
        checked = 0
        for rec in unfinished:
            if checked >= limit or (not rec.outcome_unknown and rec.last_news_at > cutoff):
                break  # the unknown first, then by last report: the rest are fresher
            if rec.id in acting:
                continue  # an action on it is under way, in some process: its answer is the news
            checked += 1
            try:
                await self.truth.refresh(rec.id, source=Source.RECONCILER, aside=True)
            except (RateLimited, PlatformUnavailable):
                break
        return checked

    @staticmethod
    def _to_reconcile(tx: Tx, limit: int) -> tuple[set[str], list[Recording]]:
        return tx.leases.acted_on(), tx.unfinished(limit=limit)


def _finish(tx: Tx, timer: DueTimer) -> bool:
    return tx.timers.finish(timer.id)


def _stop_left_paused_at(tx: Tx, recording_id: str, due_at: float, payload: dict[str, Any]) -> None:
    tx.timers.set(Timer.ENDED_PAUSED, recording_id, due_at, payload)


def _claim(tx: Tx, timer_id: int, now: float, owner: str) -> bool:
    return tx.timers.claim(timer_id, now, now + TIMER_CLAIM, owner)
