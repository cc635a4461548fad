"""Events from Slack: App Home opened; recbot uninstalled, or its tokens revoked; an org-wide install's
access to workspaces of its org granted or revoked."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp

from bot.models import Team
from bot.slack.handoff import Handoff, team_of
from bot.slack.oauth import team_access, uninstall


async def home_opened(event: dict[str, Any], body: dict[str, Any], context) -> None:
    handoff: Handoff = context["handoff"]
    if event.get("tab") == "home" and event.get("user"):
        await handoff.courier.refresh_home(event["user"], _acting_in(body, context))


def _acting_in(body: dict[str, Any], context) -> Team:
    """The workspace an event acts in. An org-wide install's authorization names none (Bolt's team_id is
    None), but the envelope's `team_id` is "the workspace where the event occurred"
    (api.slack.com/types/event): the person's App Home is published there, and Slack counts the call
    against that workspace, so the outbox schedules the row there (under the org, it waited out the wrong
    workspace's Retry-After windows). Without one, the org it stays."""
    team = team_of(context)
    where = body.get("team_id")
    if team.team_id is None and isinstance(where, str) and where and where != team.enterprise_id:
        return Team(where, team.enterprise_id)
    return team


async def uninstalled(context) -> None:
    handoff: Handoff = context["handoff"]
    await uninstall(handoff.service.store, handoff.courier.tokens, team_of(context),
                    org_wide=bool(context.get("is_enterprise_install")), why="app_uninstalled")


async def tokens_revoked(event: dict[str, Any], context) -> None:
    """Only the bot's token matters to recbot (it keeps no user tokens)."""
    if (event.get("tokens") or {}).get("bot"):
        handoff: Handoff = context["handoff"]
        await uninstall(handoff.service.store, handoff.courier.tokens, team_of(context),
                        org_wide=bool(context.get("is_enterprise_install")), why="tokens_revoked")


async def access_granted(event: dict[str, Any], context) -> None:
    handoff: Handoff = context["handoff"]
    await team_access(handoff.service.store, context.get("enterprise_id"), _team_ids(event), granted=True)


async def access_revoked(event: dict[str, Any], context) -> None:
    handoff: Handoff = context["handoff"]
    await team_access(handoff.service.store, context.get("enterprise_id"), _team_ids(event), granted=False)


def _team_ids(event: dict[str, Any]) -> list[str]:
    return [t for t in event.get("team_ids") or [] if isinstance(t, str) and t]


def register(app: AsyncApp) -> None:
    app.event("app_home_opened")(home_opened)
    app.event("app_uninstalled")(uninstalled)
    app.event("tokens_revoked")(tokens_revoked)
    app.event("team_access_granted")(access_granted)
    app.event("team_access_revoked")(access_revoked)
