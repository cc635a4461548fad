"""What /metrics reads of the database when it is scraped: the outbox's backlog, the recordings not yet
stopped, and which background jobs a process holds. Three small aggregate queries, one trip."""

from __future__ import annotations

from bot.models import ACTIVE
from bot.store.engine import Engine

JOBS = ("deliveries", "timers", "reconciler")  # the leases of `bot.workers`


def read(db: Engine, owner: str, now: float) -> tuple[list[tuple[str, int, float | None]], list[tuple[str, int]],
                                                         dict[str, bool]]:
    """(outbox rows waiting to be sent: kind, how many, the oldest's created_at), (active recordings: state,
    how many), and {job: whether `owner` holds its lease now}."""
    outbox = [(r["kind"], int(r["n"]), r["oldest"]) for r in db.all(
        "SELECT kind, COUNT(*) AS n, MIN(created_at) AS oldest FROM outbox WHERE state IN ('pending', 'sending') "
        "GROUP BY kind")]
    states = [s.value for s in ACTIVE]
    found = {r["status"]: int(r["n"]) for r in db.all(
        f"SELECT status, COUNT(*) AS n FROM recordings WHERE status IN ({', '.join('?' * len(states))}) "
        "GROUP BY status", *states)}
    held = {r["name"] for r in db.all("SELECT name FROM leases WHERE owner = ? AND until > ?", owner, now)}
    return outbox, [(state, found.get(state, 0)) for state in states], {job: job in held for job in JOBS}
