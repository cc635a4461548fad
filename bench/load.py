"""The load generator, in its own process: `python -m bench.load …` prints one JSON line of results.

Open loop (`--rate`): requests are sent on schedule whatever the answers, as Slack does.
Closed loop (`--concurrency`): that many clients send back to back, for throughput.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import time
from urllib.parse import urlencode

import httpx
from slack_sdk.signature import SignatureVerifier

from bench.servers import SECRET

_counter = itertools.count()


def command_request(url: str, text: str, channel: str,
                    response_url: str = "http://127.0.0.1:9/none") -> tuple[str, bytes, dict]:
    n = next(_counter)
    body = urlencode({"token": "x", "team_id": "T0BENCH", "channel_id": channel, "user_id": "U0BENCH",
                      "command": "/rec", "text": text, "response_url": response_url,
                      "trigger_id": f"{n}.1.x", "api_app_id": "A0"})
    ts = str(int(time.time()))
    signature = SignatureVerifier(SECRET).generate_signature(timestamp=ts, body=body)
    return url, body.encode(), {"content-type": "application/x-www-form-urlencoded", "x-slack-request-timestamp": ts,
                                "x-slack-signature": signature}


def webhook_request(url: str, signer, meeting: str) -> tuple[str, bytes, dict]:
    n = next(_counter)
    body = json.dumps({"event": "meeting.participantJoined",
                       "meeting": {"id": meeting, "sessionId": "s", "title": "bench", "status": "LIVE"},
                       "participant": {"peerId": f"p{n}", "userDisplayName": f"n{n}"}}, separators=(",", ":")).encode()
    return url, body, {"content-type": "application/json", "dyte-signature": signer.sign(body),
                       "dyte-uuid": f"bench-{n}-{time.time_ns()}", "dyte-webhook-id": "bench"}


async def run(args) -> dict:
    signer = None
    if args.kind == "webhook":
        from bot.emulator.delivery import Signer

        signer = Signer(open(args.key, "rb").read())

    def make():
        if args.kind == "webhook":
            return webhook_request(args.url, signer, args.meeting)
        return command_request(args.url, args.text, args.channel, args.response_url)

    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=2000, max_keepalive_connections=2000)
    async with httpx.AsyncClient(timeout=args.timeout, limits=limits) as http:
        async def one():
            nonlocal errors
            url, body, headers = make()
            began = time.perf_counter()
            try:
                response = await http.post(url, content=body, headers=headers)
                ok = response.status_code == 200
            except httpx.HTTPError:
                ok = False
            if ok:
                latencies.append(time.perf_counter() - began)
            else:
                errors += 1

        for _ in range(args.warmup):
            await one()
        latencies.clear()
        began = time.perf_counter()
        if args.rate:
            tasks = []
            total = int(args.rate * args.seconds)
            for i in range(total):
                delay = began + i / args.rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(one()))
            await asyncio.gather(*tasks)
        else:
            deadline = began + args.seconds

            async def worker():
                while time.perf_counter() < deadline:
                    await one()

            await asyncio.gather(*(worker() for _ in range(args.concurrency)))
        elapsed = time.perf_counter() - began
    return {"latencies": latencies, "errors": errors, "elapsed": elapsed, "completed": len(latencies)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=["command", "webhook"])
    parser.add_argument("--url", required=True)
    parser.add_argument("--text", default="status")
    parser.add_argument("--channel", default="C0BENCH")
    parser.add_argument("--response-url", default="http://127.0.0.1:9/none")
    parser.add_argument("--meeting", default="bench-meeting")
    parser.add_argument("--key")
    parser.add_argument("--rate", type=float, default=0.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--timeout", type=float, default=10.0)
    print(json.dumps(asyncio.run(run(parser.parse_args()))))


if __name__ == "__main__":
    main()
