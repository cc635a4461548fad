"""The chaos run: `python -m tests.chaos.run [--recordings 100 --channels 20 --kills 3] [--processes 2]`.

With `--processes 2`, two bots share one PostgreSQL database (a throwaway cluster unless `--database`
names one), every request goes to one of them at random as through a load balancer, the platform
sends its webhooks to both, and each kill hits one of the two at random.

Recordings over several channels are driven by random commands and button clicks while the platform
answers 500, times out, rate-limits and drops, duplicates and reorders its webhooks, Slack answers 429
and 500, and the bot is killed with SIGKILL and restarted. Then, with the faults off, everything is
stopped and left to settle, and what Slack shows is checked against the emulator's own history.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench.__main__ import Platform, free_port
from bench.load import command_request
from bench.servers import SECRET, TOKEN
from bot.models import Status
from bot.slack.blocks import MARK

CONTROLLER, MEMBER = "U0BENCH", "U0MEMBER"


@dataclass
class Bot:
    platform: Platform
    folder: str
    name: str = "bot"
    database_url: str | None = None  # PostgreSQL, shared by the bots; else a SQLite file of this one
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen | None = None
    log_path: str = ""
    kills: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def database(self) -> str:
        return self.database_url or os.path.join(self.folder, "chaos.sqlite3")

    def start(self) -> None:
        env = {**os.environ, "SLACK_BOT_TOKEN": TOKEN, "SLACK_SIGNING_SECRET": SECRET,
               "SLACK_API_URL": self.platform.slack_url, "DYTE_ORG_ID": "emulator-org",
               "DYTE_API_KEY": "emulator-key", "DYTE_API_URL": f"{self.platform.url}/v2",
               "REC_DATABASE": self.database, "HOST": "127.0.0.1", "PORT": str(self.port),
               "REC_WEBHOOK_KEY_URL": f"{self.platform.url}/.well-known/webhooks.json",
               "REC_RECONCILE_AFTER": "2s", "REC_PLATFORM_TIMEOUT": "2s"}
        self.log_path = os.path.join(self.folder, f"{self.name}-{self.kills}.log")
        log = open(self.log_path, "w")
        self.proc = subprocess.Popen([sys.executable, "-m", "bot", "serve"], env=env, stdout=log, stderr=log)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.05)
        raise RuntimeError("the bot did not start")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.kills += 1

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(15)

    def logs(self) -> str:
        return "".join(Path(self.folder, f"{self.name}-{k}.log").read_text() for k in range(self.kills + 1)
                       if Path(self.folder, f"{self.name}-{k}.log").exists())

    def rows(self, sql: str, *args) -> list[dict]:
        if self.database_url:
            import psycopg
            from psycopg.rows import dict_row

            with psycopg.connect(self.database_url, row_factory=dict_row) as conn:
                return list(conn.execute(sql.replace("?", "%s"), args))
        conn = sqlite3.connect(f"file:{self.database}?mode=ro", uri=True, timeout=10)
        conn.row_factory = sqlite3.Row
        try:
            return [dict(r) for r in conn.execute(sql, args)]
        finally:
            conn.close()


class Balancer:
    """What stands in front of several bots: each webhook to one live bot at random (another if that one
    does not answer), as a load balancer would; 503 when none answers, so the platform tries again."""

    def __init__(self, bots: list[Bot], rng: random.Random):
        from starlette.applications import Starlette
        from starlette.routing import Route

        from bot.asgi_server import BackgroundServer

        self.bots, self.rng = bots, rng
        self.http = httpx.AsyncClient(timeout=10)
        self.server = BackgroundServer(Starlette(routes=[Route("/webhooks", self.forward, methods=["POST"])]))

    async def forward(self, request):
        from starlette.responses import Response

        body = await request.body()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")}
        for bot in self.rng.sample(self.bots, len(self.bots)):
            try:
                answer = await self.http.post(f"{bot.url}/webhooks", content=body, headers=headers)
            except httpx.HTTPError:
                continue
            return Response(answer.content, status_code=answer.status_code, media_type="application/json")
        return Response(b'{"ok": false}', status_code=503, headers={"retry-after": "1"})


class Driver:
    def __init__(self, bots: list[Bot], http: httpx.AsyncClient, rng: random.Random):
        self.bots, self.http, self.rng = bots, http, rng
        self.sent = Counter()

    @property
    def bot(self) -> Bot:
        """The bot this request goes to: one of the live ones, as a load balancer would choose."""
        live = [b for b in self.bots if b.alive] or self.bots
        return self.rng.choice(live)

    async def command(self, user: str, channel: str, text: str) -> None:
        respond = f"http://127.0.0.1:{self.bot.platform.slack_port}/response_url/{channel}/{user}"
        url, body, headers = command_request(f"{self.bot.url}/slack/events", text, channel, respond)
        body = body.replace(b"U0BENCH", user.encode())
        from slack_sdk.signature import SignatureVerifier

        headers["x-slack-signature"] = SignatureVerifier(SECRET).generate_signature(
            timestamp=headers["x-slack-request-timestamp"], body=body.decode())
        try:
            await self.http.post(url, content=body, headers=headers)
            self.sent["command"] += 1
        except httpx.HTTPError:
            self.sent["refused_while_down"] += 1

    async def click(self, user: str, channel: str, action: str, recording_id: str) -> None:
        from urllib.parse import urlencode

        from slack_sdk.signature import SignatureVerifier

        payload = {"type": "block_actions", "user": {"id": user, "team_id": "T0BENCH"}, "team": {"id": "T0BENCH"},
                   "channel": {"id": channel}, "container": {"type": "message", "channel_id": channel},
                   "response_url": f"http://127.0.0.1:{self.bot.platform.slack_port}/response_url/{channel}/{user}",
                   "trigger_id": f"{time.time_ns()}.1.x",  # each request its own, as Slack gives
                   "actions": [{"action_id": f"rec_{action}", "value": recording_id, "type": "button"}]}
        raw = urlencode({"payload": json.dumps(payload)})
        ts = str(int(time.time()))
        headers = {"content-type": "application/x-www-form-urlencoded", "x-slack-request-timestamp": ts,
                   "x-slack-signature": SignatureVerifier(SECRET).generate_signature(timestamp=ts, body=raw)}
        try:
            await self.http.post(f"{self.bot.url}/slack/events", content=raw, headers=headers)
            self.sent["click"] += 1
        except httpx.HTTPError:
            self.sent["refused_while_down"] += 1

    def known(self, channel: str) -> list[dict]:
        try:
            return self.bots[0].rows("SELECT id, status FROM recordings WHERE channel_id = ?", channel)
        except Exception:  # the database is busy, or its file not made yet
            return []

    async def play(self, channel: str, budget: int, actions: int) -> int:
        """Random actions in one channel, starting recordings until it has `budget`; returns starts sent."""
        starts = 0
        for _ in range(actions):
            known = self.known(channel)
            active = [r for r in known if r["status"] in ("INVOKED", "RECORDING", "PAUSED")]
            roll = self.rng.random()
            user = MEMBER if self.rng.random() < 0.2 else CONTROLLER
            if (not active or roll < 0.08) and len(known) < budget and starts < 8 * budget:
                starts += 1
                await self.command(CONTROLLER, channel, "start --multi" if active else "start")
            elif active and roll < 0.75:  # recordings live long, paused and resumed many times
                target = self.rng.choice(active)
                action = self.rng.choice(["pause", "resume"] * 12 + ["stop"])
                if self.rng.random() < 0.5:
                    await self.click(user, channel, action, target["id"])
                else:
                    await self.command(user, channel, action)
            elif roll < 0.8:
                await self.command(user, channel, "status")
            elif active:
                await self.command(CONTROLLER, channel, self.rng.choice(["pause", "resume", "pause for 3s"]))
            await asyncio.sleep(self.rng.uniform(0.05, 0.4))
        return starts


async def set_faults(http: httpx.AsyncClient, platform: Platform, on: bool, webhook_only: bool = False) -> None:
    emu = platform.url
    api = {"rates": {"500": 0.10, "hang": 0.05}, "hang_seconds": 3} if on else {"clear": True}
    if not webhook_only:
        await http.post(f"{emu}/_emulator/faults", json=api)
    hooks = {"drop": 0.10, "duplicate": 0.30, "reorder": 0.10} if on else {"drop": 0, "duplicate": 0, "reorder": 0,
                                                                              "drop_next": 0}
    await http.post(f"{emu}/_emulator/webhook-faults", json=hooks)
    slack = {"rates": {"429": 0.10, "500": 0.02}, "retry_after": 1} if on else {"rates": {}}
    await http.post(f"http://127.0.0.1:{platform.slack_port}/_slack/faults", json=slack)


async def rate_limit_bursts(http: httpx.AsyncClient, platform: Platform, stop: asyncio.Event) -> int:
    bursts = 0
    while not stop.is_set():
        await asyncio.sleep(4)
        await http.post(f"{platform.url}/_emulator/faults", json={"mode": "429", "count": 5})
        bursts += 1
    return bursts


async def settle(bots: list[Bot], http: httpx.AsyncClient, platform: Platform, channels: list[str],
                 timeout: float) -> None:
    """Faults off; stop whatever is still active; wait until the platform, the bot and Slack agree."""
    deadline = time.monotonic() + timeout
    driver = Driver(bots, http, random.Random(0))
    bot = bots[0]
    while time.monotonic() < deadline:
        state = (await http.get(f"{platform.url}/_emulator/state")).json()["data"]
        active = [r for r in state["recordings"] if r["status"] in ("INVOKED", "RECORDING", "PAUSED")]
        if not active:
            break
        for channel in channels:
            await driver.command(CONTROLLER, channel, "stop")
        await asyncio.sleep(3)
    while time.monotonic() < deadline:
        state = (await http.get(f"{platform.url}/_emulator/state")).json()["data"]
        unfinished = [r for r in state["recordings"] if r["status"] not in ("UPLOADED", "ERRORED")]
        health = (await http.get(f"{bot.url}/healthz")).json()
        outbox = health.get("outbox", {})
        bot_unfinished = bot.rows("SELECT COUNT(*) AS n FROM recordings WHERE status NOT IN ('UPLOADED', 'ERRORED')")
        pending = bot.rows("SELECT COUNT(*) AS n FROM deliveries WHERE processed_at IS NULL")
        if time.monotonic() > getattr(settle, "_next_report", 0):
            settle._next_report = time.monotonic() + 10
            say(f"waiting: platform unfinished {len(unfinished)}, bot unfinished {bot_unfinished[0]['n']}, "
                f"deliveries pending {pending[0]['n']}, outbox {outbox}")
        if not unfinished and not bot_unfinished[0]["n"] and not pending[0]["n"] \
                and not outbox.get("pending") and not outbox.get("sending"):
            await asyncio.sleep(2)
            outbox = (await http.get(f"{bot.url}/healthz")).json().get("outbox", {})
            if not outbox.get("pending") and not outbox.get("sending"):
                return
        await asyncio.sleep(1)
    raise AssertionError("the system did not settle in time")


def check(bot: Bot, platform: Platform, slack: dict, history: list[dict], state: dict) -> dict:
    """Compare what Slack shows and what the bot stored with what the platform did."""
    messages = slack["messages"]
    recs = {r["id"]: r for r in bot.rows("SELECT * FROM recordings")}
    platform_recs = {r["id"]: r for r in state["recordings"]}
    transitions: dict[str, list[str]] = {}
    for h in history:
        transitions.setdefault(h["recording_id"], []).append(h["to"])
    lost, duplicated, wrong = [], [], []
    for rec_id, seen in platform_recs.items():
        rec = recs.get(rec_id)
        if rec is None:
            lost.append(f"{rec_id}: the bot never learned of it")
            continue
        final = Status(seen["status"])
        if rec["status"] != final.value:
            wrong.append(f"{rec_id}: stored {rec['status']}, platform {final.value}")
        card = next((m for m in messages if m["ts"] == rec["card_ts"] and m["channel"] == rec["channel_id"]), None)
        if card is None:
            lost.append(f"{rec_id}: no card")
            continue
        if MARK[final][1] not in card["text"]:
            wrong.append(f"{rec_id}: card says {card['text'][:40]!r}, platform {final.value}")
        cards = [m for m in messages if m["thread_ts"] is None and rec_id in json.dumps(m["blocks"] or [])]
        if len(cards) != 1:
            duplicated.append(f"{rec_id}: {len(cards)} cards")
        thread = [m["text"] for m in messages if m["thread_ts"] == rec["card_ts"] and m["channel"] == rec["channel_id"]]
        if final is Status.UPLOADED:
            path = f"/_emulator/files/{rec_id}.wav"
            links = sum(path in t for t in thread)
            if links == 0:
                lost.append(f"{rec_id}: no link in its thread")
            elif links > 1:
                duplicated.append(f"{rec_id}: link posted {links} times; thread: {thread}")
        done = transitions.get(rec_id, [])
        performed = {"paused": done.count("PAUSED"),
                     "resumed": sum(1 for a, b in itertools.pairwise(done) if a == "PAUSED" and b == "RECORDING"),
                     "stopped": done.count("UPLOADING")}
        claimed = {"paused": sum(" paused " in t for t in thread), "resumed": sum(" resumed " in t for t in thread),
                   "stopped": sum(" stopped " in t for t in thread)}
        for kind, n in claimed.items():
            if n > performed[kind]:
                wrong.append(f"{rec_id}: thread claims {n} {kind}, platform performed {performed[kind]}")
        entries = bot.rows("SELECT status, at, source, actor, reason FROM ledger WHERE recording_id = ? ORDER BY id",
                           rec_id)
        ledger = [r["status"] for r in entries]
        if _collapse(ledger) != _collapse(done):
            missed = len(_collapse(done)) - len(_collapse(ledger))
            timeline = sorted([(h["at"], "platform", h["to"], h["cause"]) for h in history
                               if h["recording_id"] == rec_id] +
                              [(r["at"], "ledger", r["status"], f"{r['source']} {r['actor']} {r['reason']}")
                               for r in entries])
            (lost if missed > 0 else wrong).append(f"{rec_id}: ledger {ledger} vs platform {done}; timeline: " +
                                                   "; ".join(f"{at:.2f} {who} {to} ({why})"
                                                             for at, who, to, why in timeline))
    return {"lost": lost, "duplicated": duplicated, "wrong": wrong}


def _collapse(statuses: list[str]) -> list[str]:
    out: list[str] = []
    for s in statuses:
        if not out or out[-1] != s:
            out.append(s)
    return out


def say(message: str) -> None:
    print(f"[chaos {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


async def chaos(recordings: int, channels: int, kills: int, seed: int, folder: str, timeout: float = 300, *,
                processes: int = 1, database: str | None = None) -> dict:
    rng = random.Random(seed)
    platform = Platform(folder)
    bots = [Bot(platform, folder, name=f"bot{i}" if processes > 1 else "bot", database_url=database)
            for i in range(processes)]
    bot = bots[0]
    began = time.monotonic()
    try:
        for b in bots:
            b.start()
        async with httpx.AsyncClient(timeout=15) as http:
            names = [f"C{i:03d}" for i in range(channels)]
            balancer = Balancer(bots, random.Random(seed)) if len(bots) > 1 else None
            if balancer is not None:
                await balancer.server.start()
            front = f"{balancer.server.url}/webhooks" if balancer else f"{bot.url}/webhooks"
            hooks = (await http.get(f"{platform.url}/v2/webhooks", auth=("emulator-org", "emulator-key"))).json()
            if not hooks["data"]:
                await http.post(f"{platform.url}/v2/webhooks", auth=("emulator-org", "emulator-key"),
                                json={"name": "recbot", "url": front,
                                      "events": ["recording.statusUpdate", "meeting.started", "meeting.ended",
                                                 "meeting.participantJoined", "meeting.participantLeft"]})
            driver = Driver(bots, http, rng)
            for channel in names:
                meeting = platform.meeting()
                for person in ("Ann", "Ben"):
                    await http.post(f"{platform.url}/_emulator/meetings/{meeting}/join", json={"name": person})
                await driver.command(CONTROLLER, channel, f"link {meeting}")
            await asyncio.sleep(1)
            say(f"{channels} channels linked; faults on")
            await set_faults(http, platform, on=True)
            stop_bursts = asyncio.Event()
            bursts = asyncio.create_task(rate_limit_bursts(http, platform, stop_bursts))
            per_channel = [recordings // channels + (1 if i < recordings % channels else 0) for i in range(channels)]
            plays = [asyncio.create_task(driver.play(c, n, n * 55)) for c, n in zip(names, per_channel, strict=True)]
            for _k in range(kills):  # SIGKILL at random points of the random phase
                await asyncio.sleep(rng.uniform(6, 14))
                victim = rng.choice(bots)
                victim.kill()
                say(f"{victim.name} killed ({victim.kills})")
                await asyncio.sleep(rng.uniform(0.1, 0.8))
                await asyncio.to_thread(victim.start)
                say(f"{victim.name} restarted")
            starts = sum(await asyncio.gather(*plays))
            stop_bursts.set()
            burst_count = await bursts
            state = (await http.get(f"{platform.url}/_emulator/state")).json()["data"]
            await set_faults(http, platform, on=False)
            say(f"random phase over ({starts} starts sent); faults off; settling")
            await settle(bots, http, platform, names, timeout)
            say("settled; checking")
            state = (await http.get(f"{platform.url}/_emulator/state")).json()["data"]
            history = (await http.get(f"{platform.url}/_emulator/history")).json()["data"]
            slack = (await http.get(f"http://127.0.0.1:{platform.slack_port}/_slack/messages")).json()
            verdict = check(bot, platform, slack, history, state)
            if balancer is not None:
                await balancer.server.stop()
                await balancer.http.aclose()
        logs = "".join(b.logs() for b in bots)
    finally:
        for b in bots:
            b.stop()
        platform.stop()
    api, hooks, sl = state["api_faults"]["counts"], state["webhook_faults"]["counts"], slack["faults"]
    faults = {"platform_500": api["500"], "platform_timeout": api["hang"], "platform_429": api["429"],
              "webhook_dropped": hooks["dropped"], "webhook_duplicated": hooks["duplicated"],
              "webhook_reordered": hooks["reordered"], "slack_429": sl["429"], "slack_500": sl["500"],
              "bot_killed": sum(b.kills for b in bots)}
    lines = logs.splitlines()
    unhandled = ["\n".join(lines[max(0, i - 1):i + 25]) for i, line in enumerate(lines)
                 if "Traceback" in line or " ERROR " in line]
    return {"recordings": len(state["recordings"]), "starts_sent": starts, "channels": channels,
            "processes": processes, "engine": "postgresql" if database else "sqlite",
            "requests": dict(driver.sent), "faults": faults, "faults_total": sum(faults.values()),
            "rate_limit_bursts": burst_count, "transitions": len(history),
            "lost": len(verdict["lost"]), "duplicated": len(verdict["duplicated"]), "wrong": len(verdict["wrong"]),
            "details": verdict, "unhandled_errors": unhandled[:5], "unhandled_count": len(unhandled),
            "seconds": round(time.monotonic() - began, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.chaos.run")
    parser.add_argument("--recordings", type=int, default=100)
    parser.add_argument("--channels", type=int, default=20)
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", help="folder for the logs and database (default: a new temporary one)")
    parser.add_argument("--processes", type=int, default=1, choices=(1, 2),
                        help="2: two bots on one PostgreSQL database, killed at random")
    parser.add_argument("--database", help="with --processes 2: a PostgreSQL URL (default: a throwaway cluster)")
    args = parser.parse_args()
    folder = args.keep or tempfile.mkdtemp(prefix="recbot-chaos-")
    os.makedirs(folder, exist_ok=True)
    database, cluster = args.database, None
    if args.processes > 1 and not database:
        from tests.pg import CLUSTER as cluster

        database = cluster.new_database()
    try:
        result = asyncio.run(chaos(args.recordings, args.channels, args.kills, args.seed, folder, timeout=900,
                                   processes=args.processes, database=database))
    finally:
        if cluster is not None:
            cluster.stop()
    print(f"logs and the bot's database: {folder}")
    details = result.pop("details")
    print(json.dumps(result, indent=2))
    for kind in ("lost", "duplicated", "wrong"):
        for line in details[kind][:10]:
            print(f"{kind}: {line}")
    for excerpt in result.pop("unhandled_errors"):
        print(f"unhandled:\n{excerpt}")
    ok = not (result["lost"] or result["duplicated"] or result["wrong"] or result["unhandled_count"])
    print("recordings {recordings}, faults {faults_total}, transitions {transitions}: lost {lost}, duplicated "
          "{duplicated}, wrong {wrong}".format(**result))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
