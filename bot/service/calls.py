"""The meeting as a Slack call: when a linked meeting's session is live, each workspace where it is linked
(with the channel setting `call` on) shows it as a call; it ends with the session. The store keeps what
each call should show; the outbox brings Slack in step (`bot/slack/calls.py`). Off without REC_JOIN_URL.
The async methods are on the loop; `_live` and `_ended` are below the store boundary (functions over a `Tx`)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from bot.platform.accounts import Platforms
from bot.platform.errors import PlatformError
from bot.service.decisions import Writer
from bot.service.settings import ChannelSettings
from bot.store import Store, Tx

log = logging.getLogger(__name__)


class Calls:
    def __init__(self, store: Store, platform: Platforms, writer: Writer, join_url: str | None,
                 clock: Callable[[], float] = time.time):
        self.store, self.platform, self.writer, self.join_url, self.clock = store, platform, writer, join_url, clock

    async def live(self, meeting_id: str, session_id: str, title: str | None = None, at: float | None = None) -> int:
        """The meeting's session `session_id` is live: shown as a call where the meeting is linked (once)."""
        return await self.store.write(self._live, meeting_id, session_id, title, at)

    async def ended(self, meeting_id: str, session_id: str | None, at: float | None = None) -> int:
        return await self.store.write(self._ended, meeting_id, session_id, at)

    async def look(self, meeting_id: str) -> bool:
        """Found live when recbot asks (on link, on start): shown as a call. Whether a session is live."""
        if not self.join_url:
            return False
        try:
            session = await self.platform.get_active_session(meeting_id)
        except PlatformError as exc:
            log.info("could not ask whether meeting %s is live (%s); its call waits for news", meeting_id, exc)
            return False
        if session is None or not session.id:
            return False
        await self.live(meeting_id, session.id)
        return True

    async def reconcile(self, limit: int) -> int:
        """Calls whose session is no longer live (the `meeting.ended` webhook was lost) end. Returns how many
        times it asked the platform (at most `limit`: the reconciler's budget)."""
        if not self.join_url or limit <= 0:
            return 0
        asked = 0
        for call in await self.store.read(lambda tx: tx.calls.all_live(limit)):
            asked += 1
            try:
                session = await self.platform.get_active_session(call.meeting_id)
            except PlatformError:
                break
            if session is None or session.id != call.session_id:
                await self.ended(call.meeting_id, call.session_id)
        return asked

    def _live(self, tx: Tx, meeting_id: str, session_id: str, title: str | None, at: float | None) -> int:
        if not self.join_url or not session_id:
            return 0
        opened = 0
        for link in tx.links_for_meeting(meeting_id):
            if link.broken_reason or not ChannelSettings.of(tx.notes.settings(link.channel_id)).call:
                continue
            opened += tx.calls.open(link, session_id, title or link.meeting_title or "Meeting",
                                    self.join_url.replace("{meeting_id}", meeting_id), at or self.clock())
        if opened:
            self.writer.on_write()
        return opened

    def _ended(self, tx: Tx, meeting_id: str, session_id: str | None, at: float | None) -> int:
        ended = tx.calls.end(meeting_id, session_id, at or self.clock())
        if ended:
            self.writer.on_write()
        return ended
