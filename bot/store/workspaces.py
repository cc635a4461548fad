"""Many workspaces: Slack installations, OAuth states and each workspace's own platform account.

Tokens and credentials are kept sealed (`bot.store.sealed`); only what finds a row (team, org) is
plain. An org-wide install (Enterprise Grid) is stored under its org with no team, and found for any
workspace of that org that has no install of its own.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from typing import Any

from bot.store.engine import Engine
from bot.store.sealed import Sealer

# What `recbot forget TEAM_ID` deletes, by the channels of that workspace (the audit and members have
# only a channel; links and recordings name the team).
_BY_RECORDING = ("ledger", "marks", "timers")
_BY_CHANNEL = ("members", "audit", "channel_settings", "outbox")


def install_key(enterprise_id: str | None, team_id: str | None, is_enterprise_install: bool) -> str:
    return f"E:{enterprise_id}" if is_enterprise_install else f"T:{team_id}"


class Workspaces:
    def __init__(self, db: Engine, clock: Callable[[], float] = time.time, sealer: Sealer | None = None):
        self.db, self.clock, self.sealer = db, clock, sealer

    def _sealer(self) -> Sealer:
        if self.sealer is None:
            raise RuntimeError("REC_SECRET_KEY is needed to read or write installations and accounts")
        return self.sealer

    # -- Slack installations -------------------------------------------------------------

    def save_install(self, bot: dict[str, Any]) -> bool:
        """Keep an install (a new one, or a refreshed token): its refresh token works, whatever was said of the
        one before it. True if the one before it was spent."""
        enterprise = bool(bot.get("is_enterprise_install"))
        key = install_key(bot.get("enterprise_id"), bot.get("team_id"), enterprise)
        spent = self.db.scalar("SELECT spent_at FROM installations WHERE key = ?", key) is not None
        self.db.execute("INSERT INTO installations (key, enterprise_id, team_id, is_enterprise_install, installed_at, "
                        "sealed) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET "
                        "installed_at = excluded.installed_at, sealed = excluded.sealed, spent_at = NULL",
                        (key, bot.get("enterprise_id"), None if enterprise else bot.get("team_id"), int(enterprise),
                         self.clock(), self._sealer().seal(bot)))
        return spent

    def find_install(self, enterprise_id: str | None, team_id: str | None,
                     is_enterprise_install: bool = False) -> dict[str, Any] | None:
        """The workspace's own install, else its org's org-wide one."""
        found = self.find_install_state(enterprise_id, team_id, is_enterprise_install)
        return found[0] if found else None

    def find_install_state(self, enterprise_id: str | None, team_id: str | None,
                           is_enterprise_install: bool = False) -> tuple[dict[str, Any], float | None] | None:
        """`find_install`, and when Slack refused its refresh token as spent (None: it was not)."""
        keys = [] if is_enterprise_install or not team_id else [f"T:{team_id}"]
        if enterprise_id:
            keys.append(f"E:{enterprise_id}")
        for key in keys:
            row = self.db.one("SELECT sealed, spent_at FROM installations WHERE key = ?", key)
            if row:
                return self._sealer().open(row["sealed"]), row["spent_at"]
        return None

    def mark_spent(self, key: str, refresh_token: str | None) -> bool:
        """Slack refused the install's refresh token as spent: True if this is the first to say so (not when the
        install holds another refresh token by now, saved by whoever refreshed it)."""
        sealed = self.db.scalar("SELECT sealed FROM installations WHERE key = ? AND spent_at IS NULL", key)
        if not sealed or self._sealer().open(sealed).get("bot_refresh_token") != refresh_token:
            return False
        # compare-and-set on what was read (each sealing is unique): a pair saved meanwhile is not marked
        return self.db.changed("UPDATE installations SET spent_at = ? WHERE key = ? AND spent_at IS NULL "
                               "AND sealed = ?", self.clock(), key, sealed) > 0

    def spent(self) -> list[dict[str, Any]]:
        """The installs whose refresh token Slack refused as spent: each workspace must install recbot again."""
        return self.db.all("SELECT key, enterprise_id, team_id, is_enterprise_install, spent_at FROM installations "
                           "WHERE spent_at IS NOT NULL ORDER BY spent_at")

    def org_wide(self, enterprise_id: str | None, team_id: str | None) -> bool:
        """Whether the install that serves this workspace is its org's org-wide one (no token opened)."""
        if team_id and self.db.scalar("SELECT 1 FROM installations WHERE key = ?", f"T:{team_id}"):
            return False
        return bool(enterprise_id) and bool(self.db.scalar("SELECT 1 FROM installations WHERE key = ?",
                                                               f"E:{enterprise_id}"))

    def delete_install(self, enterprise_id: str | None, team_id: str | None) -> int:
        """Forget the tokens of a workspace (or, with no team, of an org-wide install)."""
        key = f"T:{team_id}" if team_id else f"E:{enterprise_id}"
        return self.db.changed("DELETE FROM installations WHERE key = ?", key)

    def installs(self) -> list[dict[str, Any]]:
        """Plain facts of every install (no tokens)."""
        return self.db.all("SELECT key, enterprise_id, team_id, is_enterprise_install, installed_at, spent_at "
                           "FROM installations ORDER BY installed_at")

    # -- OAuth states --------------------------------------------------------------------

    def issue_state(self, lifetime: float) -> str:
        state = secrets.token_urlsafe(24)
        now = self.clock()
        with self.db.transaction():
            self.db.execute("DELETE FROM oauth_states WHERE expire_at < ?", (now,))
            self.db.execute("INSERT INTO oauth_states (state, expire_at) VALUES (?, ?)", (state, now + lifetime))
        return state

    def consume_state(self, state: str) -> bool:
        """True once for a state recbot issued and that has not expired."""
        return self.db.changed("DELETE FROM oauth_states WHERE state = ? AND expire_at >= ?", state, self.clock()) > 0

    # -- each workspace's own platform account ---------------------------------------------

    def account_of(self, team_id: str | None) -> dict[str, Any] | None:
        row = self.db.one("SELECT route, team_id, flavour, sealed, webhook_id, connected_by, connected_at "
                          "FROM accounts WHERE team_id = ?", team_id) if team_id else None
        return self._opened(row)

    def route_of(self, team_id: str | None) -> str | None:
        """The route of a workspace's own account (no credentials are opened for it)."""
        return self.db.scalar("SELECT route FROM accounts WHERE team_id = ?", team_id) if team_id else None

    def links_on(self, route: str) -> int:
        """How many channels are linked to meetings of that account."""
        return int(self.db.scalar("SELECT COUNT(*) FROM links WHERE account = ?", route))

    def held_by(self, team_id: str) -> tuple[int, int]:
        """(links, recordings) recbot keeps of a workspace."""
        return (self.db.scalar("SELECT COUNT(*) FROM links WHERE team_id = ?", team_id),
                self.db.scalar("SELECT COUNT(*) FROM recordings WHERE team_id = ?", team_id))

    def account(self, route: str) -> dict[str, Any] | None:
        return self._opened(self.db.one("SELECT route, team_id, flavour, sealed, webhook_id, connected_by, "
                                        "connected_at FROM accounts WHERE route = ?", route))

    def _opened(self, row: dict[str, Any] | None) -> dict[str, Any] | None:
        if row is None:
            return None
        return {**{k: v for k, v in row.items() if k != "sealed"}, "credentials": self._sealer().open(row["sealed"])}

    def connect(self, team_id: str, flavour: str, credentials: dict[str, str], by: str, route: str,
                webhook_id: str | None) -> None:
        self.db.execute("INSERT INTO accounts (route, team_id, flavour, sealed, webhook_id, connected_by, "
                        "connected_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (team_id) DO UPDATE SET "
                        "flavour = excluded.flavour, sealed = excluded.sealed, webhook_id = excluded.webhook_id, "
                        "connected_by = excluded.connected_by, connected_at = excluded.connected_at",
                        (route, team_id, flavour, self._sealer().seal(credentials), webhook_id, by, self.clock()))

    def disconnect(self, team_id: str) -> dict[str, Any] | None:
        with self.db.transaction():
            found = self.account_of(team_id)
            self.db.execute("DELETE FROM accounts WHERE team_id = ?", (team_id,))
        return found

    # -- forgetting a workspace ------------------------------------------------------------

    def forget(self, team_id: str) -> dict[str, int]:
        """Delete everything recbot keeps of a workspace: links, recordings with their history and notes,
        its people, settings, audit, queued writes, its account and tokens. Returns counts per table."""
        counts: dict[str, int] = {}
        with self.db.transaction():
            channels = [r["channel_id"] for r in self.db.all(
                "SELECT channel_id FROM links WHERE team_id = ? UNION SELECT channel_id FROM recordings "
                "WHERE team_id = ?", team_id, team_id)]
            recordings = [r["id"] for r in self.db.all("SELECT id FROM recordings WHERE team_id = ?", team_id)]
            for table in _BY_RECORDING:
                counts[table] = self._delete_in(table, "recording_id", recordings)
            sessions = [r["session_id"] for r in self.db.all(
                "SELECT DISTINCT session_id FROM recordings WHERE team_id = ? AND session_id IS NOT NULL", team_id)]
            for table in ("attendance", "session_files"):
                counts[table] = self._delete_in(table, "session_id", sessions)
            for table in _BY_CHANNEL:
                counts[table] = self._delete_in(table, "channel_id", channels)
            counts["outbox"] += self.db.changed("DELETE FROM outbox WHERE team_id = ?", team_id)
            counts["transcript_lines"] = self.db.changed("DELETE FROM transcript_lines WHERE team_id = ? OR "
                                                         "recording_id IN (SELECT id FROM recordings WHERE "
                                                         "team_id = ?)", team_id, team_id)
            counts["recordings"] = self.db.changed("DELETE FROM recordings WHERE team_id = ?", team_id)
            counts["links"] = self.db.changed("DELETE FROM links WHERE team_id = ?", team_id)
            counts["accounts"] = self.db.changed("DELETE FROM accounts WHERE team_id = ?", team_id)
            counts["installations"] = self.db.changed("DELETE FROM installations WHERE team_id = ?", team_id)
        return counts

    def _delete_in(self, table: str, column: str, values: list[str]) -> int:
        n = 0
        for start in range(0, len(values), 500):
            chunk = values[start:start + 500]
            n += self.db.changed(f"DELETE FROM {table} WHERE {column} IN ({','.join('?' * len(chunk))})", *chunk)
        return n
