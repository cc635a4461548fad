"""How a Web API call's arguments reach the local Slack: a form post or a JSON body, and the JSON inside a
form's fields (blocks, views, users, outputs)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request


async def _arguments(request: Request) -> dict[str, Any]:
    args: dict[str, Any] = dict(request.query_params)
    raw = await request.body()
    if raw:
        if request.headers.get("content-type", "").startswith("application/json"):
            try:
                args.update(json.loads(raw))
            except ValueError:
                pass
        else:
            args.update(dict(parse_qsl(raw.decode(errors="replace"))))
    return args


def _blocks(value: Any) -> Any:
    """Blocks (or a view) as sent: JSON text in a form post, a list or object in a JSON body."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    return value if isinstance(value, list | dict) else None


def _json(value: Any, default: Any) -> Any:
    """A JSON argument, as text (a form post) or as sent (a JSON body)."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return default
    return default if value is None else value


def _truthy(value: Any) -> bool:
    return value in (True, "true", "1", 1)
