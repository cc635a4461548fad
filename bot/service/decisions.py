"""Applying a decision: everything it writes and says, in one transaction, or nothing.

The state change, its ledger entries, its timers, its audit rows and every outbox row it causes
commit together. A crash leaves the decision whole or absent, never half; the reconciler brings an
absent one back whole from the platform's truth.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from bot.errors import RecbotError
from bot.models import Actor, Notice, Outgoing, Recording
from bot.service.transitions import Decision
from bot.store import Store, on_store_thread

log = logging.getLogger(__name__)


def audit_row(actor: Actor, action: str, outcome: str, target: str | None = None,
              detail: str | None = None) -> dict[str, Any]:
    """One audit row: who did `action` where, and how it ended (`Decision.audit` holds these)."""
    return {"channel_id": actor.channel_id, "user_id": actor.user_id, "action": action, "outcome": outcome,
            "target": target, "detail": detail}


class Audited:
    """The one way a service audits what a person asked for outside a `Decision`."""

    store: Store

    @on_store_thread
    def _audit(self, actor: Actor, action: str, outcome: str, target: str | None = None,
               detail: str | None = None) -> None:
        self.store.audit(**audit_row(actor, action, outcome, target, detail))


class Stale(RecbotError):
    """The recording moved since the decision was made; nothing was written."""


class Writer:
    """Runs on the store's thread (`store.call`, `on_store_thread`); `on_write` may be called from any thread."""

    def __init__(self, store: Store, on_write: Callable[[], None] = lambda: None):
        self.store, self.on_write = store, on_write

    def write(self, d: Decision) -> bool:
        """Write `d` whole; False (and nothing written) when the recording moved meanwhile."""
        store = self.store
        try:
            with store.transaction():
                if d.new_recording is not None and store.add_recording(**d.new_recording) is None:
                    raise Stale(d.recording_id)
                for n, step in enumerate(d.steps):
                    if not store.transition(d.recording_id, step.expected, step.new, at=step.at, actor=step.actor,
                                            source=step.source, reason=step.reason, action=step.action,
                                            asked_at=d.asked_at if n == 0 else None, seen_at=d.seen_at,
                                            **step.fields):
                        raise Stale(d.recording_id)
                if d.late is not None and not store.step_before_stop(
                        d.recording_id, d.late.expected, d.late.new, at=d.late.at, actor=d.late.actor,
                        source=d.late.source, reason=d.late.reason):
                    raise Stale(d.recording_id)
                if d.touch and not d.steps:
                    store.news_seen(d.recording_id, d.report_asked_at)
                if d.file:
                    store.update_recording(d.recording_id, **d.file)
                if d.cancel_timers:
                    store.timers.cancel(d.recording_id, d.cancel_timers)
                for kind, due, payload in d.set_timers:
                    store.timers.set(kind, d.recording_id, due, payload)
                for row in d.audit:
                    store.audit(**row)
                if d.notices or d.card:
                    rec = store.recording(d.recording_id)
                    assert rec is not None
                    for notice, params in d.notices:
                        self.notice(rec, notice, **params)
                    if d.card:
                        self.card(rec)
        except Stale:
            return False
        if d.notices or d.card:
            self.on_write()
        return True

    # Helpers for decisions that are only something to say; inside a transaction they join it.

    def card(self, rec: Recording) -> None:
        """The card is rendered from the store when sent, so pending refreshes of one card merge."""
        self.store.outbox.enqueue(Outgoing.CARD, {}, channel_id=rec.channel_id, recording_id=rec.id,
                                  coalesce_key=f"card:{rec.id}", team=rec.team)
        self.store.calls.touch(meeting_id=rec.meeting_id)  # a live call's title says whether it records

    def notice(self, rec: Recording, notice: Notice, **params: Any) -> None:
        self.store.outbox.enqueue(Outgoing.THREAD, {"notice": notice.value, **params}, channel_id=rec.channel_id,
                                  recording_id=rec.id, team=rec.team)

    def remind(self, rec: Recording, notice: Notice, controllers: list[str], **params: Any) -> None:
        """A reminder in the thread, naming who paused and the controllers, and to each controller a message
        only they see with the buttons only they may use."""
        self.notice(rec, notice, controllers=controllers, **params)
        for user in dict.fromkeys(controllers):
            self.store.outbox.enqueue(Outgoing.WHISPER, {"notice": notice.value, "for": user, **params},
                                      channel_id=rec.channel_id, recording_id=rec.id, team=rec.team)

    @on_store_thread
    def say(self, rec: Recording, notice: Notice, **params: Any) -> None:
        """One notice as a decision of its own."""
        with self.store.transaction():
            self.notice(rec, notice, **params)
        self.on_write()
