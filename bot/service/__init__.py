"""The rules, one room per job, as a ladder with no circles:

    transitions   (pure) a recording's next state and everything that follows from it
    permissions   (pure) who may do what
    decisions     applying a decision: all it writes and says, in one transaction
    truth         learning the platform's truth: apply news, refresh, adopt
    confirmations asking which of RECORDING and PAUSED is true, many recordings at a time
    after         marks, attendance, transcripts, summaries, channel settings
    accounts      each workspace's own platform account (connect, disconnect)
    actions       pause / resume / stop, end, snooze, fresh link ┐
    commands      /rec …                                         │ the starters, side by side
    news          webhooks                                       │
    guards        timers and the reconciler                      ┘

It knows nothing of HTTP or Block Kit: it returns meaning (`outcomes.Reply`), and writes notices
to the outbox as meaning too (`models.Notice`); `bot/slack/` turns both into words.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from bot.config import Guardrails
from bot.models import Team
from bot.platform.accounts import Platforms
from bot.platform.client import PlatformClient
from bot.service.accounts import Accounts
from bot.service.actions import Actions
from bot.service.after import AfterMeeting
from bot.service.calls import Calls
from bot.service.commands import Commands
from bot.service.confirmations import Confirmations
from bot.service.decisions import Writer
from bot.service.guards import Guards
from bot.service.news import News
from bot.service.permissions import Permissions
from bot.service.truth import RetryLater, Truth
from bot.service.workflows import Workflows
from bot.store import Store
from bot.tasks import Tasks

__all__ = ["RetryLater", "Service"]


class Service:
    def __init__(self, store: Store, platform: PlatformClient | Platforms, *, guardrails: Guardrails | None = None,
                 clock: Callable[[], float] = time.time, is_admin: Callable[[str, Team], Awaitable[bool]] | None = None,
                 on_write: Callable[[], None] = lambda: None, tasks: Tasks | None = None,
                 join_url: str | None = None):
        guardrails = guardrails or Guardrails()
        platform = platform if isinstance(platform, Platforms) else Platforms(platform, store)
        self.store, self.platform, self.guardrails, self.clock = store, platform, guardrails, clock
        self.tasks = tasks or Tasks()
        self.writer = Writer(on_write)
        self.permissions = Permissions(store, is_admin)
        self.truth = Truth(store, platform, self.writer, guardrails, self.tasks, clock)
        self.after = AfterMeeting(store, platform, self.writer, self.permissions, guardrails, clock)
        self.calls = Calls(store, platform, self.writer, join_url, clock)
        self.actions = Actions(store, platform, self.truth, self.writer, self.after, self.permissions, guardrails,
                               clock)
        self.accounts = Accounts(store, platform, self.permissions, on_write)
        self.commands = Commands(store, platform, self.truth, self.writer, self.actions, self.after, self.permissions,
                                 self.accounts, self.calls, clock)
        self.workflows = Workflows(store, self.commands, clock)
        self.confirmations = Confirmations(store, platform, self.truth, self.tasks)
        self.news = News(store, platform, self.truth, self.writer, self.after, self.confirmations,
                         self.commands.auto_record, self.calls, guardrails, clock)
        self.guards = Guards(store, platform, self.truth, self.writer, self.actions, self.after, self.calls, guardrails,
                             clock)
