"""Installing recbot into many workspaces, through Bolt's and slack_sdk's own OAuth machinery.

- `InstallationStore` and `StateStore` implement slack_sdk's async interfaces on recbot's database
  (tokens sealed with REC_SECRET_KEY; see `bot.store.workspaces`). recbot needs only the bot token,
  so Bolt runs them bot-only.
- `Tokens` gives each outbox row the client of its workspace. Most of recbot's posts follow a webhook,
  where no request from Slack comes in for Bolt to refresh a rotating token on, so `Tokens` refreshes
  one before it is used when it expires within the next `refresh_before` seconds; and, since a refresh
  token works once, it makes the only refresh, for Bolt's requests too, once across all processes.
"""

from __future__ import annotations

import asyncio
import html
import logging
import time
from typing import Any

import aiohttp
from slack_bolt.oauth.async_callback_options import AsyncCallbackOptions, AsyncFailureArgs, AsyncSuccessArgs
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackTokenRotationError
from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.oauth.installation_store.models.bot import Bot
from slack_sdk.oauth.installation_store.models.installation import Installation
from slack_sdk.oauth.state_store.async_state_store import AsyncOAuthStateStore
from slack_sdk.oauth.token_rotation.async_rotator import AsyncTokenRotator
from slack_sdk.web.async_client import AsyncWebClient

from bot.errors import RecbotError
from bot.models import Team
from bot.slack.holds import Holds
from bot.slack.metered import MeteredWebClient
from bot.slack.refusals import refusal
from bot.store import Store, Tx
from bot.store.leases import new_owner
from bot.store.workspaces import install_key

log = logging.getLogger(__name__)

BOT_FIELDS = ("app_id", "enterprise_id", "enterprise_name", "team_id", "team_name", "bot_token", "bot_id",
              "bot_user_id", "bot_scopes", "bot_refresh_token", "bot_token_expires_at", "is_enterprise_install",
              "installed_at")


def bot_dict(bot: Bot) -> dict[str, Any]:
    return {name: getattr(bot, name) for name in BOT_FIELDS}


