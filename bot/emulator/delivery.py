"""Signed webhook deliveries, in order per subscription, with retries and injectable faults."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import random
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

import aiohttp
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from bot.platform.models import parse_time

log = logging.getLogger(__name__)


class Signer:
    """The platform's key pair: made at start, or loaded from a PEM file."""

    def __init__(self, private_pem: bytes | None = None):
        self.key: rsa.RSAPrivateKey
        if private_pem:
            self.key = cast(rsa.RSAPrivateKey, serialization.load_pem_private_key(private_pem, password=None))
        else:
            self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    @property
    def public_pem(self) -> str:
        return self.key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()

    def rotate(self) -> None:
        """A new key pair: deliveries are signed with it, and the well-known document serves it."""
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def sign(self, body: bytes) -> str:
        return base64.b64encode(self.key.sign(body, padding.PKCS1v15(), hashes.SHA256())).decode()


@dataclass
class WebhookFaults:
    drop: float = 0.0        # probability a delivery is never sent
    duplicate: float = 0.0   # probability it is sent twice
    reorder: float = 0.0     # probability it is held back and sent after the next one
    delay: float = 0.0       # seconds added before each delivery
    drop_next: int = 0       # the next N deliveries are dropped
    counts: dict[str, int] = field(default_factory=lambda: {"dropped": 0, "duplicated": 0, "reordered": 0,
                                                            "delivered": 0, "failed_attempts": 0})


def _dyte_time(iso_text: str | None) -> str | None:
    """Dyte's webhook timestamps: a space and microseconds (`2023-01-25 04:51:35.903816Z`)."""
    ts = parse_time(iso_text)
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S.%fZ")


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def render(event: dict[str, Any], flavour: str) -> dict[str, Any]:
    """A flavour-neutral event from the state as the camelCase payload each platform sends."""
    if event["event"] != "recording.statusUpdate":
        body = {"event": event["event"], "meeting": event["meeting"]}
        body |= {k: v for k, v in event.items() if k not in ("event", "meeting", "participant")}
        if p := event.get("participant"):
            person = p.get("custom_id") or p["id"]
            body["participant"] = {"peerId": p["id"], "userDisplayName": p["name"], "customParticipantId": person,
                                   "clientSpecificId": person, "joinedAt": _iso(p["joined_at"])}
            if p.get("left_at"):
                body["participant"]["leftAt"] = _iso(p["left_at"])
        return body
    snap = event["snapshot"]
    when = _dyte_time if flavour == "dyte" else (lambda v: v)
    rec: dict[str, Any] = {
        "id": snap["id"], "recordingId": snap["id"], "meetingId": event["meeting"]["id"],
        "organizationId": "emulator-org", "status": snap["status"], "startedTime": when(snap["started_time"]),
        "roomUUID": snap["session_id"], "outputFileName": snap["output_file_name"],
    }
    if snap["stopped_time"]:
        size = snap["file_size"] or 0
        rec.update(stoppedTime=when(snap["stopped_time"]), fileSize=size if flavour == "dyte" else str(size))
    if snap["status"] == "UPLOADED":
        rec.update(downloadUrl=snap["download_url"], audioDownloadUrl=snap["audio_download_url"],
                   downloadUrlExpiry=when(snap["download_url_expiry"]), recordingDuration=snap["recording_duration"])
    if flavour == "dyte" and snap.get("stop_reason"):
        rec["stopReason"] = "{'reason':'" + snap["stop_reason"]["reason"] + "','caller':{'type':'INTERNAL'}}"
    return {"event": "recording.statusUpdate", "recording": rec, "meeting": event["meeting"]}


