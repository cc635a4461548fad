"""Sending one outbox row: render it from the store at send time and call Slack; and, for a row a crash
caught mid-send, look for it in Slack first (its row id is in the message metadata)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import httpx
from slack_sdk.errors import SlackApiError

from bot.ledger import Summary, summarize
from bot.models import ACTIVE, Recording
from bot.service.settings import ChannelSettings
from bot.slack import blocks, notes, views
from bot.slack.connect import connect_modal
from bot.slack.installs import Tokens
from bot.store import OutboxRow, Store, StoreBusy

log = logging.getLogger(__name__)


class Sender:
    def __init__(self, store: Store, tokens: Tokens, http: httpx.AsyncClient, *,
                 clock: Callable[[], float] = time.time, on_card: Callable[[str], None] = lambda _: None):
        self.store, self.tokens, self.http, self.clock, self.on_card = store, tokens, http, clock, on_card
        self._no_history: set[str] = set()  # channels whose history recbot may not read (a scope is missing)

    async def find_sent(self, row: OutboxRow) -> str | None:
        """Whether a post interrupted by a crash reached Slack: its row id is in the message metadata."""
        rec = await self.store.aio.recording(row.recording_id) if row.recording_id else None
        channel = rec.channel_id if rec else row.channel_id
        if row.kind not in ("card", "thread", "channel", "note") or not channel or channel in self._no_history:
            return None
        client = await self.tokens.client(row.team)
        try:
            if row.kind == "thread" and rec and rec.card_ts:
                found = await client.conversations_replies(channel=channel, ts=rec.card_ts, limit=200,
                                                                include_all_metadata=True)
            else:
                found = await client.conversations_history(channel=channel, limit=200,
                                                                include_all_metadata=True)
        except SlackApiError as exc:
            if exc.response.get("error") == "missing_scope":  # one scope covers public, the other private channels
                self._no_history.add(channel)
                log.warning("recbot may not read the history of %s (add channels:history or groups:history); a post "
                            "there interrupted by a restart is sent again", channel)
                return None
            raise
        for message in found.get("messages", []):
            payload = (message.get("metadata") or {}).get("event_payload") or {}
            if payload.get("outbox_row") == str(row.id):
                return message.get("ts")
        return None

    def _metadata(self, row: OutboxRow) -> dict[str, Any]:
        return {"event_type": "recbot_outbox", "event_payload": {"outbox_row": str(row.id)}}

    def render(self, row: OutboxRow) -> Any:
        """What `deliver` needs of the store for this row, read on the store's thread when it is sent (so a
        card shows the latest state); the outbox reads it in the same trip as it claims the row."""
        if row.kind == "card":
            return self._card(row)
        if row.kind in ("thread", "whisper"):
            return self._in_thread(row, self._thread_reply if row.kind == "thread" else self._whisper)
        if row.kind == "modal" and row.payload.get("form") != "connect":
            return ChannelSettings.of(self.store.notes.settings(row.payload["channel_id"]))
        if row.kind == "home":
            return self._home(row.payload)
        return None

    async def deliver(self, row: OutboxRow, rendered: Any) -> str | None:
        """Send a row, with what `render` read for it."""
        p = row.payload
        if row.kind == "respond":  # a response_url carries its own authority
            await self._respond(p)
            return None
        client = await self.tokens.client(row.team)  # the workspace's own token (NotInstalled if it has none)
        if row.kind == "card":
            if rendered is None:
                return None
            rec, text, card_blocks = rendered
            if rec.card_ts:
                await client.chat_update(channel=rec.channel_id, ts=rec.card_ts, text=text, blocks=card_blocks)
                self.on_card(rec.id)
                return rec.card_ts
            response = await client.chat_postMessage(channel=rec.channel_id, text=text, blocks=card_blocks,
                                                          unfurl_links=False, metadata=self._metadata(row))
            ts = response["ts"]
            try:
                await self.store.aio.update_recording(rec.id, card_ts=ts)
            except StoreBusy:  # the post went out: the outbox records its ts with the row, never posts it twice
                pass
            self.on_card(rec.id)
            return ts
        if row.kind == "thread":
            rec, (text, reply_blocks, broadcast) = rendered
            kwargs: dict[str, Any] = {"channel": rec.channel_id, "thread_ts": rec.card_ts, "text": text,
                                      "unfurl_links": False, "metadata": self._metadata(row)}
            if reply_blocks:
                kwargs["blocks"] = reply_blocks
            if broadcast:
                kwargs["reply_broadcast"] = True
            return (await client.chat_postMessage(**kwargs))["ts"]
        if row.kind == "whisper":  # only `for` sees it; ephemeral messages have no history to look up
            rec, (text, reply_blocks, _) = rendered
            extra = {"blocks": reply_blocks} if reply_blocks else {}
            await client.chat_postEphemeral(channel=rec.channel_id, user=p["for"], thread_ts=rec.card_ts,
                                                 text=text, **extra)
            return None
        if row.kind == "note":  # a transcript or summary for a channel that has no recording of that session
            text, note_blocks = notes.session_file(p, None, compact=bool(p.get("compact")))
            extra = {"blocks": note_blocks} if note_blocks else {}
            return (await client.chat_postMessage(channel=row.channel_id, text=text, unfurl_links=False,
                                                       metadata=self._metadata(row), **extra))["ts"]
        if row.kind == "modal":  # `/rec settings`, `/rec connect`: the trigger lasts 3 s; a failure is not retried
            if p.get("form") == "connect":
                view = connect_modal(p["flavour"], p.get("public_url"), p["channel_id"])
            else:
                view = notes.settings_modal(rendered, p["channel_id"])
            await client.views_open(trigger_id=p["trigger_id"], view=view)
            return None
        if row.kind in ("channel", "dm"):
            target = row.channel_id or p["user"]
            extra = {} if p.get("compact") else {"blocks": p.get("blocks")}
            return (await client.chat_postMessage(channel=target, text=p["text"], unfurl_links=False,
                                                       metadata=self._metadata(row), **extra))["ts"]
        if row.kind == "home":
            await client.views_publish(user_id=p["user"], view=rendered)
            return None
        raise ValueError(f"unknown outbox kind {row.kind!r}")

    # -- rendered from the store, on its thread ----------------------------------------------

    def _card(self, row: OutboxRow) -> tuple[Recording, str, list[dict[str, Any]]] | None:
        rec = self.store.recording(row.recording_id or "")
        if rec is None:
            return None
        now = self.clock()
        text, card_blocks = blocks.card(rec, summarize(self.store.ledger(rec.id), now), now=now,
                                        compact=int(row.payload.get("compact") or 0))
        return rec, text, card_blocks

    def _in_thread(self, row: OutboxRow, render: Callable[[dict[str, Any], Recording, Summary], Any]
                   ) -> tuple[Recording, Any]:
        rec = self.store.recording(row.recording_id or "")
        assert rec is not None and rec.card_ts
        return rec, render(row.payload, rec, summarize(self.store.ledger(rec.id), self.clock()))

    def _whisper(self, p: dict[str, Any], rec: Recording, summary: Summary):
        return blocks.notice(p, rec, summary, compact=int(p.get("compact") or 0))

    def _home(self, p: dict[str, Any]) -> dict[str, Any]:
        links = self.store.links_of_user(p["user"])
        recs = self.store.active_in_channels(lk.channel_id for lk in links)
        return views.home_view(links, [(r, summarize(self.store.ledger(r.id), self.clock())) for r in recs
                                       if r.status in ACTIVE], compact=int(p.get("compact") or 0))

    def _thread_reply(self, p: dict[str, Any], rec: Recording,
                      summary: Summary) -> tuple[str, list[dict[str, Any]] | None, bool]:
        """A notice under a card, with what is known now: the channel's consent notice when recording starts
        or resumes, the marks and who was there in the final reply."""
        compact = int(p.get("compact") or 0)
        kind = p.get("notice")
        if kind in ("transcript", "summary"):
            text, reply_blocks = notes.session_file(p, f"#{rec.handle}", compact=bool(compact))
            return text, reply_blocks, False
        recap = consent = None
        if kind == "uploaded":
            attendance = self.store.notes.attendance(rec.session_id) if rec.session_id else []
            recap = notes.recap_lines(notes.recap(summary, self.store.notes.marks(rec.id), attendance, self.clock()))
        if kind in ("recording", "resumed"):
            consent = ChannelSettings.of(self.store.notes.settings(rec.channel_id)).notice
        return blocks.notice(p, rec, summary, compact=compact, recap=recap, consent=consent)

    async def _respond(self, p: dict[str, Any]) -> None:
        body = {"response_type": "ephemeral", "replace_original": False, "text": p["text"]}
        if p.get("blocks") and not p.get("compact"):
            body["blocks"] = p["blocks"]
        response = await self.http.post(p["url"], json=body)
        if response.status_code >= 500 or response.status_code == 429:
            raise RespondFailed(f"response_url answered {response.status_code}", retry=True)
        if response.status_code >= 400:
            raise RespondFailed(f"response_url answered {response.status_code}", retry=False)


class RespondFailed(Exception):
    def __init__(self, message: str, *, retry: bool):
        super().__init__(message)
        self.retry = retry
