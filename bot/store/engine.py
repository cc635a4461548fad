"""The database engine: one connection, transactions that nest, and recbot's own errors for both engines.

Every decision is written in one transaction (`with db.transaction():`); a transaction opened
inside another becomes a savepoint of it, so a helper that writes can be used alone or as part of
a larger decision. SQL is written once, with `?` placeholders and syntax that SQLite and
PostgreSQL share (upserts with `ON CONFLICT`, `RETURNING`), so a second engine needs no second
copy of the queries.
"""

from __future__ import annotations

import sqlite3
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from bot.errors import RecbotError


class StoreError(RecbotError):
    """The database refused this read or write; nothing of it was written. Raised as it is (not StoreBusy)
    for what trying again cannot mend: a statement SQLite or PostgreSQL rejects, a constraint it breaks."""


class StoreBusy(StoreError):
    """The database cannot take this read or write now (locked, a timeout, the connection or the disk
    failing); nothing was written, and the same work may pass if tried again."""


class Duplicate(StoreError):
    """A unique key is already taken: SQLite's IntegrityError and PostgreSQL's UniqueViolation alike."""


# SQLite's primary result codes for "not now" (https://sqlite.org/rescode.html); anything else (SQLITE_ERROR:
# a typo, a missing table; SQLITE_CONSTRAINT; SQLITE_MISUSE) is a mistake that a retry would only repeat.
_SQLITE_BUSY_CODES = frozenset({
    sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_NOMEM, sqlite3.SQLITE_READONLY,
    sqlite3.SQLITE_INTERRUPT, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_FULL,
    sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PROTOCOL, sqlite3.SQLITE_NOTADB})
_SQLITE_DUPLICATE_CODES = frozenset({sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY})


