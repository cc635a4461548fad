"""Queries over which channel is linked to which meeting (`links`) and who may act there (`members`).

Each write joins the caller's transaction when there is one (see `Engine.transaction`). `Records`
(records.py) adds the recordings, their ledger and the audit.
"""

from __future__ import annotations

from collections.abc import Callable

from bot.models import Link, Member, Role, Team
from bot.store.engine import Engine


class Links:
    """Links and people, over the `db` and `clock` that `Records.__init__` sets."""

    db: Engine
    clock: Callable[[], float]

    def link(self, channel_id: str) -> Link | None:
        row = self.db.one("SELECT * FROM links WHERE channel_id = ?", channel_id)
        return Link(**row) if row else None

    def links_for_meeting(self, meeting_id: str) -> list[Link]:
        return [Link(**r) for r in self.db.all("SELECT * FROM links WHERE meeting_id = ?", meeting_id)]

    def links_of_user(self, user_id: str) -> list[Link]:
        rows = self.db.all("SELECT l.* FROM links l WHERE l.linked_by = ? OR EXISTS (SELECT 1 FROM members m "
                           "WHERE m.channel_id = l.channel_id AND m.user_id = ? AND m.role = 'allow') "
                           "ORDER BY l.linked_at", user_id, user_id)
        return [Link(**r) for r in rows]

    def set_link(self, channel_id: str, team: Team | str | None, meeting_id: str, title: str, user_id: str,
                 account: str = "") -> None:
        team = team if isinstance(team, Team) else Team(team)
        self.db.execute("INSERT INTO links (channel_id, team_id, enterprise_id, account, meeting_id, meeting_title, "
                        "linked_by, linked_at, broken_reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL) "
                        "ON CONFLICT (channel_id) DO UPDATE SET team_id = excluded.team_id, "
                        "enterprise_id = excluded.enterprise_id, account = excluded.account, "
                        "meeting_id = excluded.meeting_id, meeting_title = excluded.meeting_title, "
                        "linked_by = excluded.linked_by, linked_at = excluded.linked_at, broken_reason = NULL",
                        (channel_id, team.team_id, team.enterprise_id, account, meeting_id, title, user_id,
                         self.clock()))

    def meeting_owner(self, meeting_id: str) -> tuple[str | None, str] | None:
        """(team, account) of the workspace that holds a meeting (linked it or recorded it), if any."""
        row = (self.db.one("SELECT team_id, account FROM links WHERE meeting_id = ? ORDER BY linked_at LIMIT 1",
                           meeting_id)
               or self.db.one("SELECT team_id, account FROM recordings WHERE meeting_id = ? ORDER BY created_at "
                              "LIMIT 1", meeting_id))
        return (row["team_id"], row["account"]) if row else None

    def remove_link(self, channel_id: str) -> bool:
        return self.db.changed("DELETE FROM links WHERE channel_id = ?", channel_id) > 0

    def mark_link_broken(self, channel_id: str, reason: str | None) -> bool:
        """Returns True when this call is the one that broke (or mended) it, so the linker is told once."""
        if reason is None:
            return self.db.changed("UPDATE links SET broken_reason = NULL WHERE channel_id = ? "
                                   "AND broken_reason IS NOT NULL", channel_id) > 0
        return self.db.changed("UPDATE links SET broken_reason = ? WHERE channel_id = ? AND broken_reason IS NULL",
                               reason, channel_id) > 0

    def role(self, channel_id: str, user_id: str) -> Role | None:
        role = self.db.scalar("SELECT role FROM members WHERE channel_id = ? AND user_id = ?", channel_id, user_id)
        return Role(role) if role else None

    def set_role(self, channel_id: str, user_id: str, role: Role, by: str) -> None:
        self.db.execute("INSERT INTO members (channel_id, user_id, role, set_by, set_at) VALUES (?, ?, ?, ?, ?) "
                        "ON CONFLICT (channel_id, user_id) DO UPDATE SET role = excluded.role, "
                        "set_by = excluded.set_by, set_at = excluded.set_at",
                        (channel_id, user_id, role, by, self.clock()))

    def remove_role(self, channel_id: str, user_id: str) -> bool:
        return self.db.changed("DELETE FROM members WHERE channel_id = ? AND user_id = ?", channel_id, user_id) > 0

    def members(self, channel_id: str) -> list[Member]:
        rows = self.db.all("SELECT user_id, role, set_by, set_at FROM members WHERE channel_id = ? ORDER BY set_at",
                           channel_id)
        return [Member(**{**r, "role": Role(r["role"])}) for r in rows]
