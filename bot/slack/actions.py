"""Buttons on cards, reminders and App Home, and the settings form: ack, then the service checks them
exactly like commands."""

from __future__ import annotations

import re
from typing import Any

from slack_bolt.async_app import AsyncApp

from bot import metrics
from bot.models import Actor
from bot.service.outcomes import Reply
from bot.service.settings import checked
from bot.slack.connect import connect_values
from bot.slack.door import Door, team_of
from bot.slack.notes import modal_values

BUTTON_ACTIONS = re.compile(r"^rec_(pause|resume|stop|refresh_link|snooze|mark)$")
ANSWERED = ("refresh_link", "snooze", "mark")  # buttons whose success is said to the presser (others: the card)


def _counted(action: str):
    """How a click or form ended, counted (`bot.metrics`): ok, refused, usage, busy or failed."""
    return lambda outcome: metrics.count(metrics.CLICKS, action, outcome)


async def rec_button(ack, body: dict[str, Any], action: dict[str, Any], context) -> None:
    await ack()
    door: Door = context["door"]
    user = body.get("user") or {}
    from_home = (body.get("container") or {}).get("type") == "view"
    team = team_of(context)
    actor = Actor(user_id=user.get("id"), team_id=team.team_id, enterprise_id=team.enterprise_id,
                  channel_id=(body.get("channel") or {}).get("id", ""), via="home" if from_home else "button")
    name = BUTTON_ACTIONS.match(action["action_id"]).group(1)  # type: ignore[union-attr]

    async def work() -> Reply | None:
        reply = await door.service.actions.press(actor, name, action.get("value"))
        if from_home and actor.user_id:
            await door.outbox.refresh_home(actor.user_id, actor.team)
        return reply if not reply.ok or name in ANSWERED else None

    door.later(None if from_home else body.get("response_url"), work, f"button {name}", asker=actor,
               counted=_counted(name))


def _presser(body: dict[str, Any], context) -> Actor:
    """Who pressed a button in a channel's message."""
    user, team = body.get("user") or {}, team_of(context)
    return Actor(user_id=user.get("id"), team_id=team.team_id, enterprise_id=team.enterprise_id,
                 channel_id=(body.get("channel") or {}).get("id", ""), via="button")


async def rec_end(ack, body: dict[str, Any], action: dict[str, Any], context) -> None:
    """The confirmation under `/rec end`: its value is the meeting id, checked against the channel's link."""
    await ack()
    door: Door = context["door"]
    actor = _presser(body, context)
    door.later(body.get("response_url"), lambda: door.service.actions.end_meeting(actor, action.get("value")),
               "button end", asker=actor, counted=_counted("end"))


async def rec_post_summary(ack, body: dict[str, Any], action: dict[str, Any], context) -> None:
    """Post a held summary anyway: its value is the session id, checked against the channel's recordings."""
    await ack()
    door: Door = context["door"]
    actor = _presser(body, context)
    door.later(body.get("response_url"), lambda: door.service.after.post_summary(actor, action.get("value")),
               "button post_summary", asker=actor, counted=_counted("post_summary"))


async def settings_submitted(ack, body: dict[str, Any], view: dict[str, Any], context) -> None:
    """The `/rec settings` form. Values are checked before the ack, so a wrong one is shown on its field."""
    door: Door = context["door"]
    user = body.get("user") or {}
    team = team_of(context)
    actor = Actor(user_id=user.get("id"), team_id=team.team_id, enterprise_id=team.enterprise_id,
                  channel_id=str(view.get("private_metadata")), via="modal")
    values = modal_values(view)
    errors = {name: message.replace("`", "") for name, value in values.items()
              if (message := checked(name, value)[1])}
    if errors:
        _counted("settings_form")("usage")
        await ack(response_action="errors", errors=errors)
        return
    await ack()
    door.later(None, lambda: door.service.commands.save_settings(actor, values), "the settings form",
               counted=_counted("settings_form"))


async def connect_submitted(ack, body: dict[str, Any], view: dict[str, Any], context) -> None:
    """The `/rec connect` form. Shapes are checked before the ack (said on their fields); the platform's
    verdict comes after it, in a direct message to the admin."""
    door: Door = context["door"]
    team = team_of(context)
    actor = Actor(user_id=(body.get("user") or {}).get("id"), team_id=team.team_id, enterprise_id=team.enterprise_id,
                  channel_id=str(view.get("private_metadata")), via="modal")
    flavour, credentials, public_url, errors = connect_values(view)
    if errors:
        _counted("connect_form")("usage")
        await ack(response_action="errors", errors=errors)
        return
    await ack()
    door.later(None, lambda: door.service.accounts.connect(actor, flavour, credentials, public_url),
               "the connect form", to=actor, counted=_counted("connect_form"))


def register(app: AsyncApp) -> None:
    app.action(BUTTON_ACTIONS)(rec_button)
    app.action("rec_end")(rec_end)
    app.action("rec_post_summary")(rec_post_summary)
    app.view("rec_settings")(settings_submitted)
    app.view("rec_connect")(connect_submitted)
