"""Installing recbot into many workspaces, through Bolt's and slack_sdk's own OAuth machinery: `InstallationStore`
and `StateStore` implement slack_sdk's async interfaces on recbot's database (tokens sealed with REC_SECRET_KEY;
see `bot.store.workspaces`; recbot needs only the bot token, so Bolt runs them bot-only), the install pages, and
what Slack's events about an install do (`uninstall`, `team_access`). Each workspace's token, refreshed when
due, is `bot.slack.installs.Tokens`."""

from __future__ import annotations

import html
import logging

from slack_bolt.oauth.async_callback_options import AsyncCallbackOptions, AsyncFailureArgs, AsyncSuccessArgs
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_bolt.response import BoltResponse
from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.oauth.installation_store.models.bot import Bot
from slack_sdk.oauth.installation_store.models.installation import Installation
from slack_sdk.oauth.state_store.async_state_store import AsyncOAuthStateStore

from bot.models import Team
from bot.slack.installs import Tokens, bot_dict
from bot.store import Store, Tx

log = logging.getLogger("bot.slack.installs")


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
        """A new install. One that replaces a spent install (its refresh token refused: `Tokens`) brings out
        what waited to go to the workspace."""
        team = None if bot.is_enterprise_install else bot.team_id

        def save(tx: Tx) -> int | None:
            if not tx.workspaces.save_install(bot_dict(bot)):
                return None
            released = tx.outbox.release_team(team, bot.enterprise_id)
            tx.audit(channel_id=None, user_id=None, action="installed_again", target=team or bot.enterprise_id,
                     outcome="ok", detail=f"its refresh token was spent; {released} waiting write(s) due now")
            return released

        released = await self.store.write(save)
        if released is not None:
            log.info("%s installed recbot again (its refresh token was spent): %d waiting write(s) go now",
                     team or f"org {bot.enterprise_id}", released)

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
