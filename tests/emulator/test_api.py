"""The emulator's HTTP surface: the conformance details tests from outside rely on."""

import asyncio
import base64
import json
import time

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.asgi_server import BackgroundServer
from bot.emulator.media import wav_duration
from bot.platform.webhooks import key_from_document, parse_event, verify


def auth(emu, flavour):
    c = emu.creds
    if flavour == "dyte":
        basic = base64.b64encode(f"{c.org_id}:{c.api_key}".encode()).decode()
        return f"{emu.url}/v2", {"Authorization": f"Basic {basic}"}
    return (f"{emu.url}/client/v4/accounts/{c.account_id}/realtime/kit/{c.app_id}",
            {"Authorization": f"Bearer {c.token}"})


@pytest.fixture(params=["dyte", "realtimekit"])
async def api(request, emulator):
    base, headers = auth(emulator, request.param)
    async with httpx.AsyncClient(base_url=base, headers=headers) as http:
        http.flavour = request.param
        yield http


async def test_success_codes_follow_the_spec(api):
    created = await api.post("/meetings", json={"title": "t"})
    assert created.status_code == 201 and created.json()["data"]["title"] == "t"
    meeting_id = created.json()["data"]["id"]
    started = await api.post("/recordings", json={"meeting_id": meeting_id})
    assert started.status_code == 200 and started.json()["data"]["status"] == "INVOKED"
    hook = await api.post("/webhooks", json={"name": "n", "url": "http://127.0.0.1:1/x", "events": ["meeting.ended"]})
    assert hook.status_code == 201


async def test_meeting_title_is_always_a_string(api):
    created = (await api.post("/meetings", json={})).json()["data"]
    assert created["title"] == ""


async def test_every_put_answers_the_new_state_and_a_get_agrees(api, emulator):
    emulator.platform.timing.upload_delay = 30
    meeting_id = (await api.post("/meetings", json={"title": "t"})).json()["data"]["id"]
    rec_id = (await api.post("/recordings", json={"meeting_id": meeting_id})).json()["data"]["id"]
    await asyncio.sleep(0.05)
    for action, status in (("pause", "PAUSED"), ("resume", "RECORDING"), ("stop", "UPLOADING")):
        put = await api.put(f"/recordings/{rec_id}", json={"action": action})
        assert put.status_code == 200 and put.json()["data"]["status"] == status
        assert (await api.get(f"/recordings/{rec_id}")).json()["data"]["status"] == status


async def test_errors_use_the_envelope_with_the_http_status(api):
    meeting_id = (await api.post("/meetings", json={"title": "t"})).json()["data"]["id"]
    rec_id = (await api.post("/recordings", json={"meeting_id": meeting_id})).json()["data"]["id"]
    cases = [
        await api.get("/meetings/nope"),
        await api.get("/recordings/nope"),
        await api.get(f"/recordings/active-recording/{meeting_id}x"),
        await api.put(f"/recordings/{rec_id}", json={"action": "resume"}),
        await api.put(f"/recordings/{rec_id}", json={"action": "explode"}),
        await api.post("/recordings", json={"meeting_id": meeting_id}),
        await api.post("/recordings", content=b"{not json"),
        await api.post("/webhooks", json={"name": "n"}),
        await api.delete("/recordings"),
        await api.get("/no/such/route"),
    ]
    assert [r.status_code for r in cases] == [404, 404, 404, 409, 400, 409, 400, 400, 405, 404]
    for r in cases:
        body = r.json()
        assert body["success"] is False and body["error"]["code"] == r.status_code and body["error"]["message"]


async def test_credentials_are_checked_before_existence(emulator):
    for flavour in ("dyte", "realtimekit"):
        base, _ = auth(emulator, flavour)
        async with httpx.AsyncClient(base_url=base, headers={"Authorization": "Basic eDp5"}) as http:
            r = await http.get("/meetings/does-not-exist")
            assert r.status_code == 401 and r.json()["error"]["code"] == 401
    async with httpx.AsyncClient(base_url=emulator.url, headers=auth(emulator, "realtimekit")[1]) as http:
        r = await http.get("/client/v4/accounts/other/realtime/kit/app/meetings")
        assert r.status_code == 401


