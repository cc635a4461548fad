"""A SQLite connection that fails a chosen write, through sqlite3's own `factory` seam."""

import sqlite3

WRITES = ("INSERT", "UPDATE", "DELETE")


class FailingConnection(sqlite3.Connection):
    """Counts the writes it runs; the `fail_at`-th (1-based) raises "database is locked", as SQLite would."""

    writes = 0
    fail_at: int | None = None
    fail_when: str | None = None  # or: fail every write whose SQL contains this text, `fail_times` times
    fail_times = 0

    def execute(self, sql, *args):
        if sql.lstrip().split(None, 1)[0].upper() in WRITES:
            self.writes += 1
            if self.writes == self.fail_at or (self.fail_when and self.fail_times and self.fail_when in sql):
                if self.fail_when:
                    self.fail_times -= 1
                raise sqlite3.OperationalError("database is locked")
        return super().execute(sql, *args)
