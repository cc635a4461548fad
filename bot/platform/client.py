"""One async client for both flavours of the recording platform.

Dyte v2 (HTTP Basic `org_id:api_key`, base `…/v2`) and Cloudflare RealtimeKit (Bearer token, base
`…/accounts/{account}/realtime/kit/{app}`) share resource paths, the `{success, data}` envelope and
semantics (docs/platform.md). Errors are typed (errors.py); retries happen only where a retry cannot
repeat an action; a client-side limiter keeps recbot under the documented rate limits (both in
`Transport`, transport.py). `PlatformClient` here is the API's resources.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Collection, Iterable
from typing import Any

import httpx

from bot.models import Status
from bot.platform.errors import (
    Conflict,
    InvalidRequest,
    NotFound,
    PlatformError,
    PlatformUnavailable,
)
from bot.platform.limits import Priority
from bot.platform.models import ActiveSession, FileKind, Meeting, PlatformRecording, Webhook, parse_time
from bot.platform.transport import Transport

__all__ = ["PUBLISHED", "WEBHOOK_EVENTS", "PlatformClient"]

log = logging.getLogger(__name__)

PUBLISHED = {Status.INVOKED, Status.RECORDING, Status.UPLOADING, Status.UPLOADED}  # the published spec's filter
WEBHOOK_EVENTS = ("recording.statusUpdate", "meeting.started", "meeting.ended",
                  "meeting.participantJoined", "meeting.participantLeft", "meeting.transcript", "meeting.summary")


class PlatformClient(Transport):
    """The API's resources (meetings, sessions and their files, recordings, webhooks), over `Transport`."""

    @classmethod
    def from_settings(cls, settings, **kwargs) -> PlatformClient:
        kwargs.setdefault("timeout", settings.guardrails.platform_timeout)
        return cls(settings.platform, settings.api_base, org_id=settings.dyte_org_id,
                   api_key=settings.dyte_api_key, token=settings.rtk_api_token, **kwargs)

    # -- meetings --------------------------------------------------------------------------

    async def get_meeting(self, meeting_id: str) -> Meeting:
        return Meeting.from_api((await self._request("GET", f"/meetings/{meeting_id}", retry=True))["data"])

    async def create_meeting(self, title: str, *, keep_alive: float | None = None, transcribe: bool = False,
                             summarize: bool = False, summary_type: str | None = None) -> Meeting:
        """A new meeting; `keep_alive` is how long its session (and recorder) stay after the last person
        leaves, which only RealtimeKit takes (60-600 s), as it alone takes `transcribe_on_end`."""
        payload: dict[str, Any] = {"title": title}
        if keep_alive and self.flavour == "realtimekit":
            payload["session_keep_alive_time_in_secs"] = int(min(600, max(60, keep_alive)))
        if transcribe and self.flavour == "realtimekit":
            payload["transcribe_on_end"] = True
        if summarize:
            payload["summarize_on_end"] = True
            if summary_type:
                payload["ai_config"] = {"summarization": {"summary_type": summary_type, "text_format": "markdown"}}
        body = await self._request("POST", "/meetings", json=payload, retry=False)
        return Meeting.from_api(body["data"])

    # -- after the session -----------------------------------------------------------------

    async def session_file(self, session_id: str, kind: FileKind) -> tuple[str, float | None] | None:
        """The session's transcript or summary as (link, expiry), or None when there is none (yet)."""
        try:
            body = await self._request("GET", f"/sessions/{session_id}/{kind}", retry=True)
        except NotFound:
            return None
        data = body.get("data") or {}
        url = data.get("transcript_download_url") if kind is FileKind.TRANSCRIPT else data.get("summaryDownloadUrl")
        expiry = data.get("transcript_download_url_expiry") if kind is FileKind.TRANSCRIPT else \
            data.get("summaryDownloadUrlExpiry")
        return (url, parse_time(expiry)) if isinstance(url, str) and url else None

    async def generate_summary(self, session_id: str) -> None:
        await self._request("POST", f"/sessions/{session_id}/summary", retry=False)

    async def session_started(self, session_id: str) -> float | None:
        """When a session began (`GET /sessions/{id}`, "Fetch details of a session": `data.started_at` in
        Cloudflare's SDK, `data.session.started_at` in Dyte's spec)."""
        body = await self._request("GET", f"/sessions/{session_id}", retry=True)
        data = body.get("data") or {}
        session = data.get("session") or data if isinstance(data, dict) else {}
        return parse_time(session.get("started_at")) if isinstance(session, dict) else None

    async def session_participants(self, session_id: str) -> list[dict[str, Any]]:
        """Everyone who was in the session, whole (bot/platform/paging.py: the spec does not page it)."""
        found = await self._listing(f"/sessions/{session_id}/participants", {}, None,
                                    lambda body: (body.get("data") or {}).get("participants"))
        return [p for p in found if isinstance(p, dict)]

    async def download_text(self, url: str, limit: int = 65_536) -> str | None:
        """A presigned file's first `limit` bytes as text, or None when it cannot be had."""
        try:
            async with self._links.stream("GET", url) as response:
                if response.status_code != 200:
                    return None
                chunks, size = [], 0
                async for chunk in response.aiter_bytes():
                    chunks.append(chunk)
                    size += len(chunk)
                    if size >= limit:
                        break
        except httpx.HTTPError:
            return None
        return b"".join(chunks)[:limit].decode("utf-8", errors="replace")

    async def kick_all(self, meeting_id: str) -> int | None:
        """Ends the meeting's live session for everyone (its recordings stop); None when none is live (asked
        again after any refusal or 5xx: none is documented)."""
        try:
            body = await self._request("POST", f"/meetings/{meeting_id}/active-session/kick-all", retry=False,
                                       priority=Priority.STOP)
        except NotFound:
            return None
        except (Conflict, InvalidRequest, PlatformUnavailable):
            if await self.get_active_session(meeting_id) is None:  # whatever the answer, none is live now
                return None
            raise
        count = (body.get("data") or {}).get("kicked_participants_count")
        return int(count) if isinstance(count, int | float) else 0

    async def list_meetings(self, per_page: int = 1, *, retry: bool = True) -> list[Meeting]:
        body = await self._request("GET", "/meetings", params={"per_page": per_page, "page_no": 1}, retry=retry)
        return [Meeting.from_api(m) for m in body.get("data") or []]

    async def get_active_session(self, meeting_id: str) -> ActiveSession | None:
        try:
            body = await self._request("GET", f"/meetings/{meeting_id}/active-session", retry=True)
        except NotFound:
            return None
        return ActiveSession.from_api(body.get("data") or {})

    # -- recordings ------------------------------------------------------------------------

    async def start_recording(self, meeting_id: str, *, allow_multiple: bool = False, max_seconds: int | None = None,
                              known: Collection[str] = ()) -> PlatformRecording:
        """Start a recording. Never retried blindly, and a 5xx or a timeout is never read as started: the
        platform is asked, and a recording of the meeting invoked since (none of `known`) is this start's."""
        payload: dict[str, Any] = {"meeting_id": meeting_id, "allow_multiple_recordings": allow_multiple}
        if max_seconds:
            payload["max_seconds"] = max_seconds
        asked_at = time.time()
        try:
            body = await self._request("POST", "/recordings", json=payload, retry=False)
        except PlatformUnavailable:
            found = await self._find_started_since(meeting_id, asked_at - 5.0, set(known))
            if found is None:
                raise
            log.warning("start of %s got no answer but the platform has recording %s", meeting_id, found.id)
            return found
        return PlatformRecording.from_api(body["data"])

    async def _find_started_since(self, meeting_id: str, since: float, known: set[str]) -> PlatformRecording | None:
        try:
            candidates = await self.list_recordings(meeting_id, statuses=[Status.INVOKED, Status.RECORDING])
        except PlatformError:
            return None
        fresh = [r for r in candidates if r.invoked_at is not None and r.invoked_at >= since and r.id not in known]
        return max(fresh, key=lambda r: r.invoked_at or 0.0, default=None)

    async def get_recording(self, recording_id: str) -> PlatformRecording:
        body = await self._request("GET", f"/recordings/{recording_id}", retry=True)
        return PlatformRecording.from_api(body["data"])

    async def list_recordings(self, meeting_id: str | None = None, *, statuses: Iterable[Status] = (),
                              per_page: int = 100) -> list[PlatformRecording]:
        """Every recording (of a meeting) in `statuses`, in forms both official sources accept: one `status`
        a request from the published enum, or no filter and filtered here (docs/platform.md)."""
        wanted = set(statuses)
        params: dict[str, Any] = {"meeting_id": meeting_id} if meeting_id else {}
        if not wanted or meeting_id or not wanted <= PUBLISHED:
            found = await self._listing("/recordings", params, per_page)
        else:
            lists = await asyncio.gather(*(self._listing("/recordings", {**params, "status": s.value}, per_page)
                                           for s in sorted(wanted)))
            found = [r for listed in lists for r in listed]
        recordings = {r.id: r for r in map(PlatformRecording.from_api, found)}
        return [r for r in recordings.values() if not wanted or r.status in wanted]

    async def get_active_recording(self, meeting_id: str) -> PlatformRecording | None:
        try:
            body = await self._request("GET", f"/recordings/active-recording/{meeting_id}", retry=True)
        except NotFound:
            return None
        return PlatformRecording.from_api(body["data"])

    async def _act(self, recording_id: str, action: str) -> PlatformRecording:
        # A repeated pause/resume/stop cannot do more than the first, but a retry after a lost
        # answer would see "wrong state": so no automatic retry, the caller reconciles instead.
        priority = {"stop": Priority.STOP, "pause": Priority.PAUSE}.get(action, Priority.ASKED)
        body = await self._request("PUT", f"/recordings/{recording_id}", json={"action": action}, retry=False,
                                   priority=priority)
        return PlatformRecording.from_api(body["data"])

    async def pause_recording(self, recording_id: str) -> PlatformRecording:
        return await self._act(recording_id, "pause")

    async def resume_recording(self, recording_id: str) -> PlatformRecording:
        return await self._act(recording_id, "resume")

    async def stop_recording(self, recording_id: str) -> PlatformRecording:
        return await self._act(recording_id, "stop")

    # -- webhooks --------------------------------------------------------------------------

    async def list_webhooks(self) -> list[Webhook]:
        body = await self._request("GET", "/webhooks", retry=True)
        return [Webhook.from_api(w) for w in body.get("data") or []]

    async def register_webhook(self, url: str, name: str = "recbot",
                               events: Iterable[str] = WEBHOOK_EVENTS) -> Webhook:
        body = await self._request("POST", "/webhooks", retry=False,
                                   json={"name": name, "url": url, "events": list(events), "enabled": True})
        return Webhook.from_api(body["data"])

    async def update_webhook(self, webhook_id: str, *, url: str, events: Iterable[str] = WEBHOOK_EVENTS,
                             name: str = "recbot") -> Webhook:
        body = await self._request("PATCH", f"/webhooks/{webhook_id}", retry=True,
                                   json={"name": name, "url": url, "events": list(events), "enabled": True})
        return Webhook.from_api(body["data"])

