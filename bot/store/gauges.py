"""What /metrics reads of the database when it is scraped: the outbox's backlog, the recordings not yet
stopped, which background jobs a process holds and (PostgreSQL) the platform budget all processes spent."""

from __future__ import annotations

from typing import Any

from bot.models import ACTIVE
from bot.store.budgets import SLOTS
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


def to_reinstall(db: Engine) -> int:
    """Installs whose refresh token Slack refused as spent: each workspace must install recbot again."""
    return int(db.scalar("SELECT COUNT(*) FROM installations WHERE spent_at IS NOT NULL"))


def shared_budget(db: Engine, buckets: list[tuple[str, int, float]], now: float,
                  account: str = "") -> list[dict[str, Any]]:
    """What every process sharing the database has used of each platform limit of `account` (by default the
    environment's), counted as `bot.store.budgets` counts it: the last SLOTS slots of a window and this one."""
    out = []
    for name, limit, window in buckets:
        slot = int(now // (window / SLOTS))
        used = db.scalar("SELECT COALESCE(SUM(used), 0) FROM rate_use WHERE account = ? AND bucket = ? AND slot >= ?",
                         account, name, slot - SLOTS)
        out.append({"name": name, "used": int(used), "allowed": limit, "window_s": window})
    return out
