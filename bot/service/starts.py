"""A recording begun: `/rec start` (refused while one is active unless asked for more; a refusal or a
platform that did not answer looks for a recording started elsewhere and adopts it), and auto-record, which
starts one when a meeting whose channel has it on begins. The start is one decision (`decide_start`).
On the loop; the methods that take a `tx` are below the store boundary (`store.read` / `store.write`).
"""

from __future__ import annotations

from collections.abc import Callable

from bot.models import Actor, Command, Link, Source, Status
from bot.platform.accounts import Platforms
from bot.platform.errors import Conflict, InvalidRequest, PlatformError, PlatformUnavailable
from bot.platform.models import PlatformRecording
from bot.service.after import AfterMeeting
from bot.service.calls import Calls
from bot.service.decisions import Audited, Writer, audit_row
from bot.service.outcomes import Applied, Reply, Say, failed
from bot.service.transitions import Decision, Report, decide_start
from bot.service.truth import Truth
from bot.store import StoreBusy, Tx


class Starts(Audited):
    """A part of `Commands`, over the state its `__init__` sets."""

    platform: Platforms
    truth: Truth
    writer: Writer
    calls: Calls
    after: AfterMeeting
    clock: Callable[[], float]

    async def start(self, actor: Actor, cmd: Command, link: Link) -> Reply:
        active = await self.store.read(Tx.recordings_of_meeting, link.meeting_id)
        if active and not cmd.multi:
            await self._audit(actor, "start", "refused", detail="already active")
            return Reply.one(Say.ALREADY_ACTIVE, ok=False, active=[(r.handle, r.status.value) for r in active],
                             paused=any(r.status is Status.PAUSED for r in active))
        self.truth.starting[link.meeting_id] += 1  # its webhooks wait until it is recorded here
        try:
            try:
                started = await self.platform.start_recording(link.meeting_id, allow_multiple=cmd.multi,
                                                              known=[r.id for r in active])
            except (Conflict, InvalidRequest, PlatformUnavailable) as exc:  # no refusal code is documented, and
                await self._audit(actor, "start", "error", detail=exc.message)  # a 5xx may be one: look first
                refused: PlatformError | None = exc
            except PlatformError as exc:
                await self._audit(actor, "start", "error", detail=exc.message)
                return Reply([failed("start", exc)], ok=False)
            else:
                refused = None
                if (saving := await self._record_start(actor, cmd, link, started)) is not None:
                    return saving
        finally:
            self.truth.starting[link.meeting_id] -= 1
        if refused is not None:  # a recording started elsewhere may be running: adopt it, now that it may be
            others = await self.truth.adopt_active(link, known={r.id for r in active})
            if isinstance(refused, PlatformUnavailable) and not others:  # nor did the client find one of its own
                return Reply([failed("start", refused, tail="maybe" if others is None else "unchanged")], ok=False)
            return Reply.one(Say.START_REFUSED, ok=False, message=refused.message)
        rec = await self.store.read(Tx.recording, started.id)
        assert rec is not None
        if not await self.store.read(lambda tx: tx.calls.live(link.meeting_id)):
            await self.calls.look(link.meeting_id)  # recording means live: a session no webhook told of
        return Reply.one(Say.STARTING, handle=rec.handle, title=link.meeting_title)

    async def _record_start(self, actor: Actor, cmd: Command, link: Link, started: PlatformRecording) -> Reply | None:
        """The start as one decision. None when it is recorded; a reply when the store could not take it yet."""
        report = Report.of(started)
        decision = decide_start(report, link, started_by=actor.user_id, multi=cmd.multi, source=actor.via,
                                now=self.clock())
        decision.audit = [audit_row(actor, "start", "ok", started.id)]
        try:
            await self.store.write(self._write_start, decision, report)
        except StoreBusy:
            self.truth.save_later(f"start of {started.id}",
                                  lambda: self.store.write(self._write_start, decision, report))
            return Reply.one(Say.SAVED_LATER, action="start", handle=None)
        return None

    async def auto_record(self, meeting_id: str) -> Applied:
        """`meeting.started` for a meeting whose channel has auto-record on: start a recording there, once."""
        links, active = await self.store.read(self._auto_recorded, meeting_id)
        if not links:
            return Applied.NO_AUTO_RECORD
        if active:
            return Applied.ALREADY_RECORDING
        link = min(links, key=lambda lk: lk.linked_at)
        actor = Actor(user_id=None, channel_id=link.channel_id, team_id=link.team_id, via=Source.AUTO)
        await self._audit(actor, "start", "requested", detail="auto-record")
        reply = await self.start(actor, Command("start"), link)
        return Applied.AUTO_RECORDING if reply.ok else Applied.AUTO_RECORD_FAILED

    def _write_start(self, tx: Tx, decision: Decision, report: Report) -> None:
        self.writer.write(tx, decision)  # False: a webhook got there first; it is the same recording
        if report.status is not Status.INVOKED:
            self.truth.apply(tx, report.recording_id, report, actor=None, source=Source.PLATFORM)

    def _auto_recorded(self, tx: Tx, meeting_id: str) -> tuple[list[Link], bool]:
        """The meeting's links with auto-record on, and whether it has an active recording."""
        links = [lk for lk in tx.links_for_meeting(meeting_id) if self.after.settings_of(tx, lk.channel_id).auto_record]
        return links, bool(links and tx.recordings_of_meeting(meeting_id))
