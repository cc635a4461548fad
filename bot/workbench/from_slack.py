"""What Slack would send into the bot, as a person's actions make Slack send it: slash commands, clicks,
modal submissions, events, an install through OAuth, a workflow reaching one of recbot's steps. Each is a
real signed HTTP request to `/slack/events`, or in Socket Mode an envelope on the bot's WebSocket."""

from __future__ import annotations

import html
import itertools
import json
import re
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
from slack_sdk.signature import SignatureVerifier

from bot.workbench.slack_api import BOT_USER, FakeSlack

SIGNING_SECRET = "workbench-signing-secret"


ABOUT_THE_INSTALL = ("app_uninstalled", "tokens_revoked", "team_access_granted", "team_access_revoked")


@dataclass
class SocketAnswer:
    """An envelope's ack, shaped like the HTTP response a test reads (`status_code`, `text`)."""

    status_code: int
    text: str


class FromSlack:
    """A mixin of `Stack`: it sends into the bot at `bot_url` what its local Slack (`slack`) would send."""

    slack: FakeSlack
    http: httpx.AsyncClient
    host: str
    bot_port: int
    socket_mode: bool
    _trigger: itertools.count[int]

    @property
    def bot_url(self) -> str:
        return f"http://{self.host}:{self.bot_port}"

    def signed(self, raw: str, content_type: str, *, secret: str = SIGNING_SECRET,
               timestamp: int | None = None) -> dict[str, str]:
        ts = str(int(time.time()) if timestamp is None else timestamp)
        return {"content-type": content_type, "x-slack-request-timestamp": ts,
                "x-slack-signature": str(SignatureVerifier(secret).generate_signature(timestamp=ts, body=raw))}

    def team_of(self, user: str) -> str:
        return self.slack.users.get(user, {}).get("team_id", self.slack.team_id)

    def _grid(self, team: str) -> tuple[str | None, bool]:
        """(the org of a workspace, whether recbot is installed org-wide there), as Slack says in payloads."""
        ws = self.slack.installs.workspaces.get(team)
        org = ws.enterprise_id if ws else None
        org_wide = bool(org) and any(t.team_id is None and t.enterprise_id == org and not t.revoked
                                     for t in self.slack.installs.tokens.values())
        return org, org_wide

    async def install(self, team: str | None = None, *, org: str | None = None, deny: bool = False) -> httpx.Response:
        """What a person does to add recbot: open /slack/install, press "Add to Slack", pick the workspace (or
        the org) on Slack's page and allow; returns the page recbot shows at the end."""
        page = await self.http.get(f"{self.bot_url}/slack/install")
        page.raise_for_status()
        link = re.search(r'href="([^"]+/oauth/v2/authorize[^"]*)"', page.text)
        if link is None:
            raise RuntimeError(f"the install page has no Add to Slack link: {page.text[:200]}")
        url = html.unescape(link.group(1))
        choice = {"org": org} if org else {"team": team or self.slack.team_id}
        if deny:
            choice["deny"] = "1"
        sent = await self.http.get(url, params={**dict(httpx.URL(url).params), **choice})
        assert sent.status_code in (302, 307), sent.text
        # The state cookie is `Secure`: browsers send it to a loopback address over http, httpx does not.
        cookie = page.headers.get("set-cookie", "").split(";")[0]
        return await self.http.get(sent.headers["location"], headers={"cookie": cookie})

    def _team(self, team: str, org: str | None, org_wide: bool) -> dict[str, Any] | None:
        """An interactive payload's `team`: null for an org-wide install (Bolt then reads `user.team_id`)."""
        if org_wide:
            return None
        found = {"id": team, "domain": team.lower()}
        return found | {"enterprise_id": org, "enterprise_name": self.slack.installs.enterprises.get(org, "")} \
            if org else found

    def _interactive(self, kind: str, user: str) -> dict[str, Any]:
        """What every interactive payload carries, as Slack sends it (bolt-python's block_actions and
        view_submission samples; an org-wide install's `team: null` and `enterprise`)."""
        team = self.team_of(user)
        org, org_wide = self._grid(team)
        name = self.slack.users.get(user, {}).get("name", user.lower())
        return {"type": kind, "team": self._team(team, org, org_wide),
                "user": {"id": user, "username": name, "name": name, "team_id": team},
                "enterprise": {"id": org, "name": self.slack.installs.enterprises.get(org, "")} if org else None,
                "is_enterprise_install": org_wide, "api_app_id": "A0REC", "token": "legacy",
                "trigger_id": self.slack.trigger(user)}

    async def command(self, user: str, text: str, channel: str = "C0DEMO",
                      **overrides: Any) -> httpx.Response | SocketAnswer:
        team = self.team_of(user)
        org, org_wide = self._grid(team)
        form = {"token": "legacy", "team_id": team, "team_domain": team.lower(), "channel_id": channel,
                "channel_name": "demo", "user_id": user, "user_name": user.lower(), "command": "/rec", "text": text,
                "api_app_id": "A0REC", "is_enterprise_install": str(org_wide).lower(),
                "response_url": self.slack.new_response_url(channel, user), "trigger_id": self.slack.trigger(user)}
        if org:
            form |= {"enterprise_id": org, "enterprise_name": self.slack.installs.enterprises.get(org, "")}
        if self.socket_mode:
            return await self._envelope("slash_commands", {**form, **overrides})
        raw = urlencode({**form, **overrides})
        return await self.http.post(f"{self.bot_url}/slack/events", content=raw,
                                    headers=self.signed(raw, "application/x-www-form-urlencoded"))

    async def click(self, user: str, action_id: str, value: str, channel: str = "C0DEMO",
                    message_ts: str = "1.000001", *, home: bool = False) -> httpx.Response | SocketAnswer:
        container = ({"type": "view", "view_id": "V0HOME"} if home else
                     {"type": "message", "message_ts": message_ts, "channel_id": channel, "is_ephemeral": False})
        body = {**self._interactive("block_actions", user), "container": container, "state": {"values": {}},
                "actions": [{"action_id": action_id, "block_id": "rec_controls", "type": "button", "value": value,
                             "text": {"type": "plain_text", "text": action_id, "emoji": True},
                             "action_ts": str(time.time())}]}
        if not home:
            body |= {"channel": {"id": channel, "name": "demo"},
                     "response_url": self.slack.new_response_url(channel, user),
                     "message": {"type": "message", "ts": message_ts, "text": "card", "blocks": []}}
        if self.socket_mode:
            return await self._envelope("interactive", body)
        raw = urlencode({"payload": json.dumps(body)})
        return await self.http.post(f"{self.bot_url}/slack/events", content=raw,
                                    headers=self.signed(raw, "application/x-www-form-urlencoded"))

    async def submit(self, user: str, view: dict[str, Any], values: dict[str, Any]) -> httpx.Response | SocketAnswer:
        """A modal's view_submission: `values` as Slack sends them, {block_id: {action_id: value}}."""
        team = self.team_of(user)
        body = {**self._interactive("view_submission", user), "response_urls": [],
                "view": {"type": "modal", "blocks": [], "private_metadata": "", "callback_id": "", "title": None,
                         "close": None, "submit": None, "clear_on_close": False, "notify_on_close": False,
                         "previous_view_id": None, "external_id": "", **view,
                         "id": "V0FORM", "team_id": team, "state": {"values": values}, "hash": "1.abc",
                         "root_view_id": "V0FORM", "app_id": "A0REC", "app_installed_team_id": team,
                         "bot_id": "B0RECBOT"}}
        if self.socket_mode:
            return await self._envelope("interactive", body)
        raw = urlencode({"payload": json.dumps(body)})
        return await self.http.post(f"{self.bot_url}/slack/events", content=raw,
                                    headers=self.signed(raw, "application/x-www-form-urlencoded"))

    async def event(self, event: dict[str, Any], team: str | None = None,
                    org: str | None = None) -> httpx.Response | SocketAnswer:
        """An Events API callback as Slack sends it: `authorizations[0]` says which install the event is for
        (for an org-wide install its `team_id` is null). The events about an install itself (uninstalled,
        tokens revoked, a workspace's access granted or revoked) come without it, as in bolt-python's tests."""
        if team is None and org is not None:  # about an org-wide install: no workspace in it
            body: dict[str, Any] = {"token": "legacy", "enterprise_id": org}
            org_wide = True
        else:
            team = team or (self.team_of(event["user"]) if "user" in event else None) or self.slack.team_id
            org = org or self._grid(team)[0]
            org_wide = self._grid(team)[1]
            body = {"token": "legacy", "team_id": team} | ({"enterprise_id": org} if org else {})
        body |= {"api_app_id": "A0REC", "event": event, "type": "event_callback",
                 "event_id": f"Ev{next(self._trigger)}", "event_time": int(time.time())}
        if event.get("type") not in ABOUT_THE_INSTALL:
            body |= {"authorizations": [{"enterprise_id": org, "team_id": None if org_wide else team,
                                         "user_id": BOT_USER, "is_bot": True, "is_enterprise_install": org_wide}],
                     "is_ext_shared_channel": False}
        if self.socket_mode:
            return await self._envelope("events_api", body)
        raw = json.dumps(body)
        return await self.http.post(f"{self.bot_url}/slack/events", content=raw,
                                    headers=self.signed(raw, "application/json"))

    async def team_access(self, org: str, team_ids: list[str], *, granted: bool) -> httpx.Response | SocketAnswer:
        """An org admin adds workspaces of the org to recbot's org-wide install, or removes them: Slack lets the
        org's token reach them (or refuses it, `team_access_not_granted`) and says so in an event."""
        for team in team_ids:
            (self.slack.installs.no_access.discard if granted else self.slack.installs.no_access.add)(team)
        kind = "team_access_granted" if granted else "team_access_revoked"
        return await self.event({"type": kind, "team_ids": team_ids, "event_ts": f"{time.time():.6f}"}, org=org)

    async def run_step(self, callback_id: str, channel: str = "C0DEMO", *, user: str | None = None,
                       team: str | None = None, inputs: dict[str, Any] | None = None) -> tuple[dict[str, Any], Any]:
        """A workflow reaches one of recbot's steps: run by `user` (Slack fills `interactivity` with them), or
        by a scheduled or event trigger (nobody). Returns the `function_executed` event sent, and the answer."""
        inputs = {"channel_id": channel, **(inputs or {})}
        if user is not None:
            inputs["interactivity"] = {"interactivity_pointer": f"{next(self._trigger)}.interactivity",
                                       "interactor": {"id": user, "secret": "workbench-interactor-secret"}}
        team = team or (self.team_of(user) if user else self.slack.team_id)
        event = self.slack.run_function(callback_id, inputs, team)
        return event, await self.event(event, team=team)

    async def _envelope(self, kind: str, payload: dict[str, Any]) -> SocketAnswer:
        try:
            answer = await self.slack.socket.send(kind, payload)
        except TimeoutError:
            return SocketAnswer(504, "")
        return SocketAnswer(200, json.dumps(answer) if answer else "")
