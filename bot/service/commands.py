"""`/rec …` commands: links, starting (by hand or by auto-record: `Starts`, starts.py), the read-only views and who may
control recordings. Actions on recordings (`pause`, `resume`, `stop`, `end`) go to `actions.py`;
marks, summaries and settings to `after.py`. On the loop; the methods that take a `tx` are below the store
boundary (`store.read` / `store.write`)."""

from __future__ import annotations

import time
from collections.abc import Callable

from bot.models import ACTIVE, Actor, Command, Link, Outgoing, Role
from bot.platform.accounts import Platforms
from bot.platform.errors import NotFound, PlatformError
from bot.service.accounts import Accounts
from bot.service.actions import Actions
from bot.service.after import AfterMeeting
from bot.service.calls import Calls
from bot.service.decisions import Writer
from bot.service.outcomes import Reply, Say, StatusLine, failed
from bot.service.permissions import READ_ONLY, Allowed, Permissions, Refused, check
from bot.service.starts import Starts
from bot.service.truth import Truth
from bot.store import Store, StoreBusy, Tx

WORKSPACE_WIDE = ("connect", "disconnect")  # about the workspace, not the channel: no link needed


class Commands(Starts):
    def __init__(self, store: Store, platform: Platforms, truth: Truth, writer: Writer, actions: Actions,
                 after: AfterMeeting, permissions: Permissions, accounts: Accounts, calls: Calls,
                 clock: Callable[[], float] = time.time):
        self.store, self.platform, self.truth, self.writer, self.accounts = store, platform, truth, writer, accounts
        self.calls = calls
        self.actions, self.after, self.permissions, self.clock = actions, after, permissions, clock

    async def refuse_usage(self, actor: Actor, message: str) -> None:
        """A command that did not parse: audited, nothing else."""
        await self._audit(actor, "usage", "refused", detail=message[:200])

    async def known_refusal(self, actor: Actor, cmd: Command) -> tuple[bool, Reply | None]:
        """(decided, the refusal) from the store and caches alone, so that a refusal is the first thing said."""
        if cmd.name in WORKSPACE_WIDE:  # for workspace admins: asked of Slack after the ack
            return False, None
        link, role = await self.store.read(self._link_and_role, actor)
        verdict = self.permissions.known(actor, cmd.name, link, role)
        return verdict is not None, _refused(verdict) if isinstance(verdict, Refused) else None

    @staticmethod
    def _link_and_role(tx: Tx, actor: Actor) -> tuple[Link | None, Role | None]:
        link = tx.link(actor.channel_id)
        return link, tx.role(actor.channel_id, actor.user_id) if actor.user_id else None

    def _begin(self, tx: Tx, actor: Actor, cmd: Command
               ) -> tuple[Link | None, Role | None, Allowed | None, Reply | None]:
        """What a command that changes something reads and writes first, in one trip (`store.write`): the
        link, the person's role, the check (`permissions.check`: Allowed, or None when only Slack can tell
        whether the person is an admin), the request audited, and a refusal, audited too."""
        link, role = self._link_and_role(tx, actor)
        self.retry_lost_channel(tx, link)
        # Audited before anything else: if the store cannot take this write, nothing is touched.
        self._audit_in(tx, actor, cmd.name, "requested")
        verdict = check(actor, cmd.name, link, role, admin=None)
        if isinstance(verdict, Refused):
            self._audit_in(tx, actor, cmd.name, "refused", detail=verdict.detail)
            return link, role, None, _refused(verdict)
        return link, role, verdict, None

    def _view(self, tx: Tx, actor: Actor, cmd: Command
              ) -> tuple[Link | None, Role | None, Allowed | Refused | None, Reply | None]:
        """A read-only command in one trip (`store.read`, no transaction): the link, the role, the check, and
        what it shows when the store alone answers."""
        link, role = self._link_and_role(tx, actor)
        verdict = check(actor, cmd.name, link, role, admin=None)
        if not isinstance(verdict, Allowed):
            return link, role, verdict, None
        if cmd.name == "history":
            return link, role, verdict, self.history(tx, actor, link)
        assert link is not None
        if cmd.name == "status":
            return link, role, verdict, self.status(tx, link)
        return link, role, verdict, Reply.one(Say.WHO, link=link, members=tx.members(actor.channel_id))

    async def handle(self, actor: Actor, cmd: Command) -> Reply:
        if cmd.name == "help":
            return Reply.one(Say.HELP)
        if cmd.name == "connect":
            return await self.accounts.open_form(actor, cmd.trigger_id)
        if cmd.name == "disconnect":
            return await self.accounts.disconnect(actor)
        if cmd.name in READ_ONLY:  # the store alone answers: a read (a write only for a lost channel, a refusal)
            link, role, verdict, answer = await self.store.read(self._view, actor, cmd)
            if link and link.broken_reason:
                await self.store.write(self.retry_lost_channel, link)
            if isinstance(verdict, Refused):
                await self._audit(actor, cmd.name, "refused", detail=verdict.detail)
                return _refused(verdict)
            allowed = verdict
        else:
            link, role, allowed, answer = await self.store.write(self._begin, actor, cmd)
        if answer is not None:
            return answer
        if allowed is None:  # whether the person is a workspace admin decides it: Slack is asked
            verdict = await self.permissions.check(actor, cmd.name, link, role)
            if isinstance(verdict, Refused):
                await self._audit(actor, cmd.name, "refused", detail=verdict.detail)
                return _refused(verdict)
        match cmd.name:
            case "link" | "new":
                return await self.link(actor, cmd, link)
            case "history":
                return await self.store.read(self.history, actor, link)
        assert link is not None
        match cmd.name:
            case "unlink":
                return await self.store.write(self.unlink, actor, link)
            case "start":
                return await self.start(actor, cmd, link)
            case "pause" | "resume" | "stop":
                return await self.actions.on_meeting(actor, cmd, link)
            case "status":
                return await self.store.read(self.status, link)
            case "who":
                return Reply.one(Say.WHO, link=link, members=await self.store.read(Tx.members, actor.channel_id))
            case "allow" | "deny" | "unallow":
                return await self.store.write(self.allow, actor, cmd, link)
            case "mark":
                return await self.store.write(self.after.mark, actor, link.meeting_id, cmd.text or "")
            case "summary":
                return await self.after.summary(actor, link)
            case "find":
                return await self.after.find(actor, link, cmd.text or "")
            case "settings":
                return await self.store.write(self.settings, actor, cmd)
            case "end":  # nothing happens until the confirmation's button (Actions.end_meeting)
                active = await self.store.read(Tx.recordings_of_meeting, link.meeting_id)
                return Reply.one(Say.END_CONFIRM, link=link, active=[(r.handle, r.status.value) for r in active])
        raise ValueError(f"no handler for /rec {cmd.name}")

    async def link(self, actor: Actor, cmd: Command, link: Link | None) -> Reply:
        try:
            if cmd.name == "new":
                s = await self.store.read(self.after.settings_of, actor.channel_id)
                meeting = await self.platform.create_meeting(
                    cmd.title or f"#{actor.channel_id} meeting", transcribe=s.transcribe, summarize=s.summarize,
                    keep_alive=s.keep_alive or self.actions.guardrails.keep_alive, summary_type=s.summary_type,
                    team_id=actor.team_id)
            else:
                meeting = await self.platform.get_meeting(cmd.meeting_ref or "", team_id=actor.team_id)
                owner = await self.store.read(Tx.meeting_owner, meeting.id)
                if owner and owner[0] and actor.team_id and owner[0] != actor.team_id:
                    raise NotFound("held by another workspace", 404)  # said exactly as a meeting that is not there
        except NotFound:
            await self._audit(actor, "link", "error", target=cmd.meeting_ref, detail="no such meeting")
            return Reply.one(Say.NO_SUCH_MEETING, ok=False, ref=cmd.meeting_ref)
        except PlatformError as exc:
            await self._audit(actor, cmd.name, "error", target=cmd.meeting_ref, detail=exc.message)
            return Reply([failed(cmd.name, exc)], ok=False)
        def keep(tx: Tx, account: str) -> None:
            tx.set_link(actor.channel_id, actor.team, meeting.id, meeting.title, actor.user_id or "", account=account)
            self._audit_in(tx, actor, cmd.name, "ok", target=meeting.id)

        try:
            await self.store.write(keep, await self.platform.account_for_team(actor.team_id))
        except StoreBusy:
            if cmd.name == "new":  # the meeting exists now: say so, so that it can be linked by hand
                return Reply.one(Say.CREATED_UNSAVED, ok=False, title=meeting.title, meeting_id=meeting.id)
            raise
        before = link.meeting_id if link and link.meeting_id != meeting.id else None
        await self.calls.look(meeting.id)  # a session already live shows as a call here
        return Reply.one(Say.LINKED, created=cmd.name == "new", title=meeting.title, meeting_id=meeting.id,
                         before=before)

    def unlink(self, tx: Tx, actor: Actor, link: Link) -> Reply:
        tx.remove_link(actor.channel_id)
        self._audit_in(tx, actor, "unlink", "ok", target=link.meeting_id)
        active = tx.recordings_of_meeting(link.meeting_id)
        return Reply.one(Say.UNLINKED, meeting_id=link.meeting_id, still_active=len(active))

    def status(self, tx: Tx, link: Link) -> Reply:
        now = self.clock()
        lines = [StatusLine(r, tx.summary(r.id, now)) for r in tx.recordings_of_meeting(link.meeting_id, ACTIVE)]
        return Reply.one(Say.STATUS, link=link, lines=lines, settings=self.after.settings_of(tx, link.channel_id))

    def settings(self, tx: Tx, actor: Actor, cmd: Command) -> Reply:
        """`/rec settings NAME VALUE` sets one; `/rec settings` alone opens the form (a modal)."""
        if cmd.setting is not None:
            return self.after.set_setting(tx, actor, cmd.setting, cmd.text or "")
        settings = self.after.settings_of(tx, actor.channel_id)
        if not cmd.trigger_id:
            return Reply.one(Say.SETTINGS, settings=settings)
        tx.outbox.enqueue(Outgoing.MODAL, {"trigger_id": cmd.trigger_id, "channel_id": actor.channel_id,
                                           "user": actor.user_id}, team=actor.team)
        self._audit_in(tx, actor, "settings", "ok", detail="opened the form")
        self.writer.on_write()
        return Reply([])  # the form is the answer

    async def save_settings(self, actor: Actor, values: dict[str, str]) -> Reply:
        """The settings form, checked again as the command is: the channel's controllers only."""
        link, role = await self.store.read(self._link_and_role, actor)
        if link is None:
            return Reply.one(Say.NOT_LINKED, ok=False)
        if (why := await self.permissions.refusal(actor, "settings", link, role)) is not None:
            await self._audit(actor, "settings", "refused", detail=why.value)
            return Reply.one(Say.REFUSED, ok=False, reason=why, wait=self.permissions.waiting(actor, why))
        errors = await self.store.write(self.after.set_many, actor, values)
        if errors:
            return Reply.one(Say.SETTING_INVALID, ok=False, message=" ".join(errors.values()))
        return Reply.one(Say.SETTINGS, settings=await self.store.read(self.after.settings_of, actor.channel_id))

    def history(self, tx: Tx, actor: Actor, link: Link | None) -> Reply:
        now = self.clock()
        lines = [StatusLine(r, tx.summary(r.id, now)) for r in tx.history(actor.channel_id, limit=10)]
        return Reply.one(Say.HISTORY, link=link, lines=lines)

    def allow(self, tx: Tx, actor: Actor, cmd: Command, link: Link) -> Reply:
        assert cmd.user_id is not None
        if cmd.name == "deny" and cmd.user_id == link.linked_by and actor.user_id != link.linked_by:
            return Reply.one(Say.LINKER_STAYS, ok=False)
        if cmd.name == "unallow":
            tx.remove_role(actor.channel_id, cmd.user_id)
        else:
            tx.set_role(actor.channel_id, cmd.user_id, Role(cmd.name), actor.user_id or "")
        self._audit_in(tx, actor, cmd.name, "ok", target=cmd.user_id)
        says = {"allow": Say.ALLOWED, "deny": Say.DENIED, "unallow": Say.UNALLOWED}
        return Reply.one(says[cmd.name], user=cmd.user_id)

    def retry_lost_channel(self, tx: Tx, link: Link | None) -> None:
        """Someone used /rec in a channel recbot had lost: it may be back, so try its kept messages again."""
        if link and link.broken_reason and tx.outbox.release_channel(link.channel_id):
            self.writer.on_write()  # the link stays marked broken until a post there succeeds


def _refused(verdict: Refused) -> Reply:
    """A refusal in the service's words: not linked, or why not."""
    if verdict.reason is None:
        return Reply.one(Say.NOT_LINKED, ok=False)
    return Reply.one(Say.REFUSED, ok=False, reason=verdict.reason, wait=verdict.wait)
