"""The `/rec` listener: parse, ack at once, hand the slow part to the service after the ack.

The ack never waits on the network: it says "Pausing…" when the person may pause, the refusal when
the store already tells (so no "…ing" comes before a refusal), and nothing yet when only Slack could
tell (an admin not seen lately); the outcome follows on the response_url.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from slack_bolt.async_app import AsyncApp

from bot import metrics
from bot.models import Actor, Source
from bot.service.outcomes import Reply, Say
from bot.service.permissions import READ_ONLY
from bot.slack.grammar import Unparsed, parse
from bot.slack.handoff import Handoff, actor_of
from bot.slack.replies import USAGE, WORKING, WORKING_DEFAULT, words
from bot.store import StoreBusy

log = logging.getLogger(__name__)


async def rec_command(ack, body: dict[str, Any], context) -> None:
    try:
        await _rec_command(ack, body, context)
    except Exception:  # an answer in words, never a bare HTTP 500
        log.exception("the /rec listener failed")
        metrics.count(metrics.COMMANDS, "unknown", "failed")
        await ack(text=words(Reply.one(Say.FAILED, ok=False))[0])


def _counted(command: str):
    """How a command ended, counted (`bot.metrics`): ok, refused, usage, busy or failed."""
    return lambda outcome: metrics.count(metrics.COMMANDS, command, outcome)


async def _rec_command(ack, body: dict[str, Any], context: Any) -> None:
    handoff: Handoff = context["handoff"]
    parsed = parse(body.get("text", ""))
    actor = actor_of(body, context, Source.COMMAND)
    commands = handoff.service.commands
    if isinstance(parsed, Unparsed):
        _counted("unknown")("usage")
        await ack(text=parsed.text)
        usage = parsed.message
        handoff.later(None, lambda: _audited_usage(handoff, actor, usage), "a usage error")
        return
    counted = _counted(parsed.name)
    if parsed.name == "help":
        counted("ok")
        await ack(text=USAGE)
        return
    parsed = replace(parsed, trigger_id=body.get("trigger_id"))  # a form opens on it (`/rec settings`)
    if parsed.name in READ_ONLY:  # answered from the store alone: no reason to make anyone wait
        try:
            reply = await commands.handle(actor, parsed)
            counted("ok" if reply.ok else "refused")
        except StoreBusy:
            reply = Reply.one(Say.BUSY, ok=False)
            counted("busy")
        text, reply_blocks = words(reply)
        await ack(text=text, blocks=reply_blocks)
        return
    try:
        decided, refused = await commands.known_refusal(actor, parsed)
    except StoreBusy:
        decided, refused = False, None
    if refused is not None:
        counted("refused")
        await ack(text=words(refused)[0])
        handoff.later(None, lambda: commands.handle(actor, parsed), f"/rec {parsed.name} (refused)")  # audited there
        return
    if decided and (working := WORKING.get(parsed.name, WORKING_DEFAULT)):
        await ack(text=working)
    else:
        await ack()
    handoff.later(body.get("response_url"), lambda: commands.handle(actor, parsed), f"/rec {parsed.name}",
               asker=actor, counted=counted)


async def _audited_usage(handoff: Handoff, actor: Actor, message: str) -> None:
    await handoff.service.commands.refuse_usage(actor, message)


def register(app: AsyncApp) -> None:
    app.command("/rec")(rec_command)