class Deliverer:
    """One queue per webhook subscription; retries as each platform does (docs/platform.md). Sent one at a
    time, in order, unless `concurrency` allows more in flight (no document promises either)."""

    def __init__(self, signer: Signer, faults: WebhookFaults):
        self.signer, self.faults = signer, faults
        self.concurrency = 1
        self._in_flight: set[asyncio.Task] = set()
        # aiohttp, not httpx: each delivery cost the emulator's loop about half as much, and at 200 webhooks
        # a second httpx made the emulator (the generator of the apply bench) deliver seconds late
        self._http: aiohttp.ClientSession | None = None
        self.queues: dict[str, asyncio.Queue] = {}
        self.tasks: dict[str, asyncio.Task] = {}
        self.log: list[dict[str, Any]] = []  # what was sent, for tests and the workbench

    def enqueue(self, webhook: dict[str, Any], event: dict[str, Any]) -> None:
        if not webhook["enabled"] or event["event"] not in webhook["events"]:
            return
        queue = self.queues.get(webhook["id"])
        if queue is None:
            queue = self.queues[webhook["id"]] = asyncio.Queue()
            self.tasks[webhook["id"]] = asyncio.create_task(self._run(webhook, queue))
        queue.put_nowait(json.dumps(render(event, webhook["flavour"]), separators=(",", ":")).encode())

    async def _run(self, webhook: dict[str, Any], queue: asyncio.Queue) -> None:
        held: bytes | None = None
        while True:
            body = await queue.get()
            f = self.faults
            if f.drop_next > 0 or random.random() < f.drop:
                f.drop_next = max(0, f.drop_next - 1)
                f.counts["dropped"] += 1
                continue
            if held is None and random.random() < f.reorder:
                held = body
                f.counts["reordered"] += 1
                # a held delivery goes out after the next one, or on its own if none comes soon
                try:
                    body = await asyncio.wait_for(queue.get(), timeout=1.0)
                except TimeoutError:
                    body, held = held, None
            batch = [body] + ([held] if held is not None else [])
            held = None
            for item in batch:
                copies = 2 if random.random() < f.duplicate else 1
                if copies == 2:
                    f.counts["duplicated"] += 1
                for _ in range(copies):
                    if self.concurrency <= 1:
                        await self._send(webhook, item)
                        continue
                    while len(self._in_flight) >= self.concurrency:
                        await asyncio.wait(self._in_flight, return_when=asyncio.FIRST_COMPLETED)
                    task = asyncio.create_task(self._send(webhook, item))
                    self._in_flight.add(task)
                    task.add_done_callback(self._in_flight.discard)

    async def _send(self, webhook: dict[str, Any], body: bytes) -> None:
        prefix = "dyte" if webhook["flavour"] == "dyte" else "rtk"
        signature = await asyncio.to_thread(self.signer.sign, body)  # RSA lets go of the GIL: not on the loop
        headers = {"content-type": "application/json", f"{prefix}-signature": signature,
                   f"{prefix}-uuid": str(uuid.uuid4()), f"{prefix}-webhook-id": webhook["id"]}
        if self.faults.delay:
            await asyncio.sleep(self.faults.delay)
        for attempt in range(6):  # the first try and up to 5 retries
            posted = time.time()
            try:
                async with self.http.post(webhook["url"], data=body, headers=headers) as response:
                    await response.read()
                    code = response.status
            except (aiohttp.ClientError, TimeoutError):
                code = 0
            self.log.append({"webhook_id": webhook["id"], "status": code, "body": body.decode(), "at": time.time(),
                             "posted": posted})
            if 200 <= code < 300:
                self.faults.counts["delivered"] += 1
                return
            self.faults.counts["failed_attempts"] += 1
            retryable = code == 0 or code >= 500 or webhook["flavour"] == "dyte"
            if not retryable:
                return
            await asyncio.sleep(min(10.0, 0.2 * 2 ** attempt))
        log.warning("gave up delivering to %s", webhook["url"])

    @property
    def http(self) -> aiohttp.ClientSession:
        if self._http is None:  # made on the loop that sends
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=3.0))
        return self._http

    async def aclose(self) -> None:
        for task in self.tasks.values():
            task.cancel()
        await asyncio.gather(*self.tasks.values(), return_exceptions=True)
        if self._http is not None:
            await self._http.close()
