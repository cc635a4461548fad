"""`python -m bench.dashboard [--seconds 150] [--out docs/operations-dashboard.png]`: the panels of
docs/grafana-dashboard.json drawn from a real run, as docs/operations.md shows them.

No Grafana here, so this does what Grafana would with the same file, honestly and no further:
1. the bench's platform (emulator and local Slack, a process of their own) and one `recbot serve` (its own
   process, metrics on, its ingest process beside it);
2. a real Prometheus (Debian's `prometheus` package) scraping recbot's /metrics every 2 s, with
   docs/recbot-alerts.yml loaded;
3. traffic: six channels each linked to a meeting and driven through start, pause, resume, stop and status
   by signed commands; a steady `/rec status` load and a steady stream of signed webhooks (bench.load); then
   Slack answering 429 to 30% of calls for 30 s, and the platform answering 500 to 30% for 20 s;
4. each panel's PromQL, exactly as the dashboard file has it (`$__rate_interval` set to 30s, as Grafana
   would for a 2 s scrape), asked of Prometheus' query_range API; drawn as lines on one HTML page; shot with
   headless chromium.
"""

from __future__ import annotations

import argparse
import asyncio
import html
import itertools
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench import load
from bench.__main__ import Platform, free_port
from bench.load import command_request

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
STEP = 2.0
COLOURS = ("#3274d9", "#e0752d", "#37872d", "#c4162a", "#8f3bb8", "#1f9e89", "#b8860b", "#56a64b")


