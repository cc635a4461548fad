"""Actions on recordings: pause, resume and stop (from a command, a button, App Home or a timer),
ending the meeting, snoozing a reminder, a mark from the card's button and fetching a fresh link.
On the loop; `snooze` and `_keep_link` are below the store boundary (functions over a `Tx`, `store.write`)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from typing import Any

from bot import logs
from bot.config import Guardrails
from bot.ledger import PauseFor
from bot.models import Actor, Command, Link, Notice, Recording, Source, Status, Timer
from bot.platform.accounts import Platforms
from bot.platform.errors import (
    Conflict,
    InvalidRequest,
    NotFound,
    PlatformError,
    PlatformUnavailable,
    RateLimited,
)
from bot.platform.models import PlatformRecording
from bot.retry import Backoff, patiently
from bot.service.after import AfterMeeting
from bot.service.decisions import Audited, Writer, audit_row
from bot.service.outcomes import Line, Reply, Say, failed
from bot.service.permissions import Permissions
from bot.service.transitions import Report, last_pause
from bot.service.truth import Outdated, Truth
from bot.store import Store, StoreBusy, Tx
from bot.store.leases import new_owner, recording_lease

# Which states each action applies to, and what the platform answers when it did it (docs/platform.md).
FITS = {"pause": (Status.RECORDING,), "resume": (Status.PAUSED,),
        "stop": (Status.RECORDING, Status.PAUSED, Status.INVOKED)}
PAUSE_RETRIES = Backoff(0.5, 1.5, factor=3).delays(2)  # 0.5 s and 1.5 s before the second and third try of a pause
MARK_RETRIES = Backoff(0.05, 0.4).delays(4)  # 0.05 s … 0.4 s for the "asked" mark, then "busy, so it did nothing"
SNOOZE = 1800.0  # how long Snooze waits when repeated reminders are off
RESULT = {"pause": (Status.PAUSED,), "resume": (Status.RECORDING,), "stop": (Status.UPLOADING, Status.UPLOADED)}


class Turn:
    """An action's turn on a recording (`Actions.serial`): the recording's lease, renewed while the action runs
    (`ttl` None: not had). While it is held, the confirmation round and the reconciler leave the recording to
    the action's own answer, so the thread says who did it; once that answer cannot come (the platform did not
    answer in time) the action lets go of it before it looks, so that they need not wait for its look."""

    def __init__(self, store: Store, name: str, owner: str, ttl: float | None):
        self.store, self.name, self.owner = store, name, owner
        self._renewing = asyncio.create_task(self._renew(ttl)) if ttl is not None else None

    async def _renew(self, ttl: float) -> None:
        while True:
            await asyncio.sleep(ttl / 3)
            with contextlib.suppress(StoreBusy):
                await self.store.write(lambda tx: tx.leases.hold(self.name, self.owner, ttl=ttl))

    async def let_go(self) -> None:
        """The lease goes (at once, or when it runs out if the store is busy); this process's lock stays."""
        if self._renewing is None:
            return
        self._renewing.cancel()
        self._renewing = None
        with contextlib.suppress(StoreBusy):
            await self.store.write(lambda tx: tx.leases.release(self.name, self.owner))


