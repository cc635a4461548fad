"""Each workspace's own platform account: `/rec connect` and `/rec disconnect`, for workspace admins.

Credentials are checked against the platform before anything is kept; then stored sealed (see
`bot.store.sealed`), and the platform is told to send that account's webhooks to recbot at
`/webhooks/{route}`, a route of the account's own. Channels linked before keep their meeting's
account; links made afterwards in the workspace use the new one. On the loop; the methods that take a `tx`
are below the store boundary (`store.write`).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

from bot.models import Actor, Outgoing
from bot.platform.accounts import Platforms, client_for
from bot.platform.client import WEBHOOK_EVENTS, PlatformClient
from bot.platform.errors import PlatformError
from bot.service.decisions import Audited
from bot.service.outcomes import Reply, Say
from bot.service.permissions import Permissions
from bot.store import Store, Tx

FIELDS = {"dyte": ("org_id", "api_key"), "realtimekit": ("account_id", "app_id", "api_token")}
NAME_FIELD = {"dyte": "org_id", "realtimekit": "app_id"}


class Accounts(Audited):
    def __init__(self, store: Store, platform: Platforms, permissions: Permissions,
                 on_write: Callable[[], None] = lambda: None):
        self.store, self.platform, self.permissions, self.on_write = store, platform, permissions, on_write
        self.public_url: Callable[[], str | None] = lambda: None  # where Slack reached recbot (the install pages)

    async def _admin(self, actor: Actor) -> bool:
        is_admin = self.permissions.is_admin
        return bool(actor.user_id and is_admin and await is_admin(actor.user_id, actor.team))

    async def open_form(self, actor: Actor, trigger_id: str | None) -> Reply:
        if not await self._admin(actor):
            await self._audit(actor, "connect", "refused", detail="not a workspace admin")
            return Reply.one(Say.ADMINS_ONLY, ok=False)
        if self.store.workspaces.sealer is None:  # one workspace, no REC_SECRET_KEY: nowhere safe to keep them
            return Reply.one(Say.CONNECT_REFUSED, ok=False, flavour=self.platform.flavour,
                             message="recbot has no REC_SECRET_KEY to keep credentials with; ask whoever runs it")
        await self.store.write(self._open_form, actor, trigger_id, self.public_url())
        self.on_write()
        return Reply([])

    def _open_form(self, tx: Tx, actor: Actor, trigger_id: str | None, public_url: str | None) -> None:
        current = tx.workspaces.account_of(actor.team_id)
        tx.outbox.enqueue(Outgoing.MODAL, {"form": "connect", "trigger_id": trigger_id,
                                           "channel_id": actor.channel_id, "user": actor.user_id,
                                           "flavour": current["flavour"] if current else self.platform.flavour,
                                           "public_url": public_url}, team=actor.team)
        self._audit_in(tx, actor, "connect", "ok", detail="opened the form")

    async def connect(self, actor: Actor, flavour: str, credentials: dict[str, str], public_url: str) -> Reply:
        """Check the credentials, register the webhook, then keep them: in that order, so that nothing is kept
        for credentials the platform refuses."""
        if not await self._admin(actor):
            await self._audit(actor, "connect", "refused", detail="not a workspace admin")
            return Reply.one(Say.ADMINS_ONLY, ok=False)
        assert actor.team_id
        current = await self.store.read(lambda tx: tx.workspaces.account_of(actor.team_id))
        route = current["route"] if current else secrets.token_urlsafe(12)
        webhook_url = f"{public_url.rstrip('/')}/webhooks/{route}"
        client = client_for(self.platform.settings, flavour, credentials, retries=1)
        name = credentials[NAME_FIELD[flavour]]
        try:
            try:
                await client.list_meetings(per_page=1)
            except PlatformError as exc:  # refused (401/403), or not reachable: nothing is kept
                await self._audit(actor, "connect", "refused", detail=exc.message)
                return Reply.one(Say.CONNECT_REFUSED, ok=False, flavour=flavour, message=exc.message)
            webhook, webhook_id, message = await _register(client, webhook_url)
        finally:
            await client.aclose()
        team_id = actor.team_id

        def keep(tx: Tx) -> None:
            tx.workspaces.connect(team_id, flavour, credentials, actor.user_id or "", route, webhook_id)
            self._audit_in(tx, actor, "connect", "ok", detail=f"{flavour} {name}, webhook {webhook}")

        await self.store.write(keep)
        return Reply.one(Say.CONNECTED, flavour=flavour, name=name, webhook_url=webhook_url, webhook=webhook,
                         message=message)

    async def disconnect(self, actor: Actor) -> Reply:
        if not await self._admin(actor):
            await self._audit(actor, "disconnect", "refused", detail="not a workspace admin")
            return Reply.one(Say.ADMINS_ONLY, ok=False)
        if self.store.workspaces.sealer is None:
            return Reply.one(Say.NOT_CONNECTED, ok=False)
        return await self.store.write(self._disconnect, actor)

    def _disconnect(self, tx: Tx, actor: Actor) -> Reply:
        if not (found := tx.workspaces.account_of(actor.team_id)):
            return Reply.one(Say.NOT_CONNECTED, ok=False)
        tx.workspaces.disconnect(actor.team_id or "")
        links = tx.workspaces.links_on(found["route"])
        self._audit_in(tx, actor, "disconnect", "ok", detail=found["flavour"])
        return Reply.one(Say.DISCONNECTED, flavour=found["flavour"], links=links)


async def _register(client: PlatformClient, url: str) -> tuple[str, str | None, str | None]:
    """(registered | updated | kept | failed, the webhook's id, why it failed)."""
    try:
        hooks = await client.list_webhooks()
        existing = next((h for h in hooks if h.url == url), None)
        if existing is None:
            return "registered", (await client.register_webhook(url)).id, None
        if set(WEBHOOK_EVENTS) <= set(existing.events) and existing.enabled:
            return "kept", existing.id, None
        events = sorted(set(existing.events) | set(WEBHOOK_EVENTS))
        return "updated", (await client.update_webhook(existing.id, url=url, events=events)).id, None
    except PlatformError as exc:
        return "failed", None, exc.message
