"""The same store on PostgreSQL (`REC_DATABASE=postgresql://…`), through psycopg 3.

The queries are SQLite's text, unchanged: `?` placeholders become psycopg's `%s` here (a literal `%`
is doubled), and the schema's SQLite types are mapped once, when a migration runs (`ddl`). Like the
SQLite engine it is used from the store's own thread (`Store.call`), never the event loop's: each
statement is one round trip, bounded by `statement_timeout` and `lock_timeout` (0.5 s, as SQLite's busy timeout),
and a timeout or a lost connection is recbot's own StoreBusy, which every caller already handles; a unique
violation is Duplicate, as on SQLite, and any other refusal StoreError, raised at once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

import psycopg

from bot.store.dialects import without_password
from bot.store.engine import Duplicate, Engine, StoreBusy, StoreError

log = logging.getLogger(__name__)


@lru_cache(maxsize=1024)
def _placeholders(sql: str) -> str:
    out, quoted = [], False
    for ch in sql:
        if ch == "'":
            quoted = not quoted
        if ch == "%":
            out.append("%%")
        elif ch == "?" and not quoted:
            out.append("%s")
        else:
            out.append(ch)
    return "".join(out)


class _Rows:
    """What the store reads of a cursor: `fetchone`, `fetchall`, `rowcount`, `lastrowid` (from RETURNING)."""

    def __init__(self, cursor: psycopg.Cursor):
        self.cursor, self.rowcount = cursor, cursor.rowcount
        self._names = [c.name for c in cursor.description] if cursor.description else []

    def fetchone(self) -> _Row | None:
        row = self.cursor.fetchone() if self._names else None
        return _Row(self._names, row) if row is not None else None

    def fetchall(self) -> list[_Row]:
        return [_Row(self._names, r) for r in self.cursor.fetchall()] if self._names else []


class _Row(tuple[Any, ...]):
    """A row that reads like sqlite3.Row: by index, by name, and as a mapping for dict()."""

    _names: list[str]

    def __new__(cls, names: list[str], values: tuple[Any, ...]) -> _Row:
        row = super().__new__(cls, values)
        row._names = names
        return row

    def __getitem__(self, key: str | int) -> Any:  # type: ignore[override]  # by name too, as sqlite3.Row
        if isinstance(key, str):
            return tuple.__getitem__(self, self._names.index(key))
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return self._names


class PostgresDatabase(Engine):
    dialect = "postgres"

    def __init__(self, url: str, *, busy_timeout: float = 0.5, synchronous: str = "FULL"):
        """`synchronous` is SQLite's; PostgreSQL commits durably (synchronous_commit) either way."""
        super().__init__()
        self.path = url
        ms = int(busy_timeout * 1000)
        try:
            self.conn = psycopg.connect(url, autocommit=True, connect_timeout=5,
                                        options=f"-c statement_timeout={max(ms, 1000)} -c lock_timeout={ms} "
                                                "-c idle_in_transaction_session_timeout=60000")
        except psycopg.Error as exc:
            raise StoreBusy(f"cannot open the database {without_password(url)}: {exc}") from exc
        self._depth = 0

    def close(self) -> None:
        self.conn.close()

    def _execute(self, sql: str, args: Sequence[Any] = ()) -> _Rows:
        try:
            cursor = self.conn.execute(_placeholders(sql), tuple(args))
            return _Rows(cursor)
        except psycopg.errors.UniqueViolation as exc:
            raise Duplicate(str(exc).strip()) from exc
        except (psycopg.OperationalError, psycopg.errors.QueryCanceled, psycopg.errors.LockNotAvailable,
                psycopg.errors.SerializationFailure, psycopg.errors.DeadlockDetected) as exc:
            raise StoreBusy(str(exc).strip()) from exc
        except psycopg.Error as exc:  # a statement PostgreSQL rejects: a retry would only repeat it
            raise StoreError(str(exc).strip()) from exc

    def _rollback(self, savepoint: str | None) -> None:
        try:
            self.conn.execute(f"ROLLBACK TO SAVEPOINT {savepoint}" if savepoint else "ROLLBACK")
        except psycopg.Error:  # the connection is gone; the server rolls back what it cannot finish
            pass

    def schema_version(self) -> int:
        """A read (the health check asks it inside `Store.read`): 0 before recbot's first migration."""
        if self.scalar("SELECT to_regclass('recbot_schema')") is None:
            return 0
        return int(self.scalar("SELECT COALESCE(MAX(version), 0) FROM recbot_schema"))

    def set_schema_version(self, version: int) -> None:
        self.execute("CREATE TABLE IF NOT EXISTS recbot_schema (version BIGINT NOT NULL)")
        self.execute("DELETE FROM recbot_schema")
        self.execute("INSERT INTO recbot_schema (version) VALUES (?)", (int(version),))


def read_schema_version(url: str) -> int | None:
    """`databases.read_schema_version` on PostgreSQL: a read-only session; None when recbot has no tables there."""
    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=5,
                             options="-c default_transaction_read_only=on") as conn:
            found = conn.execute("SELECT to_regclass('recbot_schema')").fetchone()
            if found is None or found[0] is None:
                return None
            version = conn.execute("SELECT COALESCE(MAX(version), 0) FROM recbot_schema").fetchone()
            return int(version[0]) if version and version[0] else None
    except psycopg.Error as exc:
        raise StoreError(f"cannot read the database {without_password(url)}: {exc}") from exc


class Listener:
    """A thread with its own connection that LISTENs on `channel` and calls `wake` (from that thread) on
    each notification; it reconnects after an error, and ends with `stop`."""

    def __init__(self, url: str, channel: str, wake: Callable[[], object]):
        self.url, self.channel, self.wake = url, channel, wake
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"recbot-listen-{channel}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=2)

    def _run(self) -> None:
        failing = False
        while not self._stopping.is_set():
            try:
                with psycopg.connect(self.url, autocommit=True, connect_timeout=5) as conn:
                    conn.execute(f"LISTEN {self.channel}")
                    if failing:
                        log.info("listening for %s again", self.channel)
                    failing = False
                    self.wake()  # anything stored while not listening
                    while not self._stopping.is_set():
                        for _ in conn.notifies(timeout=0.5, stop_after=1):
                            self.wake()
            except psycopg.Error as exc:
                if not failing:  # once an outage: until it is back, stored webhooks wait for the next look (1 s)
                    log.warning("not listening for %s (%s); trying again each second", self.channel, exc)
                failing = True
                self._stopping.wait(1.0)