class Actions(Audited):
    def __init__(self, store: Store, platform: Platforms, truth: Truth, writer: Writer, after: AfterMeeting,
                 permissions: Permissions, guardrails: Guardrails, clock: Callable[[], float] = time.time):
        self.store, self.platform, self.truth, self.writer, self.after = store, platform, truth, writer, after
        self.permissions, self.guardrails, self.clock = permissions, guardrails, clock
        self.locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)  # one action at a time per recording
        self.owner = new_owner()

    @contextlib.asynccontextmanager
    async def serial(self, recording_id: str, wait: float = 60.0) -> AsyncIterator[Turn]:
        """One action at a time on a recording: queued here within this process, and across processes
        sharing the database by the recording's lease, held while the platform is asked and the answer
        written and renewed meanwhile (a pause tried three times against a platform that does not answer
        takes longer than one lease). A lease its holder stops renewing (it died) runs out, and is taken
        then. One not had within `wait` (the store is failing) is gone without: the store's compare-and-set
        transitions still keep the record whole. Yields the turn, which the action may let go of early."""
        async with self.locks[recording_id]:
            name, deadline, held = recording_lease(recording_id), time.monotonic() + wait, False
            ttl = 3 * self.guardrails.platform_timeout
            while True:
                with contextlib.suppress(StoreBusy):
                    held = await self.store.write(lambda tx: tx.leases.hold(name, self.owner, ttl=ttl))
                if held or time.monotonic() >= deadline:
                    break
                await asyncio.sleep(0.05)
            turn = Turn(self.store, name, self.owner, ttl if held else None)
            about = logs.bind(recording=recording_id)  # what the log lines of this action are about
            try:
                yield turn
            finally:
                logs.unbind(about)
                await turn.let_go()

    async def on_meeting(self, actor: Actor, cmd: Command, link: Link) -> Reply:
        """`/rec pause|resume|stop [#n]`: that recording, or every one of the meeting in a state it fits."""
        if cmd.handle is not None:
            rec = await self.store.read(Tx.recording_by_handle, link.meeting_id, cmd.handle)
            if rec is None:
                return Reply.one(Say.NO_SUCH_HANDLE, ok=False, handle=cmd.handle)
            targets = [rec]
        else:
            active = await self.store.read(Tx.recordings_of_meeting, link.meeting_id)
            targets = [r for r in active if r.status in FITS[cmd.name]]
            if not targets:
                return Reply.one(Say.NOTHING_TO_ACT, ok=False, action=cmd.name,
                                 active=[(r.handle, r.status.value) for r in active])
        return await self.act(actor, targets, cmd.name, duration=cmd.duration)

    async def press(self, actor: Actor, action: str, recording_id: object) -> Reply:
        """A button on a card, a reminder or App Home: checked exactly like the command."""
        target = str(recording_id)[:80]
        await self._audit(actor, f"button:{action}", "requested", target)
        rec = await self.store.read(Tx.recording, recording_id) if isinstance(recording_id, str) else None
        if rec is not None and actor.via is Source.HOME and (not rec.team_id or rec.team_id == actor.team_id):
            actor = replace(actor, channel_id=rec.channel_id)  # App Home has no channel: act as in the card's
        if rec is None or rec.channel_id != actor.channel_id:
            await self._audit(actor, f"button:{action}", "refused", target, "foreign recording")
            return Reply.one(Say.FOREIGN_BUTTON, ok=False)
        link = await self.store.read(Tx.link, actor.channel_id)
        if (why := await self.permissions.refusal(actor, action, link)) is not None:
            await self._audit(actor, f"button:{action}", "refused", rec.id, why.value)
            return Reply.one(Say.REFUSED, ok=False, reason=why, wait=self.permissions.waiting(actor, why))
        if action == "refresh_link":
            return await self.refresh_link(actor, rec)
        if action == "snooze":
            return await self.store.write(self.snooze, actor, rec)
        if action == "mark":
            return await self.store.write(self.after.mark, actor, rec.meeting_id, "", recording_id=rec.id)
        return await self.act(actor, [rec], action)

    async def end_meeting(self, actor: Actor, meeting_id: object) -> Reply:
        """The confirmation of `/rec end`: stop the meeting's recordings (so each is said in its thread
        as a person's stop), then end the live session for everyone with kick-all."""
        target = str(meeting_id)[:80]
        await self._audit(actor, "button:end", "requested", target)
        link = await self.store.read(Tx.link, actor.channel_id)
        if link is None or link.meeting_id != meeting_id:
            await self._audit(actor, "button:end", "refused", target, "not this channel's meeting")
            return Reply.one(Say.FOREIGN_BUTTON, ok=False)
        if (why := await self.permissions.refusal(actor, "end", link)) is not None:
            await self._audit(actor, "button:end", "refused", target, why.value)
            return Reply.one(Say.REFUSED, ok=False, reason=why, wait=self.permissions.waiting(actor, why))
        meeting = await self.store.read(Tx.recordings_of_meeting, link.meeting_id)
        active = [r for r in meeting if r.status in FITS["stop"]]
        reply = await self.act(actor, active, "stop")
        try:
            kicked = await self.platform.kick_all(link.meeting_id)
        except PlatformError as exc:
            await self._audit(actor, "end", "error", target, exc.message)
            reply.lines.append(failed("end", exc))
            reply.ok = False
            return reply
        await self._audit(actor, "end", "ok", target, f"kicked {kicked}")
        reply.lines.append(Line(Say.ENDED, {"kicked": kicked}))
        return reply

    async def act(self, actor: Actor, targets: list[Recording], action: str, *,
                  duration: float | None = None) -> Reply:
        reply = Reply([])
        for target in targets:
            line, done = await self.act_one(actor, target.id, action, duration)
            reply.lines.append(line)
            reply.ok = reply.ok and done
        return reply

    async def _call(self, action: str, recording_id: str) -> PlatformRecording:
        """The platform call. A pause is tried again when the platform did not answer or asked to slow
        down: it is a privacy act, and a repeated pause cannot do more than the first."""
        for delay in PAUSE_RETRIES if action == "pause" else ():
            try:
                return await self._call_once(action, recording_id)
            except (PlatformUnavailable, RateLimited) as exc:
                try:  # it may have happened although no answer came
                    seen = await self.platform.get_recording(recording_id)
                    if seen.status in RESULT[action]:
                        return seen
                except PlatformError:
                    pass
                await asyncio.sleep(max(delay, getattr(exc, "retry_after", 0.0)))
        return await self._call_once(action, recording_id)

    async def _call_once(self, action: str, recording_id: str) -> PlatformRecording:
        if action == "pause":
            return await self.platform.pause_recording(recording_id)
        if action == "resume":
            return await self.platform.resume_recording(recording_id)
        if action == "stop":
            return await self.platform.stop_recording(recording_id)
        raise ValueError(f"not an action on a recording: {action}")

    async def act_one(self, actor: Actor, recording_id: str, action: str,
                      duration: float | None) -> tuple[Line, bool]:
        async with self.serial(recording_id) as turn:  # double clicks queue here, from any process
            rec = await self.store.read(Tx.recording, recording_id)
            assert rec is not None
            if rec.outcome_unknown:  # an earlier action's answer never came, or news is unconfirmed: learn it first
                rec = await self.truth.refresh(rec.id) or rec
            if rec.status not in FITS[action]:
                await self._audit(actor, action, "refused", rec.id, f"state {rec.status.value}")
                state = {"handle": rec.handle, "status": rec.status.value, "action": action}
                return Line(Say.WRONG_STATE, state), False
            if not await self.mark_asked(rec.id):
                return Line(Say.BUSY, {}), False
            asked, looked = self.clock(), {}  # `looked`: when the answer was asked for, if by a look
            try:
                result = await self._call(action, rec.id)
            except PlatformUnavailable as exc:
                # The action may have happened even though no answer came: ask before saying anything. Its own
                # answer cannot come now: news of it that the confirmation round and the reconciler hold back for
                # that answer need not wait for this look, which a busy platform may keep for a minute (chaos
                # run, two processes, seed 2: a resume lost to the stop that came meanwhile)
                await turn.let_go()
                looked["asked_at"] = self.clock()  # others may write meanwhile: the look is ordered by when asked
                try:
                    result = await self.platform.get_recording(rec.id)
                    looked["seen_at"] = self.clock()
                except PlatformError:
                    await self._audit(actor, action, "error", rec.id, exc.message)
                    await self.store.write(Tx.outcome_unknown, rec.id)
                    line = failed(action, exc, handle=rec.handle, tail="maybe")
                    return await self._pause_failed(actor, rec, line), False
                if result.status not in RESULT[action]:  # asked while this recording's actions wait: the truth
                    with contextlib.suppress(Outdated):  # something newer was seen meanwhile: the card shows that
                        await self.store.write(self.truth.apply, rec.id, Report.of(result, **looked), actor=None,
                                               source=Source.PLATFORM,
                                               audit=[audit_row(actor, action, "error", rec.id, exc.message)])
                    if result.status not in FITS[action]:  # a refusal, whatever its code: say what it is now
                        return Line(Say.ACT_CONFLICT, {"handle": rec.handle, "action": action, "message": exc.message,
                                                       "now": result.status.value}), False
                    return failed(action, exc, handle=rec.handle, tail="unchanged"), False
            except (Conflict, InvalidRequest, NotFound) as exc:  # no code is documented: refresh before answering
                await self._audit(actor, action, "error", rec.id, exc.message)
                now = await self.truth.refresh(rec.id)
                return Line(Say.ACT_CONFLICT, {"handle": rec.handle, "action": action, "message": exc.message,
                                               "now": now.status.value if now else None}), False
            except PlatformError as exc:
                await self._audit(actor, action, "error", rec.id, exc.message)
                return await self._pause_failed(actor, rec, failed(action, exc, handle=rec.handle)), False
            report = Report.of(result, acted_at=asked, **looked)  # when asked: its answer after the stop counts
            how: dict[str, Any] = {"actor": actor.user_id, "source": actor.via, "until": duration,
                   "reason": PauseFor(int(duration)) if duration else None,
                   "audit": [audit_row(actor, action, "ok", rec.id)]}
            try:
                await self.store.write(self.truth.apply, rec.id, report, **how)
            except StoreBusy:  # the platform did it: say so, and record it as soon as the store lets us
                self.truth.save_later(f"{action} of {rec.id}",
                                      lambda: self.store.write(self.truth.apply, rec.id, report, **how))
                return Line(Say.SAVED_LATER, {"handle": rec.handle, "action": action}), True
            except Outdated:  # its look is older than news written meanwhile: the card shows that
                await self._audit(actor, action, "ok", rec.id)
            return Line(Say.ACTED, {"handle": rec.handle, "action": action, "duration": duration}), True

    async def mark_asked(self, recording_id: str) -> bool:
        """Store the "asked" mark before an action is asked of the platform; False when the store stays busy
        (then ask nothing). Until its answer is written the outcome is unknown: a process that dies meanwhile
        leaves it so, with when it asked, which dates a pause learned later (`Records._asked_at`). Unmarked, a
        pause whose answer died with its process was dated when learned, and the words said between were kept
        (chaos run, seed 3). Every pause, resume and stop asked of the platform goes through here."""
        try:
            await patiently(lambda: self.store.write(Tx.action_asked, recording_id), MARK_RETRIES, StoreBusy)
        except StoreBusy:
            return False
        return True

    async def _pause_failed(self, actor: Actor, rec: Recording, line: Line) -> Line:
        """A pause that failed is said in the thread for everyone, with a button to try again: the
        channel must not believe it is off the record."""
        if line.params.get("doing") == "pause":
            await self.store.write(self.writer.say, rec, Notice.PAUSE_FAILED, actor=actor.user_id,
                                   detail=line.params.get("message", ""))
        return line

    async def refresh_link(self, actor: Actor, rec: Recording) -> Reply:
        try:
            report = await self.truth.ask(rec.id)
        except PlatformError as exc:
            return Reply([failed("refresh_link", exc, handle=rec.handle)], ok=False)
        with contextlib.suppress(Outdated):  # something newer was seen meanwhile: the card shows that
            await self.store.write(self.truth.apply, rec.id, report, actor=None, source=Source.PLATFORM)
        await self.store.write(self._keep_link, actor, rec, report)
        self.writer.on_write()
        if not report.download_url:
            return Reply.one(Say.NO_DOWNLOAD_LINK, ok=False, handle=rec.handle, status=report.status.value)
        return Reply.one(Say.FRESH_LINK, handle=rec.handle, url=report.download_url, expiry=report.url_expiry)

    def _keep_link(self, tx: Tx, actor: Actor, rec: Recording, report: Report) -> None:
        """The fresh link kept on the recording, its card drawn again with it, and the asking audited."""
        if file := report.file_fields():
            tx.update_recording(rec.id, **file)
        self.writer.card(tx, rec)
        self._audit_in(tx, actor, "refresh_link", "ok", rec.id)

    def snooze(self, tx: Tx, actor: Actor, rec: Recording) -> Reply:
        if rec.status is not Status.PAUSED:
            return Reply.one(Say.SNOOZE_NOT_PAUSED, ok=False, handle=rec.handle, status=rec.status.value)
        delay = self.guardrails.pause_reminder_every or SNOOZE
        pause = last_pause(tx.ledger(rec.id))
        tx.timers.set(Timer.PAUSE_REMINDER, rec.id, self.clock() + delay, {"paused_by": pause.actor if pause else None})
        self._audit_in(tx, actor, "snooze", "ok", rec.id)
        return Reply.one(Say.SNOOZED, handle=rec.handle, delay=delay)
