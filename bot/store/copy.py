"""`recbot migrate --to postgresql://…`: copy a SQLite store into an empty PostgreSQL one, then check it.

Both are brought to the same schema first (the migrations run on each), every table is copied in one
transaction, the identity counters are moved past the copied ids, and each table is compared row for
row (a digest of its rows in id order) before the command says it is done.
"""

from __future__ import annotations

import hashlib
from typing import Any

from bot.store import Store

BATCH = 500


def tables(source: Store) -> list[str]:
    """Every table but SQLite's own and FTS5's (the target builds its own index from the rows)."""
    return [r["name"] for r in source.db.all("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE "
                                             "'sqlite%' AND name NOT LIKE 'transcript_lines_fts%' ORDER BY name")]


def copy_store(source: Store, target: Store) -> dict[str, int]:
    """Rows copied per table. Raises ValueError if the target already holds data."""
    names = tables(source)
    full = [t for t in names if target.db.scalar(f"SELECT COUNT(*) FROM {t}")]
    if full:
        raise ValueError(f"the target database is not empty ({', '.join(full)}); give an empty one")
    copied: dict[str, int] = {}
    with target.transaction():
        for table in names:
            columns = [r["name"] for r in source.db.all(f"SELECT name FROM pragma_table_info('{table}')")]
            cols, marks = ", ".join(columns), ", ".join("?" * len(columns))
            rows = source.db.all(f"SELECT {cols} FROM {table}")
            for start in range(0, len(rows), BATCH):
                for row in rows[start:start + BATCH]:
                    target.db.execute(f"INSERT INTO {table} ({cols}) VALUES ({marks})",
                                      [_value(row[c]) for c in columns])
            copied[table] = len(rows)
            if "id" in columns and target.db.dialect == "postgres" and \
                    target.db.scalar("SELECT pg_get_serial_sequence(?, 'id')", table):  # an identity column
                target.db.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                  f"GREATEST(COALESCE(MAX(id), 0), 1), MAX(id) IS NOT NULL) FROM {table}")
    return copied


def digest(store: Store, table: str, columns: list[str]) -> str:
    """The table's rows, in a stable order, hashed: the same on either engine for the same data."""
    order = "id" if "id" in columns else ", ".join(columns)
    h = hashlib.sha256()
    for row in store.db.all(f"SELECT {', '.join(columns)} FROM {table} ORDER BY {order}"):
        h.update(repr([_value(row[c]) for c in columns]).encode())
    return h.hexdigest()


def check_copy(source: Store, target: Store) -> list[str]:
    """Tables whose rows differ between the two (empty: the copy is whole)."""
    differ = []
    for table in tables(source):
        columns = [r["name"] for r in source.db.all(f"SELECT name FROM pragma_table_info('{table}')")]
        if digest(source, table, columns) != digest(target, table, columns):
            differ.append(table)
    return differ


def _value(value: Any) -> Any:
    return bytes(value) if isinstance(value, memoryview | bytearray) else value
