"""`recbot demo`: the emulator, the bot and the Slack workbench on this machine, no account anywhere."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from pathlib import Path

from bot.asgi_server import BackgroundServer, claim_port
from bot.emulator.records import Timing
from bot.web import Options
from bot.workbench.server import CHANNEL, PEOPLE, Workbench, add_people
from bot.workbench.stack import Stack

# Shorter than production so a newcomer sees the guardrails within minutes.
DEMO_ENV = {"REC_PAUSE_REMINDER": "2m", "REC_PAUSE_REMINDER_REPEAT": "5m", "REC_ENDED_PAUSED_GRACE": "2m",
            "REC_RECONCILE_AFTER": "20s"}
DEMO_TIMING = Timing(start_delay=2.0, upload_delay=3.0, empty_stop=20.0, session_end=30.0)


async def start_demo(host: str, port: int, database: str, options: Options | None = None, *,
                     socket_mode: bool = False) -> tuple[Stack, BackgroundServer, str]:
    for n, what in enumerate(("the workbench", "the local Slack", "the bot", "the emulator")):
        claim_port(host, port + n, f"{what} uses --port{f' + {n}' if n else ''}; choose another with --port, "
                                   f"e.g. recbot demo --port {port + 100}")
    db = Path(database)
    for path in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
        path.unlink(missing_ok=True)  # the emulator starts empty, so the demo's store does too
    join_url = f"http://{host}:{port}/?meeting={{meeting_id}}#meeting"  # a call's Join opens the meeting panel
    stack = Stack(str(db), host=host, ports=(port + 3, port + 1, port + 2), timing=DEMO_TIMING,
                  env={**DEMO_ENV, "REC_JOIN_URL": join_url},
                  options=options or Options(card_interval=1.0, reconcile_tick=5.0),
                  socket_mode=socket_mode, oauth=True)
    add_people(stack)
    await stack.start()
    for team in (stack.slack.team_id, "T0OTHER"):  # installed as their admins would; Beta is left to the page
        done = await stack.install(team)
        if done.status_code != 200:
            raise RuntimeError(f"the demo could not install recbot in {team}: HTTP {done.status_code}")
    # The platform writes a transcript and a summary when the session ends (everyone leaves, then 30 s).
    meeting = (await stack.control("meetings", {"title": "Demo meeting", "transcribe_on_end": True,
                                                "summarize_on_end": True}))["id"]
    for name in ("Ann", "Ben"):
        await stack.join(meeting, name)
    for text in (f"link {meeting}", "settings transcribe on", "settings summarize on"):
        answered = await stack.command(PEOPLE[0]["id"], text)
        if answered.status_code != 200:
            raise RuntimeError(f"the demo could not set its channel up (/rec {text}): HTTP {answered.status_code}")
        for _ in range(250):  # the link is made after the ack; the settings need it
            if await stack.runtime.store.read(lambda tx: tx.link(CHANNEL)):
                break
            await asyncio.sleep(0.02)
    for _ in range(250):  # the replies to the set-up above are not the newcomer's: the page leaves them out
        if len(stack.slack.ephemeral_for(PEOPLE[0]["id"])) >= 3:
            break
        await asyncio.sleep(0.02)
    for entry in stack.slack.ephemeral:
        entry["setup"] = True
    workbench = BackgroundServer(Workbench(stack, meeting).app, host, port)
    await workbench.start()
    return stack, workbench, f"http://{host}:{port}/"


async def _run(host: str, port: int, database: str, socket_mode: bool) -> None:
    stack, workbench, url = await start_demo(host, port, database, socket_mode=socket_mode)
    mode = "Socket Mode (the bot holds a WebSocket to the local Slack)" if socket_mode else "HTTP"
    print(f"recbot demo is running in {mode}. Open {url}\n"
          f"  bot {stack.bot_url} · emulator {stack.emulator_server.url} · local Slack API "
          f"{stack.slack_server.url}/api/ · metrics {stack.bot_url}/metrics · database {database}\n"
          "  Press Ctrl-C to stop.", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # Windows' loop has no signal handlers; Ctrl-C still ends
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    print("stopping…", flush=True)
    await workbench.stop()
    await stack.stop()


def run_demo(host: str = "127.0.0.1", port: int = 8080, database: str = "./recbot-demo.sqlite3",
             socket_mode: bool = False) -> int:
    if host not in ("127.0.0.1", "localhost", "::1"):
        print(f"recbot demo: binding {host}, not loopback: anyone who can reach it can drive the demo")
    asyncio.run(_run(host, port, database, socket_mode))
    return 0
