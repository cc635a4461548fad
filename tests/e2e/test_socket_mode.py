"""recbot in Socket Mode, driven through the workbench's Slack: `apps.connections.open` with the
`xapp-` token, then envelopes on the WebSocket the bot opened, acked with their payload."""

import asyncio

import httpx

from bot.models import Status
from bot.slack.app import Seen
from tests.conftest import ALICE, BOB, CHANNEL, linked_stack, make_stack, until
from tests.e2e.helpers import run, started, status_is, thread_texts


def socket_stack(tmp_path):
    """A linked channel, its Slack traffic over the socket."""
    return linked_stack(tmp_path, socket_mode=True)


def pauses(stack, rec) -> int:
    return sum(1 for e in stack.runtime.store.ledger(rec.id) if e.status is Status.PAUSED)


async def test_commands_buttons_and_home_over_the_socket_and_no_http_route(tmp_path):
    async with socket_stack(tmp_path) as stack:
        hub = stack.slack.socket
        assert hub.opened == 1 and stack.slack.count("apps.connections.open") == 1
        health = (await stack.http.get(f"{stack.bot_url}/healthz")).json()
        assert health["socket_mode"] is True and health["socket_connected"] is True
        refused = await stack.http.post(f"{stack.bot_url}/slack/events", content="{}")
        assert refused.status_code == 404  # Slack traffic comes only from the socket

        ack = await stack.command(ALICE, "status")  # answered in the ack's payload
        assert ack.status_code == 200 and stack.meeting_id in ack.text  # the status view, in the ack
        rec = await started(stack, ALICE)
        pressed = await stack.click(BOB, "rec_pause", rec.id)
        assert pressed.status_code == 200
        await status_is(stack, rec.id, Status.PAUSED)
        await until(lambda: any("paused by <@U0BOB>" in t for t in thread_texts(stack, rec)), message="the reply")
        opened = await stack.event({"type": "app_home_opened", "user": ALICE, "tab": "home"})
        assert opened.status_code == 200
        await until(lambda: stack.slack.homes.get(ALICE), message="App Home published")
        assert {d["type"] for d in hub.deliveries} == {"slash_commands", "interactive", "events_api"}


async def test_a_disconnect_and_a_dropped_connection_lose_and_double_nothing(tmp_path):
    async with socket_stack(tmp_path) as stack:
        hub = stack.slack.socket
        rec = await started(stack, ALICE)
        # Slack asks for a new connection while a click is on its way.
        click = asyncio.create_task(stack.click(BOB, "rec_pause", rec.id))
        await hub.disconnect("refresh_requested")
        assert (await click).status_code == 200
        await status_is(stack, rec.id, Status.PAUSED)
        await until(lambda: hub.opened == 2, message="a new connection after the disconnect")

        await hub.disconnect("warning")
        await until(lambda: hub.opened == 3, message="a new connection after the warning")
        _, reply = await run(stack, ALICE, "resume")
        assert "resumed" in reply

        await hub.drop()  # no word: the connection is simply gone, and a click comes meanwhile
        click = asyncio.create_task(stack.click(BOB, "rec_pause", rec.id))
        assert (await click).status_code == 200
        await until(lambda: hub.opened == 4, timeout=15, message="a new connection after the drop")
        await until(lambda: pauses(stack, rec) == 2, message="the second pause")
        await asyncio.sleep(0.3)
        assert pauses(stack, rec) == 2
        assert stack.runtime.store.recording(rec.id).status is Status.PAUSED
        sent = [d["envelope_id"] for d in hub.deliveries]
        assert all(hub.envelopes[e].acked.done() for e in sent)


async def test_an_envelope_acked_late_is_sent_again_and_applied_once(tmp_path):
    async with socket_stack(tmp_path) as stack:
        hub = stack.slack.socket
        rec = await started(stack, ALICE)
        before = len(hub.deliveries)
        hub.ignore_acks = 1  # the first ack is lost: after 3 s Slack sends the envelope again
        answer = await stack.command(BOB, "pause")
        assert answer.status_code == 200
        again = hub.deliveries[before:]
        assert [d["attempt"] for d in again] == [1, 2] and again[0]["envelope_id"] == again[1]["envelope_id"]
        await status_is(stack, rec.id, Status.PAUSED)
        await asyncio.sleep(0.5)
        assert pauses(stack, rec) == 1
        paused_notes = [t for t in thread_texts(stack, rec) if "paused by" in t]
        assert len(paused_notes) == 1
        audit = stack.runtime.store.db.all("SELECT * FROM audit WHERE action = 'pause' AND outcome = 'requested'")
        assert len(audit) == 1


async def test_the_app_token_is_checked(tmp_path):
    stack = make_stack(tmp_path, socket_mode=True)
    hub = stack.slack.socket
    assert hub.open("xoxb-bot", "http://x")["error"] == "not_allowed_token_type"
    assert hub.open("xapp-1-other", "http://x")["error"] == "invalid_auth"
    assert hub.open(hub.app_token, "http://127.0.0.1:9/")["url"].startswith("ws://127.0.0.1:9/socket/")
    await stack.http.aclose()


def test_seen_remembers_ids_for_a_while_and_forgets_the_oldest_past_its_limit():
    seen = Seen(keep=600, limit=3)
    assert not seen.again("a") and seen.again("a")
    assert not seen.again(None) and not seen.again(None)  # nothing to go by: never a repeat
    for key in ("b", "c", "d"):
        seen.again(key)
    assert not seen.again("a")  # pushed out by the limit


async def test_the_demo_runs_over_the_socket_and_says_so(tmp_path):
    from bot.workbench.demo import start_demo
    from tests.browser.test_workbench import _port

    stack, workbench, url = await start_demo("127.0.0.1", _port(), str(tmp_path / "demo.sqlite3"), socket_mode=True)
    try:
        async with httpx.AsyncClient(base_url=url) as page:
            state = (await page.get("/api/state")).json()
            assert state["mode"] == "socket"
            assert stack.runtime.store.link(CHANNEL) is not None  # the demo's own link went over the socket
            sent = await page.post("/api/command", json={"user": state["user"], "text": "/rec status"})
            assert sent.status_code == 200
            shown = (await page.get("/api/state")).json()["ephemeral"]
            assert any("Demo meeting" in e["text"] for e in shown if e.get("ack"))
        assert "Socket Mode" in (await stack.http.get(url + "static/app.js")).text
    finally:
        await workbench.stop()
        await stack.stop()
