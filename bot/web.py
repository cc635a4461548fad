"""`recbot serve`: the Starlette app with /slack/events, /webhooks, /healthz and /metrics, and its workers."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import uvicorn
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot import metrics
from bot.asgi_server import BackgroundServer
from bot.config import Settings
from bot.logging_filter import install_secret_filter
from bot.platform.accounts import Platforms
from bot.platform.client import PlatformClient
from bot.platform.door import WebhookDoor
from bot.platform.errors import PlatformError, Unauthorized
from bot.platform.webhooks import WebhookKey
from bot.retry import Backoff
from bot.service import Service
from bot.slack.app import create_bolt_app
from bot.slack.courier import Courier
from bot.slack.handoff import Handoff
from bot.slack.identity import Directory, Identity
from bot.slack.installs import Tokens
from bot.slack.metered import MeteredWebClient
from bot.slack.oauth import oauth_settings
from bot.store import Store, StoreBusy, Tx, gauges
from bot.store.ingest import IngestWriter
from bot.tasks import Tasks
from bot.workers import Workers

if TYPE_CHECKING:
    from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

log = logging.getLogger(__name__)
KEY_BACKOFF = Backoff(1.0, 60.0)  # the platform's webhook key, not loaded yet: 1 s, 2 s, … 60 s


@dataclass
class Options:
    """Knobs for tests, the demo and benchmarks; production uses the defaults."""

    clock: Callable[[], float] = time.time
    slack_scale: float = 1.0  # Slack's limits as the local Slack's, shorter by this factor (tests: 10)
    card_interval: float = 1.0
    max_backoff: float = 60.0
    reconcile_tick: float = 5.0
    delivery_tick: float = 1.0  # how often stored webhooks are looked for, besides being woken for them
    start_workers: bool = True
    platform: PlatformClient | None = None
    webhook_key: RSAPublicKey | None = None


class Runtime:
    """Everything `recbot serve` runs, built from settings; started and stopped by the app's lifespan."""

    def __init__(self, settings: Settings, options: Options | None = None):
        self.settings, self.options = settings, options or Options()
        o = self.options
        self.store = Store(settings.database, clock=o.clock, secret_key=settings.secret_key)
        self.ingest = IngestWriter(settings.database)  # webhook deliveries: verified and stored in durable groups
        self.platform = Platforms(o.platform or PlatformClient.from_settings(settings), self.store, settings)
        self.webhook_key = WebhookKey(settings.webhook_key_url, o.webhook_key or settings.webhook_public_key)
        # The outbox paces itself and honours Retry-After per workspace and method, so its clients must not sleep
        # on a 429 (nor the admin question's, nor who recbot is: their 429s hold users.info and auth.test, as the
        # outbox's do); Bolt's may. One workspace: the configured token; many: each workspace's own, its install's.
        token = None if settings.oauth else settings.slack_bot_token
        self.tokens = Tokens(settings.slack_api_url, token=token, store=self.store, client_id=settings.slack_client_id,
                             client_secret=settings.slack_client_secret)
        slack = MeteredWebClient(token=token, base_url=settings.slack_api_url,
                                 retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=2)])
        self.courier = Courier(self.store, self.tokens, clock=o.clock, scale=o.slack_scale,
                             card_interval=o.card_interval, max_backoff=o.max_backoff)
        self.tasks = Tasks()
        self.directory = Directory(self.tokens, self.courier.holds)  # no sleep on a 429: it holds users.info
        self.identity = None if settings.oauth else Identity(
            MeteredWebClient(token=token, base_url=settings.slack_api_url), settings.slack_bot_token,
            self.courier.holds)
        self.service = Service(self.store, self.platform, guardrails=settings.guardrails, clock=o.clock,
                               is_admin=self.directory.is_admin, on_write=self.courier.wake, tasks=self.tasks,
                               join_url=settings.join_url)
        self.service.permissions.known_admin = self.directory.known_admin
        self.service.permissions.held = self.directory.held
        self.bolt = create_bolt_app(client=slack, identity=self.identity, signing_secret=settings.slack_signing_secret,
                                    handoff=Handoff(self.service, self.courier, self.tasks),
                                    socket_mode=settings.socket_mode,
                                    oauth=oauth_settings(settings, self.store, self.tokens) if settings.oauth else None)
        self.workers = Workers(self.service, self.store, reconcile_tick=o.reconcile_tick,
                               delivery_tick=o.delivery_tick)
        self.door = WebhookDoor(settings, self.webhook_key, self.ingest, account_at=self._account_at,
                                wake=self.workers.wake_deliveries, clock=o.clock)
        self._tasks: list[asyncio.Task] = []
        self.socket_handler: AsyncSocketModeHandler | None = None
        self.metrics_server: BackgroundServer | None = None  # REC_METRICS=host:port: /metrics apart
        self.public_url: str | None = None  # learnt from the install pages, which people open in a browser
        self.service.accounts.public_url = lambda: self.public_url

    async def start(self) -> None:
        ingest = asyncio.create_task(self.ingest.start())  # ready before the first webhook, alongside the rest
        if self.identity is not None:
            self._tasks.append(asyncio.create_task(self.identity.warm()))  # so that no ack waits for auth.test
        self._tasks.append(asyncio.create_task(self._check_platform()))
        if self.webhook_key.key is None:
            self._tasks.append(asyncio.create_task(self._load_webhook_key()))
        if self.options.start_workers:
            self._tasks.append(asyncio.create_task(self.courier.run()))
            await self.workers.start()
        if self.settings.socket_mode:
            from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

            self.socket_handler = AsyncSocketModeHandler(self.bolt, self.settings.slack_app_token)
            await self.socket_handler.connect_async()
        if (address := self.settings.metrics_address) is not None:
            app = Starlette(routes=[Route("/metrics", self.metrics, methods=["GET"])])
            self.metrics_server = await BackgroundServer(app, *address, lifespan="off").start()
        await ingest

    async def stop(self) -> None:
        if self.metrics_server is not None:
            await self.metrics_server.stop()
        if self.socket_handler is not None:
            await self.socket_handler.close_async()
        if not await self.tasks.wait_idle(timeout=15.0):
            log.warning("stopping with Slack requests still in progress")
        await self.workers.stop()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.courier.aclose()
        await self.tokens.aclose()
        await self.platform.aclose()
        await self.ingest.aclose()
        await asyncio.to_thread(self.store.close)

    async def _check_platform(self) -> None:
        """The platform's credentials, tried once at start as Slack's token is (Identity.warm): a warning that
        names the settings to fix, never a refusal to start (the platform may only be down for a moment)."""
        try:
            await self.platform.default.list_meetings(per_page=1, retry=False)  # one try: a hint, not a verdict
        except Unauthorized as exc:
            log.warning("the platform refused recbot's credentials (%s); check %s: no recording can start until "
                        "it accepts them", exc.message, self.settings.platform_variables)
        except PlatformError as exc:
            log.warning("cannot reach the platform at %s (%s); recbot carries on and tries again with each request",
                        self.settings.api_base, exc.message)

    async def _load_webhook_key(self) -> None:
        attempt = 0
        while not await self.webhook_key.fetch():  # webhooks answer 503 until it loads; the platform retries
            await asyncio.sleep(KEY_BACKOFF.delay(attempt))
            attempt += 1
        log.info("loaded the platform's webhook key from %s", self.settings.webhook_key_url)

    async def _account_at(self, route: str) -> dict | None:
        """The workspace's own platform account that `/webhooks/{route}` belongs to."""
        return await self.store.read(lambda tx: tx.workspaces.account(route)) if self.store.workspaces.sealer else None

    # -- routes ------------------------------------------------------------------------

    async def healthz(self, request: Request) -> Response:
        ok, version, outbox = await self._store_health()
        body = {"ok": ok, "platform": self.settings.platform, "schema_version": version,
                "socket_mode": self.settings.socket_mode, "webhook_key_loaded": self.webhook_key.key is not None}
        body["platform_budget"] = self.platform.limiter.usage()
        if ok:
            body["outbox"] = outbox
        if ok and self.tokens.many:  # workspaces that must install recbot again (their refresh token was spent)
            with contextlib.suppress(StoreBusy):
                body["installs_to_reinstall"] = [i["team_id"] or f"org {i['enterprise_id']}" for i in
                                                 await self.store.read(lambda tx: tx.workspaces.spent())]
        if self.socket_handler is not None:
            body["socket_connected"] = bool(await self.socket_handler.client.is_connected())
        return JSONResponse(body, status_code=200 if ok else 503)

    async def metrics(self, request: Request) -> Response:
        """Prometheus' text format: this replica's counts (its ingest process's added in), and the gauges read
        now from the store and the limiter (docs/operations.md)."""
        owner = self.workers.owner

        def look(tx: Tx) -> metrics.Snapshot:
            now = tx.clock()
            outbox, recordings, jobs = gauges.read(tx.db, owner, now)
            budget = self.platform.limiter.usage()
            if tx.shared:  # one budget for every replica: what all of them used, not this one alone
                specs = [b.spec() for b in self.platform.limiter.buckets]
                budget = budget | {"buckets": gauges.shared_budget(tx.db, specs, now)}
            return metrics.Snapshot(outbox, recordings, jobs, budget, now, gauges.to_reinstall(tx.db))

        try:
            snapshot = await self.store.read(look)
        except StoreBusy:  # the counts still go out; the store's gauges are missing from this scrape
            snapshot = metrics.Snapshot([], [], {}, self.platform.limiter.usage(), self.store.clock())
        body = await asyncio.to_thread(metrics.exposition, snapshot)  # reads the processes' files
        return Response(body, media_type=metrics.CONTENT_TYPE)

    async def _store_health(self) -> tuple[bool, int | None, dict[str, int] | None]:
        def look(tx: Tx) -> tuple[bool, int | None, dict[str, int] | None]:
            if not tx.healthy():
                return False, None, None
            try:
                return True, tx.schema_version(), tx.outbox.counts()
            except StoreBusy:
                return False, None, None

        try:
            return await self.store.read(look)
        except StoreBusy:
            return False, None, None


