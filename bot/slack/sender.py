"""Sending one outbox row: render it from the store at send time and call Slack; and, for a row a crash
caught mid-send, look for it in Slack first (its row id is in the message metadata)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from slack_sdk.errors import SlackApiError

from bot import metrics
from bot.errors import RecbotError
from bot.models import Recording
from bot.slack import kinds
from bot.slack.holds import retry_after
from bot.slack.installs import Tokens
from bot.slack.limits import HISTORY_LIMIT
from bot.store import OutboxRow, Store, StoreBusy, Tx

log = logging.getLogger(__name__)
SKEW = 10.0  # seconds a message's ts may precede recbot's clock when it tried to post it (clocks, rounding)


@dataclass(frozen=True)
class Where:
    """Where a post would be found: a channel's history, or a thread's replies, in one workspace."""

    team: str
    channel: str
    thread_ts: str | None

    @property
    def method(self) -> str:
        return "conversations.replies" if self.thread_ts else "conversations.history"

RESPONSE_URL_LIFETIME = 30 * 60.0  # Slack takes answers on a response_url for 30 minutes (5 of them)


class Sender:
    def __init__(self, store: Store, tokens: Tokens, http: httpx.AsyncClient, *,
                 clock: Callable[[], float] = time.time, on_card: Callable[[str], None] = lambda _: None):
        self.store, self.tokens, self.http, self.clock, self.on_card = store, tokens, http, clock, on_card
        self._no_history: set[str] = set()  # channels whose history recbot may not read (a scope is missing)
        self._cursors: dict[Where, tuple[float, str]] = {}  # a look-up to read on: (its oldest, Slack's cursor)

    def where(self, row: OutboxRow, rec: Recording | None) -> Where | None:
        """Where a post of this row would be, if a crash caught it mid-send; None when it cannot be looked
        for (not a post, or recbot may not read that channel's history): it is sent again."""
        kind = kinds.of(row)
        channel = rec.channel_id if rec else row.channel_id
        if not kind.looked_up or kind.method_of(row, rec) != "chat.postMessage" or not channel \
                or channel in self._no_history:
            return None  # an edit is the same however often it is made
        return Where(row.team_id or row.enterprise_id or "", channel,
                     rec.card_ts if kind.in_thread and rec is not None else None)

    async def look_up(self, where: Where, rows: list[OutboxRow]) -> tuple[dict[int, str], bool]:
        """One call (Tier 1 for apps not in the Marketplace: one a minute, at most 15 messages): which of
        `rows` reached Slack, by the row id in each post's metadata, among the messages since the earliest
        was tried. Returns ({row id: ts} of those found, whether the rest are known not to be there). When
        more than 15 messages came since, the next call reads on from where this one stopped."""
        client = await self.tokens.client(rows[0].team)
        oldest, cursor = self._cursors.pop(where, (min(r.tried_at or r.created_at for r in rows) - SKEW, None))
        args: dict[str, Any] = {"channel": where.channel, "oldest": f"{oldest:.6f}", "inclusive": True,
                                "limit": HISTORY_LIMIT, "include_all_metadata": True}
        if cursor:
            args["cursor"] = cursor
        try:
            if where.thread_ts:
                found = await client.conversations_replies(ts=where.thread_ts, **args)
            else:
                found = await client.conversations_history(**args)
        except SlackApiError as exc:
            if exc.response.get("error") == "missing_scope":  # one scope covers public, the other private channels
                self._no_history.add(where.channel)
                log.warning("recbot may not read the history of %s (add channels:history or groups:history); a post "
                            "there interrupted by a restart is sent again", where.channel)
                return {}, True
            raise
        wanted = {str(r.id): r.id for r in rows}
        out: dict[int, str] = {}
        message: dict[str, Any]
        for message in found.get("messages", []):
            payload: dict[str, Any] = (message.get("metadata") or {}).get("event_payload") or {}
            if (row_id := wanted.get(str(payload.get("outbox_row")))) is not None:
                out[row_id] = message.get("ts")
        following = (found.get("response_metadata") or {}).get("next_cursor")
        if found.get("has_more") and following and len(out) < len(rows):
            self._cursors[where] = (oldest, following)
            return out, False
        return out, True

    def metadata(self, row: OutboxRow) -> dict[str, Any]:
        return {"event_type": "recbot_outbox", "event_payload": {"outbox_row": str(row.id)}}

    def render(self, tx: Tx, row: OutboxRow) -> Any:
        """What `deliver` needs of the store for this row, read on the store's thread when it is sent (so a
        card shows the latest state); the outbox reads it in the same trip as it claims the row."""
        return kinds.of(row).render(tx, self, row)

    async def deliver(self, row: OutboxRow, rendered: Any) -> str | None:
        """Send a row, with what `render` read for it."""
        kind = kinds.of(row)
        # the workspace's own token (NotInstalled if it has none); a response_url carries its own authority
        client = await self.tokens.client(row.team) if kind.method else None
        return await kind.send(self, client, row, rendered)

    async def keep_card_ts(self, recording_id: str, ts: str) -> None:
        try:
            await self.store.write(lambda tx: tx.update_recording(recording_id, card_ts=ts))
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
        if response.status_code == 429:  # not documented for a response_url, but held to as for any method
            raise RespondFailed("response_url answered 429", retry=True, retry_after=retry_after(response))
        if response.status_code >= 500:
            raise RespondFailed(f"response_url answered {response.status_code}", retry=True)
        if response.status_code in (404, 410):  # used 5 times, expired, or never valid
            raise RespondFailed(f"response_url answered {response.status_code} {response.text[:40]}", retry=False,
                                spent=True)
        if response.status_code >= 400:
            raise RespondFailed(f"response_url answered {response.status_code} {response.text[:40]}", retry=False)


class RespondFailed(RecbotError):
    """`retry`: Slack may take it later (`retry_after`: a 429's); `spent`: the response_url takes nothing more."""

    def __init__(self, message: str, *, retry: bool, spent: bool = False, retry_after: float = 0.0):
        super().__init__(message)
        self.retry, self.spent, self.retry_after = retry, spent, retry_after
