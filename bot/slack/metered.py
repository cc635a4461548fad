"""The Web API client recbot sends with: slack_sdk's, with every call's outcome counted (`bot.metrics`).

Every method of AsyncWebClient goes through `api_call`, so this one place sees each call to Slack and how it
ended. A call a retry handler repeated (the reads' client retries a 429 twice) is counted once, as it ended.
"""

from __future__ import annotations

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot import metrics
from bot.slack.not_ok import not_ok


def outcome_of(error: BaseException | None) -> str:
    """ok, ratelimited, refused (Slack answered ok: false), server_error (5xx), or network."""
    if error is None:
        return "ok"
    if isinstance(error, SlackApiError):
        refused = not_ok(error)
        if refused.limited:
            return "ratelimited"
        return "server_error" if refused.status >= 500 else "refused"
    return "network"


class MeteredWebClient(AsyncWebClient):
    async def api_call(self, api_method: str, **kwargs):
        try:
            response = await super().api_call(api_method, **kwargs)
        except (TimeoutError, SlackApiError, aiohttp.ClientError, OSError) as exc:
            metrics.slack_call(api_method, outcome_of(exc))
            raise
        metrics.slack_call(api_method, "ok")
        return response
