"""The Slack app: Bolt's AsyncApp, wired to recbot's listeners (one module per kind)."""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped
from slack_bolt.middleware.async_middleware import AsyncMiddleware
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.web.async_client import AsyncWebClient

from bot import logs
from bot.slack import actions, commands, events, workflows
from bot.slack.handoff import Handoff
from bot.slack.identity import Identity, InstallAuthorize
from bot.slack.oauth import InstallationStore

log = logging.getLogger(__name__)


class _TokenFromTheEnvironment(logging.Filter):
    """Bolt reads SLACK_BOT_TOKEN from the environment even when it is given a client, then warns at every start
    that the token "will be unused": recbot gives Bolt a client without a token on purpose (each request gets
    its token from the authorize step), so the warning says nothing and is dropped."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != warning_client_prioritized_and_token_skipped()


logging.getLogger("slack_bolt.AsyncApp").addFilter(_TokenFromTheEnvironment())


# What a person is told when recbot has no working token for their workspace (Bolt answers it on the request's
# response_url): never installed, or its refresh token spent and its token expired (`NeedsReinstall`).
NOT_INSTALLED = (":warning: recbot cannot act in this workspace: it needs to be installed here (again). Ask someone "
                 "who can add apps to this workspace to add recbot from its install page; whatever recbot still has "
                 "to post here is posted then.")


def create_bolt_app(*, client: AsyncWebClient, identity: Identity | None, signing_secret: str | None, handoff: Handoff,
                    socket_mode: bool = False, oauth: AsyncOAuthSettings | None = None) -> AsyncApp:
    """One workspace: `identity` authorizes every request with the configured token. Many (`oauth`): Bolt's
    OAuth flow installs, and `InstallAuthorize` finds (and refreshes) each workspace's token from its install.
    Neither asks Slack anything on a request's way in."""
    # Bolt's own client carries no token: each request's client gets it from the authorize step.
    bolt_client = AsyncWebClient(base_url=client.base_url, retry_handlers=list(client.retry_handlers))
    auth: dict[str, Any] = {"oauth_settings": oauth}
    if oauth is not None and isinstance(oauth.installation_store, InstallationStore):
        auth["authorize"] = InstallAuthorize(oauth.installation_store.tokens)  # no auth.test on every request
    if oauth is None:
        assert identity is not None

        async def authorize(enterprise_id: str | None = None, team_id: str | None = None) -> AuthorizeResult:
            return await identity.authorize(enterprise_id, team_id)  # Bolt passes arguments by parameter name

        auth = {"authorize": authorize}

    # Listeners ack, hand their slow part to the handoff's tasks, and return; with process_before_response
    # Bolt answers Slack as soon as they return. (Bolt's other mode polls for the ack every 10 ms.)
    app = AsyncApp(client=bolt_client, signing_secret=signing_secret or "", process_before_response=True,
                   request_verification_enabled=not socket_mode, user_facing_authorize_error_message=NOT_INSTALLED,
                   **auth)

    app.use(Once(handoff))

    commands.register(app)
    actions.register(app)
    events.register(app)
    workflows.register(app)

    @app.error
    async def on_error(error: Exception, body: dict[str, Any]) -> None:
        log.error("unhandled error in a Slack listener", exc_info=error)

    return app


class Once(AsyncMiddleware):
    """Slack sends a request again when its ack was late or lost (a Socket Mode envelope not acked in 3 s, an
    event retried over HTTP): the repeat is acked and dropped, so it takes effect once. First, what every log
    line of this request (and of the work it starts) is about (`bot.logs`), and the handoff the listeners take
    from the context. One middleware, and Bolt's own kind (`AsyncMiddleware`, given the request): a function
    middleware costs Bolt every listener argument built for each call, which was ~4% of a `/rec status`'s
    instructions each (docs/performance.md)."""

    def __init__(self, handoff: Handoff):
        self.handoff, self.seen = handoff, Seen()

    async def async_process(self, *, req: AsyncBoltRequest, resp: BoltResponse,
                            next: Callable[[], Awaitable[BoltResponse]]) -> BoltResponse | None:
        context, body = req.context, req.body
        logs.bind(workspace=context.team_id or context.enterprise_id, channel=context.channel_id,
                  request=body.get("event_id") or logs.request_id())
        if self.seen.again(body.get("event_id") or body.get("trigger_id")):
            log.info("dropped a repeated Slack request (%s)", body.get("type") or body.get("command"))
            return BoltResponse(status=200, body="")
        context["handoff"] = self.handoff
        return await next()


class Seen:
    """The ids of recent Slack requests (event ids, trigger ids), for the last `keep` seconds."""

    def __init__(self, keep: float = 600.0, limit: int = 50_000):
        self.keep, self.limit = keep, limit
        self._at: OrderedDict[str, float] = OrderedDict()

    def again(self, key: object) -> bool:
        if not isinstance(key, str) or not key:
            return False
        now = time.monotonic()
        while self._at and (len(self._at) >= self.limit or next(iter(self._at.values())) < now - self.keep):
            self._at.popitem(last=False)
        if key in self._at:
            return True
        self._at[key] = now
        return False
