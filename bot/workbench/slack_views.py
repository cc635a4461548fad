"""The local Slack's views: the trigger_id a request carries opens one modal within 3 seconds (views.open),
and App Home (views.publish)."""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

from bot.workbench.blockkit import VIEW_BLOCKS
from bot.workbench.slack_state import BOT_ID, SlackState

TRIGGER_LIFETIME = 3.0  # a trigger_id opens one modal, within 3 seconds


class Views(SlackState):
    """views.* and the trigger_ids handed out, over the state `SlackState` keeps."""

    def trigger(self, user: str) -> str:
        trigger_id = f"{next(self._ts)}.{int(self.clock())}.{secrets.token_hex(8)}"
        self.triggers[trigger_id] = {"at": self.clock(), "user": user, "used": False}
        return trigger_id

    def m_views_publish(self, args):
        if refused := self._refused(args, max_blocks=VIEW_BLOCKS):
            return refused
        view = args.get("view")
        view = self.homes[args.get("user_id", "")] = json.loads(view) if isinstance(view, str) else view
        return {"ok": True, "view": self._view(view, f"VH{args.get('user_id', '')}")}

    def m_views_open(self, args):
        if refused := self._refused(args, max_blocks=VIEW_BLOCKS):
            return refused
        trigger = self.triggers.get(str(args.get("trigger_id", "")))
        if trigger is None:
            return {"ok": False, "error": "invalid_trigger_id"}
        if trigger["used"]:
            return {"ok": False, "error": "exchanged_trigger_id"}
        if self.clock() - trigger["at"] > TRIGGER_LIFETIME:
            return {"ok": False, "error": "expired_trigger_id"}
        trigger["used"] = True
        view = args.get("view")
        view = json.loads(view) if isinstance(view, str) else view
        self.views.append({"trigger_id": args["trigger_id"], "view": view})
        return {"ok": True, "view": self._view(view, f"V{len(self.views):06d}")}

    def _view(self, view: dict[str, Any] | None, view_id: str) -> dict[str, Any]:
        """A view as Slack answers views.open and views.publish: what was sent, and what Slack adds."""
        return {"type": "modal", "title": None, "close": None, "submit": None, "blocks": [], "private_metadata": "",
                "callback_id": "", "external_id": "", "clear_on_close": False, "notify_on_close": False,
                **(view or {}), "id": view_id, "team_id": self.team_id, "state": {"values": {}},
                "hash": f"{int(time.time())}.{secrets.token_hex(4)}", "root_view_id": view_id,
                "previous_view_id": None, "app_id": "A0REC", "app_installed_team_id": self.team_id, "bot_id": BOT_ID}
