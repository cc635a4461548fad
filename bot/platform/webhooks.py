"""Verify and parse the platform's webhooks (docs/platform.md).

Signature: RSASSA-PKCS1-v1_5 with SHA-256 over the raw body, base64 in `dyte-signature` or
`rtk-signature`. Payloads are camelCase and carry documented quirks, all tolerated here.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from bot.config import load_public_key
from bot.models import Status
from bot.platform.models import parse_number, parse_reason, parse_time

FLAVOUR_PREFIX = {"dyte": "dyte", "realtimekit": "rtk"}
MAX_BODY = 1024 * 1024


class SignatureError(Exception):
    """Missing or wrong signature: the delivery is not from the platform."""


class WebhookParseError(Exception):
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


@dataclass(frozen=True)
class MeetingEvent:
    """`meeting.started`, `meeting.ended`, `meeting.participantJoined`, `meeting.participantLeft`."""

    kind: str  # started | ended | joined | left
    meeting_id: str
    session_id: str | None = None
    reason: str | None = None
    participant: str | None = None
    at: float | None = None
    meeting_title: str | None = None


@dataclass(frozen=True)
class Ignored:
    event: str


Event = RecordingUpdate | MeetingEvent | Ignored

_MEETING_KINDS = {"meeting.started": "started", "meeting.ended": "ended",
                  "meeting.participantJoined": "joined", "meeting.participantLeft": "left"}


def parse_event(body: bytes | str | dict) -> Event:
    if isinstance(body, bytes | str):
        try:
            body = json.loads(body)
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            raise WebhookParseError("body is not JSON") from exc
    if not isinstance(body, dict) or not isinstance(body.get("event"), str):
        raise WebhookParseError("body has no 'event' name")
    name = body["event"]
    meeting = body.get("meeting") if isinstance(body.get("meeting"), dict) else {}
    if name == "recording.statusUpdate":
        rec = body.get("recording")
        if not isinstance(rec, dict):
            raise WebhookParseError("recording.statusUpdate without a 'recording' object")
        rec_id = rec.get("id") or rec.get("recordingId")
        try:
            status = Status(str(rec.get("status", "")).upper())
        except ValueError as exc:
            raise WebhookParseError(f"unknown recording status {rec.get('status')!r}") from exc
        if not isinstance(rec_id, str) or not rec_id:
            raise WebhookParseError("recording without an id")
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
            raise WebhookParseError(f"{name} without a meeting id")
        kind = _MEETING_KINDS[name]
        participant = body.get("participant") if isinstance(body.get("participant"), dict) else {}
        at = {"started": meeting.get("startedAt"), "ended": meeting.get("endedAt"),
              "joined": participant.get("joinedAt"), "left": participant.get("leftAt")}[kind]
        return MeetingEvent(kind=kind, meeting_id=meeting_id, session_id=_s(meeting.get("sessionId")),
                            reason=_s(body.get("reason")),
                            participant=_s(participant.get("peerId")) or _s(participant.get("customParticipantId")),
                            at=parse_time(at), meeting_title=_s(meeting.get("title")))
    return Ignored(event=name)


def _s(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
