"""The local Slack's side of installing an app: workspaces (some in an Enterprise Grid org), the
authorize page, `oauth.v2.access` (a code, or a refresh token when token rotation is on), and which
workspace each token belongs to, so that a call with the wrong workspace's token is refused: one about
a channel of another workspace `channel_not_found`, about a person of another workspace
`user_not_found` (`chat.postEphemeral`: `user_not_in_channel`), as Slack answers them; each such refusal
is kept in `crossed`.

Tokens it never issued are taken as the workbench's single-workspace token (of the default team),
unless `strict` is set.
"""

from __future__ import annotations

import asyncio
import html
import itertools
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

CLIENT_ID = "1111.2222"
CLIENT_SECRET = "workbench-client-secret"
USER_UNSEEN = {"chat.postEphemeral": "user_not_in_channel"}  # else user_not_found (users.info's, Slack's reference)


@dataclass
class Workspace:
    team_id: str
    name: str
    enterprise_id: str | None = None
    channels: set[str] = field(default_factory=set)


@dataclass
class Token:
    team_id: str | None  # None for an org-wide install's token
    enterprise_id: str | None
    expires_at: float | None = None
    revoked: bool = False


class Installs:
    def __init__(self, default_team: str):
        self.default_team = default_team
        self.workspaces: dict[str, Workspace] = {default_team: Workspace(default_team, "Demo")}
        self.enterprises: dict[str, str] = {}  # id -> name
        self.tokens: dict[str, Token] = {}
        self.refresh: dict[str, str] = {}  # refresh token -> the access token it replaces
        self.spent: dict[str, str] = {}  # a refresh token used once -> the access token it replaced (whose it was)
        self.codes: dict[str, dict[str, Any]] = {}
        self.redirect_url: str | None = None  # the app's redirect URL, as in its manifest
        self.rotation = False  # token_rotation_enabled: tokens expire, with a refresh token
        self.lifetime = 43_200.0  # 12 hours, as Slack's rotating tokens
        # a refresh's way to Slack and its answer's way back, in seconds (the chaos run's killer lands in them);
        # `held`, when set, holds every refresh's answer until it is set (a test kills the refresher meanwhile)
        self.refresh_delays = (0.0, 0.0)
        self.held: asyncio.Event | None = None
        self.strict = False
        self.no_access: set[str] = set()  # workspaces an org-wide install was denied (team_access_revoked)
        self.crossed: list[dict[str, Any]] = []  # calls refused because their token cannot see what they name
        self._n = itertools.count(1)

    def add_workspace(self, team_id: str, name: str, *, enterprise_id: str | None = None,
                      channels: tuple[str, ...] = ()) -> Workspace:
        ws = self.workspaces[team_id] = Workspace(team_id, name, enterprise_id, set(channels))
        if enterprise_id:
            self.enterprises.setdefault(enterprise_id, f"{name} org")
        return ws

    def team_of_channel(self, channel: str) -> str:
        return next((w.team_id for w in self.workspaces.values() if channel in w.channels), self.default_team)

    # -- which workspace a token speaks for -------------------------------------------------

    def who(self, token: str) -> Token | str:
        """The token's workspace, or Slack's error for it."""
        found = self.tokens.get(token)
        if found is None:
            return "invalid_auth" if self.strict else Token(self.default_team, None)
        if found.revoked:
            return "token_revoked"
        if found.expires_at is not None and found.expires_at < time.time():
            return "token_expired"
        return found

    def refusal(self, who: Token, method: str, channel: str = "", user_team: str | None = None) -> str | None:
        """Slack's error for a call with this token on `channel`, or about a person of workspace `user_team`, if
        any: a workspace's token reaches its own channels and people; an org-wide token, those of every
        workspace of the org it was granted. A person of another workspace of the same org is seen (Enterprise
        Grid's people belong to the org), and so is one of a workspace this Slack does not hold (a Slack
        Connect guest, EVE in the tests). Each refusal is kept in `crossed`."""
        error = None
        if channel and channel[0] in "CGD":
            error = self._reach(who, self.team_of_channel(channel), "channel_not_found")
        if error is None and user_team and user_team in self.workspaces:  # else a Slack Connect guest: seen
            error = self._reach(who, user_team, USER_UNSEEN.get(method, "user_not_found"), org_sees=True)
        if error:
            self.crossed.append({"method": method, "token_of": who.team_id or who.enterprise_id, "channel": channel,
                                 "channel_of": self.team_of_channel(channel) if channel else None,
                                 "user_of": user_team, "error": error, "at": time.time()})
        return error

    def counted_in(self, who: Token, channel: str = "") -> str:
        """The workspace whose rate limits a call counts against. Slack applies them "per API method per
        workspace/team per app" (docs.slack.dev/apis/web-api/rate-limits) and says nothing of an org-wide
        token: its call counts in the workspace of the channel it names, and one that names no channel
        (`files.getUploadURLExternal`, `users.info`, `views.publish`, a direct message, ...) for the whole
        org, the stricter reading; recbot holds such calls for the org too (`bot.slack.holds.counted_in`)."""
        if who.team_id is not None:
            return who.team_id
        team = self.workspaces.get(self.team_of_channel(channel)) if channel and channel[0] in "CGD" else None
        return team.team_id if team and team.enterprise_id == who.enterprise_id else str(who.enterprise_id)

    def _reach(self, who: Token, team_id: str, unseen: str, *, org_sees: bool = False) -> str | None:
        team = self.workspaces.get(team_id)
        if team is None:
            return unseen
        if who.team_id is None and team.enterprise_id == who.enterprise_id:
            return "team_access_not_granted" if team.team_id in self.no_access else None
        if org_sees and team.enterprise_id and team.enterprise_id == who.enterprise_id:
            return None
        return None if team.team_id == who.team_id else unseen

    def revoke_team(self, team_id: str | None, enterprise_id: str | None = None) -> None:
        for token in self.tokens.values():
            if (team_id and token.team_id == team_id) or (not team_id and token.enterprise_id == enterprise_id):
                token.revoked = True

    def auth_test(self, who: Token, bot_user: str) -> dict[str, Any]:
        team = self.workspaces.get(who.team_id or "")
        return {"ok": True, "user": "recbot", "user_id": bot_user, "bot_id": "B0RECBOT", "team_id": who.team_id,
                "team": team.name if team else None, "enterprise_id": who.enterprise_id,
                "is_enterprise_install": who.team_id is None, "url": "http://localhost/"}

    # -- the install ---------------------------------------------------------------------------

    def _issue(self, team_id: str | None, enterprise_id: str | None) -> dict[str, Any]:
        # with rotation on, Slack's bot tokens are `xoxe.xoxb-1-…` and its refresh tokens `xoxe-1-…`
        prefix = "xoxe.xoxb-1" if self.rotation else "xoxb"
        token = f"{prefix}-{team_id or enterprise_id}-{next(self._n)}-{secrets.token_hex(8)}"
        expires = time.time() + self.lifetime if self.rotation else None
        self.tokens[token] = Token(team_id, enterprise_id, expires)
        issued: dict[str, Any] = {"access_token": token, "token_type": "bot"}
        if self.rotation:
            refresh = f"xoxe-1-{secrets.token_hex(12)}"
            self.refresh[refresh] = token
            issued |= {"refresh_token": refresh, "expires_in": int(self.lifetime)}
        return issued

    async def authorize_page(self, request: Request) -> Response:
        """Slack's "recbot is requesting permission" page: pick a workspace (or an org) and allow."""
        q = request.query_params
        if q.get("client_id") != CLIENT_ID:
            return HTMLResponse("<p>Invalid client_id</p>", status_code=400)
        redirect = q.get("redirect_uri") or self.redirect_url
        if not redirect:
            return HTMLResponse("<p>No redirect URL is set for this app</p>", status_code=400)
        target = q.get("team") or q.get("org")
        if target:  # the person chose and pressed Allow (or Cancel)
            if q.get("deny"):
                return RedirectResponse(f"{redirect}?{urlencode({'error': 'access_denied', 'state': q['state']})}")
            org = bool(q.get("org"))
            if (org and target not in self.enterprises) or (not org and target not in self.workspaces):
                return HTMLResponse("<p>No such workspace</p>", status_code=404)
            code = secrets.token_hex(8)
            self.codes[code] = {"team_id": None if org else target,
                                "enterprise_id": target if org else self.workspaces[target].enterprise_id,
                                "user": q.get("user", "U0ADMIN"), "scope": q.get("scope", ""), "at": time.time()}
            return RedirectResponse(f"{redirect}?{urlencode({'code': code, 'state': q.get('state', '')})}")
        base = {k: v for k, v in q.items()}
        rows = "".join(f"<li><a href='?{html.escape(urlencode(base | {'team': w.team_id}))}'>Allow in "
                       f"{html.escape(w.name)}</a></li>" for w in self.workspaces.values())
        rows += "".join(f"<li><a href='?{html.escape(urlencode(base | {'org': e}))}'>Allow in every workspace of "
                        f"{html.escape(n)} (org-wide)</a></li>" for e, n in self.enterprises.items())
        cancel = html.escape(urlencode(base | {"team": self.default_team, "deny": "1"}))
        return HTMLResponse(f"<!doctype html><title>Install recbot</title><h1>recbot is requesting permission</h1>"
                            f"<p>Scopes: {html.escape(q.get('scope', ''))}</p><ul>{rows}</ul>"
                            f"<p><a href='?{cancel}'>Cancel</a></p>")

    def refreshing(self, refresh_token: str) -> str:
        """The workspace (an org-wide install's: its org) whose limits a refresh counts against: Slack's limits are
        per workspace (docs.slack.dev/apis/web-api/rate-limits), and a refresh token names its install's, spent
        or not (Slack refuses a spent one as `invalid_refresh_token`: it knows it; the chaos run counted one install's
        spent refresh inside another's window when the local Slack counted every spent one in no workspace)."""
        token = self.tokens.get(self.refresh.get(refresh_token) or self.spent.get(refresh_token, ""))
        return (token.team_id or token.enterprise_id or "") if token else ""

    def oauth_v2_access(self, args: dict[str, Any], bot_user: str) -> dict[str, Any]:
        if args.get("client_id") != CLIENT_ID or args.get("client_secret") != CLIENT_SECRET:
            return {"ok": False, "error": "invalid_client_id" if args.get("client_id") != CLIENT_ID
                    else "bad_client_secret"}
        if args.get("grant_type") == "refresh_token":
            old = self.refresh.pop(str(args.get("refresh_token")), None)
            if old is None:
                return {"ok": False, "error": "invalid_refresh_token"}
            self.spent[str(args["refresh_token"])] = old
            # The refresh token is spent at once: Slack revokes it "after a short grace period" of a length it does
            # not publish, so recbot may not count on any. The access token it replaces keeps working until it
            # expires ("will not immediately invalidate your existing access token"), but at most two of an
            # install's tokens are active after a refresh: the oldest beyond them are revoked
            # (docs.slack.dev/authentication/using-token-rotation; docs/workspaces.md).
            was = self.tokens[old]
            issued = self._issue(was.team_id, was.enterprise_id)
            install = (was.team_id, was.enterprise_id)
            active = [t for t in self.tokens.values() if (t.team_id, t.enterprise_id) == install and not t.revoked
                      and (t.expires_at is None or t.expires_at >= time.time())]
            for token in active[:-2]:
                token.revoked = True
            return {"ok": True, "app_id": "A0REC", "team": {"id": was.team_id}, "enterprise": {"id": was.enterprise_id},
                    "is_enterprise_install": was.team_id is None, **issued}
        grant = self.codes.pop(str(args.get("code")), None)
        if grant is None or time.time() - grant["at"] > 600:
            return {"ok": False, "error": "invalid_code"}
        team = self.workspaces.get(grant["team_id"] or "")
        enterprise = grant["enterprise_id"]
        return {"ok": True, "app_id": "A0REC", "scope": grant["scope"], "bot_user_id": bot_user,
                "team": {"id": team.team_id, "name": team.name} if team else None,
                "enterprise": {"id": enterprise, "name": self.enterprises.get(enterprise)} if enterprise else None,
                "is_enterprise_install": team is None, "authed_user": {"id": grant["user"]},
                **self._issue(grant["team_id"], enterprise)}
