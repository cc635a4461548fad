"""Events from Slack: App Home opened."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp

from bot.slack.door import Door


async def home_opened(event: dict[str, Any], context) -> None:
    door: Door = context["door"]
    if event.get("tab") == "home" and event.get("user"):
        door.outbox.refresh_home(event["user"])


def register(app: AsyncApp) -> None:
    app.event("app_home_opened")(home_opened)
