"""Which engine a database is, by its `REC_DATABASE`: a SQLite file for a path, PostgreSQL for a
`postgresql://` URL. Above both engines (`engine.py`, `postgres.py`), so that neither imports the other.
"""

from __future__ import annotations

import os
import sqlite3
import urllib.parse
from typing import Any

from bot.store.dialects import is_postgres
from bot.store.engine import Database, Engine, StoreError


def open_database(path: str, **kwargs: Any) -> Engine:
    """SQLite for a file path, PostgreSQL for a `postgresql://` URL (see `bot.store.postgres`)."""
    if is_postgres(path):
        from bot.store.postgres import PostgresDatabase  # psycopg only when it is used: `pip install '.[postgres]'`

        return PostgresDatabase(path, **kwargs)
    return Database(path, **kwargs)


def read_schema_version(path: str) -> int | None:
    """The schema version of the database at `path`, read without writing anything there (`recbot check`):
    None when there is no recbot database there yet. StoreError when it cannot be read."""
    if is_postgres(path):
        from bot.store.postgres import read_schema_version as on_postgres

        return on_postgres(path)
    if path == ":memory:" or not os.path.exists(path):
        return None
    # Read-only still makes a WAL database's -wal and -shm files when they are not there; when they are not,
    # no process has the database open and every commit is in the file itself, which is then read as immutable.
    mode = "mode=ro" if os.path.exists(path + "-wal") else "immutable=1"
    try:
        conn = sqlite3.connect(f"file:{urllib.parse.quote(os.path.abspath(path))}?{mode}", uri=True)
        try:
            return int(conn.execute("PRAGMA user_version").fetchone()[0]) or None
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise StoreError(f"cannot read the database {path}: {exc}") from exc
