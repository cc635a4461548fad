"""Verify and parse the platform's webhooks (docs/platform.md).

Signature: RSASSA-PKCS1-v1_5 with SHA-256 over the raw body, base64 in `dyte-signature` or
`rtk-signature`. Payloads are camelCase and carry documented quirks, all tolerated here.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import httpx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from bot.config import load_public_key
from bot.errors import RecbotError
from bot.models import Status
from bot.platform.models import FileKind, parse_number, parse_reason, parse_time

log = logging.getLogger(__name__)

FLAVOUR_PREFIX = {"dyte": "dyte", "realtimekit": "rtk"}
MAX_BODY = 1024 * 1024


class WebhookError(RecbotError):
    """A webhook delivery that cannot be taken."""


class SignatureError(WebhookError):
    """Missing or wrong signature: the delivery is not from the platform."""


class WebhookParseError(WebhookError):
    """The body is not a webhook."""


@dataclass(frozen=True)
class Delivery:
    """What the headers say about one delivery."""

    flavour: str
    delivery_id: str | None
    webhook_id: str | None
    body_hash: str


def verify(headers: Mapping[str, str], body: bytes, key: RSAPublicKey) -> Delivery:
    """Check the signature over the raw body; return the delivery's identity."""
    found = [(f, p) for f, p in FLAVOUR_PREFIX.items() if headers.get(f"{p}-signature") is not None]
    if not found:
        raise SignatureError("no dyte-signature or rtk-signature header")
    flavour, prefix = found[0]
    signature = headers[f"{prefix}-signature"]
    try:
        raw = base64.b64decode(signature.strip(), validate=True)
        key.verify(raw, body, padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, binascii.Error, ValueError) as exc:
        raise SignatureError("the signature does not match the body") from exc
    return Delivery(flavour=flavour, delivery_id=headers.get(f"{prefix}-uuid"),
                    webhook_id=headers.get(f"{prefix}-webhook-id"),
                    body_hash=hashlib.sha256(body).hexdigest())


def key_from_document(document: Any) -> RSAPublicKey:
    """RealtimeKit's `{data: {publicKey}}`, or `{signing_keys: [{public_key}]}` seen for Dyte."""
    pem = None
    if isinstance(document, dict):
        data = document.get("data")
        if isinstance(data, dict):
            pem = data.get("publicKey") or data.get("public_key")
        keys = document.get("signing_keys")
        if not pem and isinstance(keys, list) and keys and isinstance(keys[0], dict):
            pem = keys[0].get("public_key")
        pem = pem or document.get("publicKey")
    if not isinstance(pem, str):
        raise ValueError("no public key in the webhook key document")
    return load_public_key(pem)


class WebhookKey:
    """The platform's webhook key: fixed by a setting, or fetched from its URL, and fetched again (at
    most once a `refresh_every`) when a signature does not verify, since the platform may rotate it."""

    def __init__(self, url: str, fixed: RSAPublicKey | None = None, *, refresh_every: float = 60.0,
                 clock=time.monotonic, transport: httpx.AsyncBaseTransport | None = None):
        self.url, self.key, self.fixed = url, fixed, fixed is not None
        self.refresh_every, self.clock, self.transport = refresh_every, clock, transport
        self.refreshed_at: float | None = None  # when a failed signature last made it fetch again
        self._lock = asyncio.Lock()

    async def fetch(self) -> bool:
        """Fetch the key now; False (and the old key kept) when the platform does not give it."""
        async with self._lock:
            try:
                self.key = await fetch_public_key(self.url, transport=self.transport)
                return True
            except Exception as exc:
                log.warning("could not fetch the webhook key from %s (%s)", self.url, exc)
                return False

    async def fetch_again(self) -> bool:
        """After a signature that did not verify: whether the key was fetched again, which a key from a
        setting never is, and one from the URL at most once a `refresh_every` (a forger cannot make
        recbot hammer the platform)."""
        due = self.refreshed_at is None or self.clock() - self.refreshed_at >= self.refresh_every
        if self.fixed or not due:
            return False
        self.refreshed_at = self.clock()
        if not await self.fetch():
            return False
        log.info("a webhook signature did not verify; fetched the key again from %s", self.url)
        return True


async def fetch_public_key(url: str, *, timeout: float = 10.0,
                           transport: httpx.AsyncBaseTransport | None = None) -> RSAPublicKey:
    async with httpx.AsyncClient(timeout=timeout, transport=transport) as http:
        response = await http.get(url)
        response.raise_for_status()
        return key_from_document(response.json())


# -- events --------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordingUpdate:
    recording_id: str
    meeting_id: str | None
    status: Status
    session_id: str | None = None
    started_at: float | None = None
    stopped_at: float | None = None
    download_url: str | None = None
    audio_download_url: str | None = None
    download_url_expiry: float | None = None
    file_size: float | None = None
    duration: float | None = None
    stop_reason: str | None = None
    meeting_title: str | None = None


class MeetingKind(StrEnum):
    """What happened in a meeting (`MeetingEvent.kind`); also the delivery log's words for it."""

    STARTED = "started"
    ENDED = "ended"
    JOINED = "joined"  # a participant joined
    LEFT = "left"  # a participant left


