"""After the meeting, and around it: marks, who was there, the session's transcript and summary in the
threads of its recordings (`SessionFiles`, session_files.py), `/rec find` (`Search`, search.py), and the
channel's settings that shape them.

Marks and attendance are kept in the store as they happen; the final reply (rendered when sent)
turns them into chapters at their place in the file and a list of who was present while it recorded.

On the loop; the methods that take a `tx` are below the store boundary (`store.write`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from bot.config import Guardrails
from bot.ledger import file_offset
from bot.models import Actor, Status
from bot.platform.accounts import Platforms
from bot.platform.errors import PlatformError
from bot.platform.models import parse_time
from bot.platform.webhooks import MeetingEvent, MeetingKind
from bot.service.decisions import Writer
from bot.service.outcomes import Applied, Line, Reply, Say
from bot.service.permissions import Permissions
from bot.service.search import Search
from bot.service.session_files import SessionFiles
from bot.service.settings import checked
from bot.store import Store, Tx

MARK_TEXT_LIMIT = 200


class AfterMeeting(SessionFiles, Search):
    def __init__(self, store: Store, platform: Platforms, writer: Writer, permissions: Permissions,
                 guardrails: Guardrails | None = None, clock: Callable[[], float] = time.time):
        self.store, self.platform, self.writer, self.clock = store, platform, writer, clock
        self.permissions, self.guardrails = permissions, guardrails or Guardrails()

    async def fill_attendance(self, session_id: str, meeting_id: str) -> int:
        """The session's participants from the platform, for whoever no webhook told of."""
        try:
            people = await self.platform.session_participants(session_id)
        except PlatformError:
            return 0
        await self.store.write(self._keep_attendance, session_id, meeting_id, people)
        return len(people)

    # -- marks -------------------------------------------------------------------------

    def mark(self, tx: Tx, actor: Actor, meeting_id: str, text: str, recording_id: str | None = None) -> Reply:
        """A bookmark now in every recording of the meeting that is recording (or in the one whose Mark
        button was pressed). A paused recording has nothing to mark: nothing is being recorded."""
        active = tx.recordings_of_meeting(meeting_id)
        if recording_id is not None:
            active = [r for r in active if r.id == recording_id]
        recording = [r for r in active if r.status is Status.RECORDING]
        if not recording:
            paused = any(r.status is Status.PAUSED for r in active)
            self._audit_in(tx, actor, "mark", "refused", detail="paused" if paused else "nothing recording")
            return Reply.one(Say.NOTHING_TO_MARK, ok=False, paused=paused)
        now = self.clock()
        lines = []
        for rec in recording:
            tx.notes.add_mark(rec.id, now, actor.user_id, text[:MARK_TEXT_LIMIT])
            offset = file_offset(tx.summary(rec.id, now), now)
            lines.append(Line(Say.MARKED, {"handle": rec.handle, "offset": offset or 0.0, "text": text}))
        self._audit_in(tx, actor, "mark", "ok", target=",".join(r.id for r in recording))
        return Reply(lines)

    # -- who was there -------------------------------------------------------------------

    def on_participant(self, tx: Tx, event: MeetingEvent) -> Applied:
        if not (event.session_id and event.participant):
            return Applied.NO_PARTICIPANT
        name = event.name or "someone"
        if event.kind is MeetingKind.JOINED:
            tx.notes.joined(event.session_id, event.participant, event.meeting_id, name,
                            event.at or self.clock(), person=event.person)
        else:
            tx.notes.left(event.session_id, event.participant, event.meeting_id, name,
                          event.at or self.clock(), joined_at=event.joined_at, person=event.person)
        if tx.calls.touch(session_id=event.session_id):  # its call shows who is there
            self.writer.on_write()
        return Applied.NOTED

    def _keep_attendance(self, tx: Tx, session_id: str, meeting_id: str, people: list[dict[str, Any]]) -> None:
        for p in people:
            pid = p.get("id") or p.get("custom_participant_id")
            if not isinstance(pid, str):
                continue
            name = str(p.get("display_name") or "someone")
            joined = parse_time(p.get("joined_at"))
            person = p.get("custom_participant_id") if isinstance(p.get("custom_participant_id"), str) else None
            tx.notes.joined(session_id, pid, meeting_id, name, joined, person=person)
            if left := parse_time(p.get("left_at")):
                tx.notes.left(session_id, pid, meeting_id, name, left, joined_at=joined, person=person)

    # -- settings ------------------------------------------------------------------------

    def set_setting(self, tx: Tx, actor: Actor, name: str, value: str) -> Reply:
        stored, error = checked(name, value)
        if error is not None:
            return Reply.one(Say.SETTING_INVALID, ok=False, message=error)
        tx.notes.set_setting(actor.channel_id, name, stored, actor.user_id or "")
        self._audit_in(tx, actor, "settings", "ok", name, stored)
        return Reply.one(Say.SETTING_SET, name=name, settings=self.settings_of(tx, actor.channel_id))

    def set_many(self, tx: Tx, actor: Actor, values: dict[str, str]) -> dict[str, str]:
        """The modal's fields, all or none: returns the errors by name (empty when saved)."""
        results = {name: checked(name, value) for name, value in values.items()}
        errors = {name: error for name, (_, error) in results.items() if error}
        if errors:
            return errors
        for name, (stored, _) in results.items():
            tx.notes.set_setting(actor.channel_id, name, stored, actor.user_id or "")
        self._audit_in(tx, actor, "settings", "ok", ",".join(sorted(results)), "from the modal")
        return {}
