"""`python -m bench.report`: put the figures of bench/results.json into the table of docs/performance.md."""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MARK = re.compile(r"<!-- bench-table -->.*?(?=\n\n!\[)", re.S)


def table(r: dict) -> str:
    a, t, i, c, s, b, p = (r[k] for k in ("ack", "throughput", "ingest", "card", "scale", "budget", "apply"))
    yes = {True: "met", False: "**missed**"}
    rows = [
        ("Ack, 200 `/rec` commands/s for 20 s, platform answering in 800 ms",
         f"recbot p50 {a['recbot_p50_ms']:.1f} ms, p99 {a['recbot_p99_ms']:.1f} ms; naive peer p50 "
         f"{a['naive_p50_ms']:.0f} ms, p99 {a['naive_p99_ms']:.0f} ms of those it acked, "
         f"{a['naive_over_3s']} of {a.get('naive_sent', a['rate'] * a['seconds'])} not acked within 3 s",
         "p99 < 30 ms, ≥ 25× lower",
         f"{a['p99_ratio']:.0f}× lower; {yes[a['met']]}"),
        ("`/rec status` throughput (wrk, 64 connections)",
         f"{t['recbot']['rps']:.0f}/s, p99 {t['recbot']['p99_ms']:.0f} ms vs a bare Bolt app "
         f"{t['bare_bolt']['rps']:.0f}/s; {_generator(t)}", "≥ 85% of the bare app",
         f"{t['share']:.0%}; {yes[t['met']]}"),
        ("Webhook ingest: verified, stored with an fsynced commit, 2xx (wrk, 64 connections)",
         f"{i['recbot']['rps']:.0f}/s, p99 {i['recbot']['p99_ms']:.0f} ms vs bare Starlette "
         f"{i['bare_starlette']['rps']:.0f}/s; {_generator(i)}; recbot "
         f"{i['recbot'].get('server_rss_mb', 0):.0f} MB resident with its ingest process",
         "≥ 60% of bare Starlette, p99 < 50 ms, < 200 MB",
         f"{i['share']:.0%}; {yes[i['met']]}"),
        ("Webhook to card edit, Slack healthy", f"p50 {c['p50_ms']:.1f} ms, p99 {c['p99_ms']:.1f} ms "
         f"({c['samples']} changes, {c.get('late', 0)} not shown within 10 s)", "p99 < 250 ms, none late",
         yes[c["p99_ms"] < 250 and not c.get("late", 0)]),
        ("Burst: 50 status events of one recording in 1 s", f"{c.get('burst_confirmations', '?')} platform "
         f"confirmation(s), {c['burst_card_edits']} card edits, final state "
         f"{'right' if c['burst_final_right'] else 'WRONG'} ({c['burst_final_card']})",
         "1 confirmation, ≤ 3 edits, final right",
         yes[c.get("burst_confirmations") == 1 and c["burst_card_edits"] <= 3 and c["burst_final_right"]]),
        (f"Sustained: {p['events_per_s']:.0f} status webhooks/s across {p['recordings']:,} recordings for "
         f"{p['seconds']} s", f"2xx to card edit p50 {p['p50_ms']:.0f} ms, p99 {p['p99_ms']:.0f} ms; "
         f"{p['never_shown']} of {p['events']} not shown within 6 s; {p['platform_calls_per_s']:.1f} platform calls/s; "
         f"recbot {p['cores']['recbot']:.2f}, emulator {p['cores']['emulator']:.2f} cores; the emulator's webhooks "
         f"came {p.get('delivery_p50_ms', 0):.0f} ms (p50), {p.get('delivery_p99_ms', 0):.0f} ms (p99) "
         f"after the action{'' if p['generator_faster'] else ' (too late: the emulator measured itself)'}; "
         f"receipt to applied p50 {p.get('received_to_applied_p50_ms', 0):.0f} ms, p99 "
         f"{p.get('received_to_applied_p99_ms', 0):.0f} ms; a card row created to sent p50 "
         f"{p.get('card_row_to_sent_p50_ms', 0):.0f} ms, p99 {p.get('card_row_to_sent_p99_ms', 0):.0f} ms",
         "p99 < 1 s, all shown, within the platform's limit", yes[p["met"]]),
        (f"Scale: {s['channels']:,} channels, {s['active_recordings']:,} active, {s['ledger_rows']:,} ledger rows",
         f"status handler p50 {s['status_p50_ms']:.2f} ms, p99 {s['status_p99_ms']:.2f} ms; {s['rss_mb']:.0f} MB "
         f"resident; database {s['database_mb']:.0f} MB; a read on the store's thread "
         f"{s.get('read_on_store_thread_p50_us', 0):.0f} µs vs {s.get('read_inline_p50_us', 0):.0f} µs in place (p50)",
         "p99 < 20 ms, < 200 MB", yes[s["met"]]),
        (f"Reconciler with {b['active_recordings']:,} active recordings", f"{b['per_minute']:.0f} platform "
         f"requests/min", "≤ 50% of 2,000/min", f"{b['share']:.0%}; {yes[b['met']]}"),
    ]
    m = r["machine"]
    head = (f"<!-- bench-table -->\nRun {r['when']} on {m['cores']} cores, Python {m['python']} ({m['system']}).\n\n"
            "| what | measured | goal | |\n|---|---|---|---|\n")
    return head + "\n".join(f"| {w} | {x} | {g} | {v} |" for w, x, g, v in rows)


def _generator(r: dict) -> str:
    """Who ran out: the server (the figure counts) or wrk (it does not)."""
    servers = [v for v in r.values() if isinstance(v, dict) and "wrk_cores" in v]
    cores = ", ".join(f"server {v['server_cores']:.2f} / wrk {v['wrk_cores']:.2f} cores" for v in servers)
    return f"{cores} ({'the servers were the bottleneck' if r['generator_faster'] else 'WRK WAS THE BOTTLENECK'})"


def main() -> None:
    results = json.loads((ROOT / "bench" / "results.json").read_text())
    page = ROOT / "docs" / "performance.md"
    text = page.read_text()
    if not MARK.search(text):
        raise SystemExit("docs/performance.md has no <!-- bench-table --> marker")
    page.write_text(MARK.sub(lambda _: table(results), text, count=1))


if __name__ == "__main__":
    main()
