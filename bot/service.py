"""The rules: links, permissions, which recordings an action applies to, the state machine, the
pause ledger, guardrails and reconciliation.

It knows nothing of HTTP or Block Kit. What people should see is written to the outbox as
semantic rows (`card`, `thread` notices, `channel`, `dm`), rendered later by `bot/slack/blocks.py`;
what the person who asked should read comes back as a `Reply`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

from bot.config import Guardrails
from bot.ledger import Summary, summarize
from bot.mrkdwn import escape
from bot.platform.client import Conflict, NotFound, PlatformClient, PlatformError, PlatformUnavailable, RateLimited
from bot.platform.models import Recording, Status
from bot.platform.webhooks import Event, Ignored, MeetingEvent, RecordingUpdate
from bot.slack.grammar import USAGE, Command
from bot.store import ACTIVE, Link, Rec, Store

log = logging.getLogger(__name__)

# Which states each action applies to (platform-api.md §3).
FITS = {"pause": (Status.RECORDING,), "resume": (Status.PAUSED,),
        "stop": (Status.RECORDING, Status.PAUSED, Status.INVOKED)}
VERB = {"pause": "paused", "resume": "resumed", "stop": "stopped"}
RESULT = {"pause": (Status.PAUSED,), "resume": (Status.RECORDING,), "stop": (Status.UPLOADING, Status.UPLOADED)}
CONTROLLER_ONLY = {"link", "unlink", "new", "start", "resume", "stop", "allow", "deny", "refresh_link"}
PRIVACY_ACTIONS = {"pause", "snooze"}  # they can only keep something off the record: anyone may
READ_ONLY = {"help", "status", "history", "who"}  # answered from the store alone; change nothing
PAUSE_TIMERS = ("resume", "heads_up", "pause_reminder", "ended_paused")
TIME_LIMIT = 86400.0


@dataclass(frozen=True)
class Actor:
    user_id: str | None  # None for recbot's own timers and guards
    channel_id: str
    team_id: str | None = None
    via: str = "command"  # command | button | home | timer | guard


@dataclass
class Reply:
    text: str
    ok: bool = True
    view: dict[str, Any] | None = None  # structured content (status, history, who) for the Slack layer


@dataclass
class StatusLine:
    rec: Rec
    summary: Summary


class RetryLater(Exception):
    """The event cannot be applied yet (a start is still in flight); keep it and try again."""


@dataclass
class Service:
    store: Store
    platform: PlatformClient
    guard: Guardrails = field(default_factory=Guardrails)
    clock: Callable[[], float] = time.time
    is_admin: Callable[[str], Awaitable[bool]] | None = None
    on_write: Callable[[], None] = lambda: None  # wakes the outbox worker

    def __post_init__(self) -> None:
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._starting: defaultdict[str, int] = defaultdict(int)
        self._busy = 0
        self._tasks: set[asyncio.Task] = set()
        self._idle = asyncio.Event()
        self._idle.set()

    def spawn(self, work: Awaitable[Any], what: str) -> None:
        """Run the slow part of a request after its ack; shutdown waits for it (`wait_idle`)."""
        self._busy += 1
        self._idle.clear()

        async def run() -> None:
            try:
                await work
            except Exception:
                log.exception("failed while handling %s", what)
            finally:
                self._busy -= 1
                if not self._busy:
                    self._idle.set()

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def wait_idle(self, timeout: float) -> bool:
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
            return True
        except TimeoutError:
            return False

    # -- outbox helpers ----------------------------------------------------------------

    def _card(self, rec: Rec) -> None:
        self.store.enqueue("card", {}, channel_id=rec.channel_id, recording_id=rec.id, coalesce_key=f"card:{rec.id}")
        self.on_write()

    def _notice(self, rec: Rec, notice: str, **params: Any) -> None:
        self.store.enqueue("thread", {"notice": notice, **params}, channel_id=rec.channel_id, recording_id=rec.id)
        self.on_write()

    def _audit(self, actor: Actor, action: str, outcome: str, target: str | None = None,
               detail: str | None = None) -> None:
        self.store.audit(channel_id=actor.channel_id, user_id=actor.user_id, action=action, outcome=outcome,
                         target=target, detail=detail)

    # -- permissions -------------------------------------------------------------------

    async def refusal(self, actor: Actor, action: str, link: Link | None) -> str | None:
        """Why `actor` may not do `action` here, or None. Privacy first: anyone may pause."""
        if actor.user_id is None:
            return None
        if self.store.role(actor.channel_id, actor.user_id) == "deny":
            return "A controller of this channel has barred you from recording actions here."
        if action in PRIVACY_ACTIONS:
            return None
        if link and link.team_id and actor.team_id and actor.team_id != link.team_id:
            return "People from another workspace can pause a recording here, but not control it otherwise."
        if action not in CONTROLLER_ONLY:
            return None
        if link is None and action in ("link", "new"):
            return None
        if await self.is_controller(actor.user_id, actor.channel_id, link):
            return None
        return ("Only this channel's controllers can do that: whoever linked it, workspace admins, and people "
                "they `/rec allow`. Anyone here can pause.")

    async def is_controller(self, user_id: str, channel_id: str, link: Link | None) -> bool:
        if link and link.linked_by == user_id:
            return True
        if self.store.role(channel_id, user_id) == "allow":
            return True
        return bool(self.is_admin and await self.is_admin(user_id))

    # -- commands ----------------------------------------------------------------------

    async def handle(self, actor: Actor, cmd: Command) -> Reply:
        link = self.store.link(actor.channel_id)
        if cmd.name == "help":
            return Reply(USAGE)
        if cmd.name not in READ_ONLY:
            # Audited before anything else: if the store cannot take this write, nothing is touched.
            self._audit(actor, cmd.name, "requested")
        if link is None and cmd.name not in ("link", "new"):
            self._audit(actor, cmd.name, "refused", detail="not linked")
            return Reply("This channel is not linked to a meeting yet. Link one with `/rec link <meeting id or URL>`"
                         " or create one with `/rec new [title]`.", ok=False)
        if (why := await self.refusal(actor, cmd.name, link)) is not None:
            self._audit(actor, cmd.name, "refused", detail=why)
            return Reply(f":no_entry: {why}", ok=False)
        if cmd.name in ("link", "new"):
            return await self._link(actor, cmd, link)
        assert link is not None
        handler = {"unlink": self._unlink, "start": self._start, "status": self._status, "history": self._history,
                   "who": self._who, "allow": self._allow, "deny": self._allow}.get(cmd.name)
        if handler is not None:
            return await handler(actor, cmd, link)
        return await self._act_on_meeting(actor, cmd, link)

    async def _link(self, actor: Actor, cmd: Command, link: Link | None) -> Reply:
        try:
            if cmd.name == "new":
                meeting = await self.platform.create_meeting(cmd.title or f"#{actor.channel_id} meeting")
            else:
                meeting = await self.platform.get_meeting(cmd.meeting_ref or "")
        except NotFound:
            self._audit(actor, "link", "error", target=cmd.meeting_ref, detail="no such meeting")
            return Reply(f"No meeting `{cmd.meeting_ref}` exists on the platform. Check the id or URL, "
                         "or create one with `/rec new [title]`.", ok=False)
        except PlatformError as exc:
            self._audit(actor, cmd.name, "error", target=cmd.meeting_ref, detail=exc.message)
            return Reply(platform_failure("reach the meeting", exc), ok=False)
        self.store.set_link(actor.channel_id, actor.team_id, meeting.id, meeting.title, actor.user_id or "")
        self._audit(actor, cmd.name, "ok", target=meeting.id)
        what = "Created and linked" if cmd.name == "new" else "Linked"
        before = f" (it was linked to `{link.meeting_id}`)" if link and link.meeting_id != meeting.id else ""
        return Reply(f":link: {what} this channel to *{escape(meeting.title) or 'untitled meeting'}* (`{meeting.id}`)"
                     f"{before}. Start recording with `/rec start`.")

    async def _unlink(self, actor: Actor, cmd: Command, link: Link) -> Reply:
        self.store.remove_link(actor.channel_id)
        self._audit(actor, "unlink", "ok", target=link.meeting_id)
        active = self.store.recordings_of_meeting(link.meeting_id)
        tail = (f" {len(active)} recording(s) still running keep their cards and buttons here." if active else "")
        return Reply(f"Unlinked this channel from `{link.meeting_id}`. Past recordings keep their history.{tail}")

    async def _start(self, actor: Actor, cmd: Command, link: Link) -> Reply:
        active = self.store.recordings_of_meeting(link.meeting_id)
        if active and not cmd.multi:
            self._audit(actor, "start", "refused", detail="already active")
            names = ", ".join(f"#{r.handle} ({r.status.value.lower()})" for r in active)
            paused = any(r.status is Status.PAUSED for r in active)
            offer = "`/rec resume` to continue it, or " if paused else ""
            return Reply(f"This meeting already has an active recording: {names}. Use {offer}"
                         "`/rec start --multi` to record another one alongside it.", ok=False)
        self._starting[link.meeting_id] += 1
        try:
            started = await self.platform.start_recording(link.meeting_id, allow_multiple=cmd.multi)
        except Conflict as exc:
            self._starting[link.meeting_id] -= 1
            self._audit(actor, "start", "error", detail=exc.message)
            await self.adopt_active(link)
            return Reply(f"The platform refused: {exc.message}. A recording started from the meeting may "
                         "already be running; see `/rec status`, or use `/rec start --multi`.", ok=False)
        except PlatformError as exc:
            self._starting[link.meeting_id] -= 1
            self._audit(actor, "start", "error", detail=exc.message)
            return Reply(platform_failure("start the recording", exc), ok=False)
        try:  # INVOKED first, whatever the answer says, so the ledger has every step
            rec = self.store.add_recording(recording_id=started.id, meeting_id=link.meeting_id,
                                           channel_id=actor.channel_id, status=Status.INVOKED,
                                           title=link.meeting_title, started_by=actor.user_id, origin="slack",
                                           multi=cmd.multi, at=self.clock(), source=actor.via,
                                           session_id=started.session_id)
        finally:
            self._starting[link.meeting_id] -= 1
        if rec is None:  # a webhook got there first; it is the same recording
            rec = self.store.recording(started.id)
            assert rec is not None
        self._audit(actor, "start", "ok", target=rec.id)
        self._card(rec)
        self._notice(rec, "started", actor=actor.user_id, multi=cmd.multi)
        if started.status is not rec.status:
            self._apply(rec, started, actor=None, source="platform")
        title = escape(link.meeting_title) or "the meeting"
        return Reply(f":red_circle: Starting recording #{rec.handle} of *{title}*. Its card is in the channel.")

    async def _act_on_meeting(self, actor: Actor, cmd: Command, link: Link) -> Reply:
        if cmd.handle is not None:
            rec = self.store.recording_by_handle(link.meeting_id, cmd.handle)
            if rec is None:
                return Reply(f"There is no recording #{cmd.handle} of this meeting. `/rec status` lists them.",
                             ok=False)
            targets = [rec]
        else:
            targets = [r for r in self.store.recordings_of_meeting(link.meeting_id) if r.status in FITS[cmd.name]]
            if not targets:
                active = self.store.recordings_of_meeting(link.meeting_id)
                state = ", ".join(f"#{r.handle} is {r.status.value.lower()}" for r in active) or "nothing is active"
                return Reply(f"Nothing to {cmd.name}: {state}.", ok=False)
        return await self.act(actor, targets, cmd.name, duration=cmd.duration)

    async def press(self, actor: Actor, action: str, recording_id: str) -> Reply:
        """A button on a card or reminder: checked exactly like the command."""
        self._audit(actor, f"button:{action}", "requested", target=str(recording_id)[:80])
        rec = self.store.recording(recording_id) if isinstance(recording_id, str) else None
        if rec is not None and actor.via == "home":  # App Home has no channel: act as in the card's channel
            actor = replace(actor, channel_id=rec.channel_id)
        if rec is None or rec.channel_id != actor.channel_id:
            self._audit(actor, f"button:{action}", "refused", target=str(recording_id)[:80], detail="foreign recording")
            return Reply("That button does not belong to a recording of this channel.", ok=False)
        link = self.store.link(actor.channel_id)
        if (why := await self.refusal(actor, action, link)) is not None:
            self._audit(actor, f"button:{action}", "refused", target=rec.id, detail=why)
            return Reply(f":no_entry: {why}", ok=False)
        if action == "refresh_link":
            return await self.refresh_link(actor, rec)
        if action == "snooze":
            return self.snooze(actor, rec)
        return await self.act(actor, [rec], action)

    async def act(self, actor: Actor, targets: list[Rec], action: str, *, duration: float | None = None) -> Reply:
        lines, ok = [], True
        for target in targets:
            line, done = await self._act_one(actor, target.id, action, duration)
            lines.append(line)
            ok = ok and done
        return Reply("\n".join(lines), ok=ok)

    async def _act_one(self, actor: Actor, recording_id: str, action: str,
                       duration: float | None) -> tuple[str, bool]:
        async with self._locks[recording_id]:  # one action at a time per recording: double clicks queue here
            rec = self.store.recording(recording_id)
            assert rec is not None
            if rec.last_news_at == 0.0:  # an earlier action's outcome is unknown: learn it first
                rec = await self.refresh(rec.id) or rec
            if rec.status not in FITS[action]:
                self._audit(actor, action, "refused", target=rec.id, detail=f"state {rec.status.value}")
                return f"#{rec.handle} is {rec.status.value.lower()}, so there is nothing to {action}.", False
            try:
                result = await getattr(self.platform, f"{action}_recording")(rec.id)
            except PlatformUnavailable as exc:
                # The action may have happened even though no answer came: ask before saying anything.
                try:
                    result = await self.platform.get_recording(rec.id)
                except PlatformError:
                    self._audit(actor, action, "error", target=rec.id, detail=exc.message)
                    # Unknown outcome: the oldest news, so the reconciler asks first, and so does the next action.
                    self.store.update_recording(rec.id, last_news_at=0.0)
                    return (platform_failure(f"{action} #{rec.handle}", exc) + " It may still happen: the card "
                            "will show what the platform does."), False
                if result.status not in RESULT[action]:
                    self._audit(actor, action, "error", target=rec.id, detail=exc.message)
                    self._apply(rec, result, actor=None, source="platform")
                    return platform_failure(f"{action} #{rec.handle}", exc) + " Nothing changed.", False
            except Conflict as exc:
                self._audit(actor, action, "error", target=rec.id, detail=exc.message)
                truth = await self.refresh(rec.id)
                now = truth.status.value.lower() if truth else "unknown"
                return f"#{rec.handle} could not be {VERB[action]}: {exc.message} (it is {now}).", False
            except PlatformError as exc:
                self._audit(actor, action, "error", target=rec.id, detail=exc.message)
                return platform_failure(f"{action} #{rec.handle}", exc), False
            self._audit(actor, action, "ok", target=rec.id)
            reason = f"for {_duration_text(duration)}" if duration else None
            self._apply(rec, result, actor=actor.user_id, source=actor.via, reason=reason, until=duration)
            line = f"#{rec.handle} {VERB[action]}."
            if action == "pause" and duration:
                due = self.clock() + duration
                self.store.set_timer("resume", rec.id, due, {"paused_by": actor.user_id})
                if duration > self.guard.timed_resume_heads_up * 2:
                    self.store.set_timer("heads_up", rec.id, due - self.guard.timed_resume_heads_up, {"due": due})
                line = f"#{rec.handle} paused for {_duration_text(duration)}; it resumes by itself."
            return line, True

    # -- applying what the platform says ------------------------------------------------

    def _apply(self, rec: Rec, seen: Recording | RecordingUpdate, *, actor: str | None, source: str,
               reason: str | None = None, until: float | None = None) -> bool:
        """Move `rec` to what the platform reports, if that is forward. Returns whether it moved."""
        rec = self.store.recording(rec.id) or rec  # the caller's copy may predate a slow platform call
        new, cur = seen.status, rec.status
        if new is cur or new.rank < cur.rank:
            self.store.update_recording(rec.id, last_news_at=self.clock())
            if new is cur and new.final:
                self._store_file(rec, seen)
            return False
        # News that skips a state (its webhook was lost) first takes the step it implies, so the ledger
        # keeps every interval: a recording that stopped had started, one that uploaded had stopped.
        if cur is Status.INVOKED and new.rank >= Status.UPLOADING.rank and seen.started_at:
            self._step(rec, seen, Status.RECORDING, source)
            rec = self.store.recording(rec.id) or rec
            cur = rec.status
        if new.final and cur.rank < Status.UPLOADING.rank:
            step = _with_status(seen, Status.UPLOADING)
            if self._apply(rec, step, actor=actor, source=source, reason=reason):
                rec = self.store.recording(rec.id) or rec
                cur = rec.status
        if new is cur or new.rank < cur.rank:  # the steps above may have got there already
            return False
        now = self.clock()
        at = now
        if new is Status.RECORDING and cur is Status.INVOKED and seen.started_at:
            at = min(now, seen.started_at)
        elif new is Status.UPLOADING and seen.stopped_at:
            at = min(now, seen.stopped_at)
        if new is Status.UPLOADING and reason is None:
            reason = self._stop_reason(rec, seen, source)
        fields: dict[str, Any] = {}
        if new is Status.PAUSED:
            fields["pause_until"] = now + until if until else None
        if seen.session_id:
            fields["session_id"] = seen.session_id
        if new is Status.ERRORED:
            fields["error_reason"] = seen.stop_reason or "the platform reported an unrecoverable error"
        if new is Status.UPLOADING:
            fields["stop_reason"] = reason
        action = last_action(cur, new, actor, source, reason)
        if not self.store.transition(rec.id, cur, new, at=at, actor=actor, source=source, reason=reason,
                                     action=action, **fields):
            return False
        if cur is Status.PAUSED:
            self.store.cancel_timers(rec.id, PAUSE_TIMERS)
        if new is Status.PAUSED and self.guard.pause_reminder_after > 0:
            self.store.set_timer("pause_reminder", rec.id, now + self.guard.pause_reminder_after,
                                 {"paused_by": actor})
        if new.final:
            self.store.cancel_timers(rec.id, PAUSE_TIMERS)
            self._store_file(rec, seen)
        notice = {Status.PAUSED: "paused", Status.UPLOADING: "stopped", Status.UPLOADED: "uploaded",
                  Status.ERRORED: "errored"}.get(new) or ("resumed" if cur is Status.PAUSED else "recording")
        self._notice(rec, notice, actor=actor, source=source, reason=reason,
                     until=fields.get("pause_until"), started_by=rec.started_by)
        self._card(rec)
        return True

    def _step(self, rec: Rec, seen: Recording | RecordingUpdate, status: Status, source: str) -> None:
        """Record a transition that happened unseen (in the ledger and on the card, without a notice)."""
        at = min(self.clock(), seen.started_at or self.clock())
        if self.store.transition(rec.id, rec.status, status, at=at, actor=None, source=source,
                                 reason="reconstructed"):
            self._card(rec)

    def _store_file(self, rec: Rec, seen: Recording | RecordingUpdate) -> None:
        if seen.download_url:
            self.store.update_recording(rec.id, download_url=seen.download_url, audio_url=seen.audio_download_url,
                                        url_expiry=seen.download_url_expiry, file_size=seen.file_size,
                                        duration=seen.duration)

    def _stop_reason(self, rec: Rec, seen: Recording | RecordingUpdate, source: str) -> str:
        if seen.stop_reason == "ALL_PEERS_LEFT":
            return "everyone left"
        entries = self.store.ledger(rec.id)
        first = next((e.at for e in entries if e.status is Status.RECORDING), None)
        stopped = seen.stopped_at or self.clock()
        if first is not None and stopped - first >= TIME_LIMIT - 5:
            return "time limit reached"
        if seen.stop_reason == "INTERNAL_ERROR":
            return "platform error"
        return "from the meeting" if source != "reconciler" else "outside Slack"

    async def refresh(self, recording_id: str, *, source: str = "platform") -> Rec | None:
        """Ask the platform for the truth about one recording and apply it."""
        rec = self.store.recording(recording_id)
        if rec is None:
            return None
        try:
            seen = await self.platform.get_recording(recording_id)
        except NotFound:
            self._apply(rec, _errored(recording_id, "the platform no longer knows this recording"),
                        actor=None, source=source)
            return self.store.recording(recording_id)
        except PlatformError:
            return rec
        self._apply(rec, seen, actor=None, source=source)
        return self.store.recording(recording_id)

    async def apply_event(self, event: Event) -> str:
        """One webhook, already verified and stored. Returns what was done (for the delivery log)."""
        if isinstance(event, Ignored):
            return f"ignored {event.event}"
        if isinstance(event, MeetingEvent):
            return await self._meeting_event(event)
        rec = self.store.recording(event.recording_id)
        if rec is None:
            return self._adopt(event)
        if event.status.rank == rec.status.rank == 1 and event.status is not rec.status:
            # RECORDING and PAUSED alternate and webhooks may arrive out of order: ask which is true now.
            try:
                truth = await self.platform.get_recording(rec.id)
            except PlatformError:
                return "could not confirm; the reconciler will"
            moved = self._apply(rec, truth, actor=None, source="meeting")
            return f"confirmed {truth.status.value}" if moved else "stale"
        return "applied" if self._apply(rec, event, actor=None, source="platform") else "no change"

    def _adopt(self, event: RecordingUpdate) -> str:
        """A recording recbot did not start (from the meeting, or record_on_start) gets its own card."""
        if not event.meeting_id:
            return "unknown recording without a meeting"
        if self._starting.get(event.meeting_id):
            raise RetryLater("a start of this meeting is in flight")
        links = self.store.links_for_meeting(event.meeting_id)
        if not links:
            return "meeting not linked"
        if event.status.final or event.status is Status.UPLOADING:
            return "unknown recording already stopped"
        link = min(links, key=lambda lk: lk.linked_at)
        at = min(self.clock(), event.started_at or self.clock())
        rec = self.store.add_recording(recording_id=event.recording_id, meeting_id=event.meeting_id,
                                       channel_id=link.channel_id, status=Status.INVOKED,
                                       title=event.meeting_title or link.meeting_title, started_by=None,
                                       origin="meeting", multi=False, at=at, source="meeting",
                                       session_id=event.session_id)
        if rec is None:
            return "already known"
        if event.status is not Status.INVOKED:  # it was started before recbot heard of it
            self._step(rec, event, Status.RECORDING, "meeting")
            if event.status is Status.PAUSED:
                self._step(self.store.recording(rec.id) or rec, event, Status.PAUSED, "meeting")
            rec = self.store.recording(rec.id) or rec
        self._card(rec)
        self._notice(rec, "adopted", actor=None, source="meeting")
        return "adopted"

    async def adopt_active(self, link: Link) -> None:
        try:
            found = await self.platform.list_recordings(link.meeting_id, statuses=[Status(s) for s in ACTIVE])
        except PlatformError:
            return
        for seen in found:
            if self.store.recording(seen.id) is None:
                try:
                    self._adopt(RecordingUpdate(recording_id=seen.id, meeting_id=link.meeting_id, status=seen.status,
                                                session_id=seen.session_id, started_at=seen.started_at,
                                                meeting_title=link.meeting_title))
                except RetryLater:  # another start of this meeting is in flight; its webhooks will tell
                    continue

    async def _meeting_event(self, event: MeetingEvent) -> str:
        if event.kind not in ("ended", "left"):
            return f"meeting {event.kind}"
        paused = self.store.recordings_of_meeting(event.meeting_id, [Status.PAUSED.value])
        if not paused:
            return "nothing paused"
        if event.kind == "left":
            try:
                session = await self.platform.get_active_session(event.meeting_id)
            except PlatformError:
                return "could not check who is left"
            if session is not None and session.live_participants > 0:
                return "people are still there"
        for rec in paused:
            if self.store.timer("ended_paused", rec.id):
                continue
            grace = self.guard.ended_paused_grace
            paused_by = self._paused_by(rec)
            if grace > 0:
                self.store.set_timer("ended_paused", rec.id, self.clock() + grace, {"paused_by": paused_by})
            self._notice(rec, "ended_while_paused", paused_by=paused_by, grace=grace,
                         reason="everyone left" if event.kind == "left" else "the meeting ended")
        return f"reminded about {len(paused)} paused recording(s)"

    def _paused_by(self, rec: Rec) -> str | None:
        for entry in reversed(self.store.ledger(rec.id)):
            if entry.status is Status.PAUSED:
                return entry.actor
        return None

    # -- timers and reconciliation ----------------------------------------------------

    async def run_due_timers(self) -> int:
        done = 0
        for timer in self.store.due_timers(self.clock()):
            if not self.store.finish_timer(timer["id"]):
                continue
            rec = self.store.recording(timer["recording_id"])
            if rec is None or rec.status is not Status.PAUSED:
                continue
            done += 1
            kind, payload = timer["kind"], timer["payload"]
            actor = Actor(user_id=None, channel_id=rec.channel_id, via="timer")
            if kind == "resume":
                line, ok = await self._act_one(actor, rec.id, "resume", None)
                if not ok:
                    self._notice(rec, "auto_resume_failed", detail=line, paused_by=payload.get("paused_by"))
            elif kind == "heads_up":
                self._notice(rec, "heads_up", due=payload.get("due"))
            elif kind == "pause_reminder":
                self._notice(rec, "pause_reminder", paused_by=payload.get("paused_by") or self._paused_by(rec),
                             since=self._paused_since(rec))
                if self.guard.pause_reminder_every > 0:
                    self.store.set_timer("pause_reminder", rec.id, self.clock() + self.guard.pause_reminder_every,
                                         payload)
            elif kind == "ended_paused":
                guard = Actor(user_id=None, channel_id=rec.channel_id, via="guard")
                async with self._locks[rec.id]:
                    try:
                        result = await self.platform.stop_recording(rec.id)
                    except PlatformError as exc:
                        self._notice(rec, "auto_stop_failed", detail=exc.message)
                        self.store.set_timer("ended_paused", rec.id, self.clock() + 60, payload)
                        continue
                    self._audit(guard, "stop", "ok", target=rec.id, detail="ended while paused")
                    self._apply(rec, result, actor=None, source="guard", reason="the meeting ended while paused")
        return done

    def _paused_since(self, rec: Rec) -> float | None:
        for entry in reversed(self.store.ledger(rec.id)):
            if entry.status is Status.PAUSED:
                return entry.at
        return None

    def snooze(self, actor: Actor, rec: Rec) -> Reply:
        if rec.status is not Status.PAUSED:
            return Reply(f"#{rec.handle} is {rec.status.value.lower()} now; no reminder to snooze.", ok=False)
        delay = self.guard.pause_reminder_every or 1800.0
        self.store.set_timer("pause_reminder", rec.id, self.clock() + delay, {"paused_by": self._paused_by(rec)})
        self._audit(actor, "snooze", "ok", target=rec.id)
        return Reply(f"OK, I will remind you again in {_duration_text(delay)} if #{rec.handle} is still paused.")

    async def refresh_link(self, actor: Actor, rec: Rec) -> Reply:
        try:
            seen = await self.platform.get_recording(rec.id)
        except PlatformError as exc:
            return Reply(platform_failure("fetch a fresh link", exc), ok=False)
        self._apply(rec, seen, actor=None, source="platform")
        self._store_file(rec, seen)
        self._card(rec)
        self._audit(actor, "refresh_link", "ok", target=rec.id)
        if not seen.download_url:
            return Reply(f"#{rec.handle} has no download link (it is {seen.status.value.lower()}).", ok=False)
        return Reply(f"Fresh link for #{rec.handle}: <{seen.download_url}|download>", view={
            "kind": "link", "url": seen.download_url, "expiry": seen.download_url_expiry})

    async def reconcile(self, limit: int, *, older_than: float | None = None) -> int:
        """Check the recordings with the stalest news against the platform, at most `limit` calls.

        Due are those whose last news is older than `reconcile_after` (or than `older_than`, which
        at start is the start time, so every unfinished recording is checked once)."""
        cutoff = older_than if older_than is not None else self.clock() - self.guard.reconcile_after
        checked = 0
        for rec in self.store.unfinished(limit=limit * 2 + 10):
            if checked >= limit:
                break
            if rec.last_news_at > cutoff:
                break  # ordered by last news: the rest are fresher
            checked += 1
            try:
                await self.refresh(rec.id, source="reconciler")
            except (RateLimited, PlatformUnavailable):
                break
        return checked

    def retry_lost_channel(self, channel_id: str) -> None:
        """Someone used /rec in a channel recbot had lost: it may be back, so try its kept messages again."""
        link = self.store.link(channel_id)
        if link and link.broken_reason and self.store.outbox_release_channel(channel_id):
            self.on_write()  # the link stays marked broken until a post there succeeds

    # -- read-only views ---------------------------------------------------------------

    async def _status(self, actor: Actor, cmd: Command, link: Link) -> Reply:
        return Reply(f"Linked to {escape(link.meeting_title)}", view={"kind": "status", "link": link,
                                                               "lines": self.status_lines(link.meeting_id)})

    def status_lines(self, meeting_id: str) -> list[StatusLine]:
        now = self.clock()
        return [StatusLine(r, summarize(self.store.ledger(r.id), now))
                for r in self.store.recordings_of_meeting(meeting_id, ACTIVE)]

    async def _history(self, actor: Actor, cmd: Command, link: Link) -> Reply:
        recs = self.store.history(actor.channel_id, limit=10)
        now = self.clock()
        return Reply("Recent recordings", view={"kind": "history", "link": link,
                                                "lines": [StatusLine(r, summarize(self.store.ledger(r.id), now))
                                                          for r in recs]})

    async def _who(self, actor: Actor, cmd: Command, link: Link) -> Reply:
        return Reply("Who may control recordings", view={"kind": "who", "link": link,
                                                         "members": self.store.members(actor.channel_id)})

    async def _allow(self, actor: Actor, cmd: Command, link: Link) -> Reply:
        assert cmd.user_id is not None
        if cmd.name == "deny" and cmd.user_id == link.linked_by and actor.user_id != link.linked_by:
            return Reply("The person who linked this channel stays a controller; relink the channel to change that.",
                         ok=False)
        self.store.set_role(actor.channel_id, cmd.user_id, "allow" if cmd.name == "allow" else "deny",
                            actor.user_id or "")
        self._audit(actor, cmd.name, "ok", target=cmd.user_id)
        if cmd.name == "allow":
            return Reply(f"<@{cmd.user_id}> can now start, resume and stop recordings in this channel.")
        return Reply(f"<@{cmd.user_id}> can no longer take recording actions in this channel, pausing included.")


def last_action(cur: Status, new: Status, actor: str | None, source: str, reason: str | None) -> str | None:
    """What the card shows as the last action, or None when this change is no one's action."""
    verb = {Status.PAUSED: "paused", Status.UPLOADING: "stopped"}.get(new)
    if new is Status.RECORDING and cur is Status.PAUSED:
        verb = "resumed"
    if verb is None:
        return None
    if actor:
        return verb
    if source == "meeting":
        return f"{verb} from the meeting"
    return f"{verb} automatically" + (f" ({reason})" if reason else "")


