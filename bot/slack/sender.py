"""Sending one outbox row: render it from the store at send time and call Slack; and, for a row a crash
caught mid-send, look for it in Slack first (its row id is in the message metadata)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import httpx
from slack_sdk.errors import SlackApiError

from bot import metrics
from bot.errors import RecbotError
from bot.slack import kinds
from bot.slack.installs import Tokens
from bot.store import OutboxRow, Store, StoreBusy

log = logging.getLogger(__name__)

RESPONSE_URL_LIFETIME = 30 * 60.0  # Slack takes answers on a response_url for 30 minutes (5 of them)


class Sender:
    def __init__(self, store: Store, tokens: Tokens, http: httpx.AsyncClient, *,
                 clock: Callable[[], float] = time.time, on_card: Callable[[str], None] = lambda _: None):
        self.store, self.tokens, self.http, self.clock, self.on_card = store, tokens, http, clock, on_card
        self._no_history: set[str] = set()  # channels whose history recbot may not read (a scope is missing)

    async def find_sent(self, row: OutboxRow) -> str | None:
        """Whether a post interrupted by a crash reached Slack: its row id is in the message metadata."""
        rec = await self.store.aio.recording(row.recording_id) if row.recording_id else None
        channel = rec.channel_id if rec else row.channel_id
        if not kinds.of(row).looked_up or not channel or channel in self._no_history:
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
        message: dict[str, Any]
        for message in found.get("messages", []):
            payload: dict[str, Any] = (message.get("metadata") or {}).get("event_payload") or {}
            if payload.get("outbox_row") == str(row.id):
                return message.get("ts")
        return None

    def metadata(self, row: OutboxRow) -> dict[str, Any]:
        return {"event_type": "recbot_outbox", "event_payload": {"outbox_row": str(row.id)}}

    def render(self, row: OutboxRow) -> Any:
        """What `deliver` needs of the store for this row, read on the store's thread when it is sent (so a
        card shows the latest state); the outbox reads it in the same trip as it claims the row."""
        return kinds.of(row).render(self, row)

    async def deliver(self, row: OutboxRow, rendered: Any) -> str | None:
        """Send a row, with what `render` read for it."""
        kind = kinds.of(row)
        # the workspace's own token (NotInstalled if it has none); a response_url carries its own authority
        client = await self.tokens.client(row.team) if kind.method else None
        return await kind.send(self, client, row, rendered)

    async def keep_card_ts(self, recording_id: str, ts: str) -> None:
        try:
            await self.store.aio.update_recording(recording_id, card_ts=ts)
        except StoreBusy:  # the post went out: the outbox records its ts with the row, never posts it twice
            pass

    async def respond(self, url: str, text: str, reply_blocks: list[dict[str, Any]] | None, *,
                      since: float | None = None) -> None:
        """An answer on a response_url handed out at `since`. Slack takes 5 within 30 minutes: past that (or
        when Slack answers 404 or 410) it is `spent`, and the outbox says it another way."""
        if since is not None and self.clock() - since > RESPONSE_URL_LIFETIME:
            raise RespondFailed("response_url expired (Slack takes answers on it for 30 minutes)", retry=False,
                                spent=True)
        body: dict[str, Any] = {"response_type": "ephemeral", "replace_original": False, "text": text}
        if reply_blocks:
            body["blocks"] = reply_blocks
        try:
            response = await self.http.post(url, json=body)
        except httpx.HTTPError:
            metrics.slack_call("response_url", "network")
            raise
        metrics.slack_call("response_url", metrics.http_outcome(response.status_code))
        if response.status_code >= 500 or response.status_code == 429:
            raise RespondFailed(f"response_url answered {response.status_code}", retry=True)
        if response.status_code in (404, 410):  # used 5 times, expired, or never valid
            raise RespondFailed(f"response_url answered {response.status_code} {response.text[:40]}", retry=False,
                                spent=True)
        if response.status_code >= 400:
            raise RespondFailed(f"response_url answered {response.status_code}", retry=False)


class RespondFailed(RecbotError):
    """`retry`: Slack may take it later; `spent`: the response_url takes nothing more."""

    def __init__(self, message: str, *, retry: bool, spent: bool = False):
        super().__init__(message)
        self.retry, self.spent = retry, spent