@dataclass(frozen=True)
class MeetingEvent:
    """`meeting.started`, `meeting.ended`, `meeting.participantJoined`, `meeting.participantLeft`."""

    kind: MeetingKind
    meeting_id: str
    session_id: str | None = None
    reason: str | None = None
    participant: str | None = None
    at: float | None = None
    meeting_title: str | None = None
    name: str | None = None  # the participant's display name
    joined_at: float | None = None
    person: str | None = None  # customParticipantId: the same person's participants (two devices, a rejoin) share it


@dataclass(frozen=True)
class SessionFile:
    """`meeting.transcript` or `meeting.summary`: a session's file is ready to download."""

    kind: FileKind
    meeting_id: str
    session_id: str
    url: str
    expiry: float | None = None
    meeting_title: str | None = None
    started_at: float | None = None  # the session's start: a transcript's times count from it


@dataclass(frozen=True)
class Ignored:
    """Verified news recbot does not act on: stored, answered 2xx, logged once per kind."""

    event: str
    why: str = "not an event recbot acts on"

    @property
    def kind(self) -> str:
        return f"{self.event}: {self.why}"


Event = RecordingUpdate | MeetingEvent | SessionFile | Ignored

_MEETING_KINDS = {"meeting.started": MeetingKind.STARTED, "meeting.ended": MeetingKind.ENDED,
                  "meeting.participantJoined": MeetingKind.JOINED, "meeting.participantLeft": MeetingKind.LEFT}


def event_name(body: bytes) -> str:
    """The event a body names; WebhookParseError when it is not a webhook at all (no retry could fix it)."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise WebhookParseError("body is not JSON") from exc
    if not isinstance(data, dict) or not isinstance(data.get("event"), str):
        raise WebhookParseError("body has no 'event' name")
    return data["event"]


def parse_event(body: bytes | str | dict) -> Event:
    if isinstance(body, bytes | str):
        try:
            body = json.loads(body)
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            raise WebhookParseError("body is not JSON") from exc
    if not isinstance(body, dict) or not isinstance(body.get("event"), str):
        raise WebhookParseError("body has no 'event' name")
    name = body["event"]
    meeting = found if isinstance(found := body.get("meeting"), dict) else {}
    if name == "recording.statusUpdate":
        rec = body.get("recording")
        if not isinstance(rec, dict):
            return Ignored(name, "no recording object")
        rec_id = rec.get("id") or rec.get("recordingId")
        try:
            status = Status(str(rec.get("status", "")).upper())
        except ValueError:
            return Ignored(name, f"status {str(rec.get('status'))[:40]!r}")
        if not isinstance(rec_id, str) or not rec_id:
            return Ignored(name, "a recording without an id")
        return RecordingUpdate(
            recording_id=rec_id,
            meeting_id=_s(rec.get("meetingId")) or _s(meeting.get("id")),
            status=status,
            session_id=_s(rec.get("roomUUID")) or _s(meeting.get("sessionId")),
            started_at=parse_time(rec.get("startedTime")),
            stopped_at=parse_time(rec.get("stoppedTime")),
            download_url=_s(rec.get("downloadUrl")),
            audio_download_url=_s(rec.get("audioDownloadUrl")),
            download_url_expiry=parse_time(rec.get("downloadUrlExpiry")),
            file_size=parse_number(rec.get("fileSize")),
            duration=parse_number(rec.get("recordingDuration")),
            stop_reason=parse_reason(rec.get("stopReason")),
            meeting_title=_s(meeting.get("title")),
        )
    if name in _MEETING_KINDS:
        meeting_id = _s(meeting.get("id"))
        if not meeting_id:
            return Ignored(name, "no meeting id")
        kind = _MEETING_KINDS[name]
        participant = found if isinstance(found := body.get("participant"), dict) else {}
        at = {MeetingKind.STARTED: meeting.get("startedAt"), MeetingKind.ENDED: meeting.get("endedAt"),
              MeetingKind.JOINED: participant.get("joinedAt"), MeetingKind.LEFT: participant.get("leftAt")}[kind]
        return MeetingEvent(kind=kind, meeting_id=meeting_id, session_id=_s(meeting.get("sessionId")),
                            reason=_s(body.get("reason")),
                            participant=_s(participant.get("peerId")) or _s(participant.get("customParticipantId")),
                            at=parse_time(at), meeting_title=_s(meeting.get("title")),
                            name=_s(participant.get("userDisplayName")),
                            joined_at=parse_time(participant.get("joinedAt")),
                            person=_s(participant.get("customParticipantId")))
    if name in ("meeting.transcript", "meeting.summary"):
        file = FileKind(name.removeprefix("meeting."))
        meeting_id, session_id = _s(meeting.get("id")), _s(meeting.get("sessionId"))
        url = _s(body.get(f"{file}DownloadUrl"))
        if not (meeting_id and session_id and url):
            return Ignored(name, "no meeting, session or download link")
        return SessionFile(kind=file, meeting_id=meeting_id, session_id=session_id, url=url,
                           expiry=parse_time(body.get(f"{file}DownloadUrlExpiry")),
                           meeting_title=_s(meeting.get("title")), started_at=parse_time(meeting.get("startedAt")))
    return Ignored(event=name)


def _s(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
