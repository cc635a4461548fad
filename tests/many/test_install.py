"""Many workspaces through OAuth v2: install, commands and outbound posts with each workspace's own token,
an org-wide install, token rotation before a post no request triggered, uninstall."""

import json
import time

from bot.models import Status
from tests.conftest import ALICE, CHANNEL, make_stack, until
from tests.e2e.helpers import run, status_is

BETA, BETA_CHANNEL, BETA_USER = "T0BETA", "C0BETA", "U0BETA"


def many(tmp_path, **kwargs):
    stack = make_stack(tmp_path, oauth=True, **kwargs)
    stack.slack.installs.add_workspace(BETA, "Beta", channels=(BETA_CHANNEL,))
    stack.slack.add_user(BETA_USER, "bea", team_id=BETA)
    return stack


async def record_once(s, user: str, channel: str) -> str:
    meeting = await s.new_meeting(f"sync in {channel}")
    await s.join(meeting, "Ann")
    _, answer = await run(s, user, f"link {meeting}", channel=channel)
    assert "Linked" in answer, answer
    await run(s, user, "start", channel=channel)
    rec = await until(lambda: s.runtime.store.recordings_of_meeting(meeting), message="a recording")
    await status_is(s, rec[0].id, Status.RECORDING)
    return rec[0].id


def posts_in(s, channel: str):
    return [c for c in s.slack.calls if c["method"] == "chat.postMessage" and c["ok"]
            and c["args"].get("channel") == channel]


async def test_install_page_then_slack_then_success_page(tmp_path):
    async with many(tmp_path) as s:
        page = await s.http.get(f"{s.bot_url}/slack/install")
        assert page.status_code == 200 and "oauth/v2/authorize" in page.text and "client_id=1111.2222" in page.text
        assert "scope=commands,chat:write,users:read" in page.text
        done = await s.install(BETA)
        assert done.status_code == 200, done.text
        assert "recbot is installed in Beta" in done.text and "/rec link" in done.text
        installs = s.runtime.store.workspaces.installs()
        assert [(i["team_id"], i["is_enterprise_install"]) for i in installs] == [(BETA, 0)]


async def test_a_cancelled_or_replayed_install_says_what_to_do(tmp_path):
    async with many(tmp_path) as s:
        cancelled = await s.install(BETA, deny=True)
        assert "recbot was not installed" in cancelled.text and "cancelled" in cancelled.text
        assert "/slack/install" in cancelled.text
        assert s.runtime.store.workspaces.installs() == []
        # a redirect with a state recbot never issued (or one already used) installs nothing
        forged = await s.http.get(f"{s.bot_url}/slack/oauth_redirect", params={"code": "x", "state": "forged"})
        assert forged.status_code in (400, 401) and "not installed" in forged.text
        assert s.runtime.store.workspaces.installs() == []


async def test_a_new_workspace_commands_and_gets_its_posts_with_its_own_token(tmp_path):
    async with many(tmp_path) as s:
        await s.install()  # the first workspace (T0DEMO)
        await s.install(BETA)
        await record_once(s, ALICE, CHANNEL)
        await record_once(s, BETA_USER, BETA_CHANNEL)
        await until(lambda: posts_in(s, BETA_CHANNEL) and posts_in(s, CHANNEL), message="both cards")
        assert {c["team"] for c in posts_in(s, BETA_CHANNEL)} == {BETA}
        assert {c["team"] for c in posts_in(s, CHANNEL)} == {"T0DEMO"}
        # the webhook-driven thread replies (no Slack request behind them) use the right token too
        await until(lambda: len(posts_in(s, BETA_CHANNEL)) >= 2, message="a thread reply in Beta")
        assert all(m.team == BETA for m in s.slack.messages.values() if m.channel == BETA_CHANNEL)


async def test_a_workspace_that_never_installed_gets_no_answer_and_nothing_is_stored(tmp_path):
    async with many(tmp_path) as s:
        await s.install()
        response = await s.command(BETA_USER, "status", channel=BETA_CHANNEL)
        assert response.status_code in (200, 401)
        assert s.runtime.store.link(BETA_CHANNEL) is None


async def test_an_org_wide_install_serves_every_workspace_of_the_org(tmp_path):
    async with make_stack(tmp_path, oauth=True) as s:
        s.slack.installs.add_workspace("T0GRID1", "Grid One", enterprise_id="E0ORG", channels=("C0GRID1",))
        s.slack.installs.add_workspace("T0GRID2", "Grid Two", enterprise_id="E0ORG", channels=("C0GRID2",))
        s.slack.add_user("U0G1", "gina", team_id="T0GRID1")
        s.slack.add_user("U0G2", "gus", team_id="T0GRID2")
        done = await s.install(org="E0ORG")
        assert "every workspace of" in done.text, done.text
        [install] = s.runtime.store.workspaces.installs()
        assert install["team_id"] is None and install["enterprise_id"] == "E0ORG" and install["is_enterprise_install"]
        for user, channel in (("U0G1", "C0GRID1"), ("U0G2", "C0GRID2")):
            rec_id = await record_once(s, user, channel)
            await until(lambda ch=channel: posts_in(s, ch), message=f"a card in {channel}")
            # a button on that card, then the post it causes
            before = len(posts_in(s, channel))
            await s.click(user, "rec_pause", rec_id, channel=channel)
            await status_is(s, rec_id, Status.PAUSED)
            await until(lambda ch=channel, n=before: len(posts_in(s, ch)) > n, message="the pause in the thread")


