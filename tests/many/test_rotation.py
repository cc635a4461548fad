"""Token rotation across processes: a refresh token works once, so one refresh per token, whoever needs it
first; the others wait and use the token it saved. Two processes are two stores (each its own connection
and thread) on one database, as `recbot serve` processes are."""

import asyncio
import sys
import time

from bot.models import Status, Team
from bot.slack.installs import Tokens
from bot.store import Store
from bot.workbench.slack_oauth import CLIENT_ID, CLIENT_SECRET
from bot.workbench.stack import SECRET_KEY
from tests.conftest import until
from tests.e2e.helpers import run, status_is
from tests.many.test_install import BETA, BETA_CHANNEL, BETA_USER, many, posts_in, record_once


def refreshes(s) -> list[dict]:
    return [c for c in s.slack.calls if c["method"] == "oauth.v2.access" and c["args"].get("grant_type") ==
            "refresh_token"]


def expire(s) -> dict:
    """Twelve hours on: Slack no longer takes the install's token, and the install says so."""
    first = s.runtime.store.workspaces.find_install(None, BETA)
    for token in s.slack.installs.tokens.values():
        token.expires_at = time.time() - 1
    s.runtime.store.workspaces.save_install({**first, "bot_token_expires_at": int(time.time()) - 1})
    return first


async def recording_then_expired(s) -> str:
    """Beta installed with rotating tokens, a recording there with its card and first reply; then its token
    expires. Returns the recording's id."""
    s.slack.installs.rotation = True
    await s.install(BETA)
    rec_id = await record_once(s, BETA_USER, BETA_CHANNEL)
    await until(lambda: len(posts_in(s, BETA_CHANNEL)) >= 2, message="the card and its first reply")
    expire(s)
    return rec_id


def another_process(s) -> tuple[Store, Tokens]:
    store = Store(s.settings.database, secret_key=SECRET_KEY)
    return store, Tokens(s.settings.slack_api_url, store=store, client_id=CLIENT_ID, client_secret=CLIENT_SECRET)


async def test_three_processes_needing_an_expired_token_at_once_refresh_it_once(tmp_path):
    async with many(tmp_path) as s:
        s.slack.installs.rotation = True
        await s.install(BETA)
        first = expire(s)
        others = [another_process(s) for _ in range(2)]
        try:
            team = Team(BETA)
            clients = await asyncio.gather(s.runtime.tokens.client(team), *(t.client(team) for _, t in others))
            assert len({c.token for c in clients}) == 1 and clients[0].token != first["bot_token"]
            assert [c["ok"] for c in refreshes(s)] == [True]  # one refresh, and no refresh token spent twice
            assert clients[0].token.startswith("xoxe.xoxb-")
            saved = s.runtime.store.workspaces.find_install(None, BETA)
            assert saved["bot_token"] == clients[0].token and saved["bot_refresh_token"] != first["bot_refresh_token"]
            for client in clients:  # each process posts with it
                assert (await client.chat_postMessage(channel=BETA_CHANNEL, text="hello"))["ok"]
            assert not s.runtime.store.leases.holder(f"token-refresh:T:{BETA}")  # the lease is let go
        finally:
            for store, tokens in others:
                await tokens.aclose()
                store.close()


async def test_a_command_and_a_webhook_needing_the_expired_token_together_refresh_it_once(tmp_path):
    """Bolt refreshes a token for a request from Slack, the outbox for a post a webhook caused: one refresh."""
    async with many(tmp_path) as s:
        rec_id = await recording_then_expired(s)
        before = len(posts_in(s, BETA_CHANNEL))
        meeting = s.runtime.store.recording(rec_id).meeting_id
        (_, answer), _ = await asyncio.gather(run(s, BETA_USER, "status", channel=BETA_CHANNEL),
                                              s.control(f"meetings/{meeting}/end", {}))
        assert "sync in C0BETA" in answer, answer  # recording, or stopped: the two raced
        await status_is(s, rec_id, Status.UPLOADED)
        await until(lambda: len(posts_in(s, BETA_CHANNEL)) > before, message="replies after the refresh")
        assert [c["ok"] for c in refreshes(s)] == [True]
        assert not s.runtime.store.db.all("SELECT id FROM outbox WHERE state = 'failed'")


RACER = """
import asyncio, sys, time
from bot.models import Team
from bot.slack.installs import Tokens
from bot.store import Store

async def main(database, secret, api, client_id, client_secret, start, team):
    store = Store(database, secret_key=secret)
    tokens = Tokens(api, store=store, client_id=client_id, client_secret=client_secret)
    await asyncio.sleep(max(0.0, float(start) - time.time()))  # both processes at once
    try:
        print((await tokens.client(Team(team))).token)
    finally:
        await tokens.aclose()
        store.close()

asyncio.run(main(*sys.argv[1:]))
"""


async def test_two_recbot_processes_needing_an_expired_token_at_once_refresh_it_once(tmp_path):
    """Two OS processes on one database (SQLite file or PostgreSQL), each as `recbot serve` would reach for
    a workspace's token: one refresh between them."""
    async with many(tmp_path) as s:
        s.slack.installs.rotation = True
        await s.install(BETA)
        first = expire(s)
        start = time.time() + 2.0  # after both have imported recbot
        argv = [s.settings.database, SECRET_KEY, s.settings.slack_api_url, CLIENT_ID, CLIENT_SECRET, str(start), BETA]
        racers = [await asyncio.create_subprocess_exec(sys.executable, "-c", RACER, *argv,
                                                       stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
                  for _ in range(2)]
        outputs = [await asyncio.wait_for(p.communicate(), 60) for p in racers]
        assert [p.returncode for p in racers] == [0, 0], [err.decode()[-600:] for _, err in outputs]
        tokens = {out.decode().strip() for out, _ in outputs}
        assert len(tokens) == 1 and first["bot_token"] not in tokens
        assert [c["ok"] for c in refreshes(s)] == [True]
        assert s.runtime.store.workspaces.find_install(None, BETA)["bot_token"] in tokens
