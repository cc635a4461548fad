"""After the meeting, and around it: marks, who was there, the session's transcript and summary in the
threads of its recordings, and the channel's settings that shape them.

Marks and attendance are kept in the store as they happen; the final reply (rendered when sent)
turns them into chapters at their place in the file and a list of who was present while it recorded.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from bot.ledger import file_offset, summarize
from bot.models import Actor, Link, Notice, Outgoing, Recording, Status, Timer
from bot.platform.accounts import Platforms
from bot.platform.client import PlatformError
from bot.platform.models import parse_time
from bot.platform.webhooks import MeetingEvent, SessionFile
from bot.service.decisions import Writer
from bot.service.outcomes import Line, Reply, Say, failed
from bot.service.settings import ChannelSettings, checked
from bot.service.transitions import FILES_CHECK_AFTER
from bot.store import Store, on_store_thread

log = logging.getLogger(__name__)

FILES_CHECK_TRIES = 3
SUMMARY_TEXT_LIMIT = 20_000  # characters of a summary kept to show inline (the file has the rest)
MARK_TEXT_LIMIT = 200


class AfterMeeting:
    def __init__(self, store: Store, platform: Platforms, writer: Writer, clock: Callable[[], float] = time.time):
        self.store, self.platform, self.writer, self.clock = store, platform, writer, clock

    @on_store_thread
    def _audit(self, actor: Actor, action: str, outcome: str, target: str | None = None,
               detail: str | None = None) -> None:
        self.store.audit(channel_id=actor.channel_id, user_id=actor.user_id, action=action, outcome=outcome,
                         target=target, detail=detail)

    @on_store_thread
    def settings_of(self, channel_id: str) -> ChannelSettings:
        return ChannelSettings.of(self.store.notes.settings(channel_id))

    # -- marks -------------------------------------------------------------------------

    @on_store_thread
    def mark(self, actor: Actor, meeting_id: str, text: str, recording_id: str | None = None) -> Reply:
        """A bookmark now in every recording of the meeting that is recording (or in the one whose Mark
        button was pressed). A paused recording has nothing to mark: nothing is being recorded."""
        active = self.store.recordings_of_meeting(meeting_id)
        if recording_id is not None:
            active = [r for r in active if r.id == recording_id]
        recording = [r for r in active if r.status is Status.RECORDING]
        if not recording:
            paused = any(r.status is Status.PAUSED for r in active)
            self._audit.here(actor, "mark", "refused", detail="paused" if paused else "nothing recording")
            return Reply.one(Say.NOTHING_TO_MARK, ok=False, paused=paused)
        now = self.clock()
        lines = []
        with self.store.transaction():
            for rec in recording:
                self.store.notes.add_mark(rec.id, now, actor.user_id, text[:MARK_TEXT_LIMIT])
                offset = file_offset(summarize(self.store.ledger(rec.id), now), now)
                lines.append(Line(Say.MARKED, {"handle": rec.handle, "offset": offset or 0.0, "text": text}))
            self._audit.here(actor, "mark", "ok", target=",".join(r.id for r in recording))
        return Reply(lines)

    # -- who was there -------------------------------------------------------------------

    @on_store_thread
    def on_participant(self, event: MeetingEvent) -> str:
        if not (event.session_id and event.participant):
            return "a participant without a session or an id"
        name = event.name or "someone"
        if event.kind == "joined":
            self.store.notes.joined(event.session_id, event.participant, event.meeting_id, name,
                                    event.at or self.clock(), person=event.person)
        else:
            self.store.notes.left(event.session_id, event.participant, event.meeting_id, name,
                                  event.at or self.clock(), joined_at=event.joined_at, person=event.person)
        if self.store.calls.touch(session_id=event.session_id):  # its call shows who is there
            self.writer.on_write()
        return f"attendance: {name} {event.kind}"

    async def fill_attendance(self, session_id: str, meeting_id: str) -> int:
        """The session's participants from the platform, for whoever no webhook told of."""
        try:
            people = await self.platform.session_participants(session_id)
        except PlatformError:
            return 0
        await self.store.call(self._keep_attendance, session_id, meeting_id, people)
        return len(people)

    def _keep_attendance(self, session_id: str, meeting_id: str, people: list[dict[str, Any]]) -> None:
        with self.store.transaction():
            for p in people:
                pid = p.get("id") or p.get("custom_participant_id")
                if not isinstance(pid, str):
                    continue
                name = str(p.get("display_name") or "someone")
                joined = parse_time(p.get("joined_at"))
                person = p.get("custom_participant_id") if isinstance(p.get("custom_participant_id"), str) else None
                self.store.notes.joined(session_id, pid, meeting_id, name, joined, person=person)
                if left := parse_time(p.get("left_at")):
                    self.store.notes.left(session_id, pid, meeting_id, name, left, joined_at=joined, person=person)

    # -- the session's transcript and summary ---------------------------------------------

    async def on_file(self, file: SessionFile) -> str:
        """A transcript or summary: a reply in the thread of each recording of the session (or a channel
        message where the channel has none), once, whichever of the webhook or the fallback brings it."""
        if await self.store.aio.notes.file(file.session_id, file.kind):
            return f"{file.kind} already posted"
        text = None
        if file.kind == "summary":
            text = await self.platform.download_text(file.url)
        return await self._post_file(file, text)

    @on_store_thread
    def _post_file(self, file: SessionFile, text: str | None) -> str:
        recordings = self.store.recordings_of_session(file.session_id)
        params = {"url": file.url, "expiry": file.expiry, "text": (text or "")[:SUMMARY_TEXT_LIMIT] or None,
                  "session_id": file.session_id}
        notice = Notice.TRANSCRIPT if file.kind == "transcript" else Notice.SUMMARY
        with self.store.transaction():
            if not self.store.notes.claim_file(file.session_id, file.kind, file.meeting_id, file.url, file.expiry):
                return f"{file.kind} already posted"
            for rec in recordings:
                self.writer.notice(rec, notice, **params)
            if not recordings:
                for link in self.store.links_for_meeting(file.meeting_id):
                    self.store.outbox.enqueue(Outgoing.NOTE, {"notice": notice.value, "title": link.meeting_title,
                                                       **params}, channel_id=link.channel_id, team=link.team)
        self.writer.on_write()
        return f"{file.kind} posted to {len(recordings)} recording(s)"

    async def check_files(self, rec: Recording, kinds: list[str], tries: int) -> None:
        """The fallback when no webhook came: ask for what is still missing, then again later."""
        if not rec.session_id:
            return
        missing = []
        for kind in kinds:
            if await self.store.aio.notes.file(rec.session_id, kind):
                continue
            try:
                found = await self.platform.session_file(rec.session_id, kind)
            except PlatformError:
                found = None
            if found is None:
                missing.append(kind)
                continue
            await self.on_file(SessionFile(kind, rec.meeting_id, rec.session_id, found[0], found[1]))
        if missing and tries + 1 < FILES_CHECK_TRIES:
            await self.store.aio.timers.set(Timer.SESSION_FILES, rec.id,
                                            self.clock() + FILES_CHECK_AFTER * (tries + 1),
                                            {"kinds": missing, "tries": tries + 1})

    async def summary(self, actor: Actor, link: Link) -> Reply:
        """`/rec summary`: the last recorded session's summary, asked for when there is none yet."""
        session_id, recordings = await self.store.call(self._last_session, link.meeting_id)
        if not session_id or not recordings:
            return Reply.one(Say.NO_SESSION, ok=False)
        handle = recordings[0].handle
        try:
            found = await self.platform.session_file(session_id, "summary")
            if found is None:
                await self.platform.generate_summary(session_id)
        except PlatformError as exc:
            await self._audit(actor, "summary", "error", session_id, exc.message)
            return Reply([failed("summary", exc)], ok=False)
        await self._audit(actor, "summary", "ok", session_id)
        if found is not None:
            if await self.store.aio.notes.file(session_id, "summary"):
                return Reply.one(Say.SUMMARY_THERE, handle=handle, url=found[0], expiry=found[1])
            await self.on_file(SessionFile("summary", link.meeting_id, session_id, found[0], found[1]))
            return Reply.one(Say.SUMMARY_POSTED, handle=handle)
        await self.store.call(self._look_again, recordings)  # the webhook brings it; else this looks again
        return Reply.one(Say.SUMMARY_ASKED, handle=handle)

    def _last_session(self, meeting_id: str) -> tuple[str | None, list[Recording]]:
        session_id = self.store.last_session(meeting_id)
        return session_id, self.store.recordings_of_session(session_id) if session_id else []

    def _look_again(self, recordings: list[Recording]) -> None:
        with self.store.transaction():
            for rec in recordings:
                self.store.timers.set(Timer.SESSION_FILES, rec.id, self.clock() + 30.0,
                                      {"kinds": ["summary"], "tries": 0})

    # -- settings ------------------------------------------------------------------------

    @on_store_thread
    def set_setting(self, actor: Actor, name: str, value: str) -> Reply:
        stored, error = checked(name, value)
        if error is not None:
            return Reply.one(Say.SETTING_INVALID, ok=False, message=error)
        with self.store.transaction():
            self.store.notes.set_setting(actor.channel_id, name, stored, actor.user_id or "")
            self._audit.here(actor, "settings", "ok", name, stored)
        return Reply.one(Say.SETTING_SET, name=name, settings=self.settings_of.here(actor.channel_id))

    @on_store_thread
    def set_many(self, actor: Actor, values: dict[str, str]) -> dict[str, str]:
        """The modal's fields, all or none: returns the errors by name (empty when saved)."""
        results = {name: checked(name, value) for name, value in values.items()}
        errors = {name: error for name, (_, error) in results.items() if error}
        if errors:
            return errors
        with self.store.transaction():
            for name, (stored, _) in results.items():
                self.store.notes.set_setting(actor.channel_id, name, stored, actor.user_id or "")
            self._audit.here(actor, "settings", "ok", ",".join(sorted(results)), "from the modal")
        return {}
