"""What the Slack listeners share: the service, the outbox for replies, and the background tasks."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx

from bot.models import Actor, Source, Team
from bot.retry import Backoff, patiently
from bot.service import Service
from bot.service.outcomes import Reply, Say
from bot.slack.courier import Courier
from bot.slack.holds import RESPOND_URL, Holds, retry_after
from bot.slack.replies import words
from bot.store import StoreBusy
from bot.tasks import Tasks

log = logging.getLogger(__name__)

BUSY_RETRIES = Backoff(0.25, 2.0).delays(4)  # 0.25 s … 2 s, then "busy, so it did nothing"


@dataclass
class Handoff:
    service: Service
    courier: Courier
    tasks: Tasks

    async def respond(self, url: str | None, reply: Reply, asker: Actor | None = None) -> None:
        """An ephemeral answer on the request's response_url, through the outbox (to `asker` in their channel,
        should Slack no longer take it there)."""
        if not url:
            return
        text, reply_blocks = words(reply)
        try:
            await self.courier.respond(url, text, reply_blocks, asker)
        except StoreBusy:  # the outbox lives in the database that is unavailable: tell the person directly
            workspace = (asker.team.team_id or asker.team.enterprise_id or "") if asker else ""
            self.tasks.spawn(_respond_now(url, text, self.courier.holds, workspace), "a reply without the outbox")

    def later(self, url: str | None, work: Callable[[], Awaitable[Reply | None]], what: str, *,
              to: Actor | None = None, asker: Actor | None = None,
              counted: Callable[[str], None] | None = None) -> None:
        """Run `work` after the ack and answer with its reply (if any) on the response_url (or, once Slack no
        longer takes it, to `asker` in their channel), or, for a request that has none (a form), to the person
        `to` directly. A busy store is waited for (`BUSY_RETRIES`), then said as such: StoreBusy escapes the
        service only where trying the whole request again is harmless (before the platform was asked, or where
        asking again meets a refusal that recbot looks into; once the platform has acted, the service records
        it later itself and says so). `counted` is told how it ended: ok, refused, busy or
        failed (`bot.metrics`)."""

        async def run() -> None:
            try:
                reply = await patiently(work, BUSY_RETRIES, StoreBusy)
                outcome = "ok" if reply is None or reply.ok else "refused"
            except StoreBusy:
                log.exception("database unavailable for %s", what)
                reply, outcome = Reply.one(Say.BUSY, ok=False), "busy"
            except Exception:
                log.exception("failed while handling %s", what)
                reply, outcome = Reply.one(Say.FAILED, ok=False), "failed"
            if counted is not None:
                counted(outcome)
            if reply is None or not reply.lines:  # no lines: the answer was a form, or nothing to say
                return
            if to is not None and to.user_id:
                await self.courier.tell(to.user_id, words(reply)[0], to.team)
            else:
                await self.respond(url, reply, asker)

        self.tasks.spawn(run(), what)


def team_of(context: Any) -> Team:
    """The workspace a request came from, as Bolt read it (under Enterprise Grid, with its org)."""
    return Team(context.get("team_id"), context.get("enterprise_id"))


def actor_of(body: dict[str, Any], context: Any, via: Source, channel_id: str | None = None) -> Actor:
    """Who asked, from Bolt's body: the person (a command's `user_id`, an interaction's `user.id`), the channel
    (the command's or the message's, unless given: a form carries it in its `private_metadata`) and the
    workspace (`team_of`)."""
    team = team_of(context)
    if channel_id is None:
        channel_id = body.get("channel_id") or (body.get("channel") or {}).get("id", "")
    return Actor(user_id=body.get("user_id") or (body.get("user") or {}).get("id"), channel_id=channel_id,
                 team_id=team.team_id, enterprise_id=team.enterprise_id, via=via)


async def _respond_now(url: str, text: str, holds: Holds, workspace: str) -> None:
    """An answer on a response_url without the outbox, held back as the outbox's are after a 429 there."""
    async with httpx.AsyncClient(timeout=10.0) as http:
        for _ in range(3):
            if (wait := await holds.held(workspace, RESPOND_URL)) > 0:
                await asyncio.sleep(wait)  # seconds; a response_url takes answers for 30 minutes
            response = await http.post(url, json={"response_type": "ephemeral", "text": text})
            if response.status_code != 429:
                return
            seconds = retry_after(response)
            log.warning("Slack rate-limited response_url in workspace %s: holding answers there back %.1f s",
                        workspace, seconds)
            await holds.hold(workspace, RESPOND_URL, seconds)
