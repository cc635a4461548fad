"""Which platform account a call goes to: the environment's, or a workspace's own (`/rec connect`).
On the loop; `owns`, `account_of_meeting` and `_account_of_session` are functions over a Tx (store's thread).

The service asks the same questions of one platform whatever the number of accounts; `Platforms`
answers each from the account of what the call is about: a recording's, a meeting's (the link or
recording that holds it), a session's. Each account has its own client and so its own rate budget
(the platform limits per token), which processes sharing a PostgreSQL database spend together. A
workspace's new links go to its own account when it has one.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Iterable, Sequence
from typing import Any

from bot.config import Settings, rtk_base
from bot.models import ACTIVE, Status
from bot.platform.client import PlatformClient
from bot.platform.errors import Disconnected
from bot.platform.models import FileKind, PlatformRecording
from bot.platform.webhooks import Event, Ignored, RecordingUpdate
from bot.store import Store, Tx


def client_for(settings: Settings | None, flavour: str, credentials: dict[str, str], **kwargs) -> PlatformClient:
    """A client for a workspace's own account, at the API the environment names for that flavour."""
    if settings is not None:
        kwargs.setdefault("timeout", settings.guardrails.platform_timeout)
    if flavour == "dyte":
        base = settings.dyte_api_url if settings else "https://api.dyte.io/v2"
        return PlatformClient("dyte", base, org_id=credentials["org_id"], api_key=credentials["api_key"], **kwargs)
    root = settings.rtk_api_url if settings else "https://api.cloudflare.com/client/v4"
    return PlatformClient("realtimekit", rtk_base(root, credentials["account_id"], credentials["app_id"]),
                          token=credentials["api_token"], **kwargs)


class SharedBudget:
    """One account's rate budget in the database (`bot.store.budgets`), as the client's limiter spends it."""

    def __init__(self, store: Store, account: str):
        self.store, self.account = store, account

    async def take(self, buckets: Sequence[tuple[str, int, float]]) -> float:
        return await self.store.write(lambda tx: tx.budgets.take(self.account, buckets))

    async def block(self, seconds: float) -> None:
        await self.store.write(lambda tx: tx.budgets.block(self.account, seconds))