def platform_failure(what: str, exc: PlatformError) -> str:
    """A platform error as a sentence a person can act on; never a stack trace."""
    if isinstance(exc, PlatformUnavailable):
        return f":warning: Could not {what}: the recording platform is not answering ({exc.message}). " \
               "Try again in a minute."
    if isinstance(exc, RateLimited):
        return f":hourglass: Could not {what}: the platform asks us to slow down. Try again in " \
               f"{max(1, round(exc.retry_after))} s."
    if isinstance(exc, NotFound):
        return f"Could not {what}: the platform does not know it ({exc.message})."
    if exc.status == 401:
        return f":warning: Could not {what}: the platform rejected recbot's credentials. Tell whoever runs recbot " \
               "to run `recbot check`."
    return f"Could not {what}: {exc.message}"


def _duration_text(seconds: float | None) -> str:
    seconds = int(seconds or 0)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return "".join(f"{v}{u}" for v, u in ((h, "h"), (m, "m"), (s, "s")) if v) or "0s"


def _with_status(seen: Recording | RecordingUpdate, status: Status) -> RecordingUpdate:
    return RecordingUpdate(recording_id=seen.id if isinstance(seen, Recording) else seen.recording_id,
                           meeting_id=seen.meeting_id, status=status, session_id=seen.session_id,
                           started_at=seen.started_at, stopped_at=seen.stopped_at, stop_reason=seen.stop_reason)


def _errored(recording_id: str, reason: str) -> RecordingUpdate:
    return RecordingUpdate(recording_id=recording_id, meeting_id=None, status=Status.ERRORED, stop_reason=reason)
