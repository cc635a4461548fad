"""What Slack refuses, so that the local Slack refuses it too: Block Kit checked with `slack_sdk`'s
own models, plus the documented limits those models do not check.

Limits (api.slack.com/reference/block-kit): a message has at most 50 blocks and a Home tab or modal
100; a section's text 3,000 characters, its fields 10 of 2,000; a header 150; a context 10
elements; an actions block 25 elements; a button's text 75, its value 2,000, an action_id or
block_id 255; block_ids unique in one message; text objects not empty. A message's `text` over
40,000 characters is `msg_too_long`.
"""

from __future__ import annotations

from typing import Any

from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block

MESSAGE_BLOCKS = 50
VIEW_BLOCKS = 100
TEXT_LIMIT = 40_000


def refusal(text: Any, blocks: Any, *, max_blocks: int = MESSAGE_BLOCKS) -> tuple[str, str] | None:
    """(Slack's error code, what is wrong), or None when Slack would take the message."""
    if isinstance(text, str) and len(text) > TEXT_LIMIT:
        return "msg_too_long", f"text is {len(text)} characters, over {TEXT_LIMIT}"
    if blocks is None:
        return None
    if not isinstance(blocks, list):
        return "invalid_blocks", "blocks must be a list"
    if len(blocks) > max_blocks:
        return "invalid_blocks", f"{len(blocks)} blocks, over {max_blocks}"
    seen: set[str] = set()
    for n, raw in enumerate(blocks):
        problem = block_problem(raw)
        if problem is None and isinstance(raw, dict) and raw.get("block_id"):
            problem = "a repeated block_id" if raw["block_id"] in seen else None
            seen.add(raw["block_id"])
        if problem:
            return "invalid_blocks", f"block {n}: {problem}"
    return None


def block_problem(raw: Any) -> str | None:
    if not isinstance(raw, dict):
        return "not an object"
    block = Block.parse(raw)
    if block is None:
        return f"unknown block type {raw.get('type')!r}"
    try:
        block.validate_json()
    except SlackObjectFormationError as exc:
        return str(exc)
    if len(str(raw.get("block_id", ""))) > 255:
        return "block_id over 255 characters"
    for obj in _text_objects(raw):
        if not str(obj.get("text", "")).strip():
            return "a text object must not be empty"
    for field in raw.get("fields") or []:
        if len(str(field.get("text", ""))) > 2000:
            return "a field's text is over 2,000 characters"
    for element in raw.get("elements") or []:
        if isinstance(element, dict) and element.get("type") == "button":
            if len(str((element.get("text") or {}).get("text", ""))) > 75:
                return "a button's text is over 75 characters"
            if len(str(element.get("value", ""))) > 2000 or len(str(element.get("action_id", ""))) > 255:
                return "a button's value or action_id is too long"
    if raw.get("type") == "actions" and len(raw.get("elements") or []) > 25:
        return "more than 25 elements in an actions block"
    return None


def _text_objects(raw: dict[str, Any]) -> list[dict[str, Any]]:
    found = [raw["text"]] if isinstance(raw.get("text"), dict) else []
    found += [f for f in raw.get("fields") or [] if isinstance(f, dict)]
    if raw.get("type") == "context":
        found += [e for e in raw.get("elements") or [] if isinstance(e, dict) and "text" in e]
    return found
