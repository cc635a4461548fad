"""`recbot emulator`: a Dyte v2 / RealtimeKit compatible platform on one port.

`/v2/…` takes HTTP Basic `org_id:api_key`; `/client/v4/accounts/{account}/realtime/kit/{app}/…`
takes a Bearer token. Credentials are checked before existence (401 before 404), every 4xx uses the
error envelope, and a refused action changes nothing. `/_emulator/…` holds the controls a real
platform does not have: participants, faults, timing and the transition history.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.emulator import sessions_api
from bot.emulator.controls import ApiFaults, Controls
from bot.emulator.delivery import Deliverer, Signer, WebhookFaults
from bot.emulator.errors import EmuError
from bot.emulator.records import Timing
from bot.emulator.rest import TABLE, WEBHOOK_EVENTS, dispatch, error, new_webhook, read_json
from bot.emulator.state import Platform

ROUTES = TABLE + sessions_api.ROUTES


@dataclass
class Credentials:
    org_id: str = "emulator-org"
    api_key: str = "emulator-key"
    account_id: str = "emulator-account"
    app_id: str = "emulatorapp00000000000000000000a"
    token: str = "emulator-token"


class Emulator:
    def __init__(self, *, credentials: Credentials | None = None, timing: Timing | None = None,
                 public_url: str = "http://127.0.0.1:8090", signer: Signer | None = None,
                 webhook_url: str | None = None, clock=time.time):
        self.creds = credentials or Credentials()
        self.platform = Platform(timing, public_url)
        self.accounts: list[tuple[Credentials, Platform]] = [(self.creds, self.platform)]  # the first: the default
        self.clock = clock
        self.signer = signer or Signer()
        self.api_faults = ApiFaults()
        self.api_requests = 0  # REST calls answered, faults included
        self.requests: deque[dict[str, Any]] = deque(maxlen=1000)  # the last REST calls, as sent (tests read them)
        self.webhook_faults = WebhookFaults()
        self.deliverer: Deliverer | None = None
        self._wake = asyncio.Event()
        self._ticker: asyncio.Task | None = None
        self._initial_webhook = webhook_url
        self.controls = Controls(self)
        self.app = Starlette(routes=self._routes(), lifespan=self._lifespan)

    # -- lifecycle ---------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _lifespan(self, app):
        await self.start()
        try:
            yield
        finally:
            await self.stop()

    async def start(self) -> None:
        self.deliverer = Deliverer(self.signer, self.webhook_faults)
        self._wake = asyncio.Event()
        self._ticker = asyncio.create_task(self._tick_forever())
        if self._initial_webhook:
            self.add_webhook("dyte", "recbot", self._initial_webhook, sorted(WEBHOOK_EVENTS))

    def add_account(self, credentials: Credentials) -> Platform:
        """Another organisation (Dyte) or app (RealtimeKit) on the same platform: its own meetings,
        recordings and webhooks, reached only with its own credentials."""
        platform = Platform(self.platform.timing, self.platform.public_url)
        self.accounts.append((credentials, platform))
        return platform

    def platform_of(self, name: str | None) -> Platform:
        """The account a control names (by org id, account id or app id); the default without one."""
        if not name:
            return self.platform
        for creds, platform in self.accounts:
            if name in (creds.org_id, creds.account_id, creds.app_id):
                return platform
        raise EmuError(404, f"no emulated account {name}")

    def add_webhook(self, flavour: str, name: str, url: str, events: list[str]) -> dict[str, Any]:
        return new_webhook(self.platform, self.clock(), flavour, name, url, events)

    async def stop(self) -> None:
        if self._ticker:
            self._ticker.cancel()
            await asyncio.gather(self._ticker, return_exceptions=True)
        if self.deliverer:
            await self.deliverer.aclose()

    async def _tick_forever(self) -> None:
        while True:
            self.advance()
            deadlines = [d for _, p in self.accounts if (d := p.next_deadline(self.clock())) is not None]
            deadline = min(deadlines, default=None)
            timeout = 1.0 if deadline is None else max(0.005, min(1.0, deadline - self.clock()))
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout)
            except TimeoutError:
                pass

    def advance(self) -> None:
        """Apply due transitions and hand their events to the deliverer."""
        for _, platform in self.accounts:
            platform.tick(self.clock())
            events = platform.take_events()
            if self.deliverer:
                for event in events:
                    for webhook in list(platform.webhooks.values()):
                        if self._documented_for(webhook, event):
                            self.deliverer.enqueue(webhook, event)
        self._wake.set()

    def _documented_for(self, webhook: dict[str, Any], event: dict[str, Any]) -> bool:
        """RealtimeKit documents status webhooks for RECORDING, UPLOADING, UPLOADED and ERRORED only; Dyte sends
        INVOKED and PAUSED too. `rtk_all_statuses` makes RealtimeKit send them all."""
        undocumented = event.get("event") == "recording.statusUpdate" and event.get("status") in ("INVOKED", "PAUSED")
        rtk = webhook.get("flavour") == "realtimekit"
        return not (undocumented and rtk and not self.platform.modes.rtk_all_statuses)

    # -- routing -----------------------------------------------------------------------

    def _routes(self) -> list[Route]:
        methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
        return [
            Route("/.well-known/webhooks.json", self.well_known, methods=["GET"]),
            Route("/v2/{rest:path}", self.dyte_api, methods=methods),
            Route("/client/v4/accounts/{account}/realtime/kit/{app}/{rest:path}", self.rtk_api, methods=methods),
            Route("/_emulator/", self.controls.index, methods=["GET"]),
            Route("/_emulator/files/{name}", self.serve_file, methods=["GET"]),
            Route("/_emulator/{rest:path}", self.controls.control, methods=["GET", "POST"]),
        ]

    async def well_known(self, request: Request) -> Response:
        return JSONResponse({"success": True, "data": {"publicKey": self.signer.public_pem}, "message": ""})

    async def dyte_api(self, request: Request) -> Response:
        auth = request.headers.get("authorization", "")
        for creds, platform in self.accounts:
            if auth == "Basic " + base64.b64encode(f"{creds.org_id}:{creds.api_key}".encode()).decode():
                return await self._api(request, "dyte", request.path_params["rest"], platform)
        return error(401, "Unauthorized")

    async def rtk_api(self, request: Request) -> Response:
        p = request.path_params
        for creds, platform in self.accounts:
            if (request.headers.get("authorization") == f"Bearer {creds.token}"
                    and p["account"] == creds.account_id and p["app"] == creds.app_id):
                return await self._api(request, "realtimekit", p["rest"], platform)
        return error(401, "Authentication error")

    async def _api(self, request: Request, flavour: str, path: str, platform: Platform) -> Response:
        self.api_requests += 1
        fault = self.api_faults.draw()
        if fault == "500":
            self.api_faults.counts["500"] += 1
            return error(500, "Internal server error (injected by the emulator)")
        if fault == "429":
            self.api_faults.counts["429"] += 1
            return error(429, "Too many requests (injected by the emulator)", {"retry-after": "1"})
        if self.api_faults.latency:
            await asyncio.sleep(self.api_faults.latency)
        self.advance()
        try:
            body = await read_json(request)
            self.requests.append({"flavour": flavour, "method": request.method, "path": "/" + path.strip("/"),
                                  "query": list(request.query_params.multi_items()), "body": body})
            response = dispatch(request.method, "/" + path.strip("/"), request.query_params, body, flavour,
                                self.clock(), platform, ROUTES)
        except EmuError as exc:
            response = error(exc.status, exc.message)
        self.advance()
        if fault == "502":
            self.api_faults.counts["502"] += 1
            return error(502, "Bad gateway (injected by the emulator; the request was carried out)")
        if fault == "hang":  # the action is done, the answer comes too late: a lost response
            self.api_faults.counts["hang"] += 1
            await asyncio.sleep(self.api_faults.hang_seconds)
        return response

    async def serve_file(self, request: Request) -> Response:
        name = request.path_params["name"]
        platform = next((p for _, p in self.accounts if name in p.files or name.removesuffix(".wav") in p.recordings),
                        self.platform)
        if name in platform.files:  # a transcript or a summary
            expiry = platform.file_tokens.get(name, {}).get(request.query_params.get("token", ""))
            if expiry is None or expiry < self.clock():
                return error(404, "No such file, or the link is wrong")
            content, media_type = platform.files[name]
            return Response(content, media_type=media_type)
        rec = platform.recordings.get(name.removesuffix(".wav"))
        expiry = rec.file_links.get(request.query_params.get("token", "")) if rec else None
        if rec is None or rec.file is None or expiry is None or expiry < self.clock():
            return error(404, "No such file, or the link is wrong")
        return Response(rec.file, media_type="audio/wav",
                        headers={"content-disposition": f'inline; filename="{rec.id}.wav"'})


