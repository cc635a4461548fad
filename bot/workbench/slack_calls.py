"""The local Slack's calls (docs.slack.dev/reference/methods/calls.*): a meeting shown in a channel as a
Slack call, its participants, its end."""

from __future__ import annotations

import time
from typing import Any

from bot.workbench.slack_args import _json
from bot.workbench.slack_state import SlackState


class Calls(SlackState):
    """calls.*, over the state `SlackState` keeps."""

    def m_calls_add(self, args):
        users = _json(args.get("users"), [])
        if not args.get("external_unique_id") or not args.get("join_url"):
            return {"ok": False, "error": "invalid_arguments"}
        if not args.get("created_by"):  # required with a bot token (calls.add: "Otherwise, the field is required")
            return {"ok": False, "error": "invalid_arguments"}
        if not _call_users(users):
            return {"ok": False, "error": "invalid_arguments"}
        call_id = f"R{next(self._ts):08d}"
        self.slack_calls[call_id] = {"id": call_id, "external_unique_id": args["external_unique_id"],
                                     "join_url": args["join_url"], "title": args.get("title") or "",
                                     "date_start": int(args.get("date_start") or time.time()),
                                     "created_by": args["created_by"], "users": list(users), "ended": False,
                                     "duration": None, "changes": [("add", [u.get("display_name") for u in users])]}
        return {"ok": True, "call": {k: v for k, v in self.slack_calls[call_id].items() if k != "changes"}}

    def _active_call(self, args) -> dict[str, Any] | str:
        call = self.slack_calls.get(str(args.get("id", "")))
        if call is None:
            return "invalid_call_id"
        return "inactive_call" if call["ended"] else call

    def m_calls_participants_add(self, args):
        return self._participants(args, joined=True)

    def m_calls_participants_remove(self, args):
        return self._participants(args, joined=False)

    def _participants(self, args, *, joined: bool) -> dict[str, Any]:
        call, users = self._active_call(args), _json(args.get("users"), None)
        if isinstance(call, str):
            return {"ok": False, "error": call}
        if not users or not _call_users(users):
            return {"ok": False, "error": "invalid_arguments"}
        others = [u for u in call["users"] if u not in users]
        call["users"] = others + users if joined else others
        call["changes"].append(("joined" if joined else "left", [u.get("display_name") for u in users]))
        return {"ok": True}

    def m_calls_update(self, args):
        call = self._active_call(args)
        if isinstance(call, str):
            return {"ok": False, "error": call}
        for name in ("title", "join_url"):
            if args.get(name):
                call[name] = args[name]
        call["changes"].append(("title", call["title"]))
        return {"ok": True}

    def m_calls_end(self, args):
        call = self._active_call(args)
        if call == "inactive_call":
            return {"ok": True, "error": "inactive_call"}  # as documented: ok, but already stopped
        if isinstance(call, str):
            return {"ok": False, "error": call}
        call["ended"], call["duration"] = True, int(args["duration"]) if args.get("duration") else None
        call["changes"].append(("end", call["duration"]))
        return {"ok": True}

    def call_in(self, channel: str) -> list[dict[str, Any]]:
        """The calls shown in a channel's messages, oldest first."""
        return [self.slack_calls[b["call_id"]] for m in self.channel(channel) for b in m.blocks or []
                if b.get("type") == "call" and b.get("call_id") in self.slack_calls]


def _call_users(users: Any) -> bool:
    """Each user of a call is a Slack user (`slack_id`) or someone outside Slack (`external_id`)."""
    return isinstance(users, list) and all(isinstance(u, dict) and (u.get("slack_id") or u.get("external_id"))
                                           for u in users)
