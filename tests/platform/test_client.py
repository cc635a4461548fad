"""Every client call and error, against the emulator, in both flavours (the `platform` fixture)."""

import asyncio
import time

import httpx
import pytest

from bot.models import Status
from bot.platform.client import PlatformClient
from bot.platform.errors import (
    Conflict,
    InvalidRequest,
    NotFound,
    PlatformUnavailable,
    RateLimited,
    Unauthorized,
)
from tests.conftest import client_for


async def test_meetings(platform):
    meeting = await platform.create_meeting("Weekly sync")
    assert (await platform.get_meeting(meeting.id)).title == "Weekly sync"
    assert meeting.id in [m.id for m in await platform.list_meetings(per_page=50)]
    with pytest.raises(NotFound) as info:
        await platform.get_meeting("00000000-0000-0000-0000-000000000000")
    assert "No meeting found" in info.value.message


async def test_active_session_is_none_until_someone_joins(platform, emulator):
    meeting = await platform.create_meeting("m")
    assert await platform.get_active_session(meeting.id) is None
    emulator.platform.join(time.time(), meeting.id, "Ann")
    session = await platform.get_active_session(meeting.id)
    assert session.live_participants == 1 and session.meeting_id == meeting.id


async def test_recording_lifecycle(platform, emulator):
    meeting = await platform.create_meeting("m")
    emulator.platform.join(time.time(), meeting.id, "Ann")
    assert await platform.get_active_recording(meeting.id) is None
    started = await platform.start_recording(meeting.id, max_seconds=600)
    assert started.status is Status.INVOKED and started.session_id is None
    await asyncio.sleep(0.05)
    assert (await platform.get_recording(started.id)).status is Status.RECORDING
    assert (await platform.pause_recording(started.id)).status is Status.PAUSED
    active = await platform.get_active_recording(meeting.id)
    assert active.id == started.id and active.status is Status.PAUSED
    assert (await platform.resume_recording(started.id)).status is Status.RECORDING
    stopped = await platform.stop_recording(started.id)
    assert stopped.status is Status.UPLOADING and stopped.stopped_at is not None
    await asyncio.sleep(0.05)
    done = await platform.get_recording(started.id)
    assert done.status is Status.UPLOADED and done.download_url and done.file_size
    assert done.download_url_expiry - time.time() == pytest.approx(7 * 86400, abs=60)


async def test_wrong_state_and_second_start_are_conflicts(platform, emulator):
    meeting = await platform.create_meeting("m")
    emulator.platform.join(time.time(), meeting.id, "Ann")
    rec = await platform.start_recording(meeting.id)
    await asyncio.sleep(0.05)
    with pytest.raises(Conflict):
        await platform.resume_recording(rec.id)
    await platform.pause_recording(rec.id)
    with pytest.raises(Conflict) as info:
        await platform.start_recording(meeting.id)  # PAUSED counts as active
    assert "already active" in info.value.message
    second = await platform.start_recording(meeting.id, allow_multiple=True)
    assert second.id != rec.id
    with pytest.raises(NotFound):
        await platform.stop_recording("no-such-recording")


async def test_list_recordings_filters_and_follows_paging(platform, emulator):
    meeting = await platform.create_meeting("m")
    other = await platform.create_meeting("other")
    ids = [(await platform.start_recording(meeting.id, allow_multiple=True)).id for _ in range(5)]
    await platform.start_recording(other.id)
    await asyncio.sleep(0.05)
    await platform.pause_recording(ids[0])
    await platform.stop_recording(ids[1])
    everything = await platform.list_recordings(meeting.id, per_page=2)
    assert sorted(r.id for r in everything) == sorted(ids)
    paused = await platform.list_recordings(meeting.id, statuses=[Status.PAUSED])
    assert [r.id for r in paused] == [ids[0]]
    active = await platform.list_recordings(meeting.id, statuses=[Status.RECORDING, Status.PAUSED], per_page=1)
    assert len(active) == 4


@pytest.mark.parametrize("status_filter", ["spec", "sdk"])
async def test_lists_are_read_whole_whatever_the_server_caps_or_how_it_reads_status(platform, emulator,
                                                                                    status_filter):
    """A server that answers 2 a page however many are asked, and reads `status` one way only: recbot
    still gets every recording, pages by `paging.total_count`, and reads participants whole."""
    emulator.platform.modes.per_page_cap, emulator.platform.modes.status_filter = 2, status_filter
    meeting = await platform.create_meeting("m")
    ids = [(await platform.start_recording(meeting.id, allow_multiple=True)).id for _ in range(5)]
    await asyncio.sleep(0.05)
    await platform.pause_recording(ids[0])
    assert sorted(r.id for r in await platform.list_recordings(meeting.id)) == sorted(ids)
    recording = await platform.list_recordings(statuses=[Status.INVOKED, Status.RECORDING])  # one value a request
    assert sorted(r.id for r in recording) == sorted(ids[1:])
    paused = await platform.list_recordings(statuses=[Status.PAUSED])  # not in the published enum: filtered here
    assert [r.id for r in paused] == [ids[0]]
    session = await platform.get_active_session(meeting.id) or emulator.platform.live_session(meeting.id)
    for name in ("Ann", "Ben", "Cy"):
        emulator.platform.join(time.time(), meeting.id, name)
    people = await platform.session_participants(session.id)
    assert sorted(p["display_name"] for p in people) == ["Ann", "Ben", "Cy"]


