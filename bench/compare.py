"""`python -m bench.compare --before A1.json A2.json --after B1.json B2.json`: the figures of two codebases'
bench runs (`python -m bench --out FILE`, interleaved A/B/A/B on one machine in one session), side by side.

Each figure is shown run by run, then the ratio of the medians (after / before) and whether the after is
more than 10% worse (higher for a time or a size, lower for a rate). The markdown table is printed.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

WORSE = 0.10  # issue #31: no figure more than 10% worse than before

# (bench, the figure's keys within it, what it is, lower or higher is better)
FIGURES = [
    ("ack", ("recbot_p50_ms",), "ack p50, ms (200 commands/s, platform 800 ms)", "lower"),
    ("ack", ("recbot_p99_ms",), "ack p99, ms", "lower"),
    ("throughput", ("recbot", "rps"), "`/rec status` throughput, /s (wrk)", "higher"),
    ("throughput", ("recbot", "p99_ms"), "`/rec status` p99, ms", "lower"),
    ("throughput", ("share",), "`/rec status` share of the bare Bolt app", "higher"),
    ("ingest", ("recbot", "rps"), "webhook ingest, /s (wrk)", "higher"),
    ("ingest", ("recbot", "p99_ms"), "webhook ingest p99, ms", "lower"),
    ("ingest", ("share",), "webhook ingest share of bare Starlette", "higher"),
    ("ingest", ("recbot", "server_rss_mb"), "recbot resident with its ingest process, MB", "lower"),
    ("card", ("p50_ms",), "webhook to card edit p50, ms", "lower"),
    ("card", ("p99_ms",), "webhook to card edit p99, ms", "lower"),
    ("apply", ("p50_ms",), "sustained 200 webhooks/s: 2xx to card p50, ms", "lower"),
    ("apply", ("p99_ms",), "sustained: 2xx to card p99, ms", "lower"),
    ("apply", ("received_to_applied_p50_ms",), "sustained: receipt to applied p50, ms", "lower"),
    ("apply", ("card_row_to_sent_p50_ms",), "sustained: card row created to sent p50, ms", "lower"),
    ("apply", ("cores", "recbot"), "sustained: recbot's cores", "lower"),
    ("scale", ("status_p50_ms",), "scale: status handler p50, ms", "lower"),
    ("scale", ("status_p99_ms",), "scale: status handler p99, ms", "lower"),
    ("scale", ("rss_mb",), "scale: resident, MB", "lower"),
    ("scale", ("read_on_store_thread_p50_us",), "scale: a read on the store's thread p50, µs", "lower"),
    ("budget", ("per_minute",), "reconciler, platform requests/min (1,000 active)", "lower"),
    ("two", ("sqlite_1_webhook", "rps"), "one process on SQLite: webhooks/s", "higher"),
    ("two", ("postgres_2_webhook", "rps"), "two processes on PostgreSQL: webhooks/s", "higher"),
    ("two", ("sqlite_1_command", "rps"), "one process on SQLite: commands/s", "higher"),
    ("two", ("postgres_2_command", "rps"), "two processes on PostgreSQL: commands/s", "higher"),
]


def figure(run: dict, bench: str, keys: tuple[str, ...]) -> float | None:
    value = run.get(bench)
    for key in keys:
        value = value.get(key) if isinstance(value, dict) else None
    return float(value) if isinstance(value, int | float) else None


def _fmt(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.2f}"


def table(before: list[dict], after: list[dict]) -> str:
    rows = ["| figure | before, run by run | after, run by run | after / before (medians) | |",
            "|---|---|---|---|---|"]
    for bench, keys, what, better in FIGURES:
        a = [v for r in before if (v := figure(r, bench, keys)) is not None]
        b = [v for r in after if (v := figure(r, bench, keys)) is not None]
        if not a or not b:
            continue
        ratio = statistics.median(b) / statistics.median(a) if statistics.median(a) else float("nan")
        worse = ratio - 1 if better == "lower" else 1 - ratio
        verdict = f"**{worse:.0%} worse**" if worse > WORSE else ("better" if worse < -WORSE else "within 10%")
        rows.append(f"| {what} | {' / '.join(map(_fmt, a))} | {' / '.join(map(_fmt, b))} | {ratio:.2f} | {verdict} |")
    return "\n".join(rows)


def _load(paths: list[str]) -> list[dict]:
    return [json.loads(Path(p).read_text()) for p in paths]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.compare")
    parser.add_argument("--before", nargs="+", required=True, help="results.json of the earlier code, each run")
    parser.add_argument("--after", nargs="+", required=True, help="results.json of the later code, each run")
    args = parser.parse_args(argv)
    print(table(_load(args.before), _load(args.after)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