async def test_a_rotating_token_is_refreshed_before_a_post_that_no_request_triggered(tmp_path):
    async with many(tmp_path) as s:
        s.slack.installs.rotation = True
        await s.install(BETA)
        rec_id = await record_once(s, BETA_USER, BETA_CHANNEL)
        await until(lambda: len(posts_in(s, BETA_CHANNEL)) >= 2, message="the card and its first reply")
        first = s.runtime.store.workspaces.find_install(None, BETA)
        assert first["bot_token"].startswith("xoxe.xoxb-1-") and first["bot_refresh_token"].startswith("xoxe-1-")
        # twelve hours on: the token has expired, and only the platform speaks (a stop from the emulator)
        for token in s.slack.installs.tokens.values():
            token.expires_at = time.time() - 1
        s.runtime.store.workspaces.save_install({**first, "bot_token_expires_at": int(time.time()) - 1})
        before = len(posts_in(s, BETA_CHANNEL))
        await s.control(f"meetings/{s.runtime.store.recording(rec_id).meeting_id}/end", {})
        await status_is(s, rec_id, Status.UPLOADED)
        await until(lambda: len(posts_in(s, BETA_CHANNEL)) > before, message="replies after the refresh")
        refreshed = s.runtime.store.workspaces.find_install(None, BETA)
        assert refreshed["bot_token"] != first["bot_token"] and refreshed["bot_refresh_token"]
        card = s.slack.channel(BETA_CHANNEL)[0]
        await until(lambda: any("Download" in m.text or "download" in m.text
                                for m in s.slack.thread(BETA_CHANNEL, card.ts)), message="the download link")
        assert not s.runtime.store.db.all("SELECT id FROM outbox WHERE state = 'failed'")  # nothing lost
        assert [c for c in s.slack.calls if c["method"] == "oauth.v2.access" and
                c["args"].get("grant_type") == "refresh_token" and c["ok"]]


async def test_uninstall_forgets_the_tokens_drops_pending_posts_and_keeps_the_history(tmp_path):
    async with many(tmp_path) as s:
        await s.install()
        await s.install(BETA)
        rec_id = await record_once(s, BETA_USER, BETA_CHANNEL)
        await until(lambda: len(posts_in(s, BETA_CHANNEL)) >= 2, message="the card and its first reply")
        store = s.runtime.store
        s.slack.installs.revoke_team(BETA)
        response = await s.event({"type": "app_uninstalled"}, team=BETA)
        assert response.status_code == 200
        await until(lambda: not store.workspaces.find_install(None, BETA), message="the install forgotten")
        assert store.workspaces.find_install(None, "T0DEMO") is not None  # the other workspace is untouched
        assert store.link(BETA_CHANNEL) is not None and store.recording(rec_id) is not None
        # what happens next in the meeting is never tried at Slack for the workspace that left (a row already
        # in flight when the event came may be tried once, and is refused)
        last = store.db.scalar("SELECT MAX(id) FROM outbox")
        await s.control(f"meetings/{s.runtime.store.recording(rec_id).meeting_id}/end", {})
        await status_is(s, rec_id, Status.UPLOADED)
        later = await until(lambda: (rows := store.db.all("SELECT id, state, error FROM outbox WHERE team_id = ? "
                                                          "AND id > ?", BETA, last)) and all(
            r["state"] == "failed" for r in rows) and rows, message="the later rows failed, unsent")
        assert all(r["error"].startswith("not installed") for r in later)
        tried = {json.loads(c["args"]["metadata"])["event_payload"]["outbox_row"] if isinstance(
            c["args"].get("metadata"), str) else (c["args"].get("metadata") or {}).get("event_payload", {}).get(
            "outbox_row") for c in s.slack.calls if c["args"].get("channel") == BETA_CHANNEL}
        assert not {str(r["id"]) for r in later} & tried
        audit = store.audit_log()
        assert any(a["action"] == "app_uninstalled" for a in audit)


async def test_tokens_are_unreadable_in_the_database_and_absent_from_the_logs(tmp_path, caplog, engine):
    caplog.set_level("DEBUG")
    async with many(tmp_path) as s:
        s.slack.installs.rotation = True
        await s.install(BETA)
        await record_once(s, BETA_USER, BETA_CHANNEL)
        tokens = [t for t in s.slack.installs.tokens] + list(s.slack.installs.refresh)
        store = s.runtime.store
        every_value = repr([store.db.all(f"SELECT * FROM {t['name']}") for t in store.db.all(
            "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public'"
            if engine == "postgres" else "SELECT name FROM sqlite_master WHERE type = 'table'")])
        assert store.db.all("SELECT sealed FROM installations")
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("recbot.sqlite3*"))  # the file itself, with its WAL
    for token in tokens:
        assert token not in every_value and token.encode() not in raw
        assert token not in caplog.text
