"""/webhooks answers as RealtimeKit needs them: it retries only a 5xx, so nothing a retry could get
through is ever answered 4xx, and a rotated key is fetched again before a 401."""

import json
import time
import uuid

import pytest

from bot.models import Status, Timer
from tests.conftest import ALICE, BOB, linked_stack, until
from tests.e2e.helpers import run, started, status_is, thread_texts


async def post(stack, body: bytes, signature: str | None = None):
    headers = {"dyte-signature": signature or stack.emulator.signer.sign(body), "dyte-uuid": str(uuid.uuid4())}
    return await stack.http.post(stack.webhook_url, content=body, headers=headers)


async def test_verified_news_recbot_does_not_act_on_is_stored_and_answered_2xx(linked):
    for body in (b'{"event":"recording.statusUpdate","recording":{"id":"r","status":"TRANSCODING"}}',
                 b'{"event":"meeting.chatSynced","meeting":{"id":"m"}}',
                 b'{"event":"recording.statusUpdate"}'):
        response = await post(linked, body)
        assert response.status_code == 200, (body, response.text)
    def ignored() -> list[str] | None:
        found = [r["outcome"] for r in linked.runtime.store.db.all(
            "SELECT outcome FROM deliveries WHERE outcome LIKE 'ignored%' ORDER BY id")]
        return found if len(found) >= 3 else None

    outcomes = await until(ignored, message="the three outcomes")
    assert any("TRANSCODING" in o for o in outcomes)


async def test_only_what_no_retry_could_fix_is_refused(linked):
    assert (await post(linked, b"not json")).status_code == 400
    assert (await post(linked, b'{"event":"meeting.ended"}', signature="Zm9yZ2Vk")).status_code == 401


async def test_a_rotated_key_is_fetched_again_before_a_401(linked):
    rec = await started(linked, ALICE)
    await linked.control("rotate-key")
    await linked.http.put(f"{linked.emulator_server.url}/v2/recordings/{rec.id}", json={"action": "stop"},
                          headers={"authorization": _basic(linked)})
    await until(lambda: linked.runtime.store.recording(rec.id).status.rank >= Status.UPLOADING.rank, timeout=10,
                message="the stop, verified with the new key")
    refused = [d for d in linked.emulator.deliverer.log if d.get("status") == 401]
    assert refused == []
    # a forgery after that does not fetch the key again within the minute, and is refused
    fetched = linked.runtime.webhook_key.refreshed_at
    assert fetched is not None
    assert (await post(linked, b'{"event":"meeting.ended","meeting":{"id":"m"}}', "Zm9yZ2Vk")).status_code == 401
    assert linked.runtime.webhook_key.refreshed_at == fetched


async def test_no_key_yet_is_503_with_retry_after(linked):
    key, linked.runtime.webhook_key.key = linked.runtime.webhook_key.key, None
    response = await post(linked, b'{"event":"meeting.ended","meeting":{"id":"m"}}')
    assert response.status_code == 503 and response.headers["retry-after"]
    linked.runtime.webhook_key.key = key


def _basic(stack) -> str:
    import base64

    c = stack.emulator.creds
    return "Basic " + base64.b64encode(f"{c.org_id}:{c.api_key}".encode()).decode()


@pytest.mark.parametrize("refusal", [400, 409, 422, 500, 503])
async def test_any_refusal_of_a_start_or_an_action_is_looked_into_not_guessed(linked, refusal):
    """No code is documented for a start while one is active or an action in the wrong state: whatever
    it is, a 5xx included, recbot asks the platform before it says anything (a 5xx is not "started")."""
    await linked.control("modes", {"refusal_status": refusal})
    hooks = list(linked.emulator.platform.webhooks.values())
    for hook in hooks:  # recbot hears nothing of what happens next on the platform
        hook["enabled"] = False
    elsewhere = linked.emulator.platform.start_recording(time.time() - 30, linked.meeting_id)  # half a minute ago
    linked.emulator.advance()
    _, reply = await run(linked, ALICE, "start")
    assert "The platform refused" in reply
    adopted = await until(lambda: linked.runtime.store.recording(elsewhere.id), message="the recording adopted")
    assert adopted.origin == "meeting"
    linked.emulator.platform.act(time.time(), elsewhere.id, "stop")
    linked.emulator.advance()
    for hook in hooks:
        hook["enabled"] = True
    _, reply = await run(linked, ALICE, "pause")
    assert "could not be paused" in reply and "(it is upload" in reply  # it asked the platform first


async def test_a_paused_recording_the_platform_stops_is_explained_and_its_reminders_end(linked):
    await linked.control("modes", {"stop_paused_when_empty": True})
    linked.emulator.platform.timing.empty_stop = 0.3
    rec = await started(linked, ALICE)
    await run(linked, BOB, "pause")
    store = linked.runtime.store
    assert store.timers.pending(Timer.PAUSE_REMINDER, rec.id)
    for pid in list(linked.emulator.platform.meetings[linked.meeting_id].session.participants):
        await linked.control(f"meetings/{linked.meeting_id}/leave", {"participant_id": pid})
    await until(lambda: store.recording(rec.id).status.rank >= Status.UPLOADING.rank, timeout=10, message="the stop")
    said = await until(lambda: [t for t in thread_texts(linked, rec) if "the platform stopped it" in t],
                       message="the explanation")
    assert "everyone had left" in said[0]
    assert store.timers.pending(Timer.PAUSE_REMINDER, rec.id) is None


async def test_realtimekit_sends_only_the_documented_status_webhooks(tmp_path):
    async with linked_stack(tmp_path, flavour="realtimekit") as s:
        rec = await started(s, ALICE)  # RECORDING arrives by webhook; INVOKED did not
        await run(s, BOB, "pause")  # PAUSED comes from the action's answer: no webhook is documented for it
        await status_is(s, rec.id, Status.PAUSED)
        bodies = [json.loads(d["body"]) for d in s.emulator.deliverer.log]
        sent = [b["recording"]["status"] for b in bodies if b["event"] == "recording.statusUpdate"]
        assert "RECORDING" in sent and not {"INVOKED", "PAUSED"} & set(sent)
