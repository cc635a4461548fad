"""Workflow Builder steps (the manifest's `functions`): Bolt's `app.function`, over HTTP or Socket Mode.

Bolt acks the `function_executed` event at once; the step acts after the ack, as the command would
(`bot/service/workflows.py` says who acts), and ends through the outbox with functions.completeSuccess
(`recording_id`, `status`) or functions.completeError (the command's answer, in words).
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncApp

from bot import metrics
from bot.models import Team
from bot.service.outcomes import Reply, Say
from bot.service.workflows import STEPS, Step, StepResult
from bot.slack.handoff import Handoff, team_of
from bot.slack.replies import words
from bot.store import StoreBusy

log = logging.getLogger(__name__)


def register(app: AsyncApp) -> None:
    for callback_id, action in STEPS.items():
        app.function(callback_id)(_listener(action))


def _listener(action: str):
    async def run_step(event: dict[str, Any], body: dict[str, Any], context) -> None:  # Bolt has acked it
        handoff: Handoff = context["handoff"]
        team = team_of(context)
        if team.team_id is None and isinstance(body.get("team_id"), str):
            # An org-wide install: authorizations[0] names no workspace (so Bolt's context has none), but the
            # envelope's team_id is the workspace the workflow ran in, whose channels alone the step may act on.
            team = Team(body["team_id"], team.enterprise_id)
        inputs = event.get("inputs") or {}
        interactivity = inputs.get("interactivity") if isinstance(inputs.get("interactivity"), dict) else {}
        interactor = (interactivity.get("interactor") or {}).get("id") if interactivity else None
        step = Step(execution_id=str(event.get("function_execution_id") or ""), action=action,
                    channel_id=inputs.get("channel_id") if isinstance(inputs.get("channel_id"), str) else None,
                    interactor=interactor if isinstance(interactor, str) and interactor else None,
                    team=team, minutes=inputs.get("minutes"),
                    workflow_execution_id=event.get("workflow_execution_id"))
        handoff.tasks.spawn(_run(handoff, step, event.get("bot_access_token")), f"workflow step {action}")

    return run_step


async def _run(handoff: Handoff, step: Step, token: str | None) -> None:
    try:
        result = await handoff.service.workflows.run(step)
        outcome = "repeat" if result is None else "ok" if result.ok else "refused"
    except StoreBusy:
        log.exception("database unavailable for workflow step %s", step.execution_id)
        result, outcome = StepResult(Reply.one(Say.BUSY, ok=False)), "busy"
    except Exception:
        log.exception("workflow step %s failed", step.execution_id)
        result, outcome = StepResult(Reply.one(Say.FAILED, ok=False)), "failed"
    metrics.count(metrics.STEPS, step.action, outcome)
    if result is None:  # Slack sent it again: it acted once, and its end is on its way
        return
    if result.ok:
        outputs = {"recording_id": result.recording_id, "status": result.status.value if result.status else ""}
        await handoff.courier.complete_step(step.execution_id, token, step.team, outputs=outputs)
    else:
        await handoff.courier.complete_step(step.execution_id, token, step.team, error=words(result.reply)[0])
