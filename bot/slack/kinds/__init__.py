"""What each outbox row sends: one small class per `models.Outgoing` kind, registered by it.

A kind says which Slack method it calls (the outbox budgets per workspace and method), how urgent it
is when the budget is short, how to render it from the store (`render(tx, …)`: on the store's thread,
over the Tx it is handed, when it is sent, so a card shows its latest state), how to send it (on the
loop), and how far it can degrade when Slack refuses it:

    0  as designed
    1  compact: the essentials in a block or two
    2  the text alone
    3  one short line that points to `/rec history`

The rooms: `base.py` (what every kind is, the registry, levels, urgency), then one module per family:
`recording.py` (a card and its thread), `calls_and_steps.py` (Slack calls, Workflow Builder steps),
`messages.py` (channel and direct messages, App Home, forms, answers). To add a kind: a member of
`Outgoing`, a subclass of `Kind` in its family's module, decorated with `@kind`.
"""

from __future__ import annotations

from bot.slack.kinds.base import KINDS, MOST_COMPACT, URGENT_NOTICES, Kind, Sender, kind, level, of, rank, shaped
from bot.slack.kinds.calls_and_steps import CallInStep, CallPost, StepDone
from bot.slack.kinds.messages import Answer, Dm, Ephemeral, Home, Modal, Respond, elsewhere
from bot.slack.kinds.recording import Card, InThread, Note, Thread, Upload, Whisper

__all__ = [
    "KINDS",
    "MOST_COMPACT",
    "URGENT_NOTICES",
    "Answer",
    "CallInStep",
    "CallPost",
    "Card",
    "Dm",
    "Ephemeral",
    "Home",
    "InThread",
    "Kind",
    "Modal",
    "Note",
    "Respond",
    "Sender",
    "StepDone",
    "Thread",
    "Upload",
    "Whisper",
    "elsewhere",
    "kind",
    "level",
    "of",
    "rank",
    "shaped",
]
