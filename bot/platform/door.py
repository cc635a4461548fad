"""The platform's door: `POST /webhooks` and `POST /webhooks/{route}`.

Thin, as the Slack door is: read the body (413 past 1 MiB), have the ingest process verify it and
store it durably, answer, and wake the worker that applies deliveries. RealtimeKit retries only a 5xx,
so whatever a retry could get through is answered 503 with Retry-After, never a 4xx.

Both routes are plain ASGI apps under Starlette's router, without a Request or Response object per
delivery: this is the busiest route recbot has, and with verifying and storing in the ingest process, what
is left here is mostly HTTP.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable

from bot import logs, metrics
from bot.config import Settings, key_url_for
from bot.platform.webhooks import MAX_BODY, SignatureError, WebhookKey, WebhookParseError
from bot.store import StoreBusy
from bot.store.ingest import DELIVERY_HEADERS, IngestWriter

log = logging.getLogger(__name__)

Answer = tuple[int, bytes, list[tuple[bytes, bytes]]]

RETRY_SOON = [(b"retry-after", b"5")]
STORED = json.dumps({"ok": True}).encode()


def error_answer(status: int, message: str, headers: list[tuple[bytes, bytes]] | None = None) -> Answer:
    return status, json.dumps({"ok": False, "error": message}).encode(), headers or []


TOO_BIG = error_answer(413, "the body is over 1 MiB", [(b"connection", b"close")])  # hang up, do not drain
BUSY = error_answer(503, "storage is busy; retry", RETRY_SOON)


class WebhookDoor:
    def __init__(self, settings: Settings, key: WebhookKey, ingest: IngestWriter, *,
                 account_at: Callable[[str], Awaitable[dict | None]], wake: Callable[[], None],
                 clock: Callable[[], float]):
        self.settings, self.key, self.ingest = settings, key, ingest
        self.account_at, self.wake, self.clock = account_at, wake, clock
        self._keys = {settings.platform: key}

    def endpoint(self, *, accounts: bool) -> _Endpoint:
        """The ASGI app of `/webhooks` (the environment's account) or of `/webhooks/{route}` (a workspace's
        own account, registered by `/rec connect`)."""
        return _Endpoint(self, accounts)

    async def answer(self, scope: dict, receive, accounts: bool) -> tuple[int, bytes, list, str | None] | None:
        """What to answer a delivery, and the event it names when it was stored; None when the sender hung
        up."""
        account, key = "", self.key
        if accounts:
            route = scope["path_params"]["route"]
            try:
                found = await self.account_at(route)
            except StoreBusy:
                return *BUSY, None
            if found is None:  # disconnected (or never was): a retry cannot help
                return *error_answer(404, "no platform account is connected at this route"), None
            account, key = route, await self._key_for(found["flavour"])
        length, headers = None, {}
        for name, value in scope["headers"]:  # one pass: the length and what the ingest process reads
            if name == b"content-length":
                length = value
            elif name in DELIVERY_HEADERS:
                headers[name.decode()] = value.decode("latin-1")
        logs.bind(request=headers.get("dyte-uuid") or headers.get("rtk-uuid"))
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY):
            return *TOO_BIG, None
        body = await _body(receive)
        if body is None:  # the sender hung up: nobody to answer
            return None
        if len(body) > MAX_BODY:
            return *TOO_BIG, None
        if key.key is None:
            return *error_answer(503, "the platform's webhook key is not loaded yet; retry later", RETRY_SOON), None
        try:
            event = await self._store(key, headers, body, account)
        except SignatureError as exc:
            log.warning("refused a webhook: %s", exc)
            return *error_answer(401, str(exc)), None
        except WebhookParseError as exc:
            return *error_answer(400, f"not a webhook: {exc}"), None
        except StoreBusy as exc:  # locked or busy past the timeout: the platform will retry
            log.error("could not store a webhook delivery: %s", exc)
            return *BUSY, None
        self.wake()
        return 200, STORED, [], event

    async def _store(self, key: WebhookKey, headers: dict[str, str], body: bytes, account: str) -> str:
        """Verified and stored by the ingest process (which says the delivery's event); a signature that fails
        is tried once more with the key fetched again, when it may be (the platform rotated it)."""
        if key.key is None:  # `answer` said 503 before it came here
            raise StoreBusy("the platform's webhook key is not loaded yet")
        try:
            return await self.ingest.add(key.key, headers, body, account=account, received_at=self.clock())
        except SignatureError:
            if not await key.fetch_again() or key.key is None:
                raise
            return await self.ingest.add(key.key, headers, body, account=account, received_at=self.clock())

    async def _key_for(self, flavour: str) -> WebhookKey:
        """The webhook key of a flavour: the environment's, or (for a workspace's account of the other
        flavour) that flavour's, fetched when first needed."""
        key = self._keys.get(flavour)
        if key is None:
            root = self.settings.rtk_api_url if flavour == "realtimekit" else self.settings.dyte_api_url
            key = self._keys[flavour] = WebhookKey(key_url_for(flavour, root))
        if key.key is None and key is not self.key:
            await key.fetch()
        return key


class _Endpoint:
    """An ASGI app (not a function), so that Starlette's router calls it as it is."""

    def __init__(self, door: WebhookDoor, accounts: bool):
        self.door, self.accounts = door, accounts

    async def __call__(self, scope: dict, receive, send) -> None:
        answer = await self.door.answer(scope, receive, self.accounts)
        if answer is None:
            return
        status, body, headers, event = answer
        metrics.count(metrics.WEBHOOKS, metrics.event_label(event), str(status))
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body)),
                                *headers]})
        await send({"type": "http.response.body", "body": body})


async def _body(receive) -> bytes | None:
    """The request's body, cut short one byte past the limit; None when the client went away."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_BODY or not message.get("more_body"):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)