async def test_bad_credentials_are_unauthorized(emulator):
    for flavour in ("dyte", "realtimekit"):
        client = client_for(emulator, flavour)
        client._http.headers["Authorization"] = "Bearer wrong" if flavour == "realtimekit" else "Basic d3Jvbmc6eA=="
        with pytest.raises(Unauthorized):
            await client.get_meeting("00000000-0000-0000-0000-000000000000")  # 401 before 404
        await client.aclose()


async def test_invalid_request(platform):
    with pytest.raises(InvalidRequest):
        await platform.start_recording("", max_seconds=None)


async def test_server_errors_are_retried_for_reads_only(platform, emulator):
    meeting = await platform.create_meeting("m")
    emulator.api_faults.next_mode, emulator.api_faults.next_count = "500", 2
    assert (await platform.get_meeting(meeting.id)).id == meeting.id  # two 500s, then success
    emulator.api_faults.next_mode, emulator.api_faults.next_count = "500", 1
    with pytest.raises(PlatformUnavailable):
        await platform.start_recording(meeting.id)
    assert emulator.platform.recordings == {}  # the refused start changed nothing


async def test_rate_limited_reads_honour_retry_after_then_give_up(platform, emulator):
    meeting = await platform.create_meeting("m")
    emulator.api_faults.next_mode, emulator.api_faults.next_count = "429", 1
    began = time.monotonic()
    assert (await platform.get_meeting(meeting.id)).id == meeting.id
    assert time.monotonic() - began >= 1.0  # retry-after: 1
    platform.retries = 0
    emulator.api_faults.next_mode, emulator.api_faults.next_count = "429", 1
    with pytest.raises(RateLimited) as info:
        await platform.get_meeting(meeting.id)
    assert info.value.retry_after == 1.0


async def test_timed_out_start_is_found_not_repeated(emulator):
    client = client_for(emulator, "dyte", timeout=0.3)
    meeting = await client.create_meeting("m")
    emulator.api_faults.next_mode, emulator.api_faults.next_count, emulator.api_faults.hang_seconds = "hang", 1, 1.0
    rec = await client.start_recording(meeting.id)
    assert [r.id for r in emulator.platform.recordings.values()] == [rec.id]
    await client.aclose()


async def test_timeout_with_nothing_started_is_unavailable(emulator):
    client = client_for(emulator, "dyte", timeout=0.3)
    emulator.api_faults.next_mode, emulator.api_faults.next_count, emulator.api_faults.hang_seconds = "hang", 1, 1.0
    with pytest.raises(PlatformUnavailable):
        await client.pause_recording("nope")
    await client.aclose()


async def test_connection_refused_is_unavailable():
    client = PlatformClient("dyte", "http://127.0.0.1:9/v2", org_id="o", api_key="k", retries=0)
    with pytest.raises(PlatformUnavailable):
        await client.get_meeting("m")
    await client.aclose()


async def test_cloudflare_error_shape_and_non_json_bodies():
    def handler(request):
        if request.url.path.endswith("/cf"):
            errors = [{"code": 10000, "message": "Authentication error"}]
            return httpx.Response(403, json={"success": False, "errors": errors})
        return httpx.Response(502, text="<html>bad gateway</html>")
    client = PlatformClient("realtimekit", "http://x/client/v4/accounts/a/realtime/kit/b", token="t", retries=0,
                            transport=httpx.MockTransport(handler))
    with pytest.raises(Unauthorized, match="Authentication error"):
        await client.get_meeting("cf")
    with pytest.raises(PlatformUnavailable, match="bad gateway"):
        await client.get_meeting("other")
    await client.aclose()


async def test_webhook_registration(platform):
    hook = await platform.register_webhook("http://127.0.0.1:3000/webhooks")
    assert "recording.statusUpdate" in hook.events
    assert [w.id for w in await platform.list_webhooks()] == [hook.id]
    moved = await platform.update_webhook(hook.id, url="http://127.0.0.1:4000/webhooks")
    assert moved.url.endswith(":4000/webhooks")


def test_each_flavour_gets_a_bucket_per_documented_limit_at_90_percent():
    rtk = {b.name: (b.limit, b.window) for b in PlatformClient("realtimekit", "http://x", token="t").limiter.buckets}
    assert rtk == {"RealtimeKit recording APIs": (900, 50.0), "RealtimeKit APIs": (3150, 300.0),
                   "Cloudflare API, per token": (1080, 300.0)}
    dyte = PlatformClient("dyte", "http://x", org_id="o", api_key="k").limiter
    assert [(b.limit, b.window) for b in dyte.buckets] == [(1800, 60.0)]
    assert dyte.strictest_per_minute == pytest.approx(2000, rel=0.01)


async def test_a_presigned_file_is_read_without_credentials_and_only_so_far(platform):
    """A transcript's link is presigned: the platform's token never goes to it, and it is read at most `limit`
    bytes (a hostile or broken link cannot fill memory)."""
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=b"x" * 100_000)

    platform._links = httpx.AsyncClient(transport=httpx.MockTransport(answer))
    text = await platform.download_text("https://files.example.com/t.csv?X-Amz-Signature=abc", limit=1000)
    assert text == "x" * 1000
    assert "authorization" not in {k.lower() for k in seen[0].headers}
    await platform._links.aclose()
