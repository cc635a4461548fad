from tests.conftest import ALICE, CHANNEL, until


async def test_start_pause_resume_stop_ends_with_the_link_in_the_thread(linked):
    s = linked
    assert (await s.command(ALICE, "start")).status_code == 200
    card = await until(lambda: s.slack.channel(CHANNEL), message="a card")
    rec = await until(lambda: s.runtime.store.recordings_of_meeting(s.meeting_id), message="a recording")
    await until(lambda: s.runtime.store.recording(rec[0].id).status.value == "RECORDING", message="RECORDING")
    await s.command(ALICE, "pause")
    await until(lambda: s.runtime.store.recording(rec[0].id).status.value == "PAUSED", message="PAUSED")
    await s.command(ALICE, "resume")
    await until(lambda: s.runtime.store.recording(rec[0].id).status.value == "RECORDING", message="resumed")
    await s.command(ALICE, "stop")
    await until(lambda: s.runtime.store.recording(rec[0].id).status.value == "UPLOADED", message="UPLOADED")
    ts = card[0].ts
    thread = await until(lambda: [m for m in s.slack.thread(CHANNEL, ts) if "Download" in m.text], message="link")
    print([m.text for m in s.slack.thread(CHANNEL, ts)])
    print(s.slack.channel(CHANNEL)[0].text)
    assert thread
