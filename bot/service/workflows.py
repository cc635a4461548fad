"""Workflow Builder steps (Slack's custom steps): start, pause, resume and stop, as the command would.

Who acts is the whole question. Anyone who can build a workflow can type any user into an input, so no
input names the actor. When a person ran the workflow, Slack fills `interactivity.interactor.id`: that
person acts, with exactly their permissions for the command. With nobody behind it (a scheduled or
event trigger) a step acts only in a channel whose controllers turned `workflows` on, as the workflow
(audited with its ids); a pause, which can only keep something off the record, is always allowed.
Each step (its `function_execution_id`) acts once, however often Slack sends it.
On the loop; `_begin` is below the store boundary (a function over a `Tx`, `store.write`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from bot.models import Actor, Command, Link, Source, Status, Team
from bot.service.commands import Commands
from bot.service.decisions import Audited
from bot.service.outcomes import Refusal, Reply, Say
from bot.service.settings import ChannelSettings
from bot.store import Store, Tx

log = logging.getLogger(__name__)

STEPS = {"start_recording": "start", "pause_recording": "pause", "resume_recording": "resume",
         "stop_recording": "stop"}  # the manifest's functions, and the command each one is
MAX_MINUTES = 1440


@dataclass(frozen=True)
class Step:
    execution_id: str  # Slack's function_execution_id
    action: str  # start | pause | resume | stop
    channel_id: str | None
    interactor: str | None  # interactivity.interactor.id: the person who ran the workflow, if one did
    team: Team
    minutes: object = None  # pause_recording's optional input, as sent
    workflow_execution_id: str | None = None


@dataclass(frozen=True)
class StepResult:
    reply: Reply
    recording_id: str | None = None
    status: Status | None = None

    @property
    def ok(self) -> bool:
        return self.reply.ok and self.recording_id is not None


class Workflows(Audited):
    def __init__(self, store: Store, commands: Commands, clock: Callable[[], float] = time.time):
        self.store, self.commands, self.clock = store, commands, clock

    async def run(self, step: Step) -> StepResult | None:
        """Act on `step` as the command would; None when it was acted on already (Slack sent it again)."""
        actor = Actor(user_id=step.interactor, channel_id=step.channel_id or "", team_id=step.team.team_id,
                      enterprise_id=step.team.enterprise_id, via=Source.WORKFLOW)
        ids = f"workflow {step.workflow_execution_id or '?'}, step {step.execution_id}"
        first, link, settings = await self.store.write(self._begin, step, actor, ids)
        if not first:
            log.info("workflow step %s was sent again; it acted once already", step.execution_id)
            return None
        if not step.channel_id:
            return StepResult(Reply.one(Say.STEP_NO_CHANNEL, ok=False))
        duration = None
        if step.action == "pause" and step.minutes not in (None, ""):
            try:
                duration = float(step.minutes) * 60  # type: ignore[arg-type]
            except (TypeError, ValueError):
                duration = -1.0
            if not 60 <= duration <= MAX_MINUTES * 60:
                return await self._refused(actor, step, Reply.one(Say.STEP_MINUTES, ok=False), "minutes")
        if step.action != "pause" and link is not None and link.team_id and step.team.team_id != link.team_id:
            # A step acts only in its own workspace's channels, whoever ran it; one whose workspace is unknown
            # (the door could not tell) is taken as another's, or an admin of any workspace of the org would do.
            return await self._refused(actor, step, Reply.one(Say.REFUSED, ok=False, reason=Refusal.OTHER_WORKSPACE),
                                       "other workspace")
        if step.interactor is None and step.action != "pause" and settings is not None and link is not None:
            if not settings.workflows:
                return await self._refused(actor, step, Reply.one(Say.WORKFLOWS_OFF, ok=False), "workflows off")
        reply = await self.commands.handle(actor, Command(step.action, duration=duration))
        if not reply.ok or link is None:
            return StepResult(reply)
        handle = next((line.params["handle"] for line in reply.lines if line.params.get("handle") is not None), None)
        rec = await self.store.read(Tx.recording_by_handle, link.meeting_id, handle) if handle is not None else None
        return StepResult(reply, rec.id if rec else None, rec.status if rec else None)

    def _begin(self, tx: Tx, step: Step, actor: Actor, ids: str) -> tuple[bool, Link | None, ChannelSettings | None]:
        """Claim the step (once), audit it with the workflow's ids, and read the channel's link and settings."""
        first = tx.db.changed(
            "INSERT INTO function_runs (execution_id, callback_id, channel_id, team_id, received_at) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING", step.execution_id, step.action, step.channel_id,
            step.team.team_id, self.clock()) > 0
        self._audit_in(tx, actor, f"workflow:{step.action}", "requested" if first else "repeated",
                       detail=f"{ids}; " + ("run by this person" if step.interactor else "nobody ran it"))
        link = tx.link(step.channel_id) if step.channel_id else None
        settings = ChannelSettings.of(tx.notes.settings(step.channel_id)) if step.channel_id else None
        return first, link, settings

    async def _refused(self, actor: Actor, step: Step, reply: Reply, why: str) -> StepResult:
        await self._audit(actor, f"workflow:{step.action}", "refused", detail=why)
        return StepResult(reply)
