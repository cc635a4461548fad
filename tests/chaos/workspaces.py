"""The chaos run's workspaces and its isolation oracle.

Four workspaces share the run: Alpha and Beta, each installed on its own (its own bot token, through the
OAuth pages), and Grid One and Grid Two, two workspaces of the org E0GRID where recbot is installed once,
org-wide (the org's token serves both). The run's channels are dealt to them in turn (C000 Alpha, C001
Beta, C002 Grid One, C003 Grid Two, C004 Alpha, ...); each workspace has a person who links and controls
its channels and one who does not. Requests come as Slack sends them for each kind of install
(docs/workspaces.md, "Enterprise Grid, as Slack sends it").

At the end, `isolation` checks every workspace: no call to Slack with a token other than its install's
about one of its channels or people, and nothing of another workspace's recordings shown in it (their
ids, their meetings', their channels' mentions, a word said in their meetings) in any message, edit,
ephemeral or response_url answer, uploaded file, App Home or modal, nor any step of its recordings taken
by another workspace's person.
"""

from __future__ import annotations

import html
import itertools
import json
import re
import time
from dataclasses import dataclass
from typing import Any

import httpx
from slack_sdk.signature import SignatureVerifier

from bot.workbench.slack_oauth import CLIENT_ID, CLIENT_SECRET

SECRET_KEY = "chaos-secret-key-of-at-least-32-characters"
ORG = "E0GRID"
APP = "A0REC"


@dataclass(frozen=True)
class Workspace:
    team: str
    name: str
    org: str | None = None  # its Enterprise Grid org, where recbot is installed org-wide

    @property
    def install(self) -> str:
        """Whose token serves it: its own, or its org's."""
        return self.org or self.team

    @property
    def controller(self) -> str:
        return f"U{self.team[1:]}"

    @property
    def member(self) -> str:
        return f"U{self.team[1:]}M"


WORKSPACES = (Workspace("T0ALPHA", "Alpha"), Workspace("T0BETA", "Beta"),
              Workspace("T0GRID1", "Grid One", ORG), Workspace("T0GRID2", "Grid Two", ORG))
_events = itertools.count(1)


def workspace_of(channel: str) -> Workspace:
    """The workspace a channel of the run (C000, C001, ...) belongs to."""
    return WORKSPACES[int(channel[1:]) % len(WORKSPACES)]


def person(channel: str, role: str) -> str:
    """The channel's controller ("controller") or its other member (any other role)."""
    ws = workspace_of(channel)
    return ws.controller if role == "controller" else ws.member


def env() -> dict[str, str]:
    """A bot's settings for many workspaces: the app's credentials, no bot token of its own."""
    return {"SLACK_CLIENT_ID": CLIENT_ID, "SLACK_CLIENT_SECRET": CLIENT_SECRET, "REC_SECRET_KEY": SECRET_KEY}


# Token rotation (`token_rotation_enabled`), each token living 2 h 5 s: recbot refreshes a token 2 h before it
# expires, so each install's token is refreshed 5 s after it was issued, at its next use (many times a run),
# and none expires within a run. A refresh's way to Slack and its answer's way back take 0.25 s each, as over the
# internet, so that the killer can land in one (the moment `token_refresh`).
ROTATION = {"rotation": True, "lifetime": 7200 + 5, "refresh_delays": [0.25, 0.25]}


async def install_all(http: httpx.AsyncClient, slack: str, bot_url: str, channels: list[str], *,
                      rotation: bool = True) -> None:
    """The local Slack learns the workspaces, their channels and people (with `rotation`, its tokens rotate:
    `ROTATION`); then someone in Alpha, in Beta and an admin of the org add recbot through its pages."""
    await http.post(f"{slack}/_slack/workspaces", json={
        "strict": True, "redirect_url": f"{bot_url}/slack/oauth_redirect", **(ROTATION if rotation else {}),
        "workspaces": [{"team_id": ws.team, "name": ws.name, "enterprise_id": ws.org,
                        "channels": [c for c in channels if workspace_of(c) == ws],
                        "users": [{"id": ws.controller, "name": f"{ws.name} lead"},
                                  {"id": ws.member, "name": f"{ws.name} member"}]} for ws in WORKSPACES]})
    for install in [ws.team for ws in WORKSPACES if not ws.org] + [f"org {ORG}"]:
        await install_one(http, bot_url, install)


