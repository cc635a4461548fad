"""What each outbox row sends: one small class per `models.Outgoing` kind, registered by it.

A kind says which Slack method it calls (the outbox budgets per workspace and method), how urgent it
is when the budget is short, how to render it from the store (on the store's thread, when it is sent,
so a card shows its latest state), how to send it, and how far it can degrade when Slack refuses it:

    0  as designed
    1  compact: the essentials in a block or two
    2  the text alone
    3  one short line that points to `/rec history`

To add a kind: a member of `Outgoing`, a subclass of `Kind` here decorated with `@kind`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, ClassVar, Protocol

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.ledger import Summary, summarize
from bot.models import ACTIVE, Notice, Outgoing, Recording
from bot.service.settings import ChannelSettings
from bot.slack import blocks, calls, notes, views
from bot.slack.connect import connect_modal
from bot.store import OutboxRow, Store


class Sender(Protocol):
    """What a kind reaches of the sender that calls it (`bot.slack.sender.Sender`), which imports this module."""

    store: Store
    clock: Callable[[], float]
    on_card: Callable[[str], None]

    def metadata(self, row: OutboxRow) -> dict[str, Any]: ...

    async def keep_card_ts(self, recording_id: str, ts: str) -> None: ...

    async def respond(self, url: str, text: str, reply_blocks: list[dict[str, Any]] | None) -> None: ...

MOST_COMPACT = 3

# When the budget is short, the more urgent go first (smaller is sooner).
ANSWER, URGENT, NEWS, CARD_EDIT, HOME = range(5)
URGENT_NOTICES = {Notice.UPLOADED, Notice.ERRORED, Notice.PAUSE_FAILED, Notice.PAUSE_REMINDER,
                  Notice.ENDED_WHILE_PAUSED, Notice.HEADS_UP, Notice.TIME_LIMIT_SOON, Notice.AUTO_RESUME_FAILED,
                  Notice.AUTO_STOP_FAILED, Notice.TRANSCRIPT, Notice.SUMMARY, Notice.SUMMARY_HELD,
                  Notice.TRANSCRIPT_UNREADABLE}


def level(row: OutboxRow) -> int:
    """How compact the row is rendered now (0: as designed)."""
    return int(row.payload.get("compact") or 0)


def shaped(row: OutboxRow, text: str, rendered_blocks: list[dict[str, Any]] | None,
           pointer: str) -> tuple[str, list[dict[str, Any]] | None]:
    """Text and blocks at the row's level: from level 2 the text alone, at 3 the line pointing elsewhere."""
    at = level(row)
    if at >= MOST_COMPACT:
        return pointer, None
    return text, (None if at >= 2 else rendered_blocks)


class Kind(ABC):
    kind: ClassVar[Outgoing]
    method: ClassVar[str] = "chat.postMessage"  # what it calls ("" for a response_url: not a Web API method)
    in_thread: ClassVar[bool] = False  # a reply under a card: in order, once the card exists
    paced_per_channel: ClassVar[bool] = True  # chat.postMessage's limit per channel applies
    looked_up: ClassVar[bool] = False  # a post a crash may have caught is looked for before it is sent again
    serial: ClassVar[bool] = False  # one row of its recording (or call) in flight at a time: a later render lands last
    most_compact: ClassVar[int] = MOST_COMPACT
    also: ClassVar[tuple[str, ...]] = ()  # other methods one send may call: a 429 on any of them holds it back too

    def method_of(self, row: OutboxRow, rec: Recording | None) -> str:
        return self.method

    def rank(self, payload: dict[str, Any]) -> int:
        """How urgent a row of this kind is, from what it says (stored with the row)."""
        return NEWS

    def priority(self, row: OutboxRow, rec: Recording | None) -> int:
        """How urgent it is now, its recording known."""
        return self.rank(row.payload)

    def render(self, sender: Sender, row: OutboxRow) -> Any:
        """What `send` needs of the store, read on the store's thread."""
        return None

    @abstractmethod
    async def send(self, sender: Sender, client: AsyncWebClient | None, row: OutboxRow,
                   rendered: Any) -> str | None:
        """Send the row; the ts of the message it posted, if it posted one."""


KINDS: dict[Outgoing, Kind] = {}


def kind(cls: type[Kind]) -> type[Kind]:
    KINDS[cls.kind] = cls()
    return cls


def of(row: OutboxRow) -> Kind:
    return KINDS[Outgoing(row.kind)]


def rank(kind: str, payload: dict[str, Any]) -> int:
    return KINDS[Outgoing(kind)].rank(payload)


