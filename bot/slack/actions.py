"""Buttons on cards, reminders and App Home, and the settings form: ack, then the service checks them
exactly like commands."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncApp

from bot import metrics
from bot.models import Actor, Source
from bot.service import Service
from bot.service.outcomes import Reply
from bot.service.settings import checked
from bot.slack.connect import connect_values
from bot.slack.handoff import Handoff, actor_of
from bot.slack.notes import modal_values

BUTTON_ACTIONS = re.compile(r"^rec_(pause|resume|stop|refresh_link|snooze|mark)$")
ANSWERED = ("refresh_link", "snooze", "mark")  # buttons whose success is said to the presser (others: the card)


def _counted(action: str):
    """How a click or form ended, counted (`bot.metrics`): ok, refused, usage, busy or failed."""
    return lambda outcome: metrics.count(metrics.CLICKS, action, outcome)


async def rec_button(ack, body: dict[str, Any], action: dict[str, Any], context) -> None:
    await ack()
    handoff: Handoff = context["handoff"]
    from_home = (body.get("container") or {}).get("type") == "view"
    actor = actor_of(body, context, Source.HOME if from_home else Source.BUTTON)
    name = BUTTON_ACTIONS.match(action["action_id"]).group(1)  # type: ignore[union-attr]

    async def work() -> Reply | None:
        reply = await handoff.service.actions.press(actor, name, action.get("value"))
        if from_home and actor.user_id:
            await handoff.courier.refresh_home(actor.user_id, actor.team)
        return reply if not reply.ok or name in ANSWERED else None

    handoff.later(None if from_home else body.get("response_url"), work, f"button {name}", asker=actor,
               counted=_counted(name))


def _checked_button(name: str, act: Callable[[Service], Callable[[Actor, str | None], Awaitable[Reply]]]):
    """A button whose value the service checks against the channel before acting on it."""

    async def listener(ack, body: dict[str, Any], action: dict[str, Any], context) -> None:
        await ack()
        handoff: Handoff = context["handoff"]
        actor = actor_of(body, context, Source.BUTTON)
        handoff.later(body.get("response_url"), lambda: act(handoff.service)(actor, action.get("value")),
                   f"button {name}", asker=actor, counted=_counted(name))

    return listener


# The confirmation under `/rec end`: its value is the meeting id, checked against the channel's link.
rec_end = _checked_button("end", lambda service: service.actions.end_meeting)
# Post a held summary anyway: its value is the session id, checked against the channel's recordings.
rec_post_summary = _checked_button("post_summary", lambda service: service.after.post_summary)


async def settings_submitted(ack, body: dict[str, Any], view: dict[str, Any], context) -> None:
    """The `/rec settings` form. Values are checked before the ack, so a wrong one is shown on its field."""
    handoff: Handoff = context["handoff"]
    actor = actor_of(body, context, Source.MODAL, channel_id=str(view.get("private_metadata")))
    values = modal_values(view)
    errors = {name: message.replace("`", "") for name, value in values.items()
              if (message := checked(name, value)[1])}
    if errors:
        _counted("settings_form")("usage")
        await ack(response_action="errors", errors=errors)
        return
    await ack()
    handoff.later(None, lambda: handoff.service.commands.save_settings(actor, values), "the settings form",
               counted=_counted("settings_form"))


async def connect_submitted(ack, body: dict[str, Any], view: dict[str, Any], context) -> None:
    """The `/rec connect` form. Shapes are checked before the ack (said on their fields); the platform's
    verdict comes after it, in a direct message to the admin."""
    handoff: Handoff = context["handoff"]
    actor = actor_of(body, context, Source.MODAL, channel_id=str(view.get("private_metadata")))
    flavour, credentials, public_url, errors = connect_values(view)
    if errors:
        _counted("connect_form")("usage")
        await ack(response_action="errors", errors=errors)
        return
    await ack()
    handoff.later(None, lambda: handoff.service.accounts.connect(actor, flavour, credentials, public_url),
               "the connect form", to=actor, counted=_counted("connect_form"))


def register(app: AsyncApp) -> None:
    app.action(BUTTON_ACTIONS)(rec_button)
    app.action("rec_end")(rec_end)
    app.action("rec_post_summary")(rec_post_summary)
    app.view("rec_settings")(settings_submitted)
    app.view("rec_connect")(connect_submitted)
