"""A refresh token Slack answered and recbot never saved: Slack revokes a refresh token once it is used and keeps
the access token it replaces working until it expires (docs/workspaces.md, "Token rotation"), so a process killed
after Slack answered a refresh and before the new pair was saved leaves the install with a spent refresh token.
recbot then says so once (ERROR, /metrics, /healthz, `recbot check`), goes on with the token it has while that
works, and afterwards keeps what is to go to the workspace waiting (never dropped) until someone installs recbot
there again, which brings it all out."""

import asyncio
import logging
import signal
import sys
import time

from bot.models import Status, Team
from bot.slack.app import NOT_INSTALLED
from bot.workbench.slack_oauth import CLIENT_ID, CLIENT_SECRET
from bot.workbench.stack import SECRET_KEY
from tests.conftest import until
from tests.e2e.helpers import run, status_is
from tests.many.test_install import BETA, BETA_CHANNEL, BETA_USER, many, posts_in, record_once
from tests.many.test_rotation import RACER, another_process, expire, refreshes

SAID = "must install recbot again"


def said_once(caplog) -> bool:
    return [r.levelno for r in caplog.records if SAID in r.getMessage()] == [logging.ERROR]


async def to_reinstall(s) -> tuple[list[str], str]:
    """What /healthz and /metrics say of the installs that must be made again."""
    health = (await s.http.get(f"{s.bot_url}/healthz")).json()
    gauge = next(line for line in (await s.http.get(f"{s.bot_url}/metrics")).text.splitlines()
                 if line.startswith("recbot_installs_to_reinstall "))
    return health["installs_to_reinstall"], gauge.split()[-1]


def due_soon(s) -> None:
    """The install's token is within `refresh_before` of expiring (so recbot refreshes it), and still works."""
    found = s.runtime.store.workspaces.find_install(None, BETA)
    s.runtime.store.workspaces.save_install({**found, "bot_token_expires_at": int(time.time()) + 600})


def beta_rows(s) -> list[dict]:
    return s.runtime.store.db.all("SELECT id, kind, state, error FROM outbox WHERE team_id = ?", BETA)


async def test_a_process_killed_after_slack_refreshed_the_token_loses_nothing_and_a_new_install_brings_it_out(
        tmp_path, caplog):
    """The kill in the window: an OS process refreshing Beta's token is SIGKILLed after Slack made the refresh and
    before its answer came back. recbot goes on with the token it has while it works (the spent refresh token
    tried once, by one process); once that token expires, the workspace's posts wait, a person is told recbot needs
    installing, and the install through the OAuth pages sends what waited."""
    caplog.set_level(logging.INFO)
    async with many(tmp_path) as s:
        s.slack.installs.rotation = True
        await s.install(BETA)
        due_soon(s)
        s.slack.installs.held = asyncio.Event()  # Slack makes the refresh; its answer is held on the way back
        argv = [s.settings.database, SECRET_KEY, s.settings.slack_api_url, CLIENT_ID, CLIENT_SECRET, "0", BETA]
        refresher = await asyncio.create_subprocess_exec(sys.executable, "-c", RACER, *argv,
                                                         stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        await until(lambda: [c["ok"] for c in refreshes(s)] == [True], timeout=30, message="Slack made the refresh")
        refresher.send_signal(signal.SIGKILL)
        await refresher.wait()
        s.slack.installs.held.set()
        s.slack.installs.held = None
        s.runtime.store.leases.free_the_dead()  # as the killed process does when it starts again

        rec_id = await record_once(s, BETA_USER, BETA_CHANNEL)  # with the token recbot has: it still works
        await until(lambda: len(posts_in(s, BETA_CHANNEL)) >= 2, message="the card and its first reply")
        assert [c["ok"] for c in refreshes(s)] == [True, False]
        assert said_once(caplog)
        assert await to_reinstall(s) == (["T0BETA"], "1.0")
        store, tokens = another_process(s)
        try:  # another process neither tries the spent refresh token again nor says it again
            client = await tokens.client(Team(BETA))
            assert client.token == s.runtime.store.workspaces.find_install(None, BETA)["bot_token"]
        finally:
            await tokens.aclose()
            store.close()
        assert [c["ok"] for c in refreshes(s)] == [True, False] and said_once(caplog)

        expire(s)  # the token recbot kept no longer works
        before = len(posts_in(s, BETA_CHANNEL))
        await s.control(f"meetings/{s.runtime.store.recording(rec_id).meeting_id}/end", {})
        await status_is(s, rec_id, Status.UPLOADED)
        await until(lambda: any(SAID in (r["error"] or "") for r in beta_rows(s)), timeout=20,
                    message="the stop's posts waiting for the install")
        assert {r["state"] for r in beta_rows(s)} <= {"pending", "sent", "merged"}  # nothing dropped or failed
        assert len(posts_in(s, BETA_CHANNEL)) == before
        _, answer = await run(s, BETA_USER, "status", channel=BETA_CHANNEL)
        assert answer == NOT_INSTALLED

        await s.install(BETA)  # someone who can add apps there installs recbot again
        await until(lambda: any("is ready" in str(c["args"].get("text")) for c in posts_in(s, BETA_CHANNEL)),
                    timeout=20, message="the download link, once installed again")
        await until(lambda: all(r["state"] in ("sent", "merged") for r in beta_rows(s)), message="everything sent")
        assert await to_reinstall(s) == ([], "0.0")
        _, answer = await run(s, BETA_USER, "status", channel=BETA_CHANNEL)
        assert "sync in C0BETA" in answer, answer


async def test_two_processes_refreshing_a_token_ahead_of_time_spend_its_refresh_token_once(tmp_path):
    """While one process refreshes a token that still works, another uses the token it has instead of waiting,
    and never refreshes it a second time."""
    async with many(tmp_path) as s:
        s.slack.installs.rotation = True
        await s.install(BETA)
        due_soon(s)
        first = s.runtime.store.workspaces.find_install(None, BETA)
        s.slack.installs.held = asyncio.Event()
        store, tokens = another_process(s)
        try:
            refreshing = asyncio.create_task(tokens.client(Team(BETA)))
            await until(lambda: [c["ok"] for c in refreshes(s)] == [True], message="the other process refreshing")
            client = await s.runtime.tokens.client(Team(BETA))  # meanwhile: the token it has, no wait
            assert client.token == first["bot_token"]
            assert (await client.chat_postMessage(channel=BETA_CHANNEL, text="still works"))["ok"]
            s.slack.installs.held.set()
            refreshed = await refreshing
            assert refreshed.token != first["bot_token"]
            assert (await s.runtime.tokens.client(Team(BETA))).token == refreshed.token
            assert [c["ok"] for c in refreshes(s)] == [True]
        finally:
            s.slack.installs.held = None
            await tokens.aclose()
            store.close()