@kind
class Card(Kind):
    kind = Outgoing.CARD
    looked_up = True
    serial = True

    def method_of(self, row, rec):
        return "chat.update" if rec is not None and rec.card_ts else "chat.postMessage"

    def priority(self, row, rec):
        return CARD_EDIT if rec is not None and rec.card_ts else NEWS

    def render(self, sender, row):
        rec = sender.store.recording(row.recording_id or "")
        if rec is None:
            return None
        now = sender.clock()
        text, card_blocks = blocks.card(rec, summarize(sender.store.ledger(rec.id), now), now=now,
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
    def words(self, sender: Sender, p: dict[str, Any], rec: Recording, summary: Summary, compact: int
              ) -> tuple[str, list[dict[str, Any]] | None, bool]:
        """The reply's text and blocks at `compact`, and whether it broadcasts."""

    def render(self, sender, row):
        rec = sender.store.recording(row.recording_id or "")
        assert rec is not None and rec.card_ts
        summary = summarize(sender.store.ledger(rec.id), sender.clock())
        text, reply_blocks, broadcast = self.words(sender, row.payload, rec, summary, min(level(row), 2))
        text, reply_blocks = shaped(row, text, reply_blocks, blocks.pointer_notice(row.payload, rec))
        return rec, text, reply_blocks, broadcast


@kind
class Thread(InThread):
    kind = Outgoing.THREAD
    looked_up = True

    def words(self, sender, p, rec, summary, compact):
        """A notice under a card, with what is known now: the channel's consent notice when recording starts
        or resumes, the marks and who was there in the final reply."""
        notice = p.get("notice")
        if notice in (Notice.TRANSCRIPT, Notice.SUMMARY, Notice.SUMMARY_HELD, Notice.TRANSCRIPT_UNREADABLE):
            text, reply_blocks = notes.session_file(p, f"#{rec.handle}", compact=bool(compact))
            return text, reply_blocks, False
        recap = consent = None
        if notice == Notice.UPLOADED:
            attendance = sender.store.notes.attendance(rec.session_id) if rec.session_id else []
            recap = notes.recap_lines(notes.recap(summary, sender.store.notes.marks(rec.id), attendance,
                                                  sender.clock()))
        if notice in (Notice.RECORDING, Notice.RESUMED):
            consent = ChannelSettings.of(sender.store.notes.settings(rec.channel_id)).notice
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

    def words(self, sender, p, rec, summary, compact):
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

    def render(self, sender, row):
        rec = sender.store.recording(row.recording_id or "")
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


@kind
class CallInStep(Kind):
    """A meeting's Slack call, brought in step with what the store says it shows (`bot/slack/calls.py`): each
    difference is one Slack method. Its rows carry the call's key where a recording's carry its id."""

    kind = Outgoing.CALL
    method = "calls.add"  # the first of them; the others (participants, update, end) are on the same tier
    also = ("calls.participants.add", "calls.participants.remove", "calls.update", "calls.end")
    paced_per_channel = False  # no message: calls.* are limited per workspace
    serial = True

    def render(self, sender, row):
        return calls.render(sender.store, row.payload)

    async def send(self, sender, client, row, rendered):
        await calls.bring_in_step(sender.store, client, rendered)
        return None


@kind
class CallPost(Kind):
    """The message that shows a call in a channel, once calls.add answered."""

    kind = Outgoing.CALL_POST
    looked_up = True
    most_compact = 2  # the text alone, without the call block

    async def send(self, sender, client, row, rendered):
        text, call_blocks = calls.post(row.payload)
        extra = {} if level(row) else {"blocks": call_blocks}
        return (await client.chat_postMessage(channel=row.channel_id, text=text, unfurl_links=False,
                                              metadata=sender.metadata(row), **extra))["ts"]


@kind
class StepDone(Kind):
    """The end of a Workflow Builder step, with the token Slack gave for that execution (as Bolt's complete and
    fail use it): its outputs, or why it failed, in the words the command would have answered."""

    kind = Outgoing.STEP_DONE
    paced_per_channel = False

    def method_of(self, row, rec):
        return "functions.completeError" if "error" in row.payload else "functions.completeSuccess"

    def rank(self, payload):
        return ANSWER

    async def send(self, sender, client, row, rendered):
        p = row.payload
        token = {"token": p["token"]} if p.get("token") else {}
        if "error" in p:
            await client.functions_completeError(function_execution_id=p["execution_id"], error=p["error"], **token)
        else:
            await client.functions_completeSuccess(function_execution_id=p["execution_id"], outputs=p["outputs"],
                                                   **token)
        return None


@kind
class Channel(Kind):
    """A message in a channel (or, `Dm`, to one person) whose words were written when it was queued."""

    kind = Outgoing.CHANNEL
    looked_up = True
    most_compact = 2  # the text alone; the words are already short

    async def send(self, sender, client, row, rendered):
        p = row.payload
        extra = {} if level(row) else {"blocks": p.get("blocks")}
        return (await client.chat_postMessage(channel=row.channel_id or p["user"], text=p["text"],
                                              unfurl_links=False, metadata=sender.metadata(row), **extra))["ts"]


@kind
class Dm(Channel):
    kind = Outgoing.DM
    looked_up = False
    paced_per_channel = False  # each person's conversation is its own channel: one message rarely follows another

    def rank(self, payload):
        return URGENT


@kind
class Home(Kind):
    """App Home, rendered from the store when sent; pending refreshes for one person merge."""

    kind = Outgoing.HOME
    method = "views.publish"
    paced_per_channel = False
    most_compact = 1

    def rank(self, payload):
        return HOME

    def render(self, sender, row):
        store, now = sender.store, sender.clock()
        links = store.links_of_user(row.payload["user"])
        recs = store.active_in_channels(lk.channel_id for lk in links)
        return views.home_view(links, [(r, summarize(store.ledger(r.id), now)) for r in recs if r.status in ACTIVE],
                               compact=bool(level(row)))

    async def send(self, sender, client, row, rendered):
        await client.views_publish(user_id=row.payload["user"], view=rendered)
        return None


@kind
class Modal(Kind):
    """`/rec settings`, `/rec connect`: the trigger lasts 3 s and is used once; a failure is not retried."""

    kind = Outgoing.MODAL
    method = "views.open"
    paced_per_channel = False
    most_compact = 0

    def rank(self, payload):
        return ANSWER

    def render(self, sender, row):
        if row.payload.get("form") == "connect":
            return None
        return ChannelSettings.of(sender.store.notes.settings(row.payload["channel_id"]))

    async def send(self, sender, client, row, rendered):
        p = row.payload
        if p.get("form") == "connect":
            view = connect_modal(p["flavour"], p.get("public_url"), p["channel_id"])
        else:
            view = notes.settings_modal(rendered, p["channel_id"])
        await client.views_open(trigger_id=p["trigger_id"], view=view)
        return None


class Answer(Kind):
    """An answer to the person who asked, only they see it."""

    paced_per_channel = False
    most_compact = 1  # the text alone

    def rank(self, payload):
        return ANSWER


@kind
class Respond(Answer):
    """An ephemeral answer on a response_url, which carries its own authority (no token, no Web API budget)."""

    kind = Outgoing.RESPOND
    method = ""

    async def send(self, sender, client, row, rendered):
        p = row.payload
        await sender.respond(p["url"], p["text"], None if level(row) else p.get("blocks"), since=row.created_at)
        return None


# Where an ephemeral answer cannot be posted in the channel, the person gets it as a direct message.
NOT_THERE = {"not_in_channel", "channel_not_found", "is_archived", "user_not_in_channel"}


@kind
class Ephemeral(Answer):
    """An answer only one person sees, in the channel they asked in: a response_url's once Slack no longer
    takes it (5 uses, 30 minutes), or a form's that could not open (a trigger lasts 3 s); a direct
    message where recbot cannot post in that channel."""

    kind = Outgoing.EPHEMERAL
    method = "chat.postEphemeral"

    async def send(self, sender, client, row, rendered):
        p = row.payload
        extra = {"blocks": p["blocks"]} if p.get("blocks") and not level(row) else {}
        try:
            await client.chat_postEphemeral(channel=p["channel"], user=p["user"], text=p["text"], **extra)
        except SlackApiError as exc:
            if exc.response.get("error") not in NOT_THERE:
                raise
            await client.chat_postMessage(channel=p["user"], text=p["text"], unfurl_links=False, **extra)
        return None


def elsewhere(row: OutboxRow) -> dict[str, Any] | None:
    """The payload of an `Ephemeral` row that says the same to the same person, when a response_url is spent
    or a form's trigger was too old; None when the row does not say who asked where."""
    p = row.payload
    channel = p.get("channel") or p.get("channel_id")
    if not p.get("user") or not channel:
        return None
    if row.kind == Outgoing.MODAL:
        return {"user": p["user"], "channel": channel, "text": notes.form_too_late(p.get("form") or "settings")}
    return {"user": p["user"], "channel": channel, "text": p.get("text", ""), "blocks": p.get("blocks")}
