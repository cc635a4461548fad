"""After the meeting: the session's transcript and summary in the threads of its recordings, whichever of the
webhook or the fallback (`check_files`) brings them, once; `/rec summary`; a held summary a controller posts.

Off the record stays off the record: the platform transcribes and summarises the whole session, paused parts
included. When a pause of any recording overlapped the session, or recbot did not see one of them run, recbot
never posts or links the platform's transcript: it uploads its own copy without the lines said off the record,
and holds the summary (it cannot cut one) for a controller, as the channel's `summary-after-pause` says.

On the loop; the methods that take a `tx` are below the store boundary (`store.read` / `store.write`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

import bot.service.unsettled as unsettled
from bot import transcript
from bot.config import Guardrails
from bot.ledger import Span, Summary
from bot.models import Actor, Link, Notice, Origin, Outgoing, Recording, Timer
from bot.platform.accounts import Platforms
from bot.platform.errors import PlatformError
from bot.platform.models import FileKind
from bot.platform.webhooks import SessionFile
from bot.service.decisions import Audited, Writer
from bot.service.outcomes import Applied, Reply, Say, failed
from bot.service.permissions import Permissions
from bot.service.settings import AfterPause, ChannelSettings
from bot.service.transitions import FILES_CHECK_AFTER
from bot.store import Tx
from bot.store.transcripts import TranscriptLine

log = logging.getLogger("bot.service.after")  # after the meeting's one logger, whichever room writes

FILES_CHECK_TRIES = 3
TRANSCRIPT_BYTES = 8 * 1024 * 1024  # a transcript read at most this far (an hour is about 100 kB)
RELEASED = "summary-released"  # session_files kind (`released`): a held summary a controller posted
SUMMARY_TEXT_LIMIT = 20_000  # characters of a summary kept to show inline (the file has the rest)


def off_the_record(recordings: list[tuple[Recording, Summary]]) -> bool:
    """Whether the platform's transcript and summary of a session may hold words said off the record: a
    recording of it was paused, or recbot did not see one run (`Origin.UNSEEN`: it cannot know whether it
    was paused, and its ledger counts none of it as recorded)."""
    return any(rec.origin is Origin.UNSEEN or any(i.kind is Span.PAUSED for i in summary.intervals)
               for rec, summary in recordings)


def summary_held(recordings: list[tuple[Recording, Summary]], until: float | None,
                 policies: Iterable[AfterPause]) -> bool:
    """The one rule of every path that could show the platform's summary (the webhook, the fallback, the held
    files' timer, `/rec summary`): held when the session was off the record (`off_the_record`, or `until`: an
    outcome was still unknown when it was cut), unless every channel concerned posts such a summary."""
    return (until is not None or off_the_record(recordings)) and set(policies) != {AfterPause.POST}


def released(channel_id: str) -> str:
    """session_files kind: a held summary a controller of this channel posted in its threads. Each channel
    decides for its own: a release in one never shows the summary in another that holds it."""
    return f"{RELEASED}:{channel_id}"


class SessionFiles(Audited):
    """A part of `AfterMeeting`, over the state its `__init__` sets."""

    platform: Platforms
    writer: Writer
    permissions: Permissions
    guardrails: Guardrails
    clock: Callable[[], float]

    async def on_file(self, file: SessionFile, held_since: float | None = None) -> Applied:
        """A transcript or summary: a reply in the thread of each recording of the session, once, whichever of
        the webhook or the fallback brings it; of a session nobody recorded, nothing anywhere. Held while a
        recording of the session has an unknown outcome or is still RECORDING as recbot knows it (unsettled.py;
        `held_since`: when it was first held)."""
        if await self.store.read(lambda tx: tx.notes.file(file.session_id, file.kind)):
            return Applied.ALREADY_POSTED
        held, until = await self.store.write(unsettled.decide, file, held_since, self.clock())
        if held:
            return Applied.UNSETTLED
        if file.kind is FileKind.TRANSCRIPT:
            return await self._on_transcript(file, until)
        recordings = await self.store.read(self._ledgers, file.session_id, until)
        if not recordings:
            return await self.store.write(self._post_file, file, None)
        policy = {r.channel_id: (await self.store.read(self.settings_of, r.channel_id)).summary_after_pause
                  for r, _ in recordings}
        if summary_held(recordings, until, policy.values()):  # a controller may post it (`rec_post_summary`)
            return await self.store.write(self._held, file, [r for r, _ in recordings], policy)
        text = await self.platform.download_text(file.url)
        return await self.store.write(self._post_file, file, text)

    async def _on_transcript(self, file: SessionFile, until: float | None) -> Applied:
        recordings = await self.store.read(self._ledgers, file.session_id, until)
        paused = until is not None or off_the_record(recordings)  # `until`: lines were withheld
        keep = self.guardrails.transcript_days > 0 and bool(recordings)
        if not (paused or keep):
            return await self.store.write(self._post_file, file, None)
        text = await self.platform.download_text(file.url, TRANSCRIPT_BYTES)  # presigned: no credentials
        if text is None:
            if not paused:
                return await self.store.write(self._post_file, file, None)
            cut = None
        else:
            if len(text.encode()) >= TRANSCRIPT_BYTES:  # cut off mid-row at the limit: the last row is partial
                text = text.rsplit("\n", 1)[0]
            cut = transcript.cut(transcript.parse_csv(text), file.started_at or await self._session_start(file),
                                 [(r.id, s) for r, s in recordings])
        return await self.store.write(self._keep_transcript, file, [r for r, _ in recordings], cut, paused)

    async def _session_start(self, file: SessionFile) -> float | None:
        """When the session began, for transcripts whose times count from it (the webhook says; the fallback
        asks the platform). None when unknown: then no line can be placed, and every one is withheld."""
        try:
            return await self.platform.session_started(file.session_id)
        except PlatformError:
            return None

    async def post_summary(self, actor: Actor, session_id: object) -> Reply:
        """`rec_post_summary`: a controller posts a held summary after all (audited; once)."""
        target = str(session_id)[:80]
        await self._audit(actor, "button:post_summary", "requested", target)
        recordings = await self.store.read(Tx.recordings_of_session, target) if isinstance(session_id, str) else []
        mine = [r for r in recordings if r.channel_id == actor.channel_id]
        held = await self.store.read(lambda tx: tx.notes.file(target, FileKind.SUMMARY)) if mine else None
        if not mine or held is None:
            await self._audit(actor, "button:post_summary", "refused", target, "not this channel's session")
            return Reply.one(Say.FOREIGN_BUTTON, ok=False)
        link = await self.store.read(Tx.link, actor.channel_id)
        if (why := await self.permissions.refusal(actor, "post_summary", link)) is not None:
            await self._audit(actor, "button:post_summary", "refused", target, why.value)
            return Reply.one(Say.REFUSED, ok=False, reason=why, wait=self.permissions.waiting(actor, why))
        if (await self.store.read(self.settings_of, actor.channel_id)).summary_after_pause is AfterPause.NEVER:
            await self._audit(actor, "button:post_summary", "refused", target, "summary-after-pause never")
            return Reply.one(Say.SUMMARY_NEVER, ok=False)
        try:
            found = await self.platform.session_file(target, FileKind.SUMMARY)
        except PlatformError as exc:
            await self._audit(actor, "button:post_summary", "error", target, exc.message)
            return Reply([failed("summary", exc)], ok=False)
        url, expiry = found if found else (held["url"], held["expiry"])
        text = await self.platform.download_text(url)
        posted = await self.store.write(self._release, actor, mine, target, url, expiry, text)
        return Reply.one(Say.SUMMARY_RELEASED if posted else Say.SUMMARY_THERE, handle=mine[0].handle, url=url,
                         expiry=expiry)

    async def check_files(self, rec: Recording, kinds: list[str], tries: int) -> None:
        """The fallback when no webhook came: ask for what is still missing (`kinds`, a timer's stored
        `FileKind`s), then again later."""
        session_id = rec.session_id
        if not session_id:
            return
        missing = []
        claimed = await self.store.read(lambda tx: {k for k in kinds if tx.notes.file(session_id, k)})
        for kind in map(FileKind, kinds):
            if kind in claimed:
                continue
            try:
                found = await self.platform.session_file(session_id, kind)
            except PlatformError:
                found = None
            if found is None:
                missing.append(kind)
                continue
            await self.on_file(SessionFile(kind, rec.meeting_id, session_id, found[0], found[1]))
        if missing and tries + 1 < FILES_CHECK_TRIES:
            due = self.clock() + FILES_CHECK_AFTER * (tries + 1)
            await self.store.write(lambda tx: tx.timers.set(Timer.SESSION_FILES, rec.id, due,
                                                            {"kinds": missing, "tries": tries + 1}))

    async def summary(self, actor: Actor, link: Link) -> Reply:
        """`/rec summary`: the last recorded session's summary, asked for when there is none yet."""
        session_id, recordings = await self.store.read(self._last_session, link.meeting_id)
        if not session_id or not recordings:
            return Reply.one(Say.NO_SESSION, ok=False)
        handle = recordings[0].handle
        try:
            found = await self.platform.session_file(session_id, FileKind.SUMMARY)
            if found is None:
                await self.platform.generate_summary(session_id)
        except PlatformError as exc:
            await self._audit(actor, "summary", "error", session_id, exc.message)
            return Reply([failed("summary", exc)], ok=False)
        await self._audit(actor, "summary", "ok", session_id)
        policy = (await self.store.read(self.settings_of, link.channel_id)).summary_after_pause
        # Held as the webhook holds it, and by this channel's word too (another channel linked to the meeting may
        # not undo the hold of one that paused); always while the session's files wait (a recording of it has an
        # unknown outcome, or is still RECORDING as recbot knows it: unsettled.py); a summary released in another
        # channel stays held here.
        others = {(await self.store.read(self.settings_of, c)).summary_after_pause
                  for c in {r.channel_id for r in recordings}}
        held = unsettled.waits(recordings) or summary_held(
            await self.store.read(self._ledgers, session_id), None, {policy} | others)
        if found is not None and held:  # no link to a held summary
            await self.on_file(SessionFile(FileKind.SUMMARY, link.meeting_id, session_id, found[0], found[1]))  # held
            if not await self.store.read(lambda tx: tx.notes.file(session_id, released(link.channel_id))):
                return Reply.one(Say.SUMMARY_NEVER if policy is AfterPause.NEVER else Say.SUMMARY_HELD, handle=handle)
        if found is not None:
            if await self.store.read(lambda tx: tx.notes.file(session_id, FileKind.SUMMARY)):
                return Reply.one(Say.SUMMARY_THERE, handle=handle, url=found[0], expiry=found[1])
            await self.on_file(SessionFile(FileKind.SUMMARY, link.meeting_id, session_id, found[0], found[1]))
            return Reply.one(Say.SUMMARY_POSTED, handle=handle)
        await self.store.write(self._look_again, recordings)  # the webhook brings it; else this looks again
        return Reply.one(Say.SUMMARY_ASKED, handle=handle)

    def settings_of(self, tx: Tx, channel_id: str) -> ChannelSettings:
        return ChannelSettings.of(tx.notes.settings(channel_id))

    def _ledgers(self, tx: Tx, session_id: str, until: float | None = None) -> list[tuple[Recording, Summary]]:
        return unsettled.ledgers(tx, session_id, self.clock(), until)

    def _keep_transcript(self, tx: Tx, file: SessionFile, recordings: list[Recording], cut: transcript.Cut | None,
                         paused: bool) -> Applied:
        if not tx.notes.claim_file(file.session_id, file.kind, file.meeting_id, file.url, file.expiry):
            return Applied.ALREADY_POSTED
        for rec in recordings:
            lines = [] if cut is None else [
                TranscriptLine(rec.id, k.at, offset, k.speaker, k.text)
                for k in cut.kept for rid, offset in k.places if rid == rec.id]
            if self.guardrails.transcript_days > 0 and lines:
                tx.transcripts.keep(rec.team_id, rec.channel_id, file.session_id, lines)
            if not paused:
                self.writer.notice(tx, rec, Notice.TRANSCRIPT, url=file.url, expiry=file.expiry,
                                   session_id=file.session_id)
            elif cut is None:  # unreadable: neither the platform's link nor a copy
                self.writer.notice(tx, rec, Notice.TRANSCRIPT_UNREADABLE, session_id=file.session_id)
            else:  # recbot's own copy, uploaded to the thread; its lines leave the outbox once sent
                tx.outbox.enqueue(Outgoing.UPLOAD, {
                    "session_id": file.session_id, "withheld": cut.withheld, "title": rec.meeting_title,
                    "lines": [[line.offset, line.speaker, line.text] for line in lines]},
                    channel_id=rec.channel_id, recording_id=rec.id, team=rec.team)
        self.writer.on_write()
        return Applied.OWN_COPY if paused else Applied.POSTED

    def _held(self, tx: Tx, file: SessionFile, recordings: list[Recording], policy: dict[str, AfterPause]) -> Applied:
        if not tx.notes.claim_file(file.session_id, file.kind, file.meeting_id, file.url, file.expiry):
            return Applied.ALREADY_POSTED
        for rec in recordings:
            self.writer.notice(tx, rec, Notice.SUMMARY_HELD, session_id=file.session_id, policy=policy[rec.channel_id])
        self.writer.on_write()
        return Applied.HELD

    def _release(self, tx: Tx, actor: Actor, recordings: list[Recording], session_id: str, url: str,
                 expiry: float | None, text: str | None) -> bool:
        if not tx.notes.claim_file(session_id, released(actor.channel_id), recordings[0].meeting_id, url, expiry):
            return False
        for rec in recordings:
            self.writer.notice(tx, rec, Notice.SUMMARY, url=url, expiry=expiry, session_id=session_id,
                               text=(text or "")[:SUMMARY_TEXT_LIMIT] or None, released_by=actor.user_id)
        self._audit_in(tx, actor, "button:post_summary", "ok", session_id)
        self.writer.on_write()
        return True

    def _post_file(self, tx: Tx, file: SessionFile, text: str | None) -> Applied:
        recordings = tx.recordings_of_session(file.session_id)
        params = {"url": file.url, "expiry": file.expiry, "text": (text or "")[:SUMMARY_TEXT_LIMIT] or None,
                  "session_id": file.session_id}
        notice = Notice.TRANSCRIPT if file.kind is FileKind.TRANSCRIPT else Notice.SUMMARY
        if not tx.notes.claim_file(file.session_id, file.kind, file.meeting_id, file.url, file.expiry):
            return Applied.ALREADY_POSTED
        # A session nobody recorded was off the record from start to end: its transcript and summary
        # (the platform makes them of the whole session all the same) are posted nowhere.
        for rec in recordings:
            self.writer.notice(tx, rec, notice, **params)
        self.writer.on_write()
        return Applied.POSTED if recordings else Applied.POSTED_NOWHERE

    def _last_session(self, tx: Tx, meeting_id: str) -> tuple[str | None, list[Recording]]:
        session_id = tx.last_session(meeting_id)
        return session_id, tx.recordings_of_session(session_id) if session_id else []

    def _look_again(self, tx: Tx, recordings: list[Recording]) -> None:
        for rec in recordings:
            tx.timers.set(Timer.SESSION_FILES, rec.id, self.clock() + 30.0, {"kinds": [FileKind.SUMMARY], "tries": 0})
