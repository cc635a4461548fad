"""The kinds of Slack's own surfaces (docs/calls-and-workflows.md): a meeting's Slack call brought in step,
the message that shows it, and the end of a Workflow Builder step."""

from __future__ import annotations

from bot.models import Outgoing
from bot.slack import calls
from bot.slack.kinds.base import (
    ANSWER,
    Kind,
    kind,
    level,
)


@kind
class CallInStep(Kind):
    """A meeting's Slack call, brought in step with what the store says it shows (`bot/slack/calls.py`): each
    difference is one Slack method. Its rows carry the call's key where a recording's carry its id."""

    kind = Outgoing.CALL
    method = "calls.add"  # the first of them; the others (participants, update, end) are on the same tier
    also = ("calls.participants.add", "calls.participants.remove", "calls.update", "calls.end")
    paced_per_channel = False  # no message: calls.* are limited per workspace
    serial = True

    def render(self, tx, sender, row):
        return calls.render(tx, row.payload)

    async def send(self, sender, client, row, rendered):
        await calls.bring_in_step(sender.store, client, rendered)
        return None


@kind
class CallPost(Kind):
    """The message that shows a call in a channel, once calls.add answered."""

    kind = Outgoing.CALL_POST
    looked_up = True
    most_compact = 2  # the text alone, without the call block

    async def send(self, sender, client, row, rendered):
        text, call_blocks = calls.post(row.payload)
        extra = {} if level(row) else {"blocks": call_blocks}
        return (await client.chat_postMessage(channel=row.channel_id, text=text, unfurl_links=False,
                                              metadata=sender.metadata(row), **extra))["ts"]


@kind
class StepDone(Kind):
    """The end of a Workflow Builder step, with the token Slack gave for that execution (as Bolt's complete and
    fail use it): its outputs, or why it failed, in the words the command would have answered."""

    kind = Outgoing.STEP_DONE
    paced_per_channel = False

    def method_of(self, row, rec):
        return "functions.completeError" if "error" in row.payload else "functions.completeSuccess"

    def rank(self, payload):
        return ANSWER

    async def send(self, sender, client, row, rendered):
        p = row.payload
        token = {"token": p["token"]} if p.get("token") else {}
        if "error" in p:
            await client.functions_completeError(function_execution_id=p["execution_id"], error=p["error"], **token)
        else:
            await client.functions_completeSuccess(function_execution_id=p["execution_id"], outputs=p["outputs"],
                                                   **token)
        return None
