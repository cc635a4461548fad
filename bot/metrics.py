"""What an operator sees: recbot's Prometheus metrics (docs/operations.md says what each one means).

Counters and histograms are prometheus_client's, counted where the thing happens (a narrow point per
family: every Slack call in `bot.slack.metered`, every platform request in the client, every webhook
answer at the door). `count` tallies in a plain dict that a scrape adds to the counters first (`flush`):
the web process's busiest paths pay no shared-file write. The ingest process, which nobody scrapes,
increments its counters itself. Gauges that are facts of the database (the outbox's backlog, active
recordings, the jobs this process holds) and of the rate limiter are read when /metrics is scraped, not
kept up to date on every change, so they cost nothing between scrapes and cannot drift.

`recbot serve` runs two processes (the web process and the webhook ingest process, `bot.store.ingest`):
prometheus_client's multiprocess mode adds the ingest process's counts in. `recbot serve` gives this replica
a fresh directory of its own in PROMETHEUS_MULTIPROC_DIR before prometheus_client is first imported (it picks
its value class at import; `bot.__main__.metrics_directory`), and the ingest process inherits it. In a process where
that was not done (tests, benches that build the app in-process) the counts are plain in-memory ones.

Labels are bounded: command and action names from the grammar, Slack method names from the code,
platform operations as path templates, outcomes from short fixed lists. Never an id or a channel.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from contextvars import ContextVar

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily

_ID_FREE = {"meetings", "recordings", "sessions", "webhooks", "active-session", "active-recording", "kick-all",
            "participants", "summary", "transcript", "livestreams", "presets"}

MULTIPROCESS = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
disable_created_metrics()  # no `_created` series beside each counter: an operator reads rates, not start times
LATENCY = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 3.0, 5.0, 10.0)
SLOW = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)

COMMANDS = Counter("recbot_commands", "/rec commands by command and outcome", ["command", "outcome"])
CLICKS = Counter("recbot_clicks", "Buttons and forms by action and outcome", ["action", "outcome"])
STEPS = Counter("recbot_workflow_steps", "Workflow Builder steps by step and outcome", ["step", "outcome"])
WEBHOOKS = Counter("recbot_webhooks", "Platform webhook deliveries by event and the answer given",
                   ["event", "answer"])
SLACK_CALLS = Counter("recbot_slack_calls", "Slack Web API calls by method and outcome", ["method", "outcome"])
SLACK_RATELIMITED = Counter("recbot_slack_ratelimited", "Slack answers of 429 by method", ["method"])
PLATFORM = Counter("recbot_platform_requests", "Platform API requests by operation and HTTP status",
                   ["operation", "status"])
ACK = Histogram("recbot_ack_seconds", "From a Slack request's arrival to recbot's answer (HTTP mode)",
                buckets=LATENCY)
TO_SLACK = Histogram("recbot_webhook_to_slack_seconds",
                     "From a webhook's arrival to the Slack message it caused, by message kind", ["kind"],
                     buckets=SLOW)
STORE_TRIPS = Histogram("recbot_store_trip_seconds", "Work done on the store's thread, one trip each, by outcome",
                        ["outcome"], buckets=LATENCY)
INGEST = Counter("recbot_ingest_deliveries", "Webhook deliveries the ingest process handled, by outcome",
                 ["outcome"])
INGEST_COMMIT = Histogram("recbot_ingest_commit_seconds", "The ingest process's group commits (fsynced)",
                          buckets=LATENCY)

# When the webhook that caused the work under way came in: the outbox rows that work writes carry it
# (`bot.store.outbox`), and the outbox observes TO_SLACK when they are sent.
WEBHOOK_AT: ContextVar[float | None] = ContextVar("webhook_at", default=None)

# The families read at scrape time (`Snapshot`), beside the counters and histograms above.
SNAPSHOT_FAMILIES = ("recbot_outbox_pending", "recbot_outbox_oldest_seconds", "recbot_active_recordings",
                     "recbot_jobs_held", "recbot_platform_budget_used_ratio", "recbot_platform_blocked_seconds",
                     "recbot_installs_to_reinstall")
REGISTRY_FAMILIES = (*(m._name for m in (COMMANDS, CLICKS, STEPS, WEBHOOKS, SLACK_CALLS, SLACK_RATELIMITED, PLATFORM,
                                         ACK, TO_SLACK, STORE_TRIPS, INGEST, INGEST_COMMIT)), *SNAPSHOT_FAMILIES)



_tallies: dict[tuple[Counter, tuple[str, ...]], int] = {}
_tallies_lock = threading.Lock()


def count(family: Counter, *labels: str) -> None:
    """One more of `family{labels}`, tallied here and added to the counter when /metrics is read (`flush`).
    This runs on every webhook, command and Slack call: a counter's own `inc()` takes a lock, asks the
    process id and writes a shared file in multiprocess mode (0.94 µs, against 0.25 µs for the tally), and
    `labels()` checks its arguments as well. The label sets are bounded, so the tallies are few."""
    key = (family, labels)
    with _tallies_lock:
        _tallies[key] = _tallies.get(key, 0) + 1


def flush() -> None:
    """Add the tallies to their counters: before a scrape reads them (`exposition`)."""
    with _tallies_lock:
        tallies = _tallies.copy()
        _tallies.clear()
    for (family, labels), n in tallies.items():
        family.labels(*labels).inc(n)


def slack_call(method: str, outcome: str) -> None:
    count(SLACK_CALLS, method, outcome)
    if outcome == "ratelimited":
        count(SLACK_RATELIMITED, method)


def http_outcome(status: int) -> str:
    """A plain HTTP answer (a response_url's) as a Slack call's outcome."""
    return "ok" if status < 400 else "ratelimited" if status == 429 else "server_error" if status >= 500 \
        else "refused"


def operation(method: str, path: str) -> str:
    """A platform request's path as a template: `GET /recordings/{id}`, never the id itself."""
    parts = [p if p in _ID_FREE else "{id}" for p in path.split("?")[0].strip("/").split("/") if p]
    return f"{method} /{'/'.join(parts)}"


EVENTS = frozenset({"recording.statusUpdate", "meeting.started", "meeting.ended", "meeting.participantJoined",
                    "meeting.participantLeft", "meeting.transcript", "meeting.summary", "meeting.chatSynced",
                    "livestreaming.statusUpdate"})


def event_label(event: str | None) -> str:
    """A webhook's event, or `other` for one recbot does not know (the set stays bounded)."""
    return event if event in EVENTS else "unknown" if not event else "other"


# -- read at scrape time ----------------------------------------------------------------------------


class Snapshot:
    """The scrape-time gauges, as read from the store and the limiter."""

    def __init__(self, outbox: Iterable[tuple[str, int, float | None]], recordings: Iterable[tuple[str, int]],
                 jobs: dict[str, bool], budget: dict, now: float, to_reinstall: int | None = None):
        self.outbox, self.recordings, self.jobs, self.budget, self.now = list(outbox), list(recordings), jobs, \
            budget, now
        self.to_reinstall = to_reinstall  # None: not read (the store was busy)

    def collect(self):
        pending = GaugeMetricFamily("recbot_outbox_pending", "Slack messages waiting in the outbox, by kind",
                                    labels=["kind"])
        oldest = GaugeMetricFamily("recbot_outbox_oldest_seconds", "Age of the oldest waiting message, by kind",
                                   labels=["kind"])
        for kind, n, created in self.outbox:
            pending.add_metric([kind], n)
            oldest.add_metric([kind], max(0.0, self.now - created) if created is not None else 0.0)
        active = GaugeMetricFamily("recbot_active_recordings", "Recordings not yet stopped, by state",
                                   labels=["state"])
        for state, n in self.recordings:
            active.add_metric([state], n)
        jobs = GaugeMetricFamily("recbot_jobs_held", "1 when this process holds the lease of a background job",
                                 labels=["lease"])
        for job, held in self.jobs.items():
            jobs.add_metric([job], 1.0 if held else 0.0)
        used = GaugeMetricFamily("recbot_platform_budget_used_ratio",
                                 "Share of each documented platform rate limit used in its window",
                                 labels=["limit"])
        for bucket in self.budget.get("buckets", []):
            used.add_metric([bucket["name"]], bucket["used"] / bucket["allowed"] if bucket["allowed"] else 0.0)
        blocked = GaugeMetricFamily("recbot_platform_blocked_seconds",
                                    "Seconds left of a platform 429's Retry-After (no calls meanwhile)")
        blocked.add_metric([], float(self.budget.get("blocked_for_s", 0.0)))
        yield from (pending, oldest, active, jobs, used, blocked)
        if self.to_reinstall is not None:
            yield GaugeMetricFamily("recbot_installs_to_reinstall", "Installs whose refresh token Slack refused as "
                                    "spent: each workspace must install recbot again", value=self.to_reinstall)


def exposition(snapshot: Snapshot) -> bytes:
    """The text a scrape gets: this replica's counters (the ingest process's added in) and the snapshot."""
    flush()
    registry = CollectorRegistry()
    if MULTIPROCESS:
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry)
        text = generate_latest(registry)
    else:
        from prometheus_client import REGISTRY

        text = generate_latest(REGISTRY)
    snapshot_registry = CollectorRegistry()
    snapshot_registry.register(snapshot)
    return text + generate_latest(snapshot_registry)


def process_exited(pid: int) -> None:
    """An ingest process is gone: its files' live gauges go (its counts stay: they happened)."""
    if MULTIPROCESS:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)


CONTENT_TYPE = CONTENT_TYPE_LATEST
