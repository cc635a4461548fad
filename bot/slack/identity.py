"""Who recbot is (auth.test) and who is a workspace admin (users.info): reads, cached, never on the
critical path of an ack when Slack is slow."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, cast

from slack_bolt.authorization import AuthorizeResult
from slack_bolt.authorization.async_authorize import AsyncAuthorize
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.models import Team
from bot.slack.holds import Holds, counted_in
from bot.slack.installs import NotInstalled, RefreshFailed, Tokens
from bot.slack.not_ok import TRANSIENT, not_ok

log = logging.getLogger(__name__)
UNANSWERED = 5.0  # seconds before asking users.info again about someone Slack did not answer for
WORKSPACE = ""  # auth.test's hold: one workspace (the configured token), asked before recbot knows its id


class Directory:
    """Who is a workspace admin or owner (users.info, asked with that workspace's token), cached: a read,
    so not in the outbox, but held back by a 429 as the outbox's calls are (`Holds`): while held, or when
    Slack cannot answer, nobody is an admin (failing closed)."""

    def __init__(self, tokens: Tokens, holds: Holds | None = None, ttl: float = 300.0, clock=time.monotonic):
        self.tokens, self.holds, self.ttl, self.clock = tokens, holds, ttl, clock
        self._cache: dict[tuple[str, str | None], tuple[float, bool]] = {}
        self._held: dict[tuple[str, str | None], float] = {}  # who was not asked about, held: seconds left
        self._asking: dict[str, asyncio.Lock] = {}  # per workspace (`counted_in`): one users.info in flight

    async def is_admin(self, user_id: str, team: Team | None = None) -> bool:
        key = (user_id, team.team_id if team else None)
        hit = self._cache.get(key)
        if hit and self.clock() - hit[0] < self.ttl:
            return hit[1]
        self._held.pop(key, None)
        try:
            org_wide = team is not None and await self.tokens.org_wide(team)
        except Exception:  # the store is busy: held as if for the whole org, the safe side
            org_wide = True
        workspace = counted_in(team, "users.info", None, org_wide=org_wide) if team else ""
        # One call at a time to a workspace (as the outbox's): a 429 is known before the next is made
        async with self._asking.setdefault(workspace, asyncio.Lock()):
            return await self._ask(user_id, team, key, workspace)

    async def _ask(self, user_id: str, team: Team | None, key: tuple[str, str | None], workspace: str) -> bool:
        hit = self._cache.get(key)  # asked meanwhile, by whoever held the lock before
        if hit and self.clock() - hit[0] < self.ttl:
            return hit[1]
        if self.holds is None:
            return await self._users_info(user_id, team, key, workspace)
        async with self.holds.call(workspace, "users.info") as wait:  # its turn, across processes
            if wait > 0:
                log.info("users.info held in workspace %s for %.1f s (a 429, or another process's call in flight); "
                         "treating %s as not an admin", workspace, wait, user_id)  # fail closed: Slack cannot answer
                self._held[key] = wait
                return False
            return await self._users_info(user_id, team, key, workspace)

    async def _users_info(self, user_id: str, team: Team | None, key: tuple[str, str | None], workspace: str) -> bool:
        try:
            client = await self.tokens.client(team or Team(None))
            info = (await client.users_info(user=user_id))["user"]
            admin = bool(info.get("is_admin") or info.get("is_owner") or info.get("is_primary_owner"))
            home = info.get("team_id")
            if team and team.team_id and isinstance(home, str) and home != team.team_id:
                admin = False  # an admin of their own workspace (a Slack Connect guest, say), not of this one
        except SlackApiError as exc:
            refused = not_ok(exc)
            if self.holds and refused.limited:
                wait = refused.retry_after or 1.0
                await self.holds.hold(workspace, "users.info", wait)
                self._held[key] = wait
            elif refused.status >= 500 or refused.error in TRANSIENT or not refused.known:
                self._held[key] = UNANSWERED  # Slack failed, or said what recbot does not know: not a "no"
            log.warning("%s for %s; treating them as not an admin", refused, user_id)
            return False
        except Exception:
            log.warning("users.info failed for %s; treating as not an admin", user_id, exc_info=True)
            self._held[key] = UNANSWERED
            return False
        self._cache[key] = (self.clock(), admin)
        return admin

    def held(self, user_id: str, team: Team | None = None) -> float | None:
        """When the last `is_admin` for this person could not ask Slack (a 429 holds users.info) or Slack did
        not answer it (a 5xx, a refusal recbot does not know, the network): seconds before asking again."""
        return self._held.get((user_id, team.team_id if team else None))

    def known_admin(self, user_id: str, team: Team | None = None) -> bool | None:
        """What the cache knows, without asking Slack: for decisions on the ack path."""
        hit = self._cache.get((user_id, team.team_id if team else None))
        return hit[1] if hit and self.clock() - hit[0] < self.ttl else None


class Identity:
    """Bolt's authorize step without a dependency on Slack being up: the configured token, and the bot's
    identity from auth.test when Slack answers (tried again later when it does not). auth.test keeps Slack's
    429 holds as every call does (`Holds`): not asked while held, and a 429 holds it (its client must not
    sleep and retry on a 429 itself)."""

    AGAIN = 30.0  # seconds before auth.test is asked again after a failure

    def __init__(self, client: AsyncWebClient, token: str, holds: Holds | None = None, clock=time.monotonic):
        self.client, self.token, self.holds, self.clock = client, token, holds, clock
        self._info: dict[str, Any] | None = None
        self._retry_at = 0.0
        self._warming: asyncio.Task | None = None

    async def warm(self) -> None:
        """Learn the bot's identity (auth.test); at start, and again later while Slack does not answer."""
        if self._info is not None or self.clock() < self._retry_at:
            return
        self._retry_at = self.clock() + self.AGAIN
        if self.holds is None:
            await self._auth_test()
            return
        async with self.holds.call(WORKSPACE, "auth.test") as wait:  # its turn, across processes
            if wait > 0:
                self._retry_at = self.clock() + max(self.AGAIN, wait)
                log.info("auth.test held for %.1f s (a 429, or another process's call in flight); answering Slack "
                         "without the bot's identity for now", wait)
                return
            await self._auth_test()

    async def _auth_test(self) -> None:
        try:
            self._info = dict(cast("dict[str, Any]", (await self.client.auth_test()).data))
        except SlackApiError as exc:
            refused = not_ok(exc)
            if refused.limited and self.holds:
                await self.holds.hold(WORKSPACE, "auth.test", refused.retry_after or 1.0)
                self._retry_at = self.clock() + max(self.AGAIN, refused.retry_after)
            log.warning("%s; answering Slack without the bot's identity for now, asking again in %.0f s", refused,
                        self._retry_at - self.clock())
        except Exception as exc:
            log.warning("auth.test failed (%s); answering Slack without the bot's identity for now",
                        type(exc).__name__)

    async def authorize(self, enterprise_id: str | None, team_id: str | None) -> AuthorizeResult:
        """Never waits for Slack: until `warm` has learnt the identity, it starts it in the background."""
        if self._info is None and self.clock() >= self._retry_at and self._warming is None:
            self._warming = asyncio.get_running_loop().create_task(self.warm())
            self._warming.add_done_callback(lambda _: setattr(self, "_warming", None))
        info = self._info or {}
        return AuthorizeResult(enterprise_id=enterprise_id, team_id=team_id or info.get("team_id"),
                               bot_token=self.token, bot_user_id=info.get("user_id"), bot_id=info.get("bot_id"))


class InstallAuthorize(AsyncAuthorize):
    """Bolt's authorize step for many workspaces, without a call to Slack: the install recbot keeps (its token
    refreshed when due, once across processes: `Tokens.bot`) says who the bot is there. Bolt's own asks
    auth.test on every request, outside the 429 holds, and reads any refusal of it (a 429, a 5xx, a proxy's
    page) as "not installed": a click answered "recbot is not installed here" because Slack hiccupped."""

    def __init__(self, tokens: Tokens):
        self.tokens = tokens

    async def __call__(self, *, context: Any, enterprise_id: str | None, team_id: str | None, user_id: str | None,
                       **_: Any) -> AuthorizeResult | None:
        try:
            bot = await self.tokens.bot(enterprise_id, team_id, bool(context.is_enterprise_install))
        except (NotInstalled, RefreshFailed) as exc:
            log.warning("no token for workspace %s: %s", team_id or enterprise_id, exc)
            return None
        if bot is None:
            return None
        return AuthorizeResult(enterprise_id=bot.enterprise_id or enterprise_id, team_id=team_id or bot.team_id,
                               bot_id=bot.bot_id, bot_user_id=bot.bot_user_id, bot_token=bot.bot_token,
                               bot_scopes=bot.bot_scopes)
