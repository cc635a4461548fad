"""The local Slack's rate limits (`Limits`) and the faults a test can ask it for (`SlackFaults`)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from bot.faults import Dice
from bot.slack.limits import Limit, limit_of, per_channel


@dataclass
class SlackFaults(Dice):
    """Modes: "429" and "500"."""

    retry_after: int = 1
    counts: dict[str, int] = field(default_factory=lambda: {"429": 0, "500": 0})


class Limits:
    """Slack's rate limits as `bot/slack/limits.py` lists them from Slack's pages, each window shorter by
    `scale` (tests: 10): at most so many calls of a method per workspace in any window, and a channel's
    posts. Over a limit: 429 with a whole-second Retry-After, as Slack sends it. A call made before that
    has passed is answered 429 again and counted in `inside`: Slack asks apps never to make one."""

    UNLIMITED = {"auth.test"}  # special: hundreds a minute

    def __init__(self, scale: float = 1.0):
        self.scale = scale
        self.on = True
        self.calls: dict[tuple[str, str], list[float]] = {}  # (workspace, method or channel) -> when accepted
        self.holds: dict[tuple[str, str], float] = {}  # (workspace, method) -> its Retry-After window's end
        self.inside: list[dict[str, Any]] = []  # calls made inside a Retry-After window
        self.answered_429 = 0
        self.tighter: dict[str, Limit] = {}  # tests: a method limited more than published, as Slack may do

    def check(self, team: str, method: str, channel: str, now: float) -> int | None:
        """None when the call may go (it is counted), else the Retry-After to answer."""
        if not self.on or method in self.UNLIMITED:
            return None
        key = (team, method)
        if (until := self.holds.get(key, 0.0)) > now:
            self.inside.append({"team": team, "method": method, "channel": channel, "at": now,
                                "early_by": until - now})
            self.answered_429 += 1
            return max(1, math.ceil(until - now))
        keys = [(key, self.tighter.get(method) or limit_of(method, self.scale))]
        if method == "chat.postMessage" and channel:
            keys.append(((team, "channel:" + channel), per_channel(self.scale)))
        for k, limit in keys:
            recent = self.calls[k] = [t for t in self.calls.get(k, []) if t > now - limit.seconds]
            if len(recent) >= limit.calls:
                retry_after = max(1, math.ceil(recent[0] + limit.seconds - now))
                self.holds[key] = now + retry_after
                self.answered_429 += 1
                return retry_after
        for k, _ in keys:
            self.calls[k].append(now)
        return None
