"""The kinds of a recording's channel and thread: its card, the notices under it (and the ones only one
person sees), recbot's copy of a transcript as a file, and a transcript or summary of a session nobody
recorded."""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

from bot.ledger import Summary
from bot.models import Notice, Outgoing, Recording
from bot.service.settings import ChannelSettings
from bot.slack import blocks, notes
from bot.slack.kinds.base import (
    CARD_EDIT,
    MOST_COMPACT,
    NEWS,
    URGENT,
    URGENT_NOTICES,
    Kind,
    Sender,
    kind,
    level,
    shaped,
)
from bot.store import Tx


@kind
class Card(Kind):
    kind = Outgoing.CARD
    looked_up = True
    serial = True

    def method_of(self, row, rec):
        return "chat.update" if rec is not None and rec.card_ts else "chat.postMessage"

    def method_at_claim(self, tx, row):  # another process may have posted the card since the drain read it
        return self.method_of(row, tx.recording(row.recording_id or ""))

    def priority(self, row, rec):
        return CARD_EDIT if rec is not None and rec.card_ts else NEWS

    def render(self, tx, sender, row):
        rec = tx.recording(row.recording_id or "")
        if rec is None:
            return None
        now = sender.clock()
        text, card_blocks = blocks.card(rec, tx.summary(rec.id, now), now=now,
                                        compact=min(level(row), 2))
        if level(row) >= MOST_COMPACT:
            card_blocks = [blocks.section(blocks.pointer_card(rec))]  # one block, so an edit replaces the old ones
        return rec, text, card_blocks

    async def send(self, sender, client, row, rendered):
        if rendered is None:
            return None
        rec, text, card_blocks = rendered
        if rec.card_ts:
            await client.chat_update(channel=rec.channel_id, ts=rec.card_ts, text=text, blocks=card_blocks)
            sender.on_card(rec.id)
            return rec.card_ts
        response = await client.chat_postMessage(channel=rec.channel_id, text=text, blocks=card_blocks,
                                                 unfurl_links=False, metadata=sender.metadata(row))
        ts = response["ts"]
        await sender.keep_card_ts(rec.id, ts)
        sender.on_card(rec.id)
        return ts


class InThread(Kind):
    in_thread = True

    def rank(self, payload):
        return URGENT if payload.get("notice") in URGENT_NOTICES else NEWS

    @abstractmethod
    def words(self, tx: Tx, sender: Sender, p: dict[str, Any], rec: Recording, summary: Summary, compact: int
              ) -> tuple[str, list[dict[str, Any]] | None, bool]:
        """The reply's text and blocks at `compact`, and whether it broadcasts."""

    def render(self, tx, sender, row):
        rec = tx.recording(row.recording_id or "")
        assert rec is not None and rec.card_ts
        summary = tx.summary(rec.id, sender.clock())
        text, reply_blocks, broadcast = self.words(tx, sender, row.payload, rec, summary, min(level(row), 2))
        text, reply_blocks = shaped(row, text, reply_blocks, blocks.pointer_notice(row.payload, rec))
        return rec, text, reply_blocks, broadcast


@kind
class Thread(InThread):
    kind = Outgoing.THREAD
    looked_up = True

    def words(self, tx, sender, p, rec, summary, compact):
        """A notice under a card, with what is known now: the channel's consent notice when recording starts
        or resumes, the marks and who was there in the final reply."""
        notice = p.get("notice")
        if notice in (Notice.TRANSCRIPT, Notice.SUMMARY, Notice.SUMMARY_HELD, Notice.TRANSCRIPT_UNREADABLE):
            text, reply_blocks = notes.session_file(p, f"#{rec.handle}", compact=bool(compact))
            return text, reply_blocks, False
        recap = consent = None
        if notice == Notice.UPLOADED:
            attendance = tx.notes.attendance(rec.session_id) if rec.session_id else []
            recap = notes.recap_lines(notes.recap(summary, tx.notes.marks(rec.id), attendance,
                                                  sender.clock()))
        if notice in (Notice.RECORDING, Notice.RESUMED):
            consent = ChannelSettings.of(tx.notes.settings(rec.channel_id)).notice
        return blocks.notice(p, rec, summary, compact=bool(compact), recap=recap, consent=consent)

    async def send(self, sender, client, row, rendered):
        rec, text, reply_blocks, broadcast = rendered
        kwargs: dict[str, Any] = {"channel": rec.channel_id, "thread_ts": rec.card_ts, "text": text,
                                  "unfurl_links": False, "metadata": sender.metadata(row)}
        if reply_blocks:
            kwargs["blocks"] = reply_blocks
        if broadcast:
            kwargs["reply_broadcast"] = True
        return (await client.chat_postMessage(**kwargs))["ts"]


@kind
class Whisper(InThread):
    """Only `for` sees it; ephemeral messages have no history to look up."""

    kind = Outgoing.WHISPER
    method = "chat.postEphemeral"
    paced_per_channel = False

    def words(self, tx, sender, p, rec, summary, compact):
        return blocks.notice(p, rec, summary, compact=bool(compact))

    async def send(self, sender, client, row, rendered):
        rec, text, reply_blocks, _ = rendered
        extra = {"blocks": reply_blocks} if reply_blocks else {}
        await client.chat_postEphemeral(channel=rec.channel_id, user=row.payload["for"], thread_ts=rec.card_ts,
                                        text=text, **extra)
        return None


@kind
class Upload(Kind):
    """recbot's own copy of a session's transcript, what was said off the record left out, as a file in the
    card's thread: files.getUploadURLExternal, the bytes to its URL, files.completeUploadExternal (slack_sdk's
    files_upload_v2). A file share has no message metadata to look up after a crash: at worst it is uploaded
    twice, never lost. Its lines leave the outbox once it is sent (`OutboxQueue.done`)."""

    kind = Outgoing.UPLOAD
    method = "files.completeUploadExternal"
    also = ("files.getUploadURLExternal",)
    in_thread = True
    most_compact = 0  # a file is a file: nothing to degrade to but the words beside it

    def rank(self, payload):
        return URGENT

    def render(self, tx, sender, row):
        rec = tx.recording(row.recording_id or "")
        assert rec is not None and rec.card_ts
        return rec, notes.transcript_copy(row.payload, f"#{rec.handle}")

    async def send(self, sender, client, row, rendered):
        rec, (comment, title, filename, content) = rendered
        await client.files_upload_v2(channel=rec.channel_id, thread_ts=rec.card_ts, content=content.encode(),
                                     filename=filename, title=title, initial_comment=comment)
        return None


@kind
class Note(Kind):
    """A transcript or summary for a channel that has no recording of that session: only rows queued before
    recbot learnt that a session nobody recorded is off the record (`AfterMeeting._post_file`) are left."""

    kind = Outgoing.NOTE
    looked_up = True

    def rank(self, payload):
        return URGENT

    async def send(self, sender, client, row, rendered):
        text, note_blocks = notes.session_file(row.payload, None, compact=level(row) >= 1)
        text, note_blocks = shaped(row, text, note_blocks, blocks.pointer_note(row.payload))
        extra = {"blocks": note_blocks} if note_blocks else {}
        return (await client.chat_postMessage(channel=row.channel_id, text=text, unfurl_links=False,
                                              metadata=sender.metadata(row), **extra))["ts"]
