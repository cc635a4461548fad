"""Slack's rate limits as published, and a window that counts calls against one of them.

Slack limits Web API calls per method, per app, per workspace (api.slack.com/docs/rate-limits), in
tiers of calls a minute; `chat.postMessage` has its own: about one message a second in a channel
with short bursts, and a workspace-wide limit Slack does not size ("several hundred messages a
minute": the figure below is ours). History for an app not in the Slack Marketplace is Tier 1 with
`limit` at most 15 (Slack's changelog, 2025-05-29). Sources and the unconfirmed parts are listed in
docs/reliability.md. The local Slack (`bot/workbench/slack_limits.py`) enforces the same table.

`scale` makes every window shorter by that factor, for fast tests: at scale 10 a Tier 3 method
allows 50 calls in 6 s, a channel 3 posts in 0.3 s. Production runs at scale 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

TIERS = {1: 1, 2: 20, 3: 50, 4: 100}  # calls a minute
TIER_OF = {"chat.update": 3, "chat.postEphemeral": 4, "views.open": 4, "views.publish": 4, "users.info": 4,
           "conversations.info": 3, "conversations.history": 1, "conversations.replies": 1,
           "conversations.members": 4, "apps.connections.open": 1}
HISTORY_LIMIT = 15  # the most messages one history call returns (Tier 1)
POSTS_PER_CHANNEL = (3, 3.0)  # about one a second, a burst of three
POSTS_PER_WORKSPACE = (300, 60.0)  # "several hundred a minute" (not published: UNCONFIRMED)


@dataclass(frozen=True)
class Limit:
    calls: int
    seconds: float


def limit_of(method: str, scale: float = 1.0) -> Limit:
    """The per-workspace limit of a method; one this table does not list counts as Tier 2 (erring low)."""
    if method == "chat.postMessage":
        return Limit(POSTS_PER_WORKSPACE[0], POSTS_PER_WORKSPACE[1] / scale)
    return Limit(TIERS[TIER_OF.get(method, 2)], 60.0 / scale)


def per_channel(scale: float = 1.0) -> Limit:
    return Limit(POSTS_PER_CHANNEL[0], POSTS_PER_CHANNEL[1] / scale)


class Window:
    """At most `calls` in any `seconds`: the outbox's count of its own calls against one limit.

    A call counts from the moment it is made until `seconds` after its answer came back: Slack saw it
    somewhere in between, so a call made when this window has room is inside Slack's too. A call in
    flight counts as if it were made now."""

    def __init__(self, limit: Limit):
        self.limit = limit
        self._calls: list[list[float]] = []  # [answered at], math.inf while in flight

    def wait(self, now: float) -> float:
        """0 if a call may be made now, else how long until one may."""
        since = now - self.limit.seconds
        self._calls = [c for c in self._calls if c[0] > since]
        if len(self._calls) < self.limit.calls:
            return 0.0
        oldest = min(c[0] for c in self._calls)
        return math.inf if oldest == math.inf else oldest - since

    def take(self) -> list[float]:
        """Count a call made now; settle the slot returned with its answer's time."""
        slot = [math.inf]
        self._calls.append(slot)
        return slot


def settle(slots: list[list[float]], at: float) -> None:
    for slot in slots:
        slot[0] = at
