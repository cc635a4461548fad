"""Attacks and leaks: signatures, oversized bodies, Socket Mode, the key's source, secrets in logs,
injection, and what the demo and emulator bind to."""

import asyncio
import json
import logging

import httpx
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from bot.__main__ import build_parser
from bot.asgi_server import BackgroundServer
from bot.config import load_settings
from bot.emulator.delivery import Signer
from bot.logging_filter import SecretFilter
from bot.models import Status
from bot.web import Options, create_app
from tests.conftest import ALICE, BOB, CHANNEL, served, until
from tests.e2e.helpers import card_of, run, started, status_is, thread_texts


def test_socket_mode_serves_no_slack_route():
    env = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1", "DYTE_ORG_ID": "o", "DYTE_API_KEY": "k",
           "REC_DATABASE": ":memory:"}
    app = create_app(load_settings(env), Options(start_workers=False, webhook_key=Signer().key.public_key()))
    with served(app, lifespan="off") as client:  # no lifespan: nothing connects to Slack
        assert client.post("/slack/events", content=b"command=%2Frec&text=stop").status_code == 404
        assert client.get("/healthz").status_code == 200


async def test_the_key_is_fetched_only_from_the_configured_url(tmp_path):
    signer, hits = Signer(), []

    async def key(request):
        hits.append(request.url.path)
        return JSONResponse({"success": True, "data": {"publicKey": signer.public_pem}})

    async with BackgroundServer(Starlette(routes=[Route("/keys/recbot.json", key)])) as server:
        env = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s", "DYTE_ORG_ID": "o", "DYTE_API_KEY": "k",
               "DYTE_API_URL": "http://127.0.0.1:9/v2", "REC_DATABASE": str(tmp_path / "k.sqlite3"),
               "REC_WEBHOOK_KEY_URL": f"{server.url}/keys/recbot.json"}
        app = create_app(load_settings(env), Options(start_workers=False))
        async with BackgroundServer(app) as bot, httpx.AsyncClient() as http:
            await until(lambda: app.state.runtime.webhook_key.key is not None)
            body = json.dumps({"event": "meeting.started", "meeting": {"id": "m"},
                               "keyUrl": "http://evil.example/key.json"}).encode()
            ok = await http.post(f"{bot.url}/webhooks", content=body,
                                 headers={"dyte-signature": signer.sign(body),
                                          "dyte-key-url": "http://evil.example/key.json"})
            assert ok.status_code == 200
            forged = await http.post(f"{bot.url}/webhooks", content=body,
                                     headers={"dyte-signature": Signer().sign(body)})
            assert forged.status_code == 401
    assert set(hits) == {"/keys/recbot.json"} and len(hits) <= 2  # at start, and once again on the forgery


async def test_oversized_bodies_are_refused_without_being_read_whole(linked):
    sent = 0

    async def endless():
        nonlocal sent
        for _ in range(800):  # 50 MiB if it were all read
            sent += 65536
            yield b" " * 65536

    try:
        response = await linked.http.post(linked.webhook_url, content=endless(), headers={"dyte-signature": "x"})
        assert response.status_code == 413
    except httpx.HTTPError:
        pass  # the server may close the connection as soon as it answered
    assert sent < 8 * 1024 * 1024
    # A declared length over the limit is refused before a byte of the body is read.
    reader, writer = await asyncio.open_connection("127.0.0.1", linked.bot_port)
    writer.write(b"POST /webhooks HTTP/1.1\r\nHost: x\r\nContent-Length: 52428800\r\n"
                 b"dyte-signature: x\r\n\r\n{}")
    await writer.drain()
    status_line = await asyncio.wait_for(reader.readline(), 5)
    writer.close()
    assert b" 413 " in status_line


async def test_no_secret_reaches_any_log_line(linked, caplog):
    caplog.set_level(logging.DEBUG)
    s = linked
    rec = await started(s, ALICE)
    await run(s, BOB, "pause")
    await run(s, ALICE, "resume")
    s.slack.faults.next_mode, s.slack.faults.next_count = "500", 2
    await run(s, ALICE, "stop")
    await status_is(s, rec.id, Status.UPLOADED)
    await until(lambda: any("Download" in t for t in thread_texts(s, rec)), message="link")
    url = s.runtime.store.recording(rec.id).download_url
    logging.getLogger("bot.test").warning("token %s secret %s link %s", s.settings.slack_bot_token,
                                          s.settings.slack_signing_secret, url)
    secrets = [s.settings.slack_bot_token, s.settings.slack_signing_secret, s.settings.dyte_api_key,
               url.split("?", 1)[1]]
    text = "\n".join(r.getMessage() + (r.exc_text or "") for r in caplog.records)
    assert caplog.records and "[secret]" in text
    for secret in secrets:
        assert secret not in text, secret


def test_secret_filter_scrubs_tokens_secrets_and_signed_queries():
    f = SecretFilter(["s3cr3t-value"])
    line = f.scrub("xoxb-123-abc and xapp-1-X and s3cr3t-value and https://b.example/f.mp4?X-Amz-Signature=zz")
    assert "xoxb-123" not in line and "xapp-1-X" not in line and "s3cr3t-value" not in line
    assert "X-Amz-Signature" not in line and "https://b.example/f.mp4?[query removed]" in line


async def test_injection_in_titles_is_stored_safely_and_shown_escaped(stack):
    evil = "<!channel> <@U0ADMIN> `x` *y* '); DROP TABLE links; --"
    _, reply = await run(stack, ALICE, f"new {evil}")
    assert "Created and linked" in reply and "<!channel>" not in reply and "&lt;!channel&gt;" in reply
    link = stack.runtime.store.link(CHANNEL)
    assert link.meeting_title == evil  # stored as typed
    stack.meeting_id = link.meeting_id
    await stack.join(link.meeting_id, "Ann")
    rec = await started(stack, ALICE)
    await until(lambda: card_of(stack, rec) is not None)
    card = card_of(stack, rec)
    assert "<!channel>" not in card.text and "&lt;!channel&gt;" in card.text
    for block in card.blocks:
        if block["type"] != "header":
            assert "<!channel>" not in json.dumps(block) and "<@U0ADMIN>" not in json.dumps(block)
    status = (await stack.command(BOB, "status")).json()
    assert "<!channel>" not in json.dumps([b for b in status["blocks"] if b["type"] != "header"])


def test_demo_and_emulator_bind_loopback_by_default():
    parser = build_parser()
    assert parser.parse_args(["demo"]).host == "127.0.0.1"
    assert parser.parse_args(["emulator"]).host == "127.0.0.1"


async def test_replies_never_show_a_stack_trace(linked):
    await linked.control("faults", {"mode": "500", "count": 10})
    _, reply = await run(linked, ALICE, "start")
    assert "Traceback" not in reply and "Could not start the recording" in reply