async def install_one(http: httpx.AsyncClient, bot_url: str, install: str) -> None:
    """Someone adds recbot to a workspace (`T…`) or an org (`org E…`) through its pages (/slack/install, Slack's
    authorize page, the redirect), as /healthz names an install that must be made again."""
    choice = {"org": install.removeprefix("org ")} if install.startswith("org ") else {"team": install}
    page = await http.get(f"{bot_url}/slack/install")
    page.raise_for_status()
    link = re.search(r'href="([^"]+/oauth/v2/authorize[^"]*)"', page.text)
    assert link is not None, page.text[:300]
    url = html.unescape(link.group(1))
    sent = await http.get(url, params={**dict(httpx.URL(url).params), **choice})
    assert sent.status_code in (302, 307), sent.text
    cookie = page.headers.get("set-cookie", "").split(";")[0]  # `Secure`: httpx keeps it from http
    done = await http.get(sent.headers["location"], headers={"cookie": cookie})
    assert done.status_code == 200 and "installed" in done.text, done.text[:300]


def command_form(channel: str, user: str, text: str, response_url: str) -> dict[str, str]:
    """A slash command as Slack sends it from `channel`'s workspace (org-wide: with the org, flagged)."""
    ws = workspace_of(channel)
    form = {"token": "legacy", "team_id": ws.team, "team_domain": ws.team.lower(), "channel_id": channel,
            "channel_name": channel.lower(), "user_id": user, "user_name": user.lower(), "command": "/rec",
            "text": text, "api_app_id": APP, "is_enterprise_install": str(bool(ws.org)).lower(),
            "response_url": response_url, "trigger_id": f"{time.time_ns()}.1.x"}
    return form | ({"enterprise_id": ws.org, "enterprise_name": "Grid org"} if ws.org else {})


def interactive(channel: str, user: str) -> dict[str, Any]:
    """What a button's payload says of its workspace: `team: null` for an org-wide install."""
    ws = workspace_of(channel)
    return {"team": None if ws.org else {"id": ws.team, "domain": ws.team.lower()},
            "user": {"id": user, "team_id": ws.team, "username": user.lower(), "name": user.lower()},
            "enterprise": {"id": ws.org, "name": "Grid org"} if ws.org else None,
            "is_enterprise_install": bool(ws.org), "api_app_id": APP}


def home_opened(channel: str, user: str) -> dict[str, Any]:
    """app_home_opened for a person of `channel`'s workspace: an org-wide install's authorization has no team."""
    ws = workspace_of(channel)
    return {"token": "legacy", "team_id": ws.team, "api_app_id": APP, "type": "event_callback",
            "event": {"type": "app_home_opened", "user": user, "channel": f"D{user[1:]}", "tab": "home",
                      "event_ts": f"{time.time():.6f}"},
            "event_id": f"EvChaos{next(_events)}", "event_time": int(time.time()), "is_ext_shared_channel": False,
            "authorizations": [{"enterprise_id": ws.org, "team_id": None if ws.org else ws.team,
                                "user_id": "U0RECBOT", "is_bot": True, "is_enterprise_install": bool(ws.org)}],
            **({"enterprise_id": ws.org} if ws.org else {})}


def signed(raw: str, content_type: str, secret: str) -> dict[str, str]:
    ts = str(int(time.time()))
    return {"content-type": content_type, "x-slack-request-timestamp": ts,
            "x-slack-signature": SignatureVerifier(secret).generate_signature(timestamp=ts, body=raw)}


UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
WORD = re.compile(r"zk[a-y]+q")  # the run's said words (tests/chaos/run.py, `token`)
MENTION = re.compile(r"<#(C\d+)")
SENT = ("chat.postMessage", "chat.update", "chat.postEphemeral", "chat.scheduleMessage", "files.completeUploadExternal")
NOT_ABOUT_ANYONE = ("response_url", "oauth.v2.access", "auth.test", "apps.connections.open",
                    "functions.completeSuccess", "functions.completeError")


def isolation(slack: dict[str, Any], recordings: list[dict], ledger: list[dict], said: list[Any],
              typed: dict[str, set[str]]) -> dict[str, Any]:
    """The isolation oracle over what the local Slack received (`slack`: its dump with ?everything=1) and the
    store (`recordings` with their meeting and session; `ledger` with each step's actor). A word a workspace's
    person typed (`typed`: `/rec find` asked there for another's word) is theirs: its echo in the answer
    ("_word_") is no breach, the line it was said in would be. Returns the breaches by kind, each a line
    saying what, where and whose."""
    users = {u: ws for ws in WORKSPACES for u in (ws.controller, ws.member)}
    owner: dict[str, Workspace] = {}  # an id, a mention or a word -> the workspace whose it is
    for rec in recordings:
        for key in (rec["id"], rec["meeting_id"], rec.get("session_id")):
            if key:
                owner[key] = workspace_of(rec["channel_id"])
    for line in said:
        owner[line.token] = workspace_of(line.channel)

    wrong_token = []
    shown: dict[Workspace, list[str]] = {ws: [] for ws in WORKSPACES}
    for call in slack["everything"]:
        args, method = call["args"], call["method"]
        if method in NOT_ABOUT_ANYONE:
            continue
        channel = str(args.get("channel") or args.get("channel_id") or "")
        user = str(args.get("user") or args.get("user_id") or "")
        about = workspace_of(channel) if re.fullmatch(r"C\d+", channel) else users.get(user)
        if about is None:
            continue
        if call.get("team") != about.install:
            wrong_token.append(f"{method} about {channel or user} ({about.name}) with {call.get('team')}'s token"
                               f"{'' if call.get('ok') else ', refused'}")
        if method in SENT or method.startswith("views."):
            shown[about].append(json.dumps(args))
    files = slack.get("files", {})
    for m in slack["messages"]:
        if re.fullmatch(r"C\d+", m["channel"]):
            shown[workspace_of(m["channel"])].append(json.dumps(m) + "".join(
                files.get(f["id"], {}).get("text", "") for f in m.get("files") or []))
    for e in slack["ephemeral"]:  # chat.postEphemeral and response_url answers, by the channel they answer in
        if re.fullmatch(r"C\d+", e.get("channel") or ""):
            shown[workspace_of(e["channel"])].append(json.dumps(e))
    for user, view in slack.get("homes", {}).items():
        if user in users:
            shown[users[user]].append(json.dumps(view))

    across = []
    for ws, texts in shown.items():
        text = "\n".join(texts)
        for word in typed.get(ws.team, ()):
            text = text.replace(f"_{word}_", "")
        found = set(UUID.findall(text)) | set(WORD.findall(text))
        for key in sorted(found):
            if key in owner and owner[key] != ws:
                across.append(f"{key} of {owner[key].name} shown in {ws.name}")
        for channel in sorted(set(MENTION.findall(text))):
            if workspace_of(channel) != ws:
                across.append(f"<#{channel}> of {workspace_of(channel).name} shown in {ws.name}")
    acted = [f"{r['recording_id']} ({owner[r['recording_id']].name}) {r['status']} by {r['actor']} of "
             f"{users[r['actor']].name}" for r in ledger
             if r.get("actor") in users and r["recording_id"] in owner
             and users[r["actor"]] != owner[r["recording_id"]]]
    refused = [f"{c['method']} with {c['token_of']}'s token on {c['channel']} ({c['channel_of'] or c['user_of']}): "
               f"{c['error']}" for c in slack.get("crossed", [])]
    return {"wrong_token": wrong_token, "shown_across": across, "acted_across": acted, "refused_by_slack": refused}
