"""The platform client's transport: both flavours' auth (Dyte v2 Basic `org_id:api_key`, RealtimeKit Bearer),
the client-side limiter under the documented limits, one call with retries only where a retry cannot repeat an
action, every page of a list, and an answer read into its data or a typed error (errors.py). `PlatformClient`
(client.py) is the API's resources over it."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable
from typing import Any

import httpx

from bot import metrics
from bot.platform.errors import (
    Conflict,
    InvalidRequest,
    NotFound,
    PlatformError,
    PlatformUnavailable,
    RateLimited,
    Unauthorized,
)
from bot.platform.limits import DOCUMENTED, Limiter, Priority, buckets_for
from bot.platform.paging import every_page
from bot.retry import Backoff

BACKOFF = Backoff(0.25, 8.0, jitter=0.25)  # a GET or idempotent PUT not answered, or refused with a 429


class Transport:
    """What every call of `PlatformClient` goes through."""

    def __init__(self, flavour: str, base_url: str, *, org_id: str | None = None, api_key: str | None = None,
                 token: str | None = None, timeout: float = 10.0, retries: int = 3,
                 limiter: Limiter | None = None, transport: httpx.AsyncBaseTransport | None = None,
                 concurrency: int = 64):
        if flavour not in DOCUMENTED:
            raise ValueError(f"unknown platform flavour {flavour!r}")
        self.flavour = flavour
        if flavour == "dyte":
            auth = "Basic " + base64.b64encode(f"{org_id}:{api_key}".encode()).decode()
        else:
            auth = f"Bearer {token}"
        self.retries = retries
        self.limiter = limiter or Limiter(buckets_for(flavour))
        # Calls beyond `concurrency` wait here, in a plain FIFO: httpcore's own pool queue rescans every
        # waiting request on each event, which costs quadratic CPU when a slow platform backs calls up.
        self._slots = asyncio.Semaphore(concurrency)
        self._http = httpx.AsyncClient(base_url=base_url.rstrip("/"), headers={"Authorization": auth},
                                       timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
                                       limits=httpx.Limits(max_connections=concurrency,
                                                           max_keepalive_connections=concurrency),
                                       transport=transport)
        # Presigned links (transcripts, summaries) are not the API: no credentials go to them.
        self._links = httpx.AsyncClient(timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
                                        follow_redirects=True, transport=transport)

    async def aclose(self) -> None:
        await self._http.aclose()
        await self._links.aclose()

    async def _request(self, method: str, path: str, *, json: Any = None, params: dict | None = None,
                       retry: bool, priority: Priority = Priority.ASKED) -> dict[str, Any]:
        """One call; `retry` only for calls that cannot repeat an action (GETs, idempotent PUTs)."""
        attempts = self.retries + 1 if retry else 1
        for attempt in range(attempts):
            await self.limiter.acquire(recording_api=path.startswith("/recordings"), priority=priority)
            try:
                async with self._slots:
                    response = await self._http.request(method, path, json=json, params=params)
            except httpx.TimeoutException as exc:
                metrics.count(metrics.PLATFORM, metrics.operation(method, path), "timeout")
                error: PlatformError = PlatformUnavailable(f"the platform did not answer in time ({method} {path})")
                error.__cause__ = exc
            except httpx.HTTPError as exc:
                metrics.count(metrics.PLATFORM, metrics.operation(method, path), "unreachable")
                error = PlatformUnavailable(f"could not reach the platform: {type(exc).__name__}")
                error.__cause__ = exc
            else:
                metrics.count(metrics.PLATFORM, metrics.operation(method, path), str(response.status_code))
                if 200 <= response.status_code < 300:
                    return _envelope(response)
                error = _error_for(response)
            if isinstance(error, RateLimited):
                await self.limiter.block(error.retry_after)  # nothing more is sent into the window
            if attempt + 1 >= attempts or not isinstance(error, RateLimited | PlatformUnavailable):
                raise error
            await asyncio.sleep(BACKOFF.delay(attempt, asked=getattr(error, "retry_after", None)))
        raise AssertionError("unreachable")

    async def _listing(self, path: str, params: dict[str, Any], per_page: int | None,
                       items: Callable[[dict[str, Any]], Any] = lambda body: body.get("data")) -> list[Any]:
        async def get(paging: dict[str, Any]) -> dict[str, Any]:
            return await self._request("GET", path, params={**params, **paging}, retry=True)

        return await every_page(get, per_page, items)


def _envelope(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError as exc:
        raise PlatformUnavailable(f"the platform answered {response.status_code} with a body that is not JSON") from exc
    if not isinstance(body, dict) or body.get("success") is False:
        raise PlatformUnavailable("the platform answered with an unexpected body")
    return body


def _error_for(response: httpx.Response) -> PlatformError:
    message = _error_message(response)
    code = response.status_code
    if code == 429:
        try:
            retry_after = float(response.headers.get("retry-after", "1"))
        except ValueError:
            retry_after = 1.0
        return RateLimited(message or "rate limited by the platform", retry_after)
    kind = {400: InvalidRequest, 422: InvalidRequest, 401: Unauthorized, 403: Unauthorized,
            404: NotFound, 409: Conflict}.get(code)
    if kind is None:
        kind = PlatformUnavailable if code >= 500 else InvalidRequest
    return kind(message or f"the platform answered HTTP {code}", code)


def _error_message(response: httpx.Response) -> str:
    """Dyte's `error: {code, message}`, Cloudflare's `errors: [{message}]`, or a bare `message`."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:200].strip()
    if not isinstance(body, dict):
        return ""
    error = body.get("error")
    if isinstance(error, dict) and error.get("message"):
        return str(error["message"])
    errors = body.get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        return str(errors[0].get("message", ""))
    return str(body.get("message") or error or "")
