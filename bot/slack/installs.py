"""Each workspace's Slack token: one shared client with the environment's token (one workspace), or the
workspace's own token from its install (many: `bot.slack.oauth` installs them), refreshed when due.

Most of recbot's posts follow a webhook, where no request from Slack comes in for Bolt to refresh a rotating
token on, so `Tokens` refreshes one before it is used when it expires within the next `refresh_before`
seconds; and, since a refresh token works once, it makes the only refresh, for Bolt's requests too, once
across all processes. Slack revokes a refresh token once it is used, and keeps the access token it replaces
working until it expires (docs/workspaces.md, "Token rotation"): a process that dies after Slack answered a
refresh and before the new pair was saved leaves the install with a spent refresh token. Slack then refuses
it (`invalid_refresh_token`); recbot marks the install spent, says once at ERROR that the workspace must
install recbot again, goes on with the token it has while that works, and then what waits for the workspace
waits for the new install (`NeedsReinstall`), which brings it out.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import aiohttp
from slack_sdk.errors import SlackTokenRotationError
from slack_sdk.oauth.installation_store.models.bot import Bot
from slack_sdk.oauth.token_rotation.async_rotator import AsyncTokenRotator
from slack_sdk.web.async_client import AsyncWebClient

from bot.errors import RecbotError
from bot.models import Team
from bot.slack.holds import Holds
from bot.slack.metered import MeteredWebClient
from bot.slack.not_ok import not_ok
from bot.store import Store, StoreBusy
from bot.store.leases import new_owner
from bot.store.workspaces import install_key

log = logging.getLogger(__name__)

BOT_FIELDS = ("app_id", "enterprise_id", "enterprise_name", "team_id", "team_name", "bot_token", "bot_id",
              "bot_user_id", "bot_scopes", "bot_refresh_token", "bot_token_expires_at", "is_enterprise_install",
              "installed_at")


def bot_dict(bot: Bot) -> dict[str, Any]:
    return {name: getattr(bot, name) for name in BOT_FIELDS}


REFRESH_TIMEOUT = 10  # seconds (slack_sdk takes a whole number); oauth.v2.access, when refreshing a token
REFRESH_LEASE = 30.0  # longer than a refresh can take: a holder that died frees the lease after it
REFRESH_WAIT = 20.0  # how long a process waits for another's refresh of a token that no longer works
SAVE_FOR = 20.0  # how long a refreshed pair's save is tried again while the store is busy (within the lease)
REINSTALL_WAIT = 300.0  # what waits for a spent install is tried again after this (a new install brings it out)
SPENT = "invalid_refresh_token"  # oauth.v2.access: the refresh token was used before (or revoked)
# refusals of a refresh that mean the install is gone (uninstalled, revoked), as they do for a post
REFRESH_GONE = {"token_revoked", "invalid_auth", "account_inactive", "invalid_grant_type"}
REFRESH_METHOD = "oauth.v2.access"


def _where(bot: Bot) -> str:
    return bot.team_id or f"org {bot.enterprise_id}"


def _key(bot: Bot) -> str:
    return install_key(bot.enterprise_id, bot.team_id, bool(bot.is_enterprise_install))


def _works(bot: Bot) -> bool:
    """Whether the token has not expired (by what Slack said of it when it was issued)."""
    return (bot.bot_token_expires_at or 0) > time.time()


class RefreshFailed(RecbotError):
    """Slack did not refresh a token this time (a 429, a 5xx, a proxy's page, a refusal recbot does not know),
    or a 429 holds oauth.v2.access: the install stays, and what needed the token waits `wait` seconds or
    its backoff (the outbox) before trying again."""

    def __init__(self, message: str, wait: float = 0.0):
        super().__init__(message)
        self.wait = wait


class NeedsReinstall(RefreshFailed):
    """The install's refresh token is spent and its token no longer works: nothing can go to the workspace until
    it installs recbot again. What needed the token waits (the outbox: `REINSTALL_WAIT`, or until the install)."""

    def __init__(self, where: str):
        super().__init__(f"{where} must install recbot again: Slack refused its refresh token ({SPENT}) and its "
                         "token has expired", REINSTALL_WAIT)


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

    async def org_wide(self, team: Team) -> bool:
        """Whether the org's org-wide install serves `team` (its calls that name no channel count for the org)."""
        if self.single is not None or self.store is None or not team.enterprise_id:
            return False
        return await self.store.read(lambda tx: tx.workspaces.org_wide(team.enterprise_id, team.team_id))

    async def bot(self, enterprise_id: str | None, team_id: str | None, is_enterprise_install: bool = False, *,
                  expired: str | None = None) -> Bot | None:
        """The install that serves a workspace (its own, else its org's), its token refreshed first when it
        expires within `refresh_before` seconds, or when it is still the token Slack called `expired` (another
        process may have refreshed it meanwhile). Raises NotInstalled when Slack refuses the refresh as
        uninstalled, NeedsReinstall when the refresh token is spent and the token no longer works."""
        assert self.store is not None
        found = await self.store.read(
            lambda tx: tx.workspaces.find_install_state(enterprise_id, team_id, is_enterprise_install))
        if found is None:
            return None
        bot, spent = Bot(**found[0]), found[1] is not None
        stale = expired is not None and bot.bot_token == expired
        if spent:
            return self._while_it_works(bot, stale)
        if not bot.bot_refresh_token or self._rotator is None or \
                (not stale and (bot.bot_token_expires_at or 0) - time.time() >= self.refresh_before):
            return bot
        try:
            return await self._refresh(bot, stale)
        except RefreshFailed:
            if not stale and _works(bot):
                return bot  # refreshed ahead of time: its token still works a while, and is refreshed later
            raise

    @staticmethod
    def _while_it_works(bot: Bot, stale: bool) -> Bot:
        """A spent install's token, while it works (Slack keeps a refreshed token working until it expires)."""
        if not stale and _works(bot):
            return bot
        raise NeedsReinstall(_where(bot))

    async def _refresh(self, seen: Bot, stale: bool) -> Bot:
        """Refresh `seen`, once across every process: whoever holds the lease refreshes. The others use the token
        they have while it works, else wait until the install's refresh token changes and use what was saved."""
        assert self.store is not None
        lease = f"token-refresh:{_key(seen)}"
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
                if not stale and _works(seen):
                    return seen  # another process is refreshing it ahead of time: this one still works
                await asyncio.sleep(0.05)
                now, spent = await self._reread(seen)
                if spent:
                    return self._while_it_works(now, stale)
                if now.bot_refresh_token != seen.bot_refresh_token:
                    return now  # another process refreshed it
                if time.monotonic() > deadline:
                    raise RefreshFailed(f"another process has been refreshing the token of {_where(seen)} for "
                                        f"{REFRESH_WAIT:.0f} s")

    async def _refresh_holding(self, seen: Bot, stale: bool) -> Bot:
        assert self._rotator is not None and self.store is not None and self.holds is not None
        bot, spent = await self._reread(seen)
        if spent:
            return self._while_it_works(bot, stale)
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
            refused = not_ok(exc.api_error)
            if refused.error == SPENT:  # used before: a process died after Slack answered, before it saved
                await self._spent(bot)
                return self._while_it_works(bot, stale)
            if refused.error in REFRESH_GONE:  # revoked: the install is gone
                raise NotInstalled(f"token refresh refused ({refused.error})") from exc
            if refused.limited:
                await self.holds.hold(workspace, REFRESH_METHOD, refused.retry_after or 1.0)
            log.warning("the token of %s was not refreshed: %s; the install stays, tried again later", _where(bot),
                        refused)
            raise RefreshFailed(f"token refresh: {refused}", refused.retry_after) from exc
        if refreshed is None:
            return bot
        await self._save(refreshed)  # first: Slack has revoked the refresh token it was given
        log.info("refreshed the bot token of %s", _where(bot))
        return refreshed

    async def _save(self, refreshed: Bot) -> None:
        """Keep the new pair, before anything else: the refresh token it replaces is spent. A busy store is tried
        again (within the lease, so that no other process refreshes meanwhile)."""
        assert self.store is not None
        deadline = time.monotonic() + SAVE_FOR
        while True:
            try:
                await self.store.write(lambda tx: tx.workspaces.save_install(bot_dict(refreshed)))
                return
            except StoreBusy:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.1)

    async def _spent(self, bot: Bot) -> None:
        """Slack refused the install's refresh token as used: mark the install (the first process to do so
        says it, once, at ERROR)."""
        assert self.store is not None
        if await self.store.write(lambda tx: tx.workspaces.mark_spent(_key(bot), bot.bot_refresh_token)):
            log.error("%s must install recbot again: Slack refused its refresh token (%s; most likely a process "
                      "died after Slack refreshed the token and before recbot saved the new one). recbot uses the "
                      "token it has while it works%s; then what is to go to that workspace waits. Someone who can "
                      "add apps there opens recbot's /slack/install page and installs it again: what waited is sent "
                      "then.", _where(bot), SPENT,
                      f" (until {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(bot.bot_token_expires_at))})"
                      if _works(bot) else "")

    async def _reread(self, seen: Bot) -> tuple[Bot, bool]:
        """The install now, and whether its refresh token is spent."""
        assert self.store is not None
        found = await self.store.read(lambda tx: tx.workspaces.find_install_state(
            seen.enterprise_id, seen.team_id, bool(seen.is_enterprise_install)))
        if found is None:
            raise NotInstalled(_where(seen))
        return Bot(**found[0]), found[1] is not None

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
