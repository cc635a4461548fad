"""The Slack door: parse, ack at once, hand to the service, answer through the outbox."""

from __future__ import annotations

import logging
import re
import sqlite3
import time
from typing import Any

import httpx
from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from bot.service import READ_ONLY, Actor, Reply, Service
from bot.slack import blocks
from bot.slack.grammar import USAGE, UsageError, parse
from bot.store import Store

log = logging.getLogger(__name__)

BUSY = (":warning: recbot could not reach its database (it is busy or locked), so it did nothing. "
        "Try again in a moment; if it persists, tell whoever runs recbot.")
BUTTON_ACTIONS = re.compile(r"^rec_(pause|resume|stop|refresh_link|snooze)$")
WORKING = {"link": ":link: Checking the meeting…", "new": ":sparkles: Creating a meeting…",
           "start": ":hourglass_flowing_sand: Starting the recording…", "pause": ":double_vertical_bar: Pausing…",
           "resume": ":arrow_forward: Resuming…", "stop": ":black_square_for_stop: Stopping…"}


class Directory:
    """Who is a workspace admin or owner (users.info), cached: a read, so not in the outbox."""

    def __init__(self, client: AsyncWebClient, ttl: float = 300.0, clock=time.monotonic):
        self.client, self.ttl, self.clock = client, ttl, clock
        self._cache: dict[str, tuple[float, bool]] = {}

    async def is_admin(self, user_id: str) -> bool:
        hit = self._cache.get(user_id)
        if hit and self.clock() - hit[0] < self.ttl:
            return hit[1]
        try:
            info = (await self.client.users_info(user=user_id))["user"]
            admin = bool(info.get("is_admin") or info.get("is_owner") or info.get("is_primary_owner"))
        except SlackApiError as exc:
            log.warning("users.info failed for %s (%s); treating as not an admin", user_id,
                        exc.response.get("error") if exc.response else exc)
            return False
        except Exception:
            log.warning("users.info failed for %s; treating as not an admin", user_id, exc_info=True)
            return False
        self._cache[user_id] = (self.clock(), admin)
        return admin


class Identity:
    """Bolt's authorize step without a dependency on Slack being up: the configured token, and the bot's
    identity from auth.test when Slack answers (tried again later when it does not)."""

    def __init__(self, client: AsyncWebClient, token: str, clock=time.monotonic):
        self.client, self.token, self.clock = client, token, clock
        self._info: dict[str, Any] | None = None
        self._retry_at = 0.0

    async def authorize(self, enterprise_id: str | None, team_id: str | None) -> AuthorizeResult:
        if self._info is None and self.clock() >= self._retry_at:
            try:
                self._info = dict((await self.client.auth_test()).data)
            except Exception as exc:
                self._retry_at = self.clock() + 30.0
                log.warning("auth.test failed (%s); answering Slack without the bot's identity for now",
                            type(exc).__name__)
        info = self._info or {}
        return AuthorizeResult(enterprise_id=enterprise_id, team_id=team_id or info.get("team_id"),
                               bot_token=self.token, bot_user_id=info.get("user_id"), bot_id=info.get("bot_id"))


def render_reply(reply: Reply) -> tuple[str, list[dict[str, Any]] | None]:
    view = reply.view or {}
    kind = view.get("kind")
    if kind == "status":
        return blocks.status_view(view["link"], view["lines"])
    if kind == "history":
        return blocks.history_view(view["lines"])
    if kind == "who":
        return blocks.who_view(view["link"], view["members"])
    return reply.text, None


async def respond_now(url: str, text: str) -> None:
    async with httpx.AsyncClient(timeout=10.0) as http:
        await http.post(url, json={"response_type": "ephemeral", "text": text})


