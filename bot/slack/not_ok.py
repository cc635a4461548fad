"""Slack's refusals (`NotOk`: whatever Slack answered instead of ok), whatever their shape, and what each does
to an outbox row: pure, no I/O.

Slack answers `ok: false` with an error (HTTP 200 or not), a 429 with Retry-After, a 5xx; a proxy on the
way answers its own HTML page; and Slack documents more errors than any app handles by name and adds new
ones over time (../shared/reference/slack-limits.md, "Refusals worth knowing"). `not_ok` reads any of
them into one shape; `answer` says what the outbox does with it. A refusal recbot does not know never
loses a message: it is tried once more as it was, then degraded, then tried again with backoff.
See docs/reliability.md, "Refusals recbot has never seen".
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any

from slack_sdk.errors import SlackApiError

from bot.slack.holds import retry_after

LOST_CHANNEL = {"not_in_channel", "channel_not_found", "is_archived"}
NOT_THERE = LOST_CHANNEL | {"user_not_in_channel"}  # an ephemeral answer cannot be posted there: a DM instead
TRIGGER_GONE = {"expired_trigger_id", "exchanged_trigger_id", "invalid_trigger_id"}  # 3 s, once
REVOKED = {"token_revoked", "invalid_auth", "account_inactive", "team_access_not_granted"}  # uninstalled
# Nobody can receive the row any more: given up, and said so to whoever linked the channel.
GONE = {"user_not_in_channel", "user_not_found", "user_disabled", "cannot_dm_bot", "ekm_access_denied",
        "message_not_found", "thread_not_found"}
WAIT = {"ratelimited", "rate_limited", "message_limit_exceeded"}  # later, the method held back
TRANSIENT = {"fatal_error", "internal_error", "service_unavailable", "request_timeout", "restricted_action"}
# Refusals of what was sent: a more compact form may pass.
CONTENT = {"invalid_blocks", "invalid_blocks_format", "msg_too_long", "msg_blocks_too_long", "too_many_attachments",
           "invalid_arguments", "invalid_metadata_format", "metadata_too_large", "invalid_view", "view_too_large"}
KNOWN = LOST_CHANNEL | TRIGGER_GONE | REVOKED | GONE | WAIT | TRANSIENT | CONTENT | {"token_expired"}


@dataclass(frozen=True)
class NotOk:
    """What Slack, or a proxy on the way, answered instead of ok."""

    method: str
    status: int
    error: str  # "" when the answer named none (a proxy's page: slack_sdk hands on an empty body)
    said: str  # Slack's `warning` and `response_metadata.messages`, for the log line
    retry_after: float  # a 429's, else 0

    @property
    def limited(self) -> bool:
        return self.status == 429 or self.error == "ratelimited"

    @property
    def known(self) -> bool:
        return self.error in KNOWN

    def __str__(self) -> str:
        return (f"{self.method or 'a call'} answered HTTP {self.status}" + (f" {self.error}" if self.error else "")
                + (f" ({self.said})" if self.said else "") + ("" if self.known or self.status >= 500
                                                              else ", a refusal recbot does not know"))


def not_ok(exc: SlackApiError) -> NotOk:
    """Any SlackApiError read the same way. For a body that is not JSON at all, slack_sdk hands on aiohttp's own
    response, whose status is `status` (not `status_code`) and which has no `get`."""
    response = exc.response
    status = getattr(response, "status_code", None) or getattr(response, "status", None) or 200
    url = str(getattr(response, "api_url", None) or getattr(response, "url", None) or "")
    data = getattr(response, "data", None)
    body: dict[str, Any] = data if isinstance(data, dict) else {}
    messages = (body.get("response_metadata") or {}).get("messages") or []
    said = "; ".join(str(m) for m in ([body["warning"]] if body.get("warning") else []) + list(messages))
    return NotOk(method=url.rsplit("/", 1)[-1].split("?", 1)[0], status=int(status),
                   error=str(body.get("error") or ""), said=said[:300],
                   retry_after=retry_after(response) if status == 429 else 0.0)


class Answer(Enum):
    """What a refusal does to an outbox row."""

    HOLD = "hold"  # a rate limit: the method held back in the workspace, the row after it
    ELSEWHERE = "elsewhere"  # the same words to the same person another way (a form's trigger too old, an
    # ephemeral answer where recbot cannot post)
    LOST_CHANNEL = "lost channel"  # the channel's rows kept aside, the linker told
    REFRESH = "refresh"  # the token expired sooner than its install said: refreshed, then again
    DROP = "drop"  # uninstalled: given up, nobody told
    GIVE_UP = "give up"  # nobody can receive it: given up, the linker told
    AGAIN = "again"  # Slack (or a proxy) failed: the same, after the backoff
    ONCE_MORE = "once more"  # a refusal recbot does not know: the same form once more, after the backoff
    DEGRADE = "degrade"  # a more compact form, at once
    KEEP_TRYING = "keep trying"  # refused at its most compact: the same, after the backoff, never given up


def answer(refused: NotOk, *, modal: bool, channel: bool, many: bool, level: int, most_compact: int,
           tried_once_more: bool, ephemeral: bool = False) -> Answer:
    """What the outbox does with a row Slack refused: `modal`, a form; `channel`, it has one; `many`, installs
    per workspace; `level`, how compact it is now (`kinds.level`); `tried_once_more`, it was sent as it was
    once more after a refusal recbot does not know; `ephemeral`, an answer only its asker sees, in a channel."""
    error = refused.error
    if refused.status == 429 or error in WAIT:
        return Answer.HOLD
    if (error in TRIGGER_GONE and modal) or (error in NOT_THERE and ephemeral):
        return Answer.ELSEWHERE
    if error in LOST_CHANNEL and channel:
        return Answer.LOST_CHANNEL
    if error == "token_expired" and many:
        return Answer.REFRESH
    if error in REVOKED and many:
        return Answer.DROP
    if error in GONE:
        return Answer.GIVE_UP
    if refused.status >= 500 or error in TRANSIENT:
        return Answer.AGAIN
    if error not in CONTENT and not tried_once_more:
        return Answer.ONCE_MORE
    return Answer.DEGRADE if level < most_compact else Answer.KEEP_TRYING

