"""The `/rec` listener: parse, ack at once, hand the slow part to the service after the ack."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp

from bot.models import Actor
from bot.service.outcomes import Reply, Say
from bot.service.permissions import READ_ONLY
from bot.slack.door import Door
from bot.slack.grammar import UsageError, parse
from bot.slack.replies import USAGE, WORKING, WORKING_DEFAULT, render
from bot.store import StoreBusy


async def rec_command(ack, body: dict[str, Any], context) -> None:
    door: Door = context["door"]
    parsed = parse(body.get("text", ""))
    actor = Actor(user_id=body.get("user_id"), channel_id=body.get("channel_id", ""), team_id=body.get("team_id"),
                  via="command")
    if isinstance(parsed, UsageError):
        try:
            door.service.commands.refuse_usage(actor, parsed.message)
        except StoreBusy:
            pass  # the audit row is lost; the person still gets the usage
        await ack(text=parsed.text)
        return
    if parsed.name == "help":
        await ack(text=USAGE)
        return
    if parsed.name in READ_ONLY:  # answered from the store alone: no reason to make anyone wait
        try:
            reply = await door.service.commands.handle(actor, parsed)
        except StoreBusy:
            reply = Reply.one(Say.BUSY, ok=False)
        text, reply_blocks = render(reply)
        await ack(text=text, blocks=reply_blocks)
        return
    await ack(text=WORKING.get(parsed.name, WORKING_DEFAULT))
    door.later(body.get("response_url"), lambda: door.service.commands.handle(actor, parsed), f"/rec {parsed.name}")


def register(app: AsyncApp) -> None:
    app.command("/rec")(rec_command)