class Platforms:
    def __init__(self, default: PlatformClient, store: Store, settings: Settings | None = None):
        self.default, self.store, self.settings = default, store, settings
        self._clients: dict[str, tuple[str, PlatformClient]] = {}  # route -> (credentials' digest, client)
        self._share(default, "")

    def _share(self, client: PlatformClient, account: str) -> PlatformClient:
        """With several processes possible (PostgreSQL), the account's rate budget is one for all of them."""
        if self.store.shared and client.limiter.shared is None:
            client.limiter.shared = SharedBudget(self.store, account)
        return client

    # -- which account ----------------------------------------------------------------------

    @property
    def limiter(self):
        return self.default.limiter

    @property
    def flavour(self) -> str:
        return self.default.flavour

    async def of(self, account: str) -> PlatformClient:
        if not account:
            return self.default
        found = None
        if self.store.workspaces.sealer:
            found = await self.store.read(lambda tx: tx.workspaces.account(account))
        if found is None:
            self._clients.pop(account, None)
            raise Disconnected("this meeting is on a platform account that was disconnected; a workspace admin "
                               "can run /rec connect again", 401)
        digest = hashlib.sha256(json.dumps([found["flavour"], found["credentials"]]).encode()).hexdigest()
        held = self._clients.get(account)
        if held is None or held[0] != digest:
            if held is not None:
                asyncio.get_running_loop().create_task(held[1].aclose())
            client = self._share(client_for(self.settings, found["flavour"], found["credentials"]), account)
            held = self._clients[account] = (digest, client)
        return held[1]

    async def account_for_team(self, team_id: str | None) -> str:
        """The account a workspace's new links use: its own, else the environment's."""
        if not team_id or self.store.workspaces.sealer is None:
            return ""
        return await self.store.read(lambda tx: tx.workspaces.route_of(team_id)) or ""

    async def for_team(self, team_id: str | None) -> PlatformClient:
        return await self.of(await self.account_for_team(team_id))

    @staticmethod
    def account_of_meeting(tx: Tx, meeting_id: str) -> str | None:
        """On the store's thread."""
        owner = tx.meeting_owner(meeting_id)
        return owner[1] if owner else None

    async def _meeting(self, meeting_id: str) -> PlatformClient:
        account = await self.store.read(self.account_of_meeting, meeting_id)
        return await self.of(account or "")

    async def _recording(self, recording_id: str) -> PlatformClient:
        rec = await self.store.read(Tx.recording, recording_id)
        return await self.of(rec.account) if rec else self.default

    async def _session(self, session_id: str) -> PlatformClient:
        return await self.of(await self.store.read(self._account_of_session, session_id))

    def _account_of_session(self, tx: Tx, session_id: str) -> str:
        recs = tx.recordings_of_session(session_id)
        if recs:
            return recs[0].account
        meeting = tx.notes.meeting_of_session(session_id)
        return (self.account_of_meeting(tx, meeting) or "") if meeting else ""

    def owns(self, tx: Tx, account: str, event: Event) -> bool:
        """Whether a webhook that came in on `account`'s route may speak of what it names: nothing held by
        another account (so one account's webhooks can never move another workspace's recordings). On the
        store's thread."""
        if isinstance(event, Ignored):
            return True
        if isinstance(event, RecordingUpdate) and (rec := tx.recording(event.recording_id)):
            return rec.account == account
        meeting_id = getattr(event, "meeting_id", None)
        holder = self.account_of_meeting(tx, meeting_id) if meeting_id else None
        return holder is None or holder == account

    # -- the calls, each to its account ---------------------------------------------------

    async def get_meeting(self, meeting_id: str, *, team_id: str | None = None):
        return await (await self.for_team(team_id)).get_meeting(meeting_id)

    async def create_meeting(self, title: str, *, team_id: str | None = None, **kwargs):
        return await (await self.for_team(team_id)).create_meeting(title, **kwargs)

    async def start_recording(self, meeting_id: str, **kwargs) -> PlatformRecording:
        return await (await self._meeting(meeting_id)).start_recording(meeting_id, **kwargs)

    async def get_recording(self, recording_id: str) -> PlatformRecording:
        return await (await self._recording(recording_id)).get_recording(recording_id)

    async def pause_recording(self, recording_id: str) -> PlatformRecording:
        return await (await self._recording(recording_id)).pause_recording(recording_id)

    async def resume_recording(self, recording_id: str) -> PlatformRecording:
        return await (await self._recording(recording_id)).resume_recording(recording_id)

    async def stop_recording(self, recording_id: str) -> PlatformRecording:
        return await (await self._recording(recording_id)).stop_recording(recording_id)

    async def list_recordings(self, meeting_id: str | None = None, *, statuses: Iterable[Status] = (),
                              **kwargs: Any) -> list[PlatformRecording]:
        if meeting_id is not None:
            return await (await self._meeting(meeting_id)).list_recordings(meeting_id, statuses=statuses, **kwargs)
        found: list[PlatformRecording] = []
        for account in await self.store.read(Tx.accounts_in, ACTIVE) or [""]:
            found += await (await self.of(account)).list_recordings(statuses=statuses, **kwargs)
        return found

    async def get_active_recording(self, meeting_id: str) -> PlatformRecording | None:
        return await (await self._meeting(meeting_id)).get_active_recording(meeting_id)

    async def kick_all(self, meeting_id: str) -> int | None:
        return await (await self._meeting(meeting_id)).kick_all(meeting_id)

    async def get_active_session(self, meeting_id: str):
        return await (await self._meeting(meeting_id)).get_active_session(meeting_id)

    async def session_file(self, session_id: str, kind: FileKind):
        return await (await self._session(session_id)).session_file(session_id, kind)

    async def generate_summary(self, session_id: str) -> None:
        return await (await self._session(session_id)).generate_summary(session_id)

    async def session_started(self, session_id: str) -> float | None:
        return await (await self._session(session_id)).session_started(session_id)

    async def session_participants(self, session_id: str) -> list[dict[str, Any]]:
        return await (await self._session(session_id)).session_participants(session_id)

    async def download_text(self, url: str, limit: int = 65_536) -> str | None:
        return await self.default.download_text(url, limit)  # a presigned link: no credentials go with it

    async def aclose(self) -> None:
        await self.default.aclose()
        for _, client in self._clients.values():
            await client.aclose()
        self._clients.clear()
