"""Applying a decision: everything it writes and says, in one transaction, or nothing. Below the store
boundary: functions over the `Tx` that `store.write` hands out (`Audited._audit` alone is awaited on the loop).

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
from bot.store import Store, Tx

log = logging.getLogger(__name__)


def audit_row(actor: Actor, action: str, outcome: str, target: str | None = None,
              detail: str | None = None) -> dict[str, Any]:
    """One audit row: who did `action` where, and how it ended (`Decision.audit` holds these)."""
    return {"channel_id": actor.channel_id, "user_id": actor.user_id, "action": action, "outcome": outcome,
            "target": target, "detail": detail}


class Audited:
    """The one way a service audits what a person asked for outside a `Decision`."""

    store: Store

    async def _audit(self, actor: Actor, action: str, outcome: str, target: str | None = None,
                     detail: str | None = None) -> None:
        """On the loop: one audit row, a write of its own."""
        await self.store.write(self._audit_in, actor, action, outcome, target, detail)

    @staticmethod
    def _audit_in(tx: Tx, actor: Actor, action: str, outcome: str, target: str | None = None,
                  detail: str | None = None) -> None:
        """On the store's thread: one audit row, in the caller's transaction."""
        tx.audit(**audit_row(actor, action, outcome, target, detail))


class Stale(RecbotError):
    """The recording moved since the decision was made; nothing was written."""


class Writer:
    """Writes decisions into the `Tx` it is handed (on the store's thread, inside `store.write`); `on_write`
    (the outbox's wake) may be called from any thread."""

    def __init__(self, on_write: Callable[[], None] = lambda: None):
        self.on_write = on_write

    def write(self, tx: Tx, d: Decision) -> bool:
        """Write `d` whole; False (and nothing written) when the recording moved meanwhile."""
        try:
            with tx.transaction():
                if d.new_recording is not None and tx.add_recording(**d.new_recording) is None:
                    raise Stale(d.recording_id)
                for n, step in enumerate(d.steps):
                    if not tx.transition(d.recording_id, step.expected, step.new, at=step.at, actor=step.actor,
                                         source=step.source, reason=step.reason, action=step.action,
                                         asked_at=d.asked_at if n == 0 else None, seen_at=d.seen_at,
                                         **step.fields):
                        raise Stale(d.recording_id)
                if d.late is not None and not tx.step_before_stop(
                        d.recording_id, d.late.expected, d.late.new, at=d.late.at, actor=d.late.actor,
                        source=d.late.source, reason=d.late.reason):
                    raise Stale(d.recording_id)
                if d.touch and not d.steps:
                    tx.news_seen(d.recording_id, d.report_asked_at)
                if d.file:
                    tx.update_recording(d.recording_id, **d.file)
                if d.cancel_timers:
                    tx.timers.cancel(d.recording_id, d.cancel_timers)
                for kind, due, payload in d.set_timers:
                    tx.timers.set(kind, d.recording_id, due, payload)
                for row in d.audit:
                    tx.audit(**row)
                if d.notices or d.card:
                    rec = tx.recording(d.recording_id)
                    assert rec is not None
                    for notice, params in d.notices:
                        self.notice(tx, rec, notice, **params)
                    if d.card:
                        self.card(tx, rec)
        except Stale:
            return False
        if d.notices or d.card:
            self.on_write()
        return True

    # Helpers for decisions that are only something to say; inside a transaction they join it.

    def card(self, tx: Tx, rec: Recording) -> None:
        """The card is rendered from the store when sent, so pending refreshes of one card merge."""
        tx.outbox.enqueue(Outgoing.CARD, {}, channel_id=rec.channel_id, recording_id=rec.id,
                          coalesce_key=f"card:{rec.id}", team=rec.team)
        tx.calls.touch(meeting_id=rec.meeting_id)  # a live call's title says whether it records

    def notice(self, tx: Tx, rec: Recording, notice: Notice, **params: Any) -> None:
        tx.outbox.enqueue(Outgoing.THREAD, {"notice": notice.value, **params}, channel_id=rec.channel_id,
                          recording_id=rec.id, team=rec.team)

    def remind(self, tx: Tx, rec: Recording, notice: Notice, controllers: list[str], **params: Any) -> None:
        """A reminder in the thread, naming who paused and the controllers, and to each controller a message
        only they see with the buttons only they may use."""
        self.notice(tx, rec, notice, controllers=controllers, **params)
        for user in dict.fromkeys(controllers):
            tx.outbox.enqueue(Outgoing.WHISPER, {"notice": notice.value, "for": user, **params},
                              channel_id=rec.channel_id, recording_id=rec.id, team=rec.team)

    def say(self, tx: Tx, rec: Recording, notice: Notice, **params: Any) -> None:
        """One notice as a decision of its own."""
        self.notice(tx, rec, notice, **params)
        self.on_write()