def sqlite_error(exc: sqlite3.Error) -> StoreError:
    """recbot's error for one of SQLite's."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code in _SQLITE_DUPLICATE_CODES:
        return Duplicate(str(exc))
    if code is not None and code & 0xFF in _SQLITE_BUSY_CODES:
        return StoreBusy(str(exc))
    return StoreError(str(exc))


T = TypeVar("T")

# The first word of a statement that writes: what a read (`Store.read`) may not run.
_WRITES = frozenset({"INSERT", "UPDATE", "DELETE", "REPLACE", "UPSERT", "CREATE", "DROP", "ALTER", "TRUNCATE",
                     "VACUUM", "COPY", "LISTEN", "NOTIFY"})


_SEEN: dict[str, bool] = {}  # statement → whether it writes: most statements are constants, seen again and again


def writes(sql: str) -> bool:
    """Whether a statement writes (by its first word; a read's `WITH` never carries a write in recbot)."""
    found = _SEEN.get(sql)
    if found is None:
        word = sql.lstrip()[:8].split(None, 1)
        found = bool(word) and word[0].upper() in _WRITES
        if len(_SEEN) < 10_000:
            _SEEN[sql] = found
    return found


# Called before every statement when set (tests use it to prove no statement runs on an event loop's thread).
watch: Callable[[], None] | None = None


class Engine(ABC):
    """What both engines share: the reads and writes the store uses, and transactions that nest. An engine
    gives `_execute` (raising StoreBusy for "busy", Duplicate for a taken unique key, StoreError for the
    rest), `begin` and `_rollback`.

    The store's own thread (`Store.read`, `Store.write`) runs every statement the app makes; a lock held for each
    statement and for a whole transaction keeps another thread (a test, a tool) from seeing a transaction
    half-done on the shared connection."""

    begin = "BEGIN"
    dialect = ""
    path = ""
    _depth = 0
    _reader: int | None = None  # the thread inside `reading()`, if any

    def __init__(self) -> None:
        self._lock = threading.RLock()

    @abstractmethod
    def _execute(self, sql: str, args: Sequence[Any] = ()) -> Any: ...

    @abstractmethod
    def _rollback(self, savepoint: str | None) -> None: ...

    @abstractmethod
    def close(self) -> None: ...

    @abstractmethod
    def schema_version(self) -> int: ...

    @abstractmethod
    def set_schema_version(self, version: int) -> None: ...

    def execute(self, sql: str, args: Sequence[Any] = ()) -> Any:
        if watch is not None:
            watch()
        if self._reader is not None and self._reader == threading.get_ident() and writes(sql):
            raise StoreError(f"a read may not write (use Store.write): {sql.split(None, 3)[:3]}")
        with self._lock:
            return self._execute(sql, args)

    def one(self, sql: str, *args: Any) -> dict[str, Any] | None:
        with self._lock:
            row = self.execute(sql, args).fetchone()
        return dict(row) if row else None

    def all(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        """Rows as dicts; also the public way for tests and tools to look inside."""
        with self._lock:
            return [dict(r) for r in self.execute(sql, args).fetchall()]

    def scalar(self, sql: str, *args: Any) -> Any:
        with self._lock:
            row = self.execute(sql, args).fetchone()
        return row[0] if row else None

    def changed(self, sql: str, *args: Any) -> int:
        """Run a write; how many rows it changed."""
        with self._lock:
            count: int = self.execute(sql, args).rowcount
            return count

    @contextmanager
    def transaction(self) -> Iterator[Engine]:
        """All or nothing; an inner one is a savepoint that rolls back alone."""
        with self._lock:
            depth = self._depth
            savepoint = f"sp{depth}"
            self.execute(self.begin if depth == 0 else f"SAVEPOINT {savepoint}")
            self._depth += 1
            try:
                yield self
            except BaseException:
                self._depth = depth
                self._rollback(savepoint if depth else None)
                raise
            self._depth = depth
            if depth:
                self.execute(f"RELEASE SAVEPOINT {savepoint}")
                return
            try:
                self.execute("COMMIT")
            except StoreError:
                self._rollback(None)
                raise

    def reading(self, fn: Callable[[], T]) -> T:
        """`fn()`, in which a statement that writes raises StoreError (on this thread): `Store.read`."""
        outer, self._reader = self._reader, threading.get_ident()
        try:
            return fn()
        finally:
            self._reader = outer

    @property
    def in_transaction(self) -> bool:
        return self._depth > 0

    def healthy(self) -> bool:
        try:
            return bool(self.scalar("SELECT 1") == 1)
        except StoreBusy:
            return False


class Database(Engine):
    """SQLite in WAL mode.

    SQLite waits for a lock inside the call (on the store's thread, not the loop): `busy_timeout` is
    short (0.5 s, well under Slack's 3 s for an ack), and a write that cannot get the lock in time raises
    StoreBusy, which each caller turns into a retry or an honest answer."""

    def __init__(self, path: str, *, busy_timeout: float = 0.5, synchronous: str = "NORMAL"):
        # NORMAL (in WAL) keeps every commit across a crash of the process, and a power cut can lose only
        # the last ones: for what recbot decides that is repaired from the platform's truth (the reconciler)
        # and Slack's (the outbox looks a post up before sending it again). A webhook's 2xx cannot be
        # repaired, since the platform never sends it again: the ingest connection commits with FULL.
        super().__init__()
        self.path = path
        try:
            self.conn = sqlite3.connect(path, isolation_level=None, timeout=busy_timeout, check_same_thread=False)
        except sqlite3.Error as exc:
            raise StoreBusy(f"cannot open the database {path}: {exc}") from exc
        self.conn.row_factory = sqlite3.Row
        if synchronous not in ("NORMAL", "FULL"):
            raise ValueError(f"synchronous must be NORMAL or FULL, not {synchronous!r}")
        for pragma in ("journal_mode = WAL", f"synchronous = {synchronous}",
                       f"busy_timeout = {int(busy_timeout * 1000)}", "foreign_keys = ON"):
            self.execute(f"PRAGMA {pragma}")
        self._depth = 0

    dialect = "sqlite"
    begin = "BEGIN IMMEDIATE"  # the outermost takes the write lock at once, so it never fails half-way on a lock

    def close(self) -> None:
        self.conn.close()

    # -- statements ------------------------------------------------------------------------

    def _execute(self, sql: str, args: Sequence[Any] = ()) -> sqlite3.Cursor:
        try:
            return self.conn.execute(sql, tuple(args))
        except sqlite3.Error as exc:
            raise sqlite_error(exc) from exc

    def _rollback(self, savepoint: str | None) -> None:
        try:
            if savepoint:
                self.conn.execute(f"ROLLBACK TO {savepoint}")
                self.conn.execute(f"RELEASE {savepoint}")
            elif self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
        except sqlite3.Error:  # the connection is failing; SQLite rolls back what it cannot finish
            pass

    # -- schema version ------------------------------------------------------------------

    def schema_version(self) -> int:
        return int(self.scalar("PRAGMA user_version"))

    def set_schema_version(self, version: int) -> None:
        self.execute(f"PRAGMA user_version = {int(version)}")
