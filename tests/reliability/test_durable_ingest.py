"""A 2xx means on disk: a burst of webhooks, SIGKILL right after the last 2xx, and every delivery that
was acknowledged is there after a restart."""

import asyncio
import os
import signal
import subprocess
import sys
import uuid

import httpx

from bot.emulator.delivery import Signer
from bot.store import Store
from tests.conftest import until


async def test_every_acknowledged_delivery_survives_a_sigkill(tmp_path):
    signer = Signer()
    from cryptography.hazmat.primitives import serialization

    pem = signer.key.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    port = _free_port()
    database = str(tmp_path / "ingest.sqlite3")
    env = {**os.environ, "SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s", "DYTE_ORG_ID": "o",
           "DYTE_API_KEY": "k", "DYTE_API_URL": "http://127.0.0.1:9/v2", "SLACK_API_URL": "http://127.0.0.1:9/api/",
           "REC_DATABASE": database, "REC_WEBHOOK_PUBLIC_KEY": pem, "HOST": "127.0.0.1", "PORT": str(port)}
    proc = subprocess.Popen([sys.executable, "-m", "bot", "serve"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    acked: list[str] = []
    try:
        async with httpx.AsyncClient(timeout=10) as http:
            await until(lambda: proc.poll() is None and _up(port), timeout=20, message="recbot serving")

            async def one(n: int) -> None:
                body = (b'{"event":"recording.statusUpdate","recording":{"id":"r%d","status":"UPLOADING"},'
                        b'"meeting":{"id":"m"}}' % n)
                delivery = str(uuid.uuid4())
                response = await http.post(f"http://127.0.0.1:{port}/webhooks", content=body,
                                           headers={"dyte-signature": signer.sign(body), "dyte-uuid": delivery})
                if response.status_code == 200:
                    acked.append(delivery)

            await asyncio.gather(*(one(n) for n in range(300)))
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert len(acked) >= 250
    store = Store(database)
    stored = {r["delivery_id"] for r in store.db.all("SELECT delivery_id FROM deliveries")}
    store.close()
    assert set(acked) <= stored, f"{len(set(acked) - stored)} acknowledged deliveries lost"


def _up(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=0.5).status_code == 200
    except httpx.HTTPError:
        return False


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_a_dead_ingest_process_is_answered_503_then_started_again(linked):
    """Verifying and storing happen in a process of their own: when it dies, a delivery gets a 503 (the
    platform retries it) rather than a 2xx for something not stored, and the next one starts it again."""

    async def post(n: int) -> httpx.Response:
        body = b'{"event":"meeting.chatSynced","meeting":{"id":"m%d"}}' % n
        return await linked.http.post(linked.webhook_url, content=body, headers={
            "dyte-signature": linked.emulator.signer.sign(body), "dyte-uuid": f"after-death-{n}"})

    ingest = linked.runtime.ingest
    first = ingest._child
    assert (await post(0)).status_code == 200
    os.kill(first.transport.get_pid(), signal.SIGKILL)
    await until(lambda: not first.alive, message="the ingest process seen to exit")
    answered = (await post(1)).status_code
    assert answered == 503  # within a second of its death: not started again yet, nothing stored
    await asyncio.sleep(1.1)
    assert (await post(2)).status_code == 200
    assert ingest._child is not first and ingest._child.alive
    stored = {r["delivery_id"] for r in linked.runtime.store.db.all("SELECT delivery_id FROM deliveries")}
    assert {"after-death-0", "after-death-2"} <= stored and "after-death-1" not in stored