def public_url(request: Request) -> str:
    """The origin a browser used to reach recbot, as a reverse proxy in front of it says."""
    proto = request.headers.get("x-forwarded-proto", request.url.scheme).split(",")[0].strip()
    host = request.headers.get("x-forwarded-host", request.headers.get("host", request.url.netloc)).split(",")[0]
    return f"{proto}://{host.strip()}"


def create_app(settings: Settings, options: Options | None = None) -> Starlette:
    install_secret_filter(settings.secrets())
    runtime = Runtime(settings, options)
    handler = AsyncSlackRequestHandler(runtime.bolt)

    async def slack_events(request: Request) -> Response:
        started = time.perf_counter()
        response = await handler.handle(request)
        metrics.ACK.observe(time.perf_counter() - started)
        return response

    async def install_pages(request: Request) -> Response:
        runtime.public_url = public_url(request)  # what `/rec connect` offers as the webhooks' base
        return await handler.handle(request)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    routes = [Route("/webhooks", runtime.door.endpoint(accounts=False), methods=["POST"]),
              Route("/webhooks/{route}", runtime.door.endpoint(accounts=True), methods=["POST"]),
              Route("/healthz", runtime.healthz, methods=["GET"])]
    if settings.metrics == "on":  # off, or served apart on REC_METRICS=host:port (Runtime.start)
        routes.append(Route("/metrics", runtime.metrics, methods=["GET"]))
    if not settings.socket_mode:  # in Socket Mode, Slack traffic is accepted only from the socket
        routes.insert(0, Route("/slack/events", slack_events, methods=["POST"]))
    if settings.oauth:  # "Add to Slack", and where Slack sends the installer back with a code
        routes += [Route("/slack/install", install_pages, methods=["GET"]),
                   Route("/slack/oauth_redirect", install_pages, methods=["GET"])]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.runtime = runtime
    return app


def tune_gc() -> None:
    """Keep the cyclic collector's pauses out of the acks. Measured with gc callbacks at 200 commands/s
    and an 800 ms platform (bench `ack`): full collections of 30-120 ms in recbot's process, walking
    every object made at start (modules, Bolt, clients) and every call in flight, were the ack's p99.
    Frozen, the objects made at start are never walked again, and full collections come a tenth as
    often (threshold 100 instead of 10; the young generations keep their defaults, so each pass stays
    short). Five runs each: ack p99 51, 46, 33, 55, 53 ms before; 49, 22, 11, 16, 33 ms after."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(700, 10, 100)


def serve(settings: Settings) -> None:
    app = create_app(settings)
    tune_gc()
    mode = "Socket Mode" if settings.socket_mode else "HTTP"
    log.info("recbot serving on %s:%s (%s, platform %s)", settings.host, settings.port, mode, settings.platform)
    # uvicorn says only what goes wrong: the start-up and shutdown lines are recbot's own
    # JSON: uvicorn's own lines go through the root logger's formatter, not uvicorn's text one
    log_config = None if settings.log_format == "json" else uvicorn.config.LOGGING_CONFIG
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning", access_log=False,
                log_config=log_config)
    log.info("recbot stopped")
