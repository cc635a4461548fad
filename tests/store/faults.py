"""Faults in the store, on either engine: count the writes a store runs and fail a chosen one with
StoreBusy, as a locked SQLite file or a PostgreSQL lock timeout would (nothing of it is written)."""

from bot.store import Store, StoreBusy

WRITES = ("INSERT", "UPDATE", "DELETE")


class Faults:
    """Installed on a store's engine: the `fail_at`-th write (1-based) fails, or every write whose SQL
    contains `fail_when`, `fail_times` times."""

    def __init__(self, store: Store):
        self.writes, self.fail_at, self.fail_when, self.fail_times = 0, None, None, 0
        run = store.db.execute

        def execute(sql, args=()):
            if sql.lstrip().split(None, 1)[0].upper() in WRITES:
                self.writes += 1
                if self.writes == self.fail_at or (self.fail_when and self.fail_times and self.fail_when in sql):
                    if self.fail_when:
                        self.fail_times -= 1
                    raise StoreBusy("database is locked (a fault the test injected)")
            return run(sql, args)

        store.db.execute = execute
