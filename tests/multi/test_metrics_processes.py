"""/metrics with real processes: two `recbot serve` on one PostgreSQL database, each with its ingest process.
Each replica reports its own counts, its ingest process's included (prometheus_client's multiprocess mode)."""

import asyncio
import contextlib
import json
import os
import signal
import sys
from pathlib import Path

import httpx

from bot.asgi_server import _free_port
from tests.conftest import ALICE, CHANNEL, make_stack, until
from tests.e2e.helpers import ack_text
from tests.e2e.test_metrics import delta, scrape, settled
from tests.e2e.test_pipeline import sign

ROOT = Path(__file__).resolve().parents[2]


@contextlib.asynccontextmanager
async def serve(env: dict[str, str], port: int, stderr=asyncio.subprocess.DEVNULL):
    """`python -m bot serve` on `port`, until it answers /healthz; stopped with SIGTERM as a deployer would."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "serve", cwd=ROOT, env={**os.environ, **env, "PORT": str(port)},
        stdout=asyncio.subprocess.DEVNULL, stderr=stderr)
    try:
        async with httpx.AsyncClient() as http:
            for _ in range(300):
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200:
                        break
                assert process.returncode is None, "recbot serve exited at start"
                await asyncio.sleep(0.1)
        yield process
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), 20)
            except TimeoutError:
                process.kill()
                await process.wait()


async def test_two_serve_processes_each_report_their_own_counts_with_their_ingest_process(tmp_path, postgres):
    async with make_stack(tmp_path, env={"REC_DATABASE": postgres.new_database()}) as s:
        env = s.settings_env()
        first = s.bot_port  # the emulator's webhooks go here: the first process takes this port over
        await s.stop_bot()
        second = _free_port("127.0.0.1")
        async with serve(env, first), serve(env, second):
            meeting = await s.new_meeting("Metrics")
            await s.join(meeting, "Ann")
            urls = {first: f"http://127.0.0.1:{first}", second: f"http://127.0.0.1:{second}"}
            delivered = await settled(s.emulator)
            before = {port: (await scrape(s.http, url))[0] for port, url in urls.items()}

            async def command(port: int, text: str) -> str:
                s.bot_port = port
                seen = len(s.slack.ephemeral_for(ALICE))
                response = await s.command(ALICE, text)
                assert response.status_code == 200
                if ack_text(response).endswith("…") or not ack_text(response):
                    await until(lambda: len(s.slack.ephemeral_for(ALICE)) > seen, timeout=10, message=text)
                return ack_text(response)

            await command(first, f"link {meeting}")
            await command(second, "link not-a-meeting")  # the platform answers 404
            s.slack.faults.next_mode, s.slack.faults.next_count = "429", 1  # one Slack call is refused
            await command(second, "start")
            await until(lambda: s.slack.channel(CHANNEL), timeout=15, message="the card")
            card = s.slack.channel(CHANNEL)[0]
            await until(lambda: any("ecording" in m.text for m in s.slack.thread(CHANNEL, card.ts)), timeout=15,
                        message="the thread says it records")
            body, headers = sign(s, {"event": "meeting.started"})
            headers["dyte-signature"] = "AAAA"
            assert (await s.http.post(f"{urls[second]}/webhooks", content=body, headers=headers)).status_code == 401
            await until(lambda: s.slack.faults.counts["429"] == 1, message="the 429")
            await settled(s.emulator)
            after = {port: (await scrape(s.http, url))[0] for port, url in urls.items()}

        d = {port: (lambda name, _p=port, **labels: delta(after[_p], before[_p], name, **labels)) for port in urls}
        assert d[first]("recbot_commands_total", command="link", outcome="ok") == 1
        assert d[second]("recbot_commands_total", command="link", outcome="ok") == 0
        assert d[second]("recbot_commands_total", command="link", outcome="refused") == 1
        assert d[second]("recbot_commands_total", command="start", outcome="ok") == 1
        assert d[first]("recbot_commands_total", command="start", outcome="ok") == 0
        assert d[second]("recbot_platform_requests_total", operation="GET /meetings/{id}", status="404") == 1
        # the webhooks the emulator delivered all came to the first process: its door and its ingest process
        stored = sum(1 for entry in s.emulator.deliverer.log[delivered:] if entry["status"] == 200)
        assert stored >= 2  # RECORDING's statusUpdate at least
        webhooks = sum(v - before[first].get(k, 0) for k, v in after[first].items() if k[0] == "recbot_webhooks_total"
                       and dict(k[1])["answer"] == "200")
        assert webhooks == stored
        assert d[first]("recbot_ingest_deliveries_total", outcome="stored") == stored  # counted in the other process
        assert d[first]("recbot_ingest_commit_seconds_count") >= 1
        assert d[second]("recbot_webhooks_total", event="unknown", answer="401") == 1
        # verified twice when the door fetched the key again to be sure (at most once a minute)
        assert d[second]("recbot_ingest_deliveries_total", outcome="signature") in (1, 2)
        assert d[second]("recbot_ingest_deliveries_total", outcome="stored") == 0
        # the 429: one, in whichever process sent that row
        limited = sum(d[p](name, **dict(labels)) for p in urls for (name, labels) in after[p]
                      if name == "recbot_slack_ratelimited_total")
        assert limited == 1
        # the platform budget is one for both: each reports what both spent, not its own share
        budgets = [{dict(k[1])["limit"]: v for k, v in after[p].items() if k[0] == "recbot_platform_budget_used_ratio"}
                   for p in urls]
        assert budgets[0].keys() == budgets[1].keys() and budgets[0]
        assert all(budgets[0][n] > 0 and abs(budgets[0][n] - budgets[1][n]) < 0.01 for n in budgets[0])
        # the background jobs: each held by exactly one of them
        for job in ("deliveries", "timers"):
            assert sum(after[p].get(("recbot_jobs_held", frozenset({("lease", job)})), 0) for p in urls) == 1, job


async def test_recbot_serve_logs_one_json_object_a_line(tmp_path):
    """Every line of a real `recbot serve` and its ingest process (uvicorn's too) parses, with REC_LOG_FORMAT=json."""
    async with make_stack(tmp_path) as s:
        env = s.settings_env() | {"REC_LOG_FORMAT": "json", "REC_DATABASE": str(tmp_path / "json.sqlite3")}
        port = _free_port("127.0.0.1")
        with open(tmp_path / "stderr", "wb") as err:
            async with serve(env, port, stderr=err):
                body, headers = sign(s, {"event": "meeting.started"})
                headers["dyte-signature"] = "AAAA"
                assert (await s.http.post(f"http://127.0.0.1:{port}/webhooks", content=body,
                                          headers=headers)).status_code == 401
    lines = [json.loads(line) for line in (tmp_path / "stderr").read_text().splitlines() if line.strip()]
    assert any(line["message"].startswith("recbot serving on") for line in lines)
    refused = next(line for line in lines if line["message"].startswith("refused a webhook"))
    assert refused["level"] == "WARNING" and refused["request"] == "u-1"  # the delivery's id
