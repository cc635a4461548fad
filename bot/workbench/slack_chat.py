"""The local Slack's messages: chat.postMessage, chat.postEphemeral, chat.update, a channel's history and a
thread's replies (paged as Slack pages them), and the replies an app posts to a `response_url`."""

from __future__ import annotations

import json
import math
import secrets
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from bot.slack.limits import HISTORY_LIMIT
from bot.workbench.blockkit import refusal
from bot.workbench.slack_args import _blocks, _truthy
from bot.workbench.slack_state import BOT_ID, BOT_USER, Message, SlackState

RESPONSE_URL_USES, RESPONSE_URL_LIFETIME = 5, 30 * 60.0  # "up to 5 times within 30 minutes"
UPDATE_TEXT = 4_000  # chat.update's text limit (chat.postMessage's is 40,000)


class Chat(SlackState):
    """chat.*, conversations.* and response_urls, over the state `SlackState` keeps."""

    def new_response_url(self, channel: str, user: str) -> str:
        key = f"{channel}/{user}/{secrets.token_hex(6)}"
        self.response_urls[key] = {"at": self.clock(), "uses": 0}
        return f"{self.url}/response_url/{key}"

    def m_chat_postMessage(self, args):
        if refused := self._refused(args):
            return refused
        if any(b.get("type") == "call" and b.get("call_id") not in self.slack_calls
               for b in _blocks(args.get("blocks")) or [] if isinstance(b, dict)):
            return {"ok": False, "error": "invalid_blocks"}  # a call block shows a call calls.add registered
        channel = args.get("channel", "")
        if channel in self.not_member:
            return {"ok": False, "error": "not_in_channel"}
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        thread_ts = args.get("thread_ts") or None
        if thread_ts and (channel, thread_ts) not in self.messages:
            return {"ok": False, "error": "thread_not_found"}
        ts = self._next_ts()
        metadata = args.get("metadata")
        self.messages[(channel, ts)] = Message(channel, ts, args.get("text", ""), _blocks(args.get("blocks")),
                                               thread_ts, broadcast=_truthy(args.get("reply_broadcast")),
                                               metadata=json.loads(metadata) if isinstance(metadata, str) else metadata)
        if self.after_post:
            self.after_post(args)
        return {"ok": True, "channel": channel, "ts": ts,
                "message": {"type": "message", "subtype": "bot_message", "text": args.get("text", ""), "ts": ts,
                            "username": "recbot", "bot_id": BOT_ID, "attachments": [], "user": BOT_USER}}

    def m_chat_postEphemeral(self, args):
        if refused := self._refused(args):
            return refused
        channel = args.get("channel", "")
        if channel in self.not_member:
            return {"ok": False, "error": "not_in_channel"}
        self.ephemeral.append({"channel": channel, "user": args.get("user"), "text": args.get("text", ""),
                               "blocks": _blocks(args.get("blocks")), "thread_ts": args.get("thread_ts"),
                               "at": time.time()})
        return {"ok": True, "message_ts": self._next_ts()}

    def m_chat_update(self, args):
        if refused := self._refused(args):
            return refused
        if len(str(args.get("text", ""))) > UPDATE_TEXT:
            return {"ok": False, "error": "msg_too_long"}
        key = (args.get("channel", ""), args.get("ts", ""))
        if key[0] in self.not_member:
            return {"ok": False, "error": "not_in_channel"}
        message = self.messages.get(key)
        if message is None:
            return {"ok": False, "error": "message_not_found"}
        message.text, message.blocks = args.get("text", message.text), _blocks(args.get("blocks")) or message.blocks
        message.edits += 1
        return {"ok": True, "channel": key[0], "ts": key[1], "text": message.text,
                "message": {"text": message.text, "user": BOT_USER}}

    def m_conversations_replies(self, args):
        parent = self.messages.get((args.get("channel", ""), args.get("ts", "")))
        if parent is None:
            return {"ok": False, "error": "thread_not_found"}
        return _page([parent, *self.thread(parent.channel, parent.ts)], args, newest_first=False)

    def m_conversations_history(self, args):
        channel = args.get("channel", "")
        if channel in self.not_member:
            return {"ok": False, "error": "not_in_channel"}
        return {**_page(self.channel(channel), args, newest_first=True), "pin_count": 0,
                **({"latest": args["latest"]} if args.get("latest") else {})}  # echoed, as Slack does

    async def response_url(self, request: Request) -> Response:
        key: str = request.path_params["key"]
        try:
            body = json.loads(await request.body())
        except ValueError:
            return Response("bad json", status_code=400)
        if found := refusal(body.get("text"), body.get("blocks")):  # Slack answers a response_url with a 4xx
            self.refusals.append({"error": found[0], "detail": found[1], "args": body})
            return Response(found[0], status_code=400)
        if spent := self._spent(key):
            self.refusals.append({"error": spent, "detail": f"response_url {key}", "args": body})
            return Response(spent, status_code=404)
        channel, user, *_ = [*key.split("/"), ""]
        self.ephemeral.append({"channel": channel, "user": user, "text": body.get("text", ""),
                               "blocks": body.get("blocks"), "at": time.time()})
        self.calls.append({"method": "response_url", "args": body, "at": time.time(), "ok": True})
        self._bump()
        return Response("ok")

    def _spent(self, key: str) -> str | None:
        """Why Slack would refuse one more reply on this response_url, if it would."""
        issued = self.response_urls.get(key)
        if issued is None:
            return None if key.count("/") == 1 else "invalid_url"  # the bare form: see the module's docstring
        if self.clock() - issued["at"] > RESPONSE_URL_LIFETIME:
            return "expired_url"
        if issued["uses"] >= RESPONSE_URL_USES:
            return "used_url"
        issued["uses"] += 1
        return None


def _page(messages: list[Message], args: dict[str, Any], *, newest_first: bool) -> dict[str, Any]:
    """One page of history, as Slack pages it: between `oldest` and `latest` (`inclusive`), at most `limit`
    messages and never more than 15 (Tier 1, for apps not in the Slack Marketplace), then a cursor."""
    oldest, latest = float(args.get("oldest") or 0), float(args.get("latest") or math.inf)
    inclusive = _truthy(args.get("inclusive"))
    within = [m for m in messages if (oldest <= float(m.ts) <= latest if inclusive else oldest < float(m.ts) < latest)]
    if newest_first:
        within.reverse()
    start = int(args.get("cursor") or 0)
    try:
        limit = min(int(args.get("limit") or 100), HISTORY_LIMIT)
    except ValueError:
        limit = HISTORY_LIMIT
    page, more = within[start:start + limit], start + limit < len(within)
    return {"ok": True, "messages": [_api_message(m) for m in page], "has_more": more,
            "response_metadata": {"next_cursor": str(start + limit) if more else ""}}


def _api_message(m: Message) -> dict[str, Any]:
    return {"type": "message", "user": m.user, "ts": m.ts, "thread_ts": m.thread_ts, "text": m.text,
            "metadata": m.metadata, **({"files": m.files} if m.files else {})}
