"""The processes a benchmark runs: `python -m bench.servers KIND …`.

- platform: the emulator and the fake Slack in one process (with the emulator's latency set)
- naive: the common way to write it: a sync Bolt App that calls the platform before acking
- bare-bolt: an AsyncApp behind Starlette that only acks (the stack's own ceiling for commands)
- bare-starlette: a Starlette endpoint that reads the body and answers 200 (the ceiling for webhooks)
recbot itself runs as `python -m bot serve`.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

SECRET = "bench-signing-secret"
TOKEN = "xoxb-bench-token"


async def run_platform(port_emulator: int, port_slack: int, latency: float, key: str) -> None:
    from bot.asgi_server import BackgroundServer
    from bot.emulator.app import Emulator
    from bot.emulator.delivery import Signer
    from bot.emulator.state import Timing
    from bot.workbench.slack_api import FakeSlack

    emulator = Emulator(timing=Timing(start_delay=0, upload_delay=0), signer=Signer(open(key, "rb").read()),
                        public_url=f"http://127.0.0.1:{port_emulator}")
    emulator.api_faults.latency = latency
    if not port_slack:  # the fake Slack runs in a process of its own (`slack`)
        async with BackgroundServer(emulator.app, port=port_emulator):
            print("ready", flush=True)
            await asyncio.Event().wait()
    slack = FakeSlack()
    async with BackgroundServer(emulator.app, port=port_emulator), BackgroundServer(slack.app, port=port_slack):
        print("ready", flush=True)
        await asyncio.Event().wait()


async def run_slack(port: int, scale: float) -> None:
    from bot.asgi_server import BackgroundServer
    from bot.workbench.slack_api import FakeSlack

    async with BackgroundServer(FakeSlack(scale=scale).app, port=port):
        print("ready", flush=True)
        await asyncio.Event().wait()


def run_recbot(scale: float) -> None:
    """`recbot serve`, its outbox keeping Slack's limits `scale` times looser, as the local Slack it talks to does
    (`apply`: one workspace cannot take 200 card edits a second, and that bench measures recbot's own path)."""
    import uvicorn

    from bot.__main__ import _settings_or_exit, metrics_directory
    from bot.web import Options, create_app, tune_gc

    settings = _settings_or_exit()
    if settings.metrics != "off":
        metrics_directory()
    app = create_app(settings, Options(slack_scale=scale))
    tune_gc()
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning", access_log=False)


def run_naive(port: int, platform_url: str, slack_url: str) -> None:
    import httpx
    from slack_bolt import App
    from slack_bolt.adapter.wsgi import SlackRequestHandler

    app = App(token=TOKEN, signing_secret=SECRET, token_verification_enabled=False,
              client=__import__("slack_sdk").WebClient(token=TOKEN, base_url=slack_url))
    http = httpx.Client(auth=("emulator-org", "emulator-key"), timeout=10.0)

    @app.command("/rec")
    def rec(ack, command):
        meeting = command["text"].split()[-1]
        response = http.get(f"{platform_url}/meetings/{meeting}")  # the platform first, then the ack
        ack(f"Linked this channel to {response.json()['data']['title']}")

    class Server(ThreadingMixIn, WSGIServer):
        daemon_threads = True
        request_queue_size = 1024

    class Quiet(WSGIRequestHandler):
        def log_message(self, *args):
            pass

    server = make_server("127.0.0.1", port, SlackRequestHandler(app), server_class=Server, handler_class=Quiet)
    print("ready", flush=True)
    server.serve_forever()


def run_bare_bolt(port: int, slack_url: str) -> None:
    import uvicorn
    from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
    from slack_bolt.async_app import AsyncApp
    from slack_sdk.web.async_client import AsyncWebClient
    from starlette.applications import Starlette
    from starlette.routing import Route

    bolt = AsyncApp(client=AsyncWebClient(token=TOKEN, base_url=slack_url), signing_secret=SECRET)

    @bolt.command("/rec")
    async def rec(ack):
        await ack()

    handler = AsyncSlackRequestHandler(bolt)

    async def events(request):
        return await handler.handle(request)

    print("ready", flush=True)
    uvicorn.run(Starlette(routes=[Route("/slack/events", events, methods=["POST"])]), host="127.0.0.1", port=port,
                log_level="warning", access_log=False)


def run_bare_starlette(port: int) -> None:
    import uvicorn
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def webhooks(request):
        await request.body()
        return JSONResponse({"ok": True})

    print("ready", flush=True)
    uvicorn.run(Starlette(routes=[Route("/webhooks", webhooks, methods=["POST"])]), host="127.0.0.1", port=port,
                log_level="warning", access_log=False)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=["platform", "slack", "recbot", "naive", "bare-bolt", "bare-starlette"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--slack-port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--scale", type=float, default=1.0, help="Slack's limits this many times looser")
    parser.add_argument("--key")
    parser.add_argument("--platform-url")
    parser.add_argument("--slack-url")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    if args.kind == "platform":
        asyncio.run(run_platform(args.port, args.slack_port, args.latency, args.key))
    elif args.kind == "slack":
        asyncio.run(run_slack(args.port, args.scale))
    elif args.kind == "recbot":
        run_recbot(args.scale)
    elif args.kind == "naive":
        run_naive(args.port, args.platform_url, args.slack_url)
    elif args.kind == "bare-bolt":
        run_bare_bolt(args.port, args.slack_url)
    else:
        run_bare_starlette(args.port)


if __name__ == "__main__":
    main()
