"""Who may do what (pure rules), and the one lookup they may need: whether someone is a workspace admin.

Privacy first: anyone in the channel may pause (a pause can only keep something off the record),
people from another workspace included. Everything else that changes something is for the
channel's controllers: whoever linked it, workspace admins and owners, and whoever they `allow`.
`deny` bars a person from every action, pausing included.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import cast, overload

from bot.models import Actor, Link, Role, Team
from bot.service.outcomes import Refusal
from bot.store import Store, Tx

CONTROLLER_ONLY = {"link", "unlink", "new", "start", "resume", "stop", "allow", "deny", "unallow", "refresh_link",
                   "end", "settings", "post_summary"}
PRIVACY_ACTIONS = {"pause", "snooze"}  # they can only keep something off the record: anyone may
READ_ONLY = {"help", "status", "history", "who"}  # answered from the store alone; change nothing
NEEDS_NO_LINK = {"link", "new", "history"}  # the /rec commands that make sense in a channel not linked yet
UNREAD = object()  # a role not read yet


@dataclass(frozen=True)
class Allowed:
    """The person may run the command here; with the channel's link and their role in it, as read."""

    link: Link | None
    role: Role | None


@dataclass(frozen=True)
class Refused:
    """The person may not: `reason` says why, or is None when the channel is not linked to a meeting."""

    reason: Refusal | None
    wait: float | None = None  # Slack held the admin question back (a 429): seconds until it can be asked

    @property
    def detail(self) -> str:
        """As the audit says it."""
        return self.reason.value if self.reason else "not linked"


@overload
def check(actor: Actor, command: str, link: Link | None, role: Role | None, *, admin: bool) -> Allowed | Refused: ...


@overload
def check(actor: Actor, command: str, link: Link | None, role: Role | None, *,
          admin: bool | None) -> Allowed | Refused | None: ...


def check(actor: Actor, command: str, link: Link | None, role: Role | None, *,
          admin: bool | None) -> Allowed | Refused | None:
    """The one check of a `/rec` command, made alike where it is acked (`Permissions.known`) and where it is
    handled (`Commands._begin`, then `Permissions.check`). None only when the answer turns on whether the
    person is a workspace admin and `admin` is not known: the handler then asks Slack."""
    if link is None and command not in NEEDS_NO_LINK:
        return Refused(None)
    if admin is None:
        if admin_matters(command, actor, link, role):
            return None
        admin = False
    why = refusal(command, actor, link, role, admin=admin)
    return Allowed(link, role) if why is None else Refused(why)


def refusal(action: str, actor: Actor, link: Link | None, role: Role | None, *, admin: bool) -> Refusal | None:
    """Why `actor` may not do `action` here, or None."""
    if actor.user_id is None:  # recbot's own timers and guards
        return None
    if role is Role.DENY:
        return Refusal.DENIED
    if action in PRIVACY_ACTIONS:
        return None
    if link and link.team_id and actor.team_id and actor.team_id != link.team_id:
        return Refusal.OTHER_WORKSPACE
    if action not in CONTROLLER_ONLY or (link is None and action in ("link", "new")):
        return None
    if is_controller(actor.user_id, link, role, admin=admin):
        return None
    return Refusal.NOT_CONTROLLER


def is_controller(user_id: str, link: Link | None, role: Role | None, *, admin: bool) -> bool:
    return bool((link and link.linked_by == user_id) or role is Role.ALLOW or admin)


def admin_matters(action: str, actor: Actor, link: Link | None, role: Role | None) -> bool:
    """Whether the answer of `refusal` depends on the person being an admin (worth a lookup)."""
    return refusal(action, actor, link, role, admin=True) != refusal(action, actor, link, role, admin=False)


def named_controllers(tx: Tx, channel_id: str) -> list[str]:
    """The controllers recbot can name (admins it cannot list): whoever linked it and whoever they allowed."""
    link = tx.link(channel_id)
    allowed = [m.user_id for m in tx.members(channel_id) if m.role is Role.ALLOW]
    return ([link.linked_by] if link and link.linked_by else []) + allowed


class Permissions:
    def __init__(self, store: Store, is_admin: Callable[[str, Team], Awaitable[bool]] | None = None,
                 known_admin: Callable[[str, Team], bool | None] | None = None,
                 held: Callable[[str, Team], float | None] | None = None):
        self.store, self.is_admin, self.known_admin, self.held = store, is_admin, known_admin, held

    def known(self, actor: Actor, command: str, link: Link | None, role: Role | None) -> Allowed | Refused | None:
        """`check` with what is known without asking anyone (an admin seen lately), for the ack; None when
        only Slack can tell."""
        admin: bool | None = False
        if self.is_admin and actor.user_id and admin_matters(command, actor, link, role):
            admin = self.known_admin(actor.user_id, actor.team) if self.known_admin else None
        return check(actor, command, link, role, admin=admin)

    async def check(self, actor: Actor, command: str, link: Link | None, role: Role | None) -> Allowed | Refused:
        """`check`, asking Slack whether the person is an admin when that decides it."""
        admin = False
        if self.is_admin and actor.user_id and admin_matters(command, actor, link, role):
            admin = await self.is_admin(actor.user_id, actor.team)
        verdict = check(actor, command, link, role, admin=admin)
        if isinstance(verdict, Refused) and (wait := self.waiting(actor, verdict.reason)):
            return Refused(verdict.reason, wait)
        return verdict

    def waiting(self, actor: Actor, why: Refusal | None) -> float | None:
        """When `why` is only for not being an admin and Slack could not be asked (a 429 holds users.info):
        the seconds before it can, to say so; else None."""
        if why is not Refusal.NOT_CONTROLLER or not self.held or not actor.user_id:
            return None
        return self.held(actor.user_id, actor.team)

    async def refusal(self, actor: Actor, action: str, link: Link | None,
                      role: str | object | None = UNREAD) -> Refusal | None:
        """Why `actor` may not do `action` here, or None. `role` is the person's in the channel, when the
        caller has read it already; else it is read here."""
        known: Role | None
        if role is UNREAD:
            known = await self.store.read(Tx.role, actor.channel_id, actor.user_id) if actor.user_id else None
        else:
            known = cast("Role | None", role)
        admin = False
        if self.is_admin and actor.user_id and admin_matters(action, actor, link, known):
            admin = await self.is_admin(actor.user_id, actor.team)
        return refusal(action, actor, link, known, admin=admin)
