"""What the official sources leave open, as switches (`POST /_emulator/modes`), so that recbot is tested
against each reading a real server could take (docs/platform.md, "Where the sources disagree").

- `refusal_status`: the code of a refusal no source documents: a start while one is active, an action in
  the wrong state, kick-all with no live session. Unset, the emulator's old guesses: 409, and 404 for
  kick-all. Set, that code for all of them, 5xx included.
- `status_filter`: how `GET /recordings?status=` is read. `spec`: Cloudflare's published spec, one
  comma-joined value (`explode: false`) from an enum without ERRORED and PAUSED; `sdk`: Cloudflare's
  Python SDK, the parameter repeated (`array_format="repeat"`), six statuses; `both`: either form.
- `per_page_cap`: the spec gives `per_page` no maximum, so a server may answer fewer than asked.
- `stop_paused_when_empty`: whether the empty-meeting stop takes PAUSED recordings too (no document
  exempts them; the seed promises it does not).
- `rtk_all_statuses`: RealtimeKit documents status webhooks for RECORDING, UPLOADING, UPLOADED and
  ERRORED only; set, it sends INVOKED and PAUSED too.
"""

from __future__ import annotations

import builtins
from dataclasses import asdict, dataclass
from typing import Any

from bot.emulator.errors import EmuError
from bot.models import Status

PUBLISHED_STATUSES = ("INVOKED", "RECORDING", "UPLOADING", "UPLOADED")  # the published spec's enum
SDK_STATUSES = tuple(s.value for s in Status)  # the SDK's: the four, ERRORED and PAUSED
REFUSALS = (400, 409, 422, 500, 502, 503)
STATUS_FILTERS = ("spec", "sdk", "both")


@dataclass
class Modes:
    refusal_status: int | None = None
    status_filter: str = "both"
    per_page_cap: int = 1000
    stop_paused_when_empty: bool = False
    rtk_all_statuses: bool = False

    def refused(self, default: int = 409) -> int:
        """The code of an undocumented refusal."""
        return self.refusal_status or default

    def set(self, body: dict[str, Any]) -> dict[str, Any]:
        """The switches a control request names; all of them, as they now are."""
        if "refusal_status" in body:
            code = body["refusal_status"]
            if code is not None and int(code) not in REFUSALS:
                raise EmuError(400, f"refusal_status is null or one of {', '.join(map(str, REFUSALS))}")
            self.refusal_status = None if code is None else int(code)
        if "status_filter" in body:
            if body["status_filter"] not in STATUS_FILTERS:
                raise EmuError(400, f"status_filter is one of {', '.join(STATUS_FILTERS)}")
            self.status_filter = body["status_filter"]
        if "per_page_cap" in body:
            if int(body["per_page_cap"]) < 1:
                raise EmuError(400, "per_page_cap is a positive number")
            self.per_page_cap = int(body["per_page_cap"])
        for switch in ("stop_paused_when_empty", "rtk_all_statuses"):
            if switch in body:
                setattr(self, switch, bool(body[switch]))
        return asdict(self)

    def statuses(self, values: list[str]) -> builtins.set[Status] | None:
        """The recordings list's `status` filter as this server reads it; None without one. Refused
        with 400, as a server that validates its parameters does, in the form it does not take."""
        if not values:
            return None
        if self.status_filter == "spec" and len(values) > 1:
            raise EmuError(400, 'BAD_REQUEST: "status" must be given once, its values joined by commas')
        if self.status_filter == "sdk" and any("," in v for v in values):
            raise EmuError(400, f'BAD_REQUEST: "status" must be one of {", ".join(SDK_STATUSES)} per parameter')
        allowed = PUBLISHED_STATUSES if self.status_filter == "spec" else SDK_STATUSES
        wanted = [s.strip() for v in values for s in v.split(",")]
        if not wanted or any(s not in allowed for s in wanted):
            raise EmuError(400, f'BAD_REQUEST: "status" must be recording statuses ({", ".join(allowed)}), '
                                f"got {','.join(values)!r}")
        return {Status(s) for s in wanted}
