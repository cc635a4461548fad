"""The whole product on loopback: the platform emulator, a local Slack, and the real bot between them.

`recbot demo`, the end-to-end tests and the benchmarks all run this, so what a newcomer sees is
what is tested. Requests into the bot are real signed HTTP requests, as Slack would send them, or
in Socket Mode (`socket_mode=True`) envelopes on the WebSocket the bot opened to the local Slack
(`FromSlack`, from_slack.py).
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import httpx

from bot.asgi_server import BackgroundServer
from bot.config import load_settings
from bot.emulator.app import Emulator
from bot.emulator.records import Timing
from bot.platform.client import PlatformClient
from bot.web import Options, create_app
from bot.workbench.from_slack import SIGNING_SECRET, FromSlack
from bot.workbench.slack_api import FakeSlack
from bot.workbench.slack_oauth import CLIENT_ID, CLIENT_SECRET

BOT_TOKEN = "xoxb-workbench-token"
TEST_SCALE = 10.0  # the tests' Slack: every rate-limit window 10 times shorter, in the local Slack and the outbox
SECRET_KEY = "workbench-secret-key-of-at-least-32-characters"


class Stack(FromSlack):
    def __init__(self, database: str, *, host: str = "127.0.0.1", ports: tuple[int, int, int] = (0, 0, 0),
                 flavour: str = "dyte", timing: Timing | None = None, options: Options | None = None,
                 env: dict[str, str] | None = None, socket_mode: bool = False, oauth: bool = False):
        self.database, self.host, self.flavour, self.socket_mode = database, host, flavour, socket_mode
        self.oauth = oauth  # many workspaces: installed through OAuth, each with its own token
        self.emulator = Emulator(timing=timing or Timing(start_delay=0, upload_delay=0))
        # Tests run Slack's limits, in the local Slack and in recbot's outbox alike, TEST_SCALE times faster.
        self.options = options or Options(slack_scale=TEST_SCALE, card_interval=1.0 / TEST_SCALE)
        self.slack = FakeSlack(scale=self.options.slack_scale)
        self.emulator_server = BackgroundServer(self.emulator.app, host, ports[0])
        self.slack_server = BackgroundServer(self.slack.app, host, ports[1])
        self.emulator.platform.public_url = self.emulator_server.url
        self.env = env or {}
        self.bot_port = ports[2]
        self.bot_server: BackgroundServer | None = None
        # Slack's requests: an idle connection is let go well before uvicorn closes it (5 s), or a request sent
        # on it just as the server closes it fails with ReadError (a command after a 5 s wait, seen in a full run)
        self.http = httpx.AsyncClient(timeout=10.0, limits=httpx.Limits(keepalive_expiry=1.0))
        self._trigger = itertools.count(1)

    def settings_env(self) -> dict[str, str]:
        c, emu = self.emulator.creds, self.emulator_server.url
        env = {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_API_URL": f"{self.slack_server.url}/api/",
               "REC_DATABASE": self.database, "REC_WEBHOOK_KEY_URL": f"{emu}/.well-known/webhooks.json",
               "HOST": self.host}
        if self.oauth:
            del env["SLACK_BOT_TOKEN"]
            env |= {"SLACK_CLIENT_ID": CLIENT_ID, "SLACK_CLIENT_SECRET": CLIENT_SECRET, "REC_SECRET_KEY": SECRET_KEY}
        if self.socket_mode:  # no signing secret: Slack traffic comes only over the socket
            env["SLACK_APP_TOKEN"] = self.slack.socket.app_token
        else:
            env["SLACK_SIGNING_SECRET"] = SIGNING_SECRET
        if self.flavour == "dyte":
            env |= {"DYTE_ORG_ID": c.org_id, "DYTE_API_KEY": c.api_key, "DYTE_API_URL": f"{emu}/v2"}
        else:
            env |= {"RTK_ACCOUNT_ID": c.account_id, "RTK_APP_ID": c.app_id, "RTK_API_TOKEN": c.token,
                    "RTK_API_URL": f"{emu}/client/v4"}
        return env | self.env

    async def start(self) -> Stack:
        await self.emulator_server.start()
        await self.slack_server.start()
        self.slack.url = self.slack_server.url  # the response_urls it hands out point there
        await self.start_bot()
        platform = PlatformClient.from_settings(self.settings)
        hooks = await platform.list_webhooks()
        if not any(h.url == self.webhook_url for h in hooks):
            await platform.register_webhook(self.webhook_url)
        await platform.aclose()
        return self

    async def start_bot(self) -> None:
        self.settings = load_settings(self.settings_env())
        self.app = create_app(self.settings, self.options)
        self.runtime = self.app.state.runtime
        self.bot_server = BackgroundServer(self.app, self.host, self.bot_port)
        await self.bot_server.start()
        self.bot_port = self.bot_server.port
        if self.oauth:
            self.slack.installs.strict = True
            self.slack.installs.redirect_url = f"{self.bot_url}/slack/oauth_redirect"
        if self.socket_mode:
            await asyncio.wait_for(self.slack.socket.connected.wait(), 10.0)

    async def stop_bot(self) -> None:
        if self.bot_server:
            await self.bot_server.stop()
            self.bot_server = None

    async def stop(self) -> None:
        await self.stop_bot()
        await self.slack_server.stop()
        await self.emulator_server.stop()
        await self.http.aclose()

    async def __aenter__(self) -> Stack:
        return await self.start()

    async def __aexit__(self, *exc) -> None:
        await self.stop()

    @property
    def webhook_url(self) -> str:
        return f"{self.bot_url}/webhooks"

    # -- the meeting ----------------------------------------------------------------------

    async def control(self, path: str, body: dict[str, Any] | None = None, method: str = "POST") -> Any:
        response = await self.http.request(method, f"{self.emulator_server.url}/_emulator/{path.lstrip('/')}",
                                           json=body if method == "POST" else None)
        response.raise_for_status()
        return response.json().get("data") if isinstance(response.json(), dict) else response.json()

    async def new_meeting(self, title: str) -> str:
        return (await self.control("meetings", {"title": title}))["id"]

    async def join(self, meeting_id: str, name: str) -> str:
        return (await self.control(f"meetings/{meeting_id}/join", {"name": name}))["participant_id"]