async def test_recording_filters_and_active_recording_returns_the_paused_one(api, emulator):
    meeting_id = (await api.post("/meetings", json={"title": "t"})).json()["data"]["id"]
    rec_id = (await api.post("/recordings", json={"meeting_id": meeting_id})).json()["data"]["id"]
    await asyncio.sleep(0.05)
    await api.put(f"/recordings/{rec_id}", json={"action": "pause"})
    active = (await api.get(f"/recordings/active-recording/{meeting_id}")).json()["data"]
    assert active["id"] == rec_id and active["status"] == "PAUSED"
    listed = (await api.get("/recordings", params={"meeting_id": meeting_id, "status": "RECORDING,PAUSED"})).json()
    assert [r["id"] for r in listed["data"]] == [rec_id] and listed["data"][0]["meeting"]["id"] == meeting_id
    assert listed["paging"] == {"total_count": 1, "start_offset": 1, "end_offset": 1}
    none = (await api.get("/recordings", params={"meeting_id": meeting_id, "status": "UPLOADED"})).json()
    assert none["data"] == [] and none["paging"]["total_count"] == 0


async def test_controls_list_join_and_live_participants(emulator, api):
    index = (await httpx.AsyncClient().get(f"{emulator.url}/_emulator/")).json()
    assert all(set(item) == {"method", "path", "description"} for item in index)
    meeting_id = (await api.post("/meetings", json={"title": "t"})).json()["data"]["id"]
    async with httpx.AsyncClient(base_url=emulator.url) as http:
        joined = (await http.post(f"/_emulator/meetings/{meeting_id}/join", json={"name": "Ann"})).json()
        assert joined["data"]["participant_id"]
    session = (await api.get(f"/meetings/{meeting_id}/active-session")).json()["data"]
    assert session["live_participants"] == 1 and session["associated_id"] == meeting_id


class Receiver:
    def __init__(self, status=200):
        self.status, self.deliveries = status, []
        self.app = Starlette(routes=[Route("/hook", self.hook, methods=["POST"])])

    async def hook(self, request: Request):
        self.deliveries.append((dict(request.headers), await request.body()))
        return Response(status_code=self.status)