class InstallationStore(AsyncInstallationStore):
    def __init__(self, store: Store, tokens: Tokens):
        self.store, self.tokens = store, tokens

    @property
    def logger(self) -> logging.Logger:
        return log

    async def async_save(self, installation: Installation) -> None:
        await self.async_save_bot(installation.to_bot())
        log.info("installed in %s", installation.team_id or f"org {installation.enterprise_id} (org-wide)")

    async def async_save_bot(self, bot: Bot) -> None:
        await self.store.write(lambda tx: tx.workspaces.save_install(bot_dict(bot)))

    async def async_find_bot(self, *, enterprise_id: str | None, team_id: str | None,
                             is_enterprise_install: bool | None = False) -> Bot | None:
        """For Bolt's authorize step: the token refreshed by `Tokens` if due (once across processes), without
        its refresh token, so that Bolt never spends it on a refresh of its own."""
        bot = await self.tokens.bot(enterprise_id, team_id, bool(is_enterprise_install))
        if bot is not None:
            bot.bot_refresh_token = None
        return bot

    async def async_delete_bot(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        await self.store.write(lambda tx: tx.workspaces.delete_install(enterprise_id, team_id))

    async def async_delete_installation(self, *, enterprise_id: str | None, team_id: str | None,
                                        user_id: str | None = None) -> None:
        if user_id is None:  # recbot keeps no user tokens
            await self.store.write(lambda tx: tx.workspaces.delete_install(enterprise_id, team_id))

    async def async_delete_all(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        await self.store.write(lambda tx: tx.workspaces.delete_install(enterprise_id, team_id))


class StateStore(AsyncOAuthStateStore):
    def __init__(self, store: Store, lifetime: float = 600.0):
        self.store, self.lifetime = store, lifetime

    @property
    def logger(self) -> logging.Logger:
        return log

    async def async_issue(self, *args, **kwargs) -> str:
        return await self.store.write(lambda tx: tx.workspaces.issue_state(self.lifetime))

    async def async_consume(self, state: str) -> bool:
        return await self.store.write(lambda tx: tx.workspaces.consume_state(state))


REFRESH_TIMEOUT = 10  # seconds (slack_sdk takes a whole number); oauth.v2.access, when refreshing a token
REFRESH_LEASE = 30.0  # longer than a refresh can take: a holder that died frees the lease after it
REFRESH_WAIT = 20.0  # how long a process waits for another's refresh before its caller tries again


def _where(bot: Bot) -> str:
    return bot.team_id or f"org {bot.enterprise_id}"


class RefreshFailed(RecbotError):
    """Slack did not refresh a token this time (a 429, a 5xx, a proxy's page, a refusal recbot does not know),
    or a 429 holds oauth.v2.access: the install stays, and what needed the token waits `wait` seconds or
    its backoff (the outbox) before trying again."""

    def __init__(self, message: str, wait: float = 0.0):
        super().__init__(message)
        self.wait = wait


# oauth.v2.access's refusals of a refresh that mean the install is gone (the refresh token spent or revoked)
REFRESH_GONE = {"invalid_refresh_token", "token_revoked", "invalid_auth", "account_inactive", "invalid_grant_type"}
REFRESH_METHOD = "oauth.v2.access"


class NotInstalled(RecbotError):
    """The workspace has no install (never installed, or uninstalled): nothing can be sent to it."""


class Tokens:
    """The Web API client for a workspace: one shared client with the environment's token (one
    workspace), or the workspace's own token from its install (many), refreshed when due.

    A refresh token works once: two processes refreshing the same token at once would leave one of
    them (and, if the loser's answer were saved, the install) with a token Slack no longer knows. So a
    refresh is serialised through the store, for every process sharing it: the process that holds
    the lease `token-refresh:<install>` re-reads the install, refreshes it if nobody did meanwhile and
    saves it; the others wait and read the new token. Bolt's own refresh, for incoming requests, goes
    the same way: `InstallationStore.async_find_bot` hands Bolt a token already refreshed here and no
    refresh token of its own to spend."""

    def __init__(self, base_url: str, *, token: str | None = None, store: Store | None = None,
                 client_id: str | None = None, client_secret: str | None = None, refresh_before: float = 7200.0):
        self.base_url, self.store, self.refresh_before = base_url, store, refresh_before
        # No retry handler (not even slack_sdk's default one): the outbox retries and paces every call itself.
        self.single = MeteredWebClient(token=token, base_url=base_url, retry_handlers=[]) if token else None
        self._rotator = AsyncTokenRotator(client_id=client_id or "", client_secret=client_secret or "",
                                          client=AsyncWebClient(base_url=base_url, timeout=REFRESH_TIMEOUT)) \
            if client_id else None
        self._clients: dict[str, AsyncWebClient] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._stale: dict[str, str] = {}  # Slack said token_expired to this token: refresh it, whatever it says
        self._session: aiohttp.ClientSession | None = None
        self.owner = new_owner()  # who holds a refresh's lease
        self.holds = Holds(store) if store is not None else None  # a 429 on a refresh holds the next one back
        self._refreshing: dict[str, asyncio.Lock] = {}  # one refresh at a time in this process, per install

    @property
    def many(self) -> bool:
        return self.single is None

    async def client(self, team: Team) -> AsyncWebClient:
        if self.single is not None:
            return self._pooled(self.single)
        key = f"{team.enterprise_id}/{team.team_id}"
        async with self._locks.setdefault(key, asyncio.Lock()):  # within this process, one look at a time
            bot = await self.bot(team.enterprise_id, team.team_id, expired=self._stale.get(key))
            if bot is None:
                raise NotInstalled(team.team_id or team.enterprise_id or "no workspace")
            self._stale.pop(key, None)
            client = self._clients.get(key)
            if client is None or client.token != bot.bot_token:
                client = MeteredWebClient(token=bot.bot_token, base_url=self.base_url, retry_handlers=[])
                self._clients[key] = client
            return self._pooled(client)

    async def bot(self, enterprise_id: str | None, team_id: str | None, is_enterprise_install: bool = False, *,
                  expired: str | None = None) -> Bot | None:
        """The install that serves a workspace (its own, else its org's), its token refreshed first when it
        expires within `refresh_before` seconds, or when it is still the token Slack called `expired` (another
        process may have refreshed it meanwhile). Raises NotInstalled when Slack refuses the refresh."""
        assert self.store is not None
        found = await self.store.read(
            lambda tx: tx.workspaces.find_install(enterprise_id, team_id, is_enterprise_install))
        if found is None:
            return None
        bot = Bot(**found)
        stale = expired is not None and bot.bot_token == expired
        if not bot.bot_refresh_token or self._rotator is None or \
                (not stale and (bot.bot_token_expires_at or 0) - time.time() >= self.refresh_before):
            return bot
        try:
            return await self._refresh(bot, stale)
        except RefreshFailed:
            if not stale and (bot.bot_token_expires_at or 0) > time.time():
                return bot  # refreshed ahead of time: its token still works a while, and is refreshed later
            raise

    async def _refresh(self, seen: Bot, stale: bool) -> Bot:
        """Refresh `seen`, once across every process: whoever holds the lease refreshes; the others wait
        until the install's refresh token changes and use what was saved."""
        assert self.store is not None
        lease = f"token-refresh:{install_key(seen.enterprise_id, seen.team_id, bool(seen.is_enterprise_install))}"
        deadline = time.monotonic() + REFRESH_WAIT
        # The lease is this process's (it holds it again at will): within the process, a lock takes turns,
        # between the outbox and Bolt's authorize step say.
        async with self._refreshing.setdefault(lease, asyncio.Lock()):
            while True:
                if await self.store.write(lambda tx: tx.leases.hold(lease, self.owner, REFRESH_LEASE)):
                    try:
                        return await self._refresh_holding(seen, stale)
                    finally:
                        await self.store.write(lambda tx: tx.leases.release(lease, self.owner))
                await asyncio.sleep(0.05)
                now = await self._reread(seen)
                if now.bot_refresh_token != seen.bot_refresh_token:
                    return now  # another process refreshed it
                if time.monotonic() > deadline:
                    raise TimeoutError(f"another process has been refreshing the token of {_where(seen)} for "
                                       f"{REFRESH_WAIT:.0f} s")

    async def _refresh_holding(self, seen: Bot, stale: bool) -> Bot:
        assert self._rotator is not None and self.store is not None and self.holds is not None
        bot = await self._reread(seen)
        if bot.bot_refresh_token != seen.bot_refresh_token:
            return bot  # refreshed by another process between our look and the lease
        ahead = 10**7 if stale else self.refresh_before
        workspace = bot.team_id or bot.enterprise_id or ""
        if (wait := await self.holds.held(workspace, REFRESH_METHOD)) > 0:
            raise RefreshFailed(f"{REFRESH_METHOD} held {wait:.1f} s after a 429", wait)
        try:
            refreshed = await self._rotator.perform_bot_token_rotation(
                bot=bot, minutes_before_expiration=int(ahead // 60))
        except SlackTokenRotationError as exc:
            refused = refusal(exc.api_error)
            if refused.error in REFRESH_GONE:  # the refresh token was spent elsewhere, or revoked: the install is gone
                raise NotInstalled(f"token refresh refused ({refused.error})") from exc
            if refused.limited:
                await self.holds.hold(workspace, REFRESH_METHOD, refused.retry_after or 1.0)
            log.warning("the token of %s was not refreshed: %s; the install stays, tried again later", _where(bot),
                        refused)
            raise RefreshFailed(f"token refresh: {refused}", refused.retry_after) from exc
        if refreshed is None:
            return bot
        await self.store.write(lambda tx: tx.workspaces.save_install(bot_dict(refreshed)))
        log.info("refreshed the bot token of %s", _where(bot))
        return refreshed

    async def _reread(self, seen: Bot) -> Bot:
        assert self.store is not None
        found = await self.store.read(lambda tx: tx.workspaces.find_install(
            seen.enterprise_id, seen.team_id, bool(seen.is_enterprise_install)))
        if found is None:
            raise NotInstalled(_where(seen))
        return Bot(**found)

    def _pooled(self, client: AsyncWebClient) -> AsyncWebClient:
        """Every client shares one pool of connections, kept open between calls. Without a session of its
        own, slack_sdk opens one for each call: a new TCP and TLS connection to Slack for every message
        (py-spy on the apply bench showed the connecting alone as 7% of the event loop's time)."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=client.timeout))
        client.session = self._session
        return client

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()

    def stale(self, team: Team) -> None:
        """Slack answered `token_expired` to the token this gave out last for the workspace."""
        key = f"{team.enterprise_id}/{team.team_id}"
        if (client := self._clients.get(key)) is not None and client.token:
            self._stale[key] = client.token

    def forget(self, team: Team) -> None:
        self._clients.pop(f"{team.enterprise_id}/{team.team_id}", None)


# -- the OAuth flow ------------------------------------------------------------------------

SCOPES = ("commands", "chat:write", "users:read", "channels:history", "groups:history", "calls:write",  # manifest.yml
          "files:write")

_FAILURES = {
    "access_denied": "The install was cancelled in Slack, so nothing was installed.",
    "invalid_browser": "This install was started in another browser (or its cookie was blocked).",
    "invalid_state": "This install link has expired or was already used.",
    "missing_code": "Slack did not send the install code back.",
    "invalid_code": "Slack did not accept the install code (it expires after ten minutes, and works once).",
    "storage_error": "recbot could not save the install; its database may be busy.",
}


def oauth_settings(settings, store: Store, tokens: Tokens) -> AsyncOAuthSettings:
    """Bolt's own OAuth flow (`/slack/install`, `/slack/oauth_redirect`, the state check), with recbot's
    stores and pages that say what to do next."""

    async def success(args: AsyncSuccessArgs) -> BoltResponse:
        i = args.installation
        where = f"every workspace of {i.enterprise_name or i.enterprise_id}" if i.is_enterprise_install else \
            (i.team_name or i.team_id)
        return _page(200, "recbot is installed", f"recbot is installed in {where}.",
                     "Next: in the channel of your meeting, type <code>/invite @recbot</code>, then "
                     "<code>/rec link &lt;meeting id or URL&gt;</code> (or <code>/rec new</code> for a new "
                     "meeting), and <code>/rec start</code>. A workspace admin can connect the workspace's own "
                     "Dyte or RealtimeKit account with <code>/rec connect</code>.")

    async def failure(args: AsyncFailureArgs) -> BoltResponse:
        why = _FAILURES.get(args.reason, f"Slack answered {html.escape(args.reason)}.")
        return _page(args.suggested_status_code, "recbot was not installed", why,
                     '<a href="/slack/install">Start the install again</a>. If it keeps failing, ask whoever runs '
                     "recbot to run <code>recbot check</code>.")

    return AsyncOAuthSettings(
        client_id=settings.slack_client_id, client_secret=settings.slack_client_secret, scopes=list(SCOPES),
        installation_store=InstallationStore(store, tokens), installation_store_bot_only=True,
        state_store=StateStore(store), callback_options=AsyncCallbackOptions(success=success, failure=failure),
        authorization_url=settings.slack_oauth_url, install_page_rendering_enabled=True, logger=log)


def _page(status: int, title: str, lead: str, next_step: str) -> BoltResponse:
    body = (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            "<style>body{font:16px/1.5 system-ui,sans-serif;max-width:36em;margin:4em auto;padding:0 1em}"
            "code{background:#f3f3f3;padding:0 .2em}</style></head>"
            f"<body><h1>{html.escape(title)}</h1><p>{html.escape(lead)}</p><p>{next_step}</p></body></html>")
    return BoltResponse(status=status, body=body, headers={"content-type": "text/html; charset=utf-8"})


async def uninstall(store: Store, tokens: Tokens, team: Team, *, org_wide: bool, why: str) -> int:
    """`app_uninstalled` / `tokens_revoked`: forget the tokens and drop what was waiting to go to that
    workspace (or org), in one transaction. Its links and history stay until `recbot forget`."""

    def forget(tx: Tx) -> int:
        tx.workspaces.delete_install(team.enterprise_id, None if org_wide else team.team_id)
        dropped = tx.outbox.drop_team(None if org_wide else team.team_id, team.enterprise_id)
        tx.audit(channel_id=None, user_id=None, action=why, target=team.team_id or team.enterprise_id,
                 outcome="ok", detail=f"{dropped} pending write(s) dropped")
        return dropped

    dropped = await store.write(forget)
    tokens.forget(team)
    log.info("%s: %s; %d pending write(s) dropped", why, team.team_id or f"org {team.enterprise_id}", dropped)
    return dropped


async def team_access(store: Store, enterprise_id: str | None, team_ids: list[str], *, granted: bool) -> int:
    """`team_access_granted` / `team_access_revoked`: an org-wide install now reaches (or no longer reaches)
    these workspaces of its org. Its token serves every workspace Slack lets it reach, so a grant needs
    nothing but the audit; a revocation drops what was waiting to go to those workspaces (Slack would refuse
    it: `team_access_not_granted`). Links and history stay, as after an uninstall."""
    why = "team_access_granted" if granted else "team_access_revoked"

    def record(tx: Tx) -> int:
        total = 0
        for team_id in team_ids:
            dropped = 0 if granted else tx.outbox.drop_team(team_id)
            total += dropped
            tx.audit(channel_id=None, user_id=None, action=why, target=team_id, outcome="ok",
                     detail=f"org {enterprise_id}; {dropped} pending write(s) dropped")
        return total

    dropped = await store.write(record)
    log.info("%s: org %s, workspace(s) %s; %d pending write(s) dropped", why, enterprise_id, ", ".join(team_ids),
             dropped)
    return dropped