def prometheus(folder: str, target: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    config = Path(folder) / "prometheus.yml"
    config.write_text(json.dumps({  # YAML is a superset of JSON
        "global": {"scrape_interval": f"{STEP:.0f}s", "evaluation_interval": f"{STEP:.0f}s"},
        "rule_files": [str(DOCS / "recbot-alerts.yml")],
        "scrape_configs": [{"job_name": "recbot", "static_configs": [{"targets": [target]}]}]}))
    process = subprocess.Popen([shutil.which("prometheus") or "prometheus", f"--config.file={config}",
                                f"--storage.tsdb.path={folder}/tsdb", f"--web.listen-address=127.0.0.1:{port}"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            if httpx.get(f"{url}/-/ready", timeout=1).status_code == 200:
                return process, url
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError("prometheus did not start")


async def traffic(bot: str, platform: Platform, key: str, seconds: float) -> None:
    from bot.platform.client import PlatformClient

    client = PlatformClient("dyte", f"{platform.url}/v2", org_id="emulator-org", api_key="emulator-key")
    await client.register_webhook(f"{bot}/webhooks")
    await client.aclose()
    slack_origin = platform.slack_url.removesuffix("/api/")
    background = [subprocess.Popen([sys.executable, "-m", "bench.load", kind, "--url", url, "--rate", str(rate),
                                    "--seconds", str(seconds - 10), "--warmup", "0", *extra],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                  for kind, url, rate, extra in (
                      ("command", f"{bot}/slack/events", 15,
                       ["--text", "status", "--channel", "C0CH0", "--response-url",
                        f"{slack_origin}/response_url/C0CH0/U0BENCH"]),
                      ("webhook", f"{bot}/webhooks", 20, ["--key", key]))]
    began = time.monotonic()
    load._counter = itertools.count(10**6)  # trigger ids of their own: recbot drops a repeated one
    async with httpx.AsyncClient(timeout=10) as http:
        async def command(channel: str, text: str) -> None:
            url, body, headers = command_request(f"{bot}/slack/events", text, channel,
                                                 f"{slack_origin}/response_url/{channel}/U0BENCH")
            await http.post(url, content=body, headers=headers)

        async def channel(n: int) -> None:
            meeting = (await http.post(f"{platform.url}/_emulator/meetings", json={"title": f"m{n}"})).json()
            meeting = meeting["data"]["id"]
            await http.post(f"{platform.url}/_emulator/meetings/{meeting}/join", json={"name": f"p{n}"})
            await command(f"C0CH{n}", f"link {meeting}")
            await asyncio.sleep(1 + n)
            while time.monotonic() - began < seconds - 15:
                await command(f"C0CH{n}", "start")
                for _ in range(random.randint(1, 3)):
                    await asyncio.sleep(random.uniform(2, 5))
                    await command(f"C0CH{n}", "pause")
                    await asyncio.sleep(random.uniform(2, 5))
                    await command(f"C0CH{n}", random.choice(["resume", "status", "resume"]))
                await asyncio.sleep(random.uniform(2, 6))
                await command(f"C0CH{n}", "stop")
                await asyncio.sleep(random.uniform(2, 4))

        async def faults() -> None:
            await asyncio.sleep(seconds * 0.3)
            await http.post(f"{slack_origin}/_slack/faults", json={"rates": {"429": 0.3}, "retry_after": 2})
            await asyncio.sleep(30)
            await http.post(f"{slack_origin}/_slack/faults", json={"rates": {}})
            await asyncio.sleep(10)
            await http.post(f"{platform.url}/_emulator/faults", json={"rates": {"500": 0.3}})
            await asyncio.sleep(20)
            await http.post(f"{platform.url}/_emulator/faults", json={"rates": {}})

        await asyncio.gather(*(channel(n) for n in range(6)), faults())
    for process in background:
        process.wait()


def query_range(url: str, expr: str, start: float, end: float) -> list[dict]:
    answer = httpx.get(f"{url}/api/v1/query_range", params={"query": expr, "start": start, "end": end,
                                                            "step": STEP}, timeout=30).json()
    if answer.get("status") != "success":
        raise RuntimeError(f"{expr}: {answer}")
    return answer["data"]["result"]


def legend(template: str, labels: dict) -> str:
    out = template
    for name, value in labels.items():
        out = out.replace("{{" + name + "}}", value)
    return out


def svg(series: list[tuple[str, list[tuple[float, float]]]], start: float, end: float, unit: str) -> str:
    w, h, pad = 460, 170, 34
    values = [v for _, points in series for _, v in points] or [0.0]
    top = max(values) * 1.1 or 1.0
    x = lambda t: pad + (t - start) / (end - start) * (w - pad - 6)  # noqa: E731
    y = lambda v: h - 16 - v / top * (h - 26)  # noqa: E731
    parts = [f'<svg width="{w}" height="{h}" xmlns="http://www.w3.org/2000/svg">',
             f'<line x1="{pad}" y1="{h - 16}" x2="{w - 6}" y2="{h - 16}" stroke="#555"/>']
    for frac in (0.5, 1.0):
        parts.append(f'<line x1="{pad}" y1="{y(top * frac / 1.1):.1f}" x2="{w - 6}" y2="{y(top * frac / 1.1):.1f}" '
                     f'stroke="#333" stroke-dasharray="3,3"/><text x="2" y="{y(top * frac / 1.1) + 4:.1f}" '
                     f'fill="#aaa" font-size="10">{fmt(top * frac / 1.1, unit)}</text>')
    for minute in range(0, int(end - start) + 1, 60):
        parts.append(f'<text x="{x(start + minute):.1f}" y="{h - 3}" fill="#aaa" font-size="10">{minute // 60}m'
                     "</text>")
    for n, (_, points) in enumerate(series):
        path = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in points)
        parts.append(f'<polyline fill="none" stroke="{COLOURS[n % len(COLOURS)]}" stroke-width="1.6" '
                     f'points="{path}"/>')
    return "".join(parts) + "</svg>"


def fmt(value: float, unit: str) -> str:
    if unit == "percentunit":
        return f"{value * 100:.2g}%"
    if unit == "s":
        return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.1f} s"
    if unit == "ops":
        return f"{value:.2g}/s"
    return f"{value:.3g}"


def page(dashboard: dict, url: str, start: float, end: float, note: str) -> str:
    cells = []
    for panel in dashboard["panels"]:
        unit = panel["fieldConfig"]["defaults"]["unit"]
        series = []
        for target in panel["targets"]:
            expr = target["expr"].replace("$__rate_interval", "30s")
            for found in query_range(url, expr, start, end):
                points = [(float(t), float(v)) for t, v in found["values"] if v not in ("NaN", "+Inf", "-Inf")]
                series.append((legend(target["legendFormat"], found["metric"]), points))
        keys = "".join(f'<span style="color:{COLOURS[n % len(COLOURS)]}">■</span> {html.escape(name)} '
                       for n, (name, _) in enumerate(series)) or '<span class="muted">no data</span>'
        cells.append(f'<div class="panel"><h2>{html.escape(panel["title"])}</h2>{svg(series, start, end, unit)}'
                     f'<div class="keys">{keys}</div></div>')
    return ("<!doctype html><meta charset='utf-8'><style>body{background:#111217;color:#ccccdc;font:13px sans-serif;"
            "margin:12px}.grid{display:grid;grid-template-columns:repeat(3,480px);gap:8px}.panel{background:#181b1f;"
            "border:1px solid #2a2d33;padding:6px 8px}h1{font-size:17px;margin:0 0 4px}h2{font-size:13px;margin:0 0 "
            "4px}.keys{font-size:11px;line-height:1.4}.muted,p{color:#888}p{margin:0 0 8px}</style>"
            f"<h1>{html.escape(dashboard['title'])} — docs/grafana-dashboard.json</h1><p>{html.escape(note)}</p>"
            f"<div class='grid'>{''.join(cells)}</div>")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.dashboard")
    parser.add_argument("--seconds", type=float, default=150.0)
    parser.add_argument("--out", default=str(DOCS / "operations-dashboard.png"))
    args = parser.parse_args(argv)
    if not shutil.which("prometheus") or not (chromium := shutil.which("chromium")):
        print("needs Debian's prometheus and chromium packages (apt-get install prometheus chromium)")
        return 2
    dashboard = json.loads((DOCS / "grafana-dashboard.json").read_text())
    with tempfile.TemporaryDirectory() as folder:
        platform = Platform(folder, latency=0.05)
        try:
            bot, url = platform.recbot(folder)
            prom, prom_url = prometheus(folder, url.removeprefix("http://"))
            try:
                start = time.time()
                asyncio.run(traffic(url, platform, platform.key, args.seconds))
                time.sleep(4)  # the last scrapes
                end = time.time()
                note = (f"One recbot serve on SQLite, {args.seconds:.0f} s of bench traffic on "
                        f"{time.strftime('%Y-%m-%d %H:%M', time.gmtime(start))} UTC, scraped every 2 s by Prometheus "
                        "and queried with the dashboard's own PromQL; Slack 429s for 30 s at 30%, then platform "
                        "500s for 20 s at 30%. Drawn by bench/dashboard.py, not by Grafana.")
                document = Path(folder) / "dashboard.html"
                document.write_text(page(dashboard, prom_url, start, end, note))
                alerts = httpx.get(f"{prom_url}/api/v1/rules").json()["data"]["groups"][0]["rules"]
                print(json.dumps({r["name"]: r["state"] for r in alerts}))
            finally:
                prom.terminate()
                prom.wait(10)
                bot.stop()
        finally:
            platform.stop()
        height = 140 + 262 * ((len(dashboard["panels"]) + 2) // 3)
        subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                        f"--screenshot={os.path.abspath(args.out)}", f"--window-size=1480,{height}",
                        document.as_uri()], check=True, capture_output=True, timeout=120)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
