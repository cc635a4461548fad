"""The local Slack's rate limits (`Limits`) and the faults a test can ask it for (`SlackFaults`), refusals recbot
has never seen among them (`ODD`)."""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass, field
from typing import Any

from starlette.responses import Response

from bot.faults import Dice
from bot.slack.limits import Limit, limit_of, per_channel

JSON_TYPE, HTML_TYPE = "application/json; charset=utf-8", "text/html"
PROXY_502 = ("<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center>"
             "</body></html>")
# Refusals recbot has never seen, or knows only by name, as Slack (or a proxy on the way) answers them: (HTTP
# status, content type, body). Slack documents fatal_error, internal_error, service_unavailable and
# request_timeout for chat.postMessage among others, and new errors appear over time (slack-limits.md,
# "Refusals worth knowing"); `warning` and `response_metadata.messages` come with some refusals.
ODD: dict[str, tuple[int, str, Any]] = {
    "new_error": (200, JSON_TYPE, {"ok": False, "error": "some_new_error"}),
    "new_error_warned": (200, JSON_TYPE, {"ok": False, "error": "another_new_error", "warning": "superfluous_charset",
                                          "response_metadata": {"messages": ["[ERROR] a reason recbot never read"],
                                                                "warnings": ["superfluous_charset"]}}),
    "new_error_4xx": (400, JSON_TYPE, {"ok": False, "error": "some_new_client_error"}),
    "new_error_5xx": (503, JSON_TYPE, {"ok": False, "error": "some_new_outage"}),
    "proxy_502": (502, HTML_TYPE, PROXY_502),
    "fatal_error": (200, JSON_TYPE, {"ok": False, "error": "fatal_error"}),
    "internal_error": (200, JSON_TYPE, {"ok": False, "error": "internal_error"}),
    "request_timeout": (200, JSON_TYPE, {"ok": False, "error": "request_timeout"}),
    "service_unavailable": (503, JSON_TYPE, {"ok": False, "error": "service_unavailable"}),
}
# What a response_url (not the Web API: plain text, Slack's own or a proxy's) answers instead of "ok".
ODD_RESPONSE_URL: dict[str, tuple[int, str, Any]] = {
    "new_error_4xx": (400, "text/plain", "some_new_error"),
    "proxy_502": (502, HTML_TYPE, PROXY_502),
}


def odd_answer(shape: tuple[int, str, Any]) -> Response:
    status, content_type, body = shape
    return Response(body if isinstance(body, str) else json.dumps(body), status_code=status, media_type=content_type)


@dataclass
class SlackFaults(Dice):
    """Modes: "429", "500" and "odd" (a refusal of `ODD`, or `ODD_RESPONSE_URL` on a response_url, drawn at
    random: counted by shape in `odd`). A response_url draws 500s and odd ones only when `response_urls` is
    set (the chaos run: most tests wait for answers there), and never a 429: Slack documents none there."""

    retry_after: int = 1
    counts: dict[str, int] = field(default_factory=lambda: {"429": 0, "500": 0, "odd": 0})
    odd: dict[str, int] = field(default_factory=dict)
    response_urls: bool = False

    def odd_one(self, shapes: dict[str, tuple[int, str, Any]]) -> Response:
        name = random.choice(sorted(shapes))
        self.counts["odd"] += 1
        self.odd[name] = self.odd.get(name, 0) + 1
        return odd_answer(shapes[name])


class Limits:
    """Slack's rate limits as `bot/slack/limits.py` lists them from Slack's pages, each window shorter by
    `scale` (tests: 10): at most so many calls of a method per workspace in any window, and a channel's
    posts. Over a limit: 429 with a whole-second Retry-After, as Slack sends it. A call made before that
    has passed is answered 429 again and counted in `inside`: Slack asks apps never to make one."""

    UNLIMITED = {"auth.test", "oauth.v2.access"}  # special: hundreds a minute (a 429 a fault answered holds them)

    def __init__(self, scale: float = 1.0):
        self.scale = scale
        self.on = True
        self.calls: dict[tuple[str, str], list[float]] = {}  # (workspace, method or channel) -> when accepted
        self.holds: dict[tuple[str, str], float] = {}  # (workspace, method) -> its Retry-After window's end
        self.set_by: dict[tuple[str, str], tuple[float, str]] = {}  # -> when its window began, and why (a report)
        self.inside: list[dict[str, Any]] = []  # calls made inside a Retry-After window
        self.answered_429 = 0
        self.tighter: dict[str, Limit] = {}  # tests: a method limited more than published, as Slack may do

    def check(self, team: str, method: str, channel: str, now: float) -> int | None:
        """None when the call may go (it is counted), else the Retry-After to answer."""
        if not self.on:
            return None
        key = (team, method)
        if (until := self.holds.get(key, 0.0)) > now:
            self.count_inside(key, channel, now)
            self.answered_429 += 1
            return max(1, math.ceil(until - now))
        if method in self.UNLIMITED:
            return None
        keys = [(key, self.tighter.get(method) or limit_of(method, self.scale))]
        if method == "chat.postMessage" and channel:
            keys.append(((team, "channel:" + channel), per_channel(self.scale)))
        for k, limit in keys:
            recent = self.calls[k] = [t for t in self.calls.get(k, []) if t > now - limit.seconds]
            if len(recent) >= limit.calls:
                retry_after = max(1, math.ceil(recent[0] + limit.seconds - now))
                self.hold(key, now, retry_after, "limit")
                self.answered_429 += 1
                return retry_after
        for k, _ in keys:
            self.calls[k].append(now)
        return None

    def hold(self, key: tuple[str, str], now: float, seconds: float, why: str) -> None:
        """A 429 answered now (`why`: "limit", or "fault" when a test's faults drew it) sets its window."""
        self.holds[key] = now + seconds
        self.set_by[key] = (now, why)

    def count_inside(self, key: tuple[str, str], channel: str, now: float) -> None:
        """A call made inside the window of `key`: kept with when and why its window began."""
        began, why = self.set_by.get(key, (0.0, ""))
        self.inside.append({"team": key[0], "method": key[1], "channel": channel, "at": now,
                            "early_by": self.holds[key] - now, "window_began": began, "window_by": why})
