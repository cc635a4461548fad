"""Reading what Slack would show in the loopback stack."""

import json

from bot.models import Status
from tests.conftest import CHANNEL, until


async def reply_to(stack, user: str, after: int, timeout: float = 5.0) -> str:
    """The next ephemeral message for `user` after `after` earlier ones."""
    found = await until(lambda: stack.slack.ephemeral_for(user)[after:], timeout, message=f"a reply to {user}")
    return found[0]["text"]


async def run(stack, user: str, text: str, channel: str = CHANNEL, timeout: float = 5.0) -> tuple[str, str]:
    """Send /rec text; return (the ack's text, the answer: the follow-up ephemeral reply, or the ack itself
    when it is the whole answer, as a refusal is)."""
    before = len(stack.slack.ephemeral_for(user))
    response = await stack.command(user, text, channel=channel)
    assert response.status_code == 200, response.text
    ack = ack_text(response)
    if ack.endswith("…") or not ack:  # "Pausing…", or nothing yet: the outcome follows as an ephemeral reply
        return ack, await reply_to(stack, user, before, timeout)
    return ack, ack


def ack_text(response) -> str:
    """What Slack shows of an ack: its text (the body is JSON, or plain text, or empty)."""
    if not response.text:
        return ""
    try:
        return json.loads(response.text).get("text", "")
    except ValueError:
        return response.text


async def status_is(stack, recording_id: str, status: Status, timeout: float = 5.0):
    store = stack.runtime.store
    return await until(lambda: store.recording(recording_id).status is status, timeout, f"{status.value}")


def recordings(stack):
    return stack.runtime.store.recordings_of_meeting(stack.meeting_id, [s.value for s in Status])


async def started(stack, user: str, text: str = "start"):
    """Start a recording and wait until it records; return it."""
    known = {r.id for r in recordings(stack)}
    await run(stack, user, text)
    rec = await until(lambda: [r for r in recordings(stack) if r.id not in known], message="a new recording")
    await status_is(stack, rec[0].id, Status.RECORDING)
    return stack.runtime.store.recording(rec[0].id)


def card_of(stack, rec):
    rec = stack.runtime.store.recording(rec.id)
    return stack.slack.messages.get((rec.channel_id, rec.card_ts)) if rec.card_ts else None


def thread_texts(stack, rec) -> list[str]:
    rec = stack.runtime.store.recording(rec.id)
    return [m.text for m in stack.slack.thread(rec.channel_id, rec.card_ts)] if rec.card_ts else []


def button_ids(message) -> list[str]:
    return [e["action_id"] for b in (message.blocks or []) if b["type"] == "actions" for e in b["elements"]]
