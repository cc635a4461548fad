"""Many workspaces, Slack refusing what recbot calls directly. A token refresh (oauth.v2.access) Slack does not
make this time: the install stays and what needed the token waits; a 429 holds the next refresh back until
Retry-After, in every process; only a refusal meaning the refresh token is spent or revoked says the workspace
is gone. A request's way in asks Slack nothing (Bolt's own authorize step would ask auth.test)."""

import asyncio

import pytest

from bot.models import Status, Team
from bot.slack.installs import RefreshFailed
from tests.conftest import until
from tests.e2e.helpers import status_is
from tests.many.test_install import BETA, BETA_CHANNEL, BETA_USER, many, posts_in, record_once
from tests.many.test_rotation import another_process, expire, recording_then_expired, refreshes


@pytest.mark.parametrize("shape", ["proxy_502", "new_error", "internal_error"])
async def test_a_refresh_slack_does_not_make_this_time_keeps_the_install_and_the_posts_wait_for_it(tmp_path, shape):
    async with many(tmp_path) as s:
        rec_id = await recording_then_expired(s)
        s.slack.refuse("oauth.v2.access", shape, when=lambda args: args.get("grant_type") == "refresh_token")
        before = len(posts_in(s, BETA_CHANNEL))
        await s.control(f"meetings/{s.runtime.store.recording(rec_id).meeting_id}/end", {})
        await status_is(s, rec_id, Status.UPLOADED)
        await until(lambda: any("is ready" in str(c["args"].get("text")) for c in posts_in(s, BETA_CHANNEL)[before:]),
                    timeout=20, message="the download link, once the token was refreshed")
        assert [c["ok"] for c in refreshes(s)] == [False, True]
        assert s.runtime.store.workspaces.find_install(None, BETA) is not None
        assert not s.runtime.store.db.all("SELECT id FROM outbox WHERE state = 'failed'")


async def test_after_a_429_on_a_refresh_no_process_refreshes_before_retry_after(tmp_path):
    async with many(tmp_path) as s:
        s.slack.installs.rotation = True
        await s.install(BETA)
        expire(s)
        s.slack.faults.retry_after = 1
        s.slack.faults.next_mode, s.slack.faults.next_count = "429", 1
        store, tokens = another_process(s)
        try:
            with pytest.raises(RefreshFailed):
                await tokens.client(Team(BETA))  # Slack answers 429
            with pytest.raises(RefreshFailed):
                await s.runtime.tokens.client(Team(BETA))  # another process: held, Slack not asked
            assert len(refreshes(s)) == 1 and s.slack.faults.counts["429"] == 1
            while await tokens.holds.held(BETA, "oauth.v2.access") > 0:  # Retry-After passes
                await asyncio.sleep(0.05)
            client = await s.runtime.tokens.client(Team(BETA))
            assert client.token.startswith("xoxe.xoxb-") and [c["ok"] for c in refreshes(s)] == [False, True]
            assert s.slack.limits.inside == []
        finally:
            await tokens.aclose()
            store.close()


async def test_a_command_in_an_installed_workspace_asks_slack_nothing_on_its_way_in(tmp_path):
    """Bolt's own authorize step asks auth.test on every request, outside the 429 holds, and reads any refusal
    of it as "not installed"; recbot's reads the install it keeps: Slack failing auth.test changes nothing for
    a person, and it is not asked."""
    async with many(tmp_path) as s:
        await s.install(BETA)
        s.slack.refuse("auth.test", "proxy_502", times=0)
        asked = len([c for c in s.slack.calls if c["method"] == "auth.test"])
        rec_id = await record_once(s, BETA_USER, BETA_CHANNEL)  # /rec link, then /rec start, in Beta
        await status_is(s, rec_id, Status.RECORDING)
        assert len([c for c in s.slack.calls if c["method"] == "auth.test"]) == asked
