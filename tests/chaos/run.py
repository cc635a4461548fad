"""The chaos run: `python -m tests.chaos.run [--recordings 100 --channels 20 --kills 3] [--processes 2]`.

With `--processes 2`, two bots share one PostgreSQL database (a throwaway cluster unless `--database`
names one), every request goes to one of them at random as through a load balancer, the platform
sends its webhooks to both, and each kill hits one of the two at random.

The channels belong to four workspaces (two installed on their own, two served by one org-wide install:
`workspaces.py`), each checked for isolation at the end.

Recordings over several channels are driven by random commands and button clicks while the platform
answers 500, times out, rate-limits and drops, duplicates and reorders its webhooks, Slack answers 429,
500 and refusals recbot has never seen (on response_urls too), and the bot is killed with SIGKILL and
restarted. Then, with the faults off, everything is stopped and left to settle, and what Slack shows is
checked against the emulator's own history.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import httpx

from bench.__main__ import Platform, free_port
from bench.servers import SECRET
from bot.models import Origin, Status
from bot.slack.blocks import MARK
from tests.chaos import workspaces
from tests.chaos.workspaces import home_opened, install_all, install_one, isolation, person, signed, workspace_of

CONTROLLER, MEMBER = "controller", "member"  # roles: each channel's are people of its workspace (workspaces.py)
WEBHOOK_RETRIES = 6.5  # seconds over which the emulator retries a webhook (0.2 s doubling, five times)
# The moments a kill is aimed at, each as the run sees it from outside (the store, the platform's state):
MOMENTS = {
    "upload": "the platform uploading a recording",
    "ready_post": "a recording UPLOADED whose posts (the link) are still in the outbox",
    "notes": "a transcript or summary being handled (its webhook unapplied, or its post in the outbox)",
    "timer": "a timer due (a timed pause's resume, a reminder)",
    "confirmation": "RECORDING/PAUSED news waiting for its confirmation round",
    "outbox_leased": "an outbox drain with rows leased ('sending')",
    "token_refresh": "a workspace's token being refreshed (its lease `token-refresh:<install>` held)",
}
REINSTALL = "must install recbot again"  # recbot's ERROR line when Slack refused a refresh token as spent


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
        env = {**os.environ, **workspaces.env(), "SLACK_SIGNING_SECRET": SECRET,
               "SLACK_API_URL": self.platform.slack_url, "DYTE_ORG_ID": "emulator-org",
               "DYTE_API_KEY": "emulator-key", "DYTE_API_URL": f"{self.platform.url}/v2",
               "REC_DATABASE": self.database, "HOST": "127.0.0.1", "PORT": str(self.port),
               "REC_WEBHOOK_KEY_URL": f"{self.platform.url}/.well-known/webhooks.json",
               "REC_RECONCILE_AFTER": "2s", "REC_PLATFORM_TIMEOUT": "2s"}
        self.log_path = os.path.join(self.folder, f"{self.name}-{self.kills}.log")
        log = open(self.log_path, "w")
        self.proc = subprocess.Popen([sys.executable, "-m", "bot", "serve"], env=env, stdout=log, stderr=log)
        deadline = time.monotonic() + 180  # a shared, loaded machine can take a minute to bring it up
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

    def owns(self, owner: str | None) -> bool:
        """Whether a lease's owner (host:pid:nonce) is this bot's live process."""
        return bool(owner and self.proc and f":{self.proc.pid}:" in owner)

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
        self.typed: dict[str, set[str]] = {}  # workspace -> the words its people typed (`/rec find zk…q`)

    @property
    def bot(self) -> Bot:
        """The bot this request goes to: one of the live ones, as a load balancer would choose."""
        live = [b for b in self.bots if b.alive] or self.bots
        return self.rng.choice(live)

    async def post(self, kind: str, raw: str, content_type: str) -> None:
        try:
            await self.http.post(f"{self.bot.url}/slack/events", content=raw,
                                 headers=signed(raw, content_type, SECRET))
            self.sent[kind] += 1
        except httpx.HTTPError:
            self.sent["refused_while_down"] += 1

    async def command(self, role: str, channel: str, text: str) -> None:
        """`/rec text` in `channel`, by its workspace's person in that role (CONTROLLER or MEMBER)."""
        user = person(channel, role)
        self.typed.setdefault(workspace_of(channel).team, set()).update(text.split())
        respond = f"http://127.0.0.1:{self.bot.platform.slack_port}/response_url/{channel}/{user}"
        await self.post("command", urlencode(workspaces.command_form(channel, user, text, respond)),
                        "application/x-www-form-urlencoded")

    async def click(self, role: str, channel: str, action: str, recording_id: str) -> None:
        """A button on a card in `channel` (`recording_id`: its value, maybe copied from another workspace's)."""
        user = person(channel, role)
        payload = {"type": "block_actions", **workspaces.interactive(channel, user),
                   "channel": {"id": channel}, "container": {"type": "message", "channel_id": channel},
                   "response_url": f"http://127.0.0.1:{self.bot.platform.slack_port}/response_url/{channel}/{user}",
                   "trigger_id": f"{time.time_ns()}.1.x",  # each request its own, as Slack gives
                   "actions": [{"action_id": f"rec_{action}", "value": recording_id, "type": "button"}]}
        await self.post("click", urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded")

    async def home(self, role: str, channel: str) -> None:
        """Someone of `channel`'s workspace opens recbot's App Home."""
        await self.post("home", json.dumps(home_opened(channel, person(channel, role))), "application/json")

    def known(self, channel: str) -> list[dict]:
        try:
            return self.bots[0].rows("SELECT id, status FROM recordings WHERE channel_id = ?", channel)
        except Exception:  # the database is busy, or its file not made yet
            return []

    def others(self, channel: str) -> list[dict]:
        """The recordings of other workspaces' channels."""
        try:
            rows = self.bots[0].rows("SELECT id, status, channel_id FROM recordings WHERE channel_id != ?", channel)
        except Exception:
            return []
        return [r for r in rows if workspace_of(r["channel_id"]) != workspace_of(channel)]

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
            elif roll < 0.77:
                await self.command(user, channel, "status")
            elif roll < 0.79:
                await self.home(user, channel)
            elif roll < 0.8:  # a button's value copied from another workspace's card: refused, changes nothing
                theirs = [r for r in self.others(channel) if r["status"] in ("RECORDING", "PAUSED")]
                if theirs:
                    await self.click(CONTROLLER, channel, self.rng.choice(["pause", "resume", "stop"]),
                                     self.rng.choice(theirs)["id"])
            elif active:
                await self.command(CONTROLLER, channel, self.rng.choice(["pause", "resume", "pause for 3s"]))
            await asyncio.sleep(self.rng.uniform(0.05, 0.4))
        return starts


class Killer:
    """`target` SIGKILLs spread over the run (about one every `spacing` seconds), each aimed at the moment that
    has had the fewest kills so far: the run watches the store and the platform and kills as soon as one is
    reached (the bot doing that work, where the store says which); after half the spacing, any moment under way
    will do (the fewest kills first). A moment not reached within `spacing` is not waited for: the kill falls
    wherever the run is ("anywhere")."""

    def __init__(self, bots: list[Bot], platform: Platform, http: httpx.AsyncClient, rng: random.Random,
                 target: int, spacing: float):
        self.bots, self.platform, self.http, self.rng = bots, platform, http, rng
        self.target, self.spacing = target, spacing
        self.by_moment: Counter[str] = Counter()
        self.deaf: list[tuple[float, float]] = []  # when no bot could hear of the platform's steps
        self.kills_at: list[float] = []  # when each kill fell

    @property
    def done(self) -> int:
        return sum(self.by_moment.values())

    async def present(self) -> dict[str, Bot | None]:
        """The moments under way now, each with the bot doing it when the store says (else None: any)."""
        now, found = time.time(), {}
        try:
            state = (await self.http.get(f"{self.platform.url}/_emulator/state")).json()["data"]
            if any(r["status"] == "UPLOADING" for r in state["recordings"]):
                found["upload"] = None
            rows = await asyncio.to_thread(self._store_moments, now)
        except Exception:  # the platform or the store busy for a moment: look again
            return found
        found.update(rows)
        return found

    def _store_moments(self, now: float) -> dict[str, Bot | None]:
        bot, found = self.bots[0], {}
        body = "convert_from(body, 'UTF8')" if bot.database_url else "CAST(body AS TEXT)"
        leased = bot.rows("SELECT claimed_by FROM outbox WHERE state = 'sending' AND lease_until > ?", now)
        if leased:
            found["outbox_leased"] = next((b for b in self.bots if b.owns(leased[0]["claimed_by"])), None)
        if bot.rows("SELECT 1 FROM outbox o JOIN recordings r ON r.id = o.recording_id WHERE r.status = 'UPLOADED' "
                    "AND o.state IN ('pending', 'sending') LIMIT 1"):
            found["ready_post"] = None
        if bot.rows(f"SELECT 1 FROM deliveries WHERE processed_at IS NULL AND ({body} LIKE ? OR {body} LIKE ?) "
                    "LIMIT 1", "%meeting.transcript%", "%meeting.summary%") or \
                bot.rows("SELECT 1 FROM outbox WHERE state IN ('pending', 'sending') AND (payload LIKE ? "
                         "OR payload LIKE ?) LIMIT 1", "%transcript%", "%summary%"):
            found["notes"] = None
        if bot.rows("SELECT 1 FROM timers WHERE done = 0 AND due_at <= ? LIMIT 1", now + 0.3):
            found["timer"] = None
        if bot.rows("SELECT 1 FROM deliveries WHERE outcome = 'confirming' AND processed_at > ? LIMIT 1", now - 0.8):
            found["confirmation"] = None
        refreshing = bot.rows("SELECT owner FROM leases WHERE name LIKE ? AND until > ?", "token-refresh:%", now)
        if refreshing:
            found["token_refresh"] = next((b for b in self.bots if b.owns(refreshing[0]["owner"])), None)
        return found

    async def run(self, stop: asyncio.Event) -> None:
        while self.done < self.target and not stop.is_set():
            with contextlib.suppress(TimeoutError):  # the first kill comes early, the others spread
                await asyncio.wait_for(stop.wait(), self.rng.uniform(0.3, 1.0) * self.spacing)
            if stop.is_set():
                return
            began = time.monotonic()
            deadline, moment, victim = began + self.spacing, "anywhere", None
            least = min(self.by_moment[m] for m in MOMENTS)
            while time.monotonic() < deadline and not stop.is_set():
                present = await self.present()
                # for the first half of the spacing only a moment with the fewest kills of all will do (a short
                # one, a token refresh, is seldom under way at the first look), then the fewest of those under way
                if present and (time.monotonic() > began + self.spacing / 2 or
                                any(self.by_moment[m] == least for m in present)):
                    moment = min(present, key=lambda m: (self.by_moment[m], self.rng.random()))
                    victim = present[moment]
                    break
                await asyncio.sleep(0.1)
            if stop.is_set():
                return
            live = [b for b in self.bots if b.alive]
            if victim is None or not victim.alive:
                victim = self.rng.choice(live or self.bots)
            if not victim.alive:
                continue
            alone = not any(b.alive for b in self.bots if b is not victim)
            died = time.time()
            victim.kill()
            self.kills_at.append(died)
            self.by_moment[moment] += 1
            say(f"{victim.name} killed ({victim.kills}) at {moment}")
            await asyncio.sleep(self.rng.uniform(0.1, 0.8))
            await asyncio.to_thread(victim.start)
            if alone:  # nobody heard the platform meanwhile, nor for its webhooks' last retries (about 6 s)
                self.deaf.append((died, time.time() + WEBHOOK_RETRIES))
            say(f"{victim.name} restarted")


class Admin:
    """Whoever added recbot: installs it again in a workspace when recbot says it must (a refresh token Slack refused
    as spent: the ERROR line, `recbot_installs_to_reinstall`, and /healthz's `installs_to_reinstall`, read here), as
    a person reading them would, through the same pages."""

    def __init__(self, bots: list[Bot], http: httpx.AsyncClient):
        self.bots, self.http = bots, http
        self.reinstalled: list[str] = []

    async def look(self) -> list[str]:
        """The installs a live bot says must be made again ([] when none answers)."""
        for bot in [b for b in self.bots if b.alive]:
            with contextlib.suppress(httpx.HTTPError, ValueError):
                return (await self.http.get(f"{bot.url}/healthz")).json().get("installs_to_reinstall", [])
        return []

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            for install in await self.look():
                live = [b for b in self.bots if b.alive]
                with contextlib.suppress(httpx.HTTPError, AssertionError):  # a bot killed meanwhile: next look
                    await install_one(self.http, (live or self.bots)[0].url, install)
                    self.reinstalled.append(install)
                    say(f"admin installed recbot again in {install}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)


FILLER = ("budget", "timeline", "draft", "review", "launch", "hiring", "roadmap", "vendor", "quarter", "design")


TOKEN_LETTERS = "abcdefghijklmnoprstuvwxy"  # no q nor z: "zk" only begins a token and "q" only ends it


def token(n: int) -> str:
    """A word said once in the whole run, that no stemmer changes (letters only, ending in q), and that is
    in no other token (the oracle looks for it as a substring: seed 3's "zkrq" was "found" inside "zkrqq")."""
    letters = ""
    while True:
        n, r = divmod(n, len(TOKEN_LETTERS))
        letters += TOKEN_LETTERS[r]
        if not n:
            return f"zk{letters}q"


@dataclass
class Said:
    token: str
    text: str
    meeting: str
    channel: str
    since: float  # before the platform took it
    until: float  # after, plus the time it took to say


class Speakers:
    """The meetings' people say lines throughout the run (while recording, while paused, while nothing
    records), each with a word of its own, so that the end can look for every one of them."""

    def __init__(self, http: httpx.AsyncClient, platform: Platform, rng: random.Random):
        self.http, self.platform, self.rng = http, platform, rng
        self.people: dict[str, list[str]] = {}  # meeting -> its participants in the live session
        self.channel_of: dict[str, str] = {}
        self.said: list[Said] = []

    async def join(self, meeting: str, channel: str) -> None:
        self.channel_of[meeting] = channel
        self.people[meeting] = []
        for name in ("Ann", "Ben"):
            answer = await self.http.post(f"{self.platform.url}/_emulator/meetings/{meeting}/join",
                                          json={"name": name})
            self.people[meeting].append(answer.json()["data"]["participant_id"])

    async def say(self, meeting: str) -> None:
        if not self.people.get(meeting):
            return
        word = token(len(self.said))
        text = " ".join([word, *self.rng.sample(FILLER, 3)])
        since = time.time()
        answer = await self.http.post(f"{self.platform.url}/_emulator/meetings/{meeting}/say",
                                      json={"participant_id": self.rng.choice(self.people[meeting]), "text": text})
        if answer.status_code == 200:
            took = max(1.0, 0.4 * len(text.split()))  # as the platform times a line
            self.said.append(Said(word, text, meeting, self.channel_of[meeting], since, time.time() + took))

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(httpx.HTTPError):
                await self.say(self.rng.choice(list(self.people)))
            await asyncio.sleep(self.rng.uniform(0.05, 0.3))

    async def end_and_rejoin(self, stop: asyncio.Event) -> int:
        """Meetings end now and then (the host ends it: its recordings stop, its transcript and summary
        follow) and their people come back (a new session); returns how many sessions were ended."""
        ended = 0
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.rng.uniform(2, 6))
            if stop.is_set():
                break
            meeting = self.rng.choice(list(self.people))
            with contextlib.suppress(httpx.HTTPError):
                ended += await self.end(meeting)
                await asyncio.sleep(self.rng.uniform(0.5, 2))
                await self.join(meeting, self.channel_of[meeting])
        return ended

    async def end(self, meeting: str) -> int:
        self.people[meeting] = []
        answer = await self.http.post(f"{self.platform.url}/_emulator/meetings/{meeting}/end")
        return int(answer.status_code == 200)


def recorded_spans(history: list[dict]) -> dict[str, list[tuple[float, float, str]]]:
    """Meeting -> the spans during which one of its recordings was RECORDING (start, end, recording), as the
    platform did it."""
    spans: dict[str, list[tuple[float, float, str]]] = {}
    by_rec: dict[str, list[dict]] = {}
    for h in history:
        by_rec.setdefault(h["recording_id"], []).append(h)
    for rec_id, steps in by_rec.items():
        steps.sort(key=lambda h: h["at"])
        for i, h in enumerate(steps):
            if h["to"] == "RECORDING":  # until it leaves RECORDING (a ledger's INVOKED may be written just after)
                end = next((a["at"] for a in steps[i + 1:] if a["to"] not in ("RECORDING", "INVOKED")), float("inf"))
                spans.setdefault(h["meeting_id"], []).append((h["at"], end, rec_id))
    return spans


LINKED = re.compile(r"https?://127\.0\.0\.1:\d+/_emulator/files/(?:transcript|summary)-[\w.-]+\?token=\w+")


async def linked_files(http: httpx.AsyncClient, shown: str) -> dict[str, str]:
    """Every platform transcript or summary Slack was only given a link to (its presigned URL in a message, an
    ephemeral answer or a file's comment): file name -> what a reader following the link reads, fetched from
    the emulator. A whole-session transcript linked after a pause would show its paused words there, never in
    the message itself."""
    files: dict[str, str] = {}
    for url in LINKED.findall(shown):
        name = url.split("?")[0].rsplit("/", 1)[-1]
        if name in files:
            continue
        with contextlib.suppress(httpx.HTTPError):
            answer = await http.get(url)
            files[name] = answer.text if answer.status_code == 200 else ""
    return files


def well_inside(line: Said, spans: dict[str, list[tuple[float, float, str]]], margin: float = 2.0) -> str | None:
    """The recording that recorded all of `line`, `margin` seconds from either end of its span, if one did."""
    return next((rec for a, b, rec in spans.get(line.meeting, [])
                 if a + margin <= line.since and line.until <= b - margin), None)


async def ask_find(driver: Driver, said: list[Said], history: list[dict], ledger: list[dict], channels: list[str],
                   rng: random.Random, told: Callable[[str], bool]) -> dict[str, str]:
    """`/rec find` in each channel for words every line has (what it answers must hold no unrecorded word) and
    for some recorded lines' own words; returns those words with the line's text the answer must show."""
    spans, known = recorded_spans(history), recorded_spans(ledger)
    for channel in channels:
        for word in rng.sample(FILLER, 2):
            await driver.command(CONTROLLER, channel, f"find {word}")
    recorded = [s for s in said if (rec := well_inside(s, spans)) and told(rec) and well_inside(s, known)]
    asked = {}
    for line in rng.sample(recorded, min(10, len(recorded))):
        await driver.command(CONTROLLER, line.channel, f"find {line.token}")
        asked[line.token] = line.text
        # and from another workspace's channel: nothing (the isolation oracle looks for the word there)
        if elsewhere := [c for c in channels if workspace_of(c) != workspace_of(line.channel)]:
            await driver.command(CONTROLLER, rng.choice(elsewhere), f"find {line.token}")
    return asked


def file_session(name: str) -> str:
    """The session a platform file is of: `transcript-<session>.csv`, `summary-<session>.md`."""
    return name.split("-", 1)[1].rsplit(".", 1)[0]


def privacy(said: list[Said], history: list[dict], everything: str, index: str, told: set[str],
            session_of: dict[str, str], ledger: list[dict], linked: dict[str, str] | None = None,
            logs: str = "") -> dict:
    """The privacy oracle. A line said while no recording of its meeting recorded (by the platform's own
    history) must be nowhere in what Slack received nor in the store's search index, nor in recbot's log lines
    (`logs`, every process's), nor in a platform file
    Slack was given a link to (`linked`: file name -> its text, `linked_files`) of a session a recording of
    which was paused: such a session's transcript is never linked (the contract links an unpaused session's
    whole transcript, words said before its first start included, so only paused sessions' files count); a
    line said well
    inside a recorded span must be in the index once recbot was told of its session's transcript (`told`:
    session ids whose meeting.transcript webhook recbot answered 2xx; for the others recbot asks the
    platform itself 10 minutes after the upload, longer than the run waits: they are counted apart), and
    when recbot's own ledger (`ledger`: its entries with their recording's meeting) says it recorded them
    too: a line the platform recorded while recbot could not know it (an action's answer lost with a
    killed process) is rightly withheld, and counted apart as `unsure`."""
    spans, known = recorded_spans(history), recorded_spans(ledger)
    paused = {session_of.get(h["recording_id"]) for h in history if h["to"] == "PAUSED"}
    behind_links = "\n".join(text for name, text in (linked or {}).items() if file_session(name) in paused)
    shown, missing, unrecorded, recorded, awaiting, unsure = [], [], 0, 0, 0, 0
    for line in said:
        if not any(a < line.until and line.since < b for a, b, _ in spans.get(line.meeting, [])):
            unrecorded += 1
            where = [w for w, text in (("in Slack", everything), ("in the index", index),
                                       ("in a paused session's linked file", behind_links),
                                       ("in a log line", logs)) if line.token in text]
            if where:
                shown.append(f"{line.token} ({line.channel}, said {line.since:.2f}-{line.until:.2f} while nothing "
                             f"recorded): {' and '.join(where)}")
        elif rec := well_inside(line, spans):
            if session_of.get(rec) not in told:
                awaiting += 1
                continue
            if not well_inside(line, known):
                unsure += 1
                continue
            recorded += 1
            if line.token not in index:
                missing.append(f"{line.token} ({line.channel}, said {line.since:.2f}-{line.until:.2f}, recorded by "
                               f"{rec}): not in the index")
    return {"said": len(said), "unrecorded": unrecorded, "recorded": recorded, "awaiting": awaiting,
            "unsure": unsure, "shown": shown, "missing": missing}


async def set_faults(http: httpx.AsyncClient, platform: Platform, on: bool, webhook_only: bool = False) -> None:
    emu = platform.url
    api = {"rates": {"500": 0.10, "hang": 0.05}, "hang_seconds": 3} if on else {"clear": True}
    if not webhook_only:
        await http.post(f"{emu}/_emulator/faults", json=api)
    hooks = {"drop": 0.10, "duplicate": 0.30, "reorder": 0.10} if on else {"drop": 0, "duplicate": 0, "reorder": 0,
                                                                              "drop_next": 0}
    await http.post(f"{emu}/_emulator/webhook-faults", json=hooks)
    # "odd": refusals recbot has never seen or knows only by name (bot/workbench/slack_limits.py ODD); response_urls too
    slack = {"rates": {"429": 0.10, "500": 0.02, "odd": 0.03}, "retry_after": 1, "response_urls": True} if on \
        else {"rates": {}}
    await http.post(f"http://127.0.0.1:{platform.slack_port}/_slack/faults", json=slack)


async def rate_limit_bursts(http: httpx.AsyncClient, platform: Platform, stop: asyncio.Event) -> int:
    bursts = 0
    while not stop.is_set():
        await asyncio.sleep(4)
        await http.post(f"{platform.url}/_emulator/faults", json={"mode": "429", "count": 5})
        bursts += 1
    return bursts


async def settle(bots: list[Bot], http: httpx.AsyncClient, platform: Platform, channels: list[str],
                 timeout: float, speakers: Speakers | None = None) -> None:
    """Faults off; stop whatever is still active; end the meetings (`speakers`: their transcripts and summaries
    follow); wait until the platform, the bot and Slack agree."""
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
    if speakers is not None:
        for meeting in list(speakers.people):
            with contextlib.suppress(httpx.HTTPError):
                await speakers.end(meeting)
        await asyncio.sleep(5)  # the platform writes the notes (2 s) and sends them
    while time.monotonic() < deadline:
        state = (await http.get(f"{platform.url}/_emulator/state")).json()["data"]
        unfinished = [r for r in state["recordings"] if r["status"] not in ("UPLOADED", "ERRORED")]
        outbox = outbox_left(bot)
        bot_unfinished = bot.rows("SELECT COUNT(*) AS n FROM recordings WHERE status NOT IN ('UPLOADED', 'ERRORED')")
        pending = bot.rows("SELECT COUNT(*) AS n FROM deliveries WHERE processed_at IS NULL")
        # a transcript or summary held while an outcome was unknown (bot/service/unsettled.py) is cut later
        held = bot.rows("SELECT COUNT(*) AS n FROM timers WHERE kind = 'held_files' AND done = 0")
        if time.monotonic() > getattr(settle, "_next_report", 0):
            settle._next_report = time.monotonic() + 10
            say(f"waiting: platform unfinished {len(unfinished)}, bot unfinished {bot_unfinished[0]['n']}, "
                f"deliveries pending {pending[0]['n']}, files held {held[0]['n']}, outbox {outbox}")
        if not unfinished and not bot_unfinished[0]["n"] and not pending[0]["n"] and not held[0]["n"] and not outbox:
            await asyncio.sleep(2)
            if not outbox_left(bot) and all(b.alive for b in bots):
                return
        await asyncio.sleep(1)
    raise AssertionError("the system did not settle in time")


def outbox_left(bot: Bot) -> int:
    """Outbox rows still to send (read from the store: the bot may be down)."""
    return bot.rows("SELECT COUNT(*) AS n FROM outbox WHERE state IN ('pending', 'sending')")[0]["n"]


AUTO_RESUME_FAILED = "could not resume automatically"  # the thread's word that a timed resume failed (blocks.py)
TIMED_RESUME_LATE = 180.0  # seconds past its time: a timer is claimed 120 s by the process that fires it (one killed
# meanwhile leaves it to fire again then, or when it starts again: bot/service/guards.py TIMER_CLAIM), and a restart
# takes up to a minute here


def timed_pauses_not_resumed(messages: list[dict], recordings: list[dict], history: list[dict]) -> list[str]:
    """Every timed pause a thread announced ("It resumes by itself <!date^T…>") whose recording the platform did not
    take out of PAUSED (resumed, or stopped) by `TIMED_RESUME_LATE` after T, where the run lasted that long, and whose
    thread did not say by then that it could not resume it (the platform refused: the meeting's session had ended, say).
    The ledger cannot say it: it dates a pause by when it was asked, so a late resume looks like a long pause. (Chaos
    run, two processes, seed 5: a kill lost the timer of a "pause for 3s", which stayed paused four minutes.)"""
    cards = {(r["channel_id"], r["card_ts"]): r["id"] for r in recordings}
    told = [(m["channel"], m.get("thread_ts"), float(m["ts"])) for m in messages
            if AUTO_RESUME_FAILED in (m.get("text") or "")]
    steps: dict[str, list[dict]] = {}
    for h in history:
        steps.setdefault(h["recording_id"], []).append(h)
    end = max((h["at"] for h in history), default=0.0)
    late = []
    for m in messages:
        said = re.search(r"resumes by itself <!date\^(\d+)", m.get("text") or "")
        rec = cards.get((m["channel"], m.get("thread_ts")))
        if not said or rec is None or (due := int(said.group(1))) + TIMED_RESUME_LATE > end:
            continue
        since = min(float(m["ts"]), due) - 5  # the pause was made before it was announced and before it was due
        moved = [h["at"] for h in steps.get(rec, []) if h["at"] > since and h["to"] != "PAUSED"]
        where = (m["channel"], m.get("thread_ts"))
        if any((channel, thread) == where and float(m["ts"]) < at <= due + TIMED_RESUME_LATE
               for channel, thread, at in told):
            continue  # the thread said it could not resume it: told, not lost
        if not moved or min(moved) > due + TIMED_RESUME_LATE:
            late.append(f"{rec} in {m['channel']}: due to resume at {due}, "
                        f"{'never' if not moved else f'{min(moved) - due:.0f} s late'}")
    return late


def check(bot: Bot, platform: Platform, slack: dict, history: list[dict], state: dict,
          deaf: list[tuple[float, float]] = (), kills_at: list[float] = ()) -> dict:
    """Compare what Slack shows and what the bot stored with what the platform did."""
    timed_out: dict[str, list[tuple[str, float]]] = {}  # recording -> its pauses and resumes that got no answer
    for row in bot.rows("SELECT target, action, at FROM audit WHERE outcome = 'error' AND action IN ('pause', "
                        "'resume') AND detail LIKE ?", "%did not answer%"):
        timed_out.setdefault(row["target"], []).append((row["action"], row["at"]))

    def unanswered(h: dict) -> bool:
        """A pause or resume of which recbot was given no word it could trust: its action's own answer never
        came (the platform answered too late, or the process that asked was killed), so only a webhook, which
        carries no time and may be an older one delivered again or late, said it (docs/reliability.md)."""
        return h["cause"] in ("pause", "resume") and (
            any(a == h["cause"] and h["at"] <= at <= h["at"] + 15 for a, at in timed_out.get(h["recording_id"], ()))
            or any(h["at"] - 1 <= k <= h["at"] + 5 for k in kills_at))

    messages = slack["messages"]
    recs = {r["id"]: r for r in bot.rows("SELECT * FROM recordings")}
    platform_recs = {r["id"]: r for r in state["recordings"]}
    transitions: dict[str, list[str]] = {}
    for h in history:
        transitions.setdefault(h["recording_id"], []).append(h["to"])
    lost, duplicated, wrong, unheard, untold = [], [], [], [], []
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
        # what the thread announces ("#2 paused by …"), not what it mentions ("… while #2 is paused. A paused …")
        claimed = {kind: sum(bool(re.search(rf"#\d+ {kind}\b", t)) for t in thread)
                   for kind in ("paused", "resumed", "stopped")}
        for kind, n in claimed.items():
            if n > performed[kind]:
                wrong.append(f"{rec_id}: thread claims {n} {kind}, platform performed {performed[kind]}: "
                             f"{[t for t in thread if kind in t]}; platform: {done}")
        entries = bot.rows("SELECT status, at, source, actor, reason FROM ledger WHERE recording_id = ? ORDER BY id",
                           rec_id)
        ledger = [r["status"] for r in entries]
        # every step the platform took while a bot could hear of it is in the ledger, and the ledger claims no
        # step the platform did not take; a step taken and undone while no bot was up, its webhooks spent
        # (the emulator retries for about 6 s), cannot be known and is counted apart
        steps = sorted((h for h in history if h["recording_id"] == rec_id), key=lambda h: h["at"])
        heard = [h for h in steps if not any(a <= h["at"] <= b for a, b in deaf)]
        if rec["origin"] == Origin.UNSEEN:  # learned of only after it stopped (every webhook before lost, or spent
            # while no bot was up): nothing before its stop could be known, and its ledger rightly says none of it
            heard = [h for h in heard if Status(h["to"]).rank >= Status.UPLOADING.rank]
        told = [h["to"] for h in heard if not unanswered(h)]  # a step only an unanswered action could have told
        if _collapse(ledger) != _collapse(done) and _within(_collapse([h["to"] for h in heard]), _collapse(ledger)) \
                and _within(_collapse(ledger), _collapse(done)):
            unheard.append(rec_id)
        elif _collapse(ledger) != _collapse(done) and _within(_collapse(told), _collapse(ledger)) \
                and _within(_collapse(ledger), _collapse(done)):
            untold.append(f"{rec_id}: ledger {ledger} vs platform {done}")
        elif _collapse(ledger) != _collapse(done):
            missed = len(_collapse(done)) - len(_collapse(ledger))
            timeline = sorted([(h["at"], "platform", h["to"], h["cause"]) for h in history
                               if h["recording_id"] == rec_id] +
                              [(r["at"], "ledger", r["status"], f"{r['source']} {r['actor']} {r['reason']}")
                               for r in entries])
            (lost if missed > 0 else wrong).append(f"{rec_id}: ledger {ledger} vs platform {done}; timeline: " +
                                                   "; ".join(f"{at:.2f} {who} {to} ({why})"
                                                             for at, who, to, why in timeline))
    return {"lost": lost, "duplicated": duplicated, "wrong": wrong, "unheard": unheard, "untold": untold}


def _within(short: list[str], long: list[str]) -> bool:
    """Whether `short` is `long` with some steps left out (in order)."""
    steps = iter(long)
    return all(step in steps for step in short)


def _collapse(statuses: list[str]) -> list[str]:
    out: list[str] = []
    for s in statuses:
        if not out or out[-1] != s:
            out.append(s)
    return out


def say(message: str) -> None:
    print(f"[chaos {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


async def chaos(recordings: int, channels: int, kills: int, seed: int, folder: str, timeout: float = 300, *,
                processes: int = 1, database: str | None = None, spacing: float = 8.0, rotation: bool = True) -> dict:
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
            await install_all(http, f"http://127.0.0.1:{platform.slack_port}", bot.url, names, rotation=rotation)
            admin, stop_admin = Admin(bots, http), asyncio.Event()
            administering = asyncio.create_task(admin.run(stop_admin))
            balancer = Balancer(bots, random.Random(seed)) if len(bots) > 1 else None
            if balancer is not None:
                await balancer.server.start()
            front = f"{balancer.server.url}/webhooks" if balancer else f"{bot.url}/webhooks"
            hooks = (await http.get(f"{platform.url}/v2/webhooks", auth=("emulator-org", "emulator-key"))).json()
            if not hooks["data"]:
                await http.post(f"{platform.url}/v2/webhooks", auth=("emulator-org", "emulator-key"),
                                json={"name": "recbot", "url": front,
                                      "events": ["recording.statusUpdate", "meeting.started", "meeting.ended",
                                                 "meeting.participantJoined", "meeting.participantLeft",
                                                 "meeting.transcript", "meeting.summary"]})
            driver = Driver(bots, http, rng)
            speakers = Speakers(http, platform, random.Random(seed + 2))
            meetings = []
            for channel in names:
                made = await http.post(f"{platform.url}/_emulator/meetings", json={
                    "title": f"Chaos {channel}", "transcribe_on_end": True, "summarize_on_end": True})
                meeting = made.json()["data"]["id"]
                meetings.append(meeting)
                await speakers.join(meeting, channel)
                await driver.command(CONTROLLER, channel, f"link {meeting}")
            await asyncio.sleep(1)
            # an upload takes a moment (as it does), so that a kill can fall while the platform uploads
            await http.post(f"{platform.url}/_emulator/timing", json={"upload_delay": 2.0})
            say(f"{channels} channels linked; faults on")
            await set_faults(http, platform, on=True)
            stop_bursts = asyncio.Event()
            bursts = asyncio.create_task(rate_limit_bursts(http, platform, stop_bursts))
            per_channel = [recordings // channels + (1 if i < recordings % channels else 0) for i in range(channels)]
            plays = [asyncio.create_task(driver.play(c, n, n * 80)) for c, n in zip(names, per_channel, strict=True)]
            killer = Killer(bots, platform, http, random.Random(seed + 1), kills, spacing)
            stop_killing = asyncio.Event()
            killing = asyncio.create_task(killer.run(stop_killing))
            ending = asyncio.create_task(speakers.end_and_rejoin(stop_bursts))
            speaking = asyncio.create_task(speakers.run(stop_bursts))
            starts = sum(await asyncio.gather(*plays))
            stop_bursts.set()
            burst_count, sessions_ended = await bursts, await ending
            await speaking
            state = (await http.get(f"{platform.url}/_emulator/state")).json()["data"]
            await set_faults(http, platform, on=False)
            say(f"random phase over ({starts} starts sent, {killer.done} kills); faults off; settling")
            # the kills go on while everything is stopped (uploads, links, transcripts), until all are made
            settling = asyncio.create_task(settle(bots, http, platform, names, timeout, speakers))
            await settling
            with contextlib.suppress(TimeoutError):  # settled before every kill was made: the rest fall now
                await asyncio.wait_for(asyncio.shield(killing), 3 * spacing * (kills - killer.done))
            stop_killing.set()
            await killing
            await settle(bots, http, platform, names, timeout)  # again: a kill may have fallen as it settled
            last = time.monotonic() + 60
            while await admin.look() and time.monotonic() < last:  # a refresh token spent by the last kills
                await asyncio.sleep(0.5)
            stop_admin.set()
            await administering
            say("settled; asking /rec find")
            state = (await http.get(f"{platform.url}/_emulator/state")).json()["data"]
            history = (await http.get(f"{platform.url}/_emulator/history")).json()["data"]
            deliveries = (await http.get(f"{platform.url}/_emulator/deliveries")).json()["data"]
            session_of = {r["id"]: r["session_id"] for r in state["recordings"]}
            transcripts = [d["body"] for d in deliveries if 200 <= d["status"] < 300 and "transcript" in d["body"]]
            told = {sid for sid in set(session_of.values()) if sid and any(sid in body for body in transcripts)}
            ledger = bot.rows("SELECT l.recording_id, l.status AS \"to\", l.at, r.meeting_id FROM ledger l "
                              "JOIN recordings r ON r.id = l.recording_id")
            asked = await ask_find(driver, speakers.said, history, ledger, names, random.Random(seed + 3),
                                   lambda rec: session_of.get(rec) in told)
            await settle(bots, http, platform, names, timeout)
            say("checking")
            slack = (await http.get(f"http://127.0.0.1:{platform.slack_port}/_slack/messages",
                                    params={"everything": "1"})).json()
            await asyncio.to_thread(Path(folder, "slack.json").write_text, json.dumps(slack))
            verdict = check(bot, platform, slack, history, state, killer.deaf, killer.kills_at)
            verdict["late"] = timed_pauses_not_resumed(slack["messages"], bot.rows("SELECT id, channel_id, card_ts "
                                                                                   "FROM recordings"), history)
            kept = {"history": history, "said": [vars(line) for line in speakers.said],
                    **{t: bot.rows(f"SELECT * FROM {t}") for t in ("recordings", "ledger", "transcript_lines")}}
            await asyncio.to_thread(Path(folder, "run.json").write_text, json.dumps(kept, default=str))
            index = " ".join(r["text"] for r in bot.rows("SELECT text FROM transcript_lines"))
            answers = json.dumps(slack["everything"])
            found = {w for w, line in asked.items() if line in answers}
            shown = json.dumps({k: slack[k] for k in ("messages", "ephemeral", "files", "everything", "homes")})
            linked = await linked_files(http, shown)
            oracle = privacy(speakers.said, history, shown, index, told, session_of, ledger, linked,
                             "".join(b.logs() for b in bots))
            apart = isolation(slack, bot.rows("SELECT id, channel_id, meeting_id, session_id FROM recordings"),
                              bot.rows("SELECT recording_id, status, actor FROM ledger"), speakers.said, driver.typed)
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
              "slack_odd_refusal": sl.get("odd", 0),
              "bot_killed": sum(b.kills for b in bots)}
    kills_by_moment = {m: killer.by_moment[m] for m in (*MOMENTS, "anywhere")}
    lines = logs.splitlines()
    unhandled = ["\n".join(lines[max(0, i - 1):i + 25]) for i, line in enumerate(lines)
                 if "Traceback" in line or (" ERROR " in line and REINSTALL not in line)]
    refreshes = [c for c in slack["everything"] if c["method"] == "oauth.v2.access"
                 and c["args"].get("grant_type") == "refresh_token"]
    return {"recordings": len(state["recordings"]), "starts_sent": starts, "channels": channels,
            "processes": processes, "engine": "postgresql" if database else "sqlite",
            "requests": dict(driver.sent), "faults": faults, "faults_total": sum(faults.values()),
            "rate_limit_bursts": burst_count, "sessions_ended": sessions_ended, "transitions": len(history),
            "kills_by_moment": kills_by_moment,
            "token_refreshes": sum(1 for c in refreshes if c["ok"]),
            "refresh_tokens_refused_as_spent": sum(1 for c in refreshes if c.get("error") == "invalid_refresh_token"),
            "reinstall_notices": sum(1 for line in lines if REINSTALL in line and " ERROR " in line),
            "reinstalls": admin.reinstalled,
            "lines_said": oracle["said"], "lines_unrecorded": oracle["unrecorded"],
            "lines_recorded": oracle["recorded"], "lines_awaiting_transcript": oracle["awaiting"],
            "lines_recorded_unknown_to_recbot": oracle["unsure"],
            "paused_words_shown": len(oracle["shown"]),
            "linked_files_read": sum(1 for text in linked.values() if text),
            "linked_files_unreadable": sum(1 for text in linked.values() if not text),
            "recorded_not_findable": len(oracle["missing"]) + len(asked) - len(found),
            "slack_calls_inside_retry_after": slack.get("limits", {}).get("inside_retry_after"),
            "slack_inside_by_method": slack.get("limits", {}).get("inside_by_method", {}),
            "slack_odd_refusals": slack.get("odd", {}),  # by shape
            "steps_unheard": len(verdict["unheard"]), "steps_untold": len(verdict["untold"]),
            "workspaces": len(workspaces.WORKSPACES),
            "isolation_breaches": len(apart["wrong_token"]) + len(apart["shown_across"]) + len(apart["acted_across"]),
            "isolation_refused": len(apart["refused_by_slack"]),
            "lost": len(verdict["lost"]), "duplicated": len(verdict["duplicated"]), "wrong": len(verdict["wrong"]),
            "timed_pauses_not_resumed": len(verdict["late"]),
            "details": {**verdict, **apart, "shown": oracle["shown"], "not_findable": oracle["missing"] + [
                f"{w}: /rec find did not answer with {asked[w]!r}" for w in asked if w not in found]},
            "unhandled_errors": unhandled[:5], "unhandled_count": len(unhandled),
            "seconds": round(time.monotonic() - began, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.chaos.run")
    parser.add_argument("--recordings", type=int, default=100)
    parser.add_argument("--channels", type=int, default=20)
    parser.add_argument("--kills", type=int, default=12)
    parser.add_argument("--spacing", type=float, default=10.0, help="seconds between kills, about")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", help="folder for the logs and database (default: a new temporary one)")
    parser.add_argument("--processes", type=int, default=1, choices=(1, 2),
                        help="2: two bots on one PostgreSQL database, killed at random")
    parser.add_argument("--database", help="with --processes 2: a PostgreSQL URL (default: a throwaway cluster)")
    parser.add_argument("--no-rotation", action="store_true", help="tokens that never rotate (no refresh at all)")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stopped: its bots, platform and Slack stop too
    folder = args.keep or tempfile.mkdtemp(prefix="recbot-chaos-")
    os.makedirs(folder, exist_ok=True)
    database, cluster = args.database, None
    if args.processes > 1 and not database:
        from tests.pg import CLUSTER as cluster

        database = cluster.new_database()
    try:
        result = asyncio.run(chaos(args.recordings, args.channels, args.kills, args.seed, folder, timeout=900,
                                   processes=args.processes, database=database, spacing=args.spacing,
                                   rotation=not args.no_rotation))
    finally:
        if cluster is not None:
            cluster.stop()
    print(f"logs and the bot's database: {folder}")
    details = result.pop("details")
    print(json.dumps(result, indent=2))
    for kind in ("lost", "duplicated", "wrong", "late", "untold", "shown", "not_findable", "wrong_token",
                 "shown_across", "acted_across", "refused_by_slack"):
        for line in details[kind][:10]:
            print(f"{kind}: {line}")
    for excerpt in result.pop("unhandled_errors"):
        print(f"unhandled:\n{excerpt}")
    ok = not (result["lost"] or result["duplicated"] or result["wrong"] or result["unhandled_count"]
              or result["paused_words_shown"] or result["recorded_not_findable"] or result["isolation_breaches"]
              or result["isolation_refused"] or result["timed_pauses_not_resumed"]
              or result["slack_calls_inside_retry_after"])
    print("recordings {recordings}, faults {faults_total}, transitions {transitions}, kills {kills_by_moment}: "
          "lost {lost}, duplicated {duplicated}, wrong {wrong}; paused words shown {paused_words_shown} "
          "(of {lines_unrecorded}), recorded lines not findable {recorded_not_findable} (of {lines_recorded}); "
          "isolation breaches {isolation_breaches} ({workspaces} workspaces; calls Slack refused as another's "
          "{isolation_refused}); token refreshes {token_refreshes} (refresh tokens refused as spent "
          "{refresh_tokens_refused_as_spent}, installed again: {reinstalls})"
          .format(**result))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