async def wait_for(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_signed_webhooks_in_order_with_flavour_headers_and_a_working_download(api, emulator):
    receiver = Receiver()
    async with BackgroundServer(receiver.app) as server, httpx.AsyncClient() as http:
        hook = (await api.post("/webhooks", json={"name": "n", "url": f"{server.url}/hook",
                                                  "events": ["recording.statusUpdate"]})).json()["data"]
        meeting_id = (await api.post("/meetings", json={"title": "t"})).json()["data"]["id"]
        rec_id = (await api.post("/recordings", json={"meeting_id": meeting_id})).json()["data"]["id"]
        await asyncio.sleep(0.2)
        await api.put(f"/recordings/{rec_id}", json={"action": "pause"})
        await asyncio.sleep(0.3)
        await api.put(f"/recordings/{rec_id}", json={"action": "resume"})
        await asyncio.sleep(0.2)
        await api.put(f"/recordings/{rec_id}", json={"action": "stop"})
        # RealtimeKit documents status webhooks for RECORDING, UPLOADING, UPLOADED and ERRORED only
        expected = (["INVOKED", "RECORDING", "PAUSED", "RECORDING", "UPLOADING", "UPLOADED"] if api.flavour == "dyte"
                    else ["RECORDING", "RECORDING", "UPLOADING", "UPLOADED"])
        await wait_for(lambda: len(receiver.deliveries) >= len(expected))
        key = key_from_document((await http.get(f"{emulator.url}/.well-known/webhooks.json")).json())
        prefix = "dyte" if api.flavour == "dyte" else "rtk"
        events, uuids = [], set()
        for headers, body in receiver.deliveries:
            delivery = verify(headers, body, key)
            assert delivery.flavour == api.flavour and headers[f"{prefix}-webhook-id"] == hook["id"]
            uuids.add(headers[f"{prefix}-uuid"])
            events.append(parse_event(body))
        assert len(uuids) == len(expected)
        assert [e.status.value for e in events] == expected
        uploaded = events[-1]
        file = await http.get(uploaded.download_url)  # no API credentials needed
        assert file.status_code == 200 and len(file.content) == uploaded.file_size
        assert wav_duration(file.content) == pytest.approx(0.4, abs=0.1)
        raw = json.loads(receiver.deliveries[-1][1])["recording"]
        if api.flavour == "dyte":
            assert " " in raw["startedTime"] and isinstance(raw["fileSize"], int)
        else:
            assert "T" in raw["startedTime"] and isinstance(raw["fileSize"], str)


async def test_failed_deliveries_are_retried(api, emulator):
    receiver = Receiver(status=503)
    async with BackgroundServer(receiver.app) as server:
        await api.post("/webhooks", json={"name": "n", "url": f"{server.url}/hook", "events": ["meeting.started"]})
        meeting_id = (await api.post("/meetings", json={"title": "t"})).json()["data"]["id"]
        emulator.platform.join(time.time(), meeting_id, "Ann")
        emulator.advance()
        await wait_for(lambda: len(receiver.deliveries) >= 2)
        receiver.status = 200
        await wait_for(lambda: emulator.webhook_faults.counts["delivered"] == 1)


async def test_webhook_faults_drop_and_duplicate(api, emulator):
    receiver = Receiver()
    async with BackgroundServer(receiver.app) as server:
        await api.post("/webhooks", json={"name": "n", "url": f"{server.url}/hook", "events": ["meeting.started",
                                                                                             "meeting.ended"]})
        emulator.webhook_faults.drop_next = 1
        emulator.webhook_faults.duplicate = 1.0
        meeting_id = (await api.post("/meetings", json={"title": "t"})).json()["data"]["id"]
        emulator.platform.join(time.time(), meeting_id, "Ann")  # started: dropped
        emulator.platform.end_meeting(time.time(), meeting_id)   # ended: twice
        emulator.advance()
        await wait_for(lambda: len(receiver.deliveries) >= 2)
        await asyncio.sleep(0.1)
        assert [json.loads(b)["event"] for _, b in receiver.deliveries] == ["meeting.ended", "meeting.ended"]


async def test_download_link_needs_its_token(api, emulator):
    emulator.platform.timing.upload_delay = 0
    meeting_id = (await api.post("/meetings", json={"title": "t"})).json()["data"]["id"]
    rec_id = (await api.post("/recordings", json={"meeting_id": meeting_id})).json()["data"]["id"]
    await asyncio.sleep(0.05)
    await api.put(f"/recordings/{rec_id}", json={"action": "stop"})
    await asyncio.sleep(0.05)
    async with httpx.AsyncClient() as http:
        assert (await http.get(f"{emulator.url}/_emulator/files/{rec_id}.wav?token=guess")).status_code == 404


async def test_keep_alive_is_realtimekit_s_and_checked(api, emulator):
    created = await api.post("/meetings", json={"title": "t", "session_keep_alive_time_in_secs": 120})
    assert created.status_code == 201
    meeting = emulator.platform.meetings[created.json()["data"]["id"]]
    assert meeting.keep_alive == (120 if api.flavour == "realtimekit" else None)
    out_of_range = await api.post("/meetings", json={"session_keep_alive_time_in_secs": 30})
    assert out_of_range.status_code == (400 if api.flavour == "realtimekit" else 201)


async def test_kick_all_answers_as_the_spec_says(api, emulator):
    meeting_id = (await api.post("/meetings", json={"title": "t"})).json()["data"]["id"]
    assert (await api.post(f"/meetings/{meeting_id}/active-session/kick-all")).status_code == 404
    emulator.platform.join(time.time(), meeting_id, "Ann")
    kicked = await api.post(f"/meetings/{meeting_id}/active-session/kick-all")
    assert kicked.status_code == 200
    assert kicked.json() == {"success": True, "data": {"action": "kick_all", "kicked_participants_count": 1}}