def create_bolt_app(*, token: str, signing_secret: str | None, api_url: str, service: Service, store: Store,
                    socket_mode: bool = False) -> AsyncApp:
    client = AsyncWebClient(token=token, base_url=api_url)
    client.retry_handlers.append(AsyncRateLimitErrorRetryHandler(max_retry_count=2))
    # Bolt's own client carries no token: each request's client gets it from `authorize` below.
    bolt_client = AsyncWebClient(base_url=api_url, retry_handlers=list(client.retry_handlers))
    # Listeners ack, hand their slow part to `service.spawn`, and return; with process_before_response
    # Bolt answers Slack as soon as they return. (Bolt's other mode polls for the ack every 10 ms.)
    identity = Identity(client, token)

    async def authorize(enterprise_id: str | None = None, team_id: str | None = None) -> AuthorizeResult:
        return await identity.authorize(enterprise_id, team_id)  # Bolt passes arguments by parameter name

    app = AsyncApp(client=bolt_client, signing_secret=signing_secret or "", process_before_response=True,
                   request_verification_enabled=not socket_mode, authorize=authorize)
    directory = Directory(client)
    if service.is_admin is None:
        service.is_admin = directory.is_admin

    def respond(url: str | None, reply: Reply) -> None:
        if not url:
            return
        text, reply_blocks = render_reply(reply)
        try:
            store.enqueue("respond", {"url": url, "text": text, "blocks": reply_blocks})
        except sqlite3.OperationalError:
            # The outbox lives in the database that is unavailable: tell the person directly, once.
            service.spawn(respond_now(url, text), "a reply without the outbox")
            return
        service.on_write()

    @app.command("/rec")
    async def rec_command(ack, body: dict[str, Any]) -> None:
        parsed = parse(body.get("text", ""))
        actor = Actor(user_id=body.get("user_id"), channel_id=body.get("channel_id", ""),
                      team_id=body.get("team_id"), via="command")
        if isinstance(parsed, UsageError):
            store.audit(channel_id=actor.channel_id, user_id=actor.user_id, action="usage", outcome="refused",
                        detail=parsed.message[:200])
            await ack(text=parsed.text)
            return
        if parsed.name == "help":
            await ack(text=USAGE)
            return
        service.retry_lost_channel(actor.channel_id)
        if parsed.name in READ_ONLY:  # answered from the store alone: no reason to make anyone wait
            text, reply_blocks = render_reply(await service.handle(actor, parsed))
            await ack(text=text, blocks=reply_blocks)
            return
        await ack(text=WORKING.get(parsed.name, "Working on it…"))

        async def work() -> None:
            try:
                reply = await service.handle(actor, parsed)
            except sqlite3.OperationalError:
                log.exception("database unavailable for /rec %s", parsed.name)
                reply = Reply(BUSY, ok=False)
            respond(body.get("response_url"), reply)

        service.spawn(work(), f"/rec {parsed.name}")

    @app.action(BUTTON_ACTIONS)
    async def rec_button(ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        user = body.get("user") or {}
        from_home = (body.get("container") or {}).get("type") == "view"
        actor = Actor(user_id=user.get("id"), team_id=user.get("team_id") or (body.get("team") or {}).get("id"),
                      channel_id=(body.get("channel") or {}).get("id", ""), via="home" if from_home else "button")
        name = BUTTON_ACTIONS.match(action["action_id"]).group(1)  # type: ignore[union-attr]

        async def work() -> None:
            try:
                reply = await service.press(actor, name, action.get("value"))
            except sqlite3.OperationalError:
                log.exception("database unavailable for button %s", name)
                reply = Reply(BUSY, ok=False)
            if from_home and actor.user_id:
                store.enqueue("home", {"user": actor.user_id})
                service.on_write()
            elif not reply.ok or name in ("refresh_link", "snooze"):
                respond(body.get("response_url"), reply)

        service.spawn(work(), f"button {name}")

    @app.event("app_home_opened")
    async def home_opened(event: dict[str, Any]) -> None:
        if event.get("tab") == "home" and event.get("user"):
            store.enqueue("home", {"user": event["user"]}, coalesce_key=f"home:{event['user']}")
            service.on_write()

    @app.error
    async def on_error(error: Exception, body: dict[str, Any]) -> None:
        log.error("unhandled error in a Slack listener", exc_info=error)

    return app
