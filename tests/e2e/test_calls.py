"""The meeting as a Slack call, as the channel sees it: registered when its session is live, who is in it,
whether it records (in its title), its end with the duration; once each, across a restart."""


from bot.models import Status
from tests.conftest import ALICE, BOB, CHANNEL, linked_stack, until
from tests.e2e.helpers import run, started, status_is

JOIN = "https://meet.example.com/m/{meeting_id}"


def the_call(stack) -> dict:
    shown = stack.slack.call_in(CHANNEL)
    assert len(shown) == 1, shown
    return shown[0]


def names(call) -> list[str]:
    return sorted(u["display_name"] for u in call["users"])


def calls_of(stack, method: str) -> list[dict]:
    return [c for c in stack.slack.calls if c["method"] == method and c["ok"]]


async def test_the_call_lives_with_the_session_its_people_and_its_recording(tmp_path):
    async with linked_stack(tmp_path, env={"REC_JOIN_URL": JOIN}) as stack:
        meeting = stack.meeting_id
        call = await until(lambda: stack.slack.call_in(CHANNEL), message="the call in the channel")
        call = call[0]
        assert call["join_url"] == f"https://meet.example.com/m/{meeting}"
        assert call["title"] == "m" and call["created_by"] == ALICE
        assert call["external_unique_id"] == stack.emulator.platform.live_session(meeting).id
        await until(lambda: names(call) == ["Ann"], message="Ann in the call")

        carol = await stack.join(meeting, "Carol")
        await until(lambda: names(call) == ["Ann", "Carol"], message="Carol in the call")
        await stack.control(f"meetings/{meeting}/leave", {"participant_id": carol})
        await until(lambda: names(call) == ["Ann"], message="Carol gone from the call")

        rec = await started(stack, ALICE)
        await until(lambda: call["title"] == "m · ● Recording", message="the title says it records")
        await run(stack, BOB, "pause")
        await status_is(stack, rec.id, Status.PAUSED)
        await until(lambda: call["title"] == "m · Paused", message="the title says it is paused")
        await run(stack, ALICE, "resume")
        await until(lambda: call["title"] == "m · ● Recording", message="recording again")
        await run(stack, ALICE, "stop")
        await until(lambda: call["title"] == "m", message="the title without a state")

        await stack.control(f"meetings/{meeting}/end")
        await until(lambda: call["ended"], message="the call ended")
        assert call["duration"] is not None and call["duration"] >= 0
        assert the_call(stack) is call  # one call, posted once
        assert len(calls_of(stack, "calls.add")) == 1 and len(calls_of(stack, "calls.end")) == 1
        joined = [name for kind, who in call["changes"] if kind in ("add", "joined") for name in who]
        assert sorted(joined) == ["Ann", "Carol"], call["changes"]  # each person once


async def test_no_call_without_join_url_or_where_the_channel_turned_it_off(tmp_path):
    async with linked_stack(tmp_path) as stack:
        await started(stack, ALICE)
        assert not calls_of(stack, "calls.add")
    (tmp_path / "b").mkdir()
    async with linked_stack(tmp_path / "b", env={"REC_JOIN_URL": JOIN}) as stack:
        await until(lambda: stack.slack.call_in(CHANNEL), message="the call")
        await run(stack, ALICE, "settings call off")
        second = await stack.new_meeting("second")
        await stack.join(second, "Dan")
        await run(stack, ALICE, f"link {second}")
        stack.meeting_id = second
        await started(stack, ALICE)
        assert len(calls_of(stack, "calls.add")) == 1  # the first meeting's, before the setting


async def test_after_a_restart_the_call_is_shown_once_and_ends_once(tmp_path):
    async with linked_stack(tmp_path, env={"REC_JOIN_URL": JOIN}) as stack:
        meeting = stack.meeting_id
        call = (await until(lambda: stack.slack.call_in(CHANNEL), message="the call"))[0]
        await stack.stop_bot()
        await stack.start_bot()
        await stack.join(meeting, "Carol")
        await until(lambda: names(call) == ["Ann", "Carol"], message="Carol in the call")
        await started(stack, ALICE)
        await until(lambda: call["title"] == "m · ● Recording", message="the title says it records")
        await stack.control(f"meetings/{meeting}/end")
        await until(lambda: call["ended"], message="the call ended")
        await until(lambda: not {"pending", "sending"} & set(stack.runtime.store.outbox.counts()), message="drained")
        assert the_call(stack) is call
        assert len(calls_of(stack, "calls.add")) == 1 and len(calls_of(stack, "calls.end")) == 1


async def test_slack_asking_to_wait_delays_the_call_and_loses_nothing(tmp_path):
    async with linked_stack(tmp_path, env={"REC_JOIN_URL": JOIN}) as stack:
        call = (await until(lambda: stack.slack.call_in(CHANNEL), message="the call"))[0]
        await until(lambda: names(call) == ["Ann"], message="Ann in the call")
        stack.slack.faults.retry_after = 1
        stack.slack.faults.next_mode, stack.slack.faults.next_count = "429", 2
        await stack.join(stack.meeting_id, "Carol")
        await until(lambda: names(call) == ["Ann", "Carol"], timeout=10, message="Carol in the call, after the wait")
        assert stack.slack.faults.counts["429"] == 2
        joined = [name for kind, who in call["changes"] if kind in ("add", "joined") for name in who]
        assert sorted(joined) == ["Ann", "Carol"]


async def test_a_lost_meeting_ended_webhook_the_reconciler_ends_the_call(tmp_path):
    async with linked_stack(tmp_path, env={"REC_JOIN_URL": JOIN}) as stack:
        call = (await until(lambda: stack.slack.call_in(CHANNEL), message="the call"))[0]
        stack.emulator.webhook_faults.drop = 1.0  # every webhook from now on is lost
        await stack.control(f"meetings/{stack.meeting_id}/end")
        await stack.runtime.service.guards.reconcile(5)
        await until(lambda: call["ended"], message="the call ended by the reconciler")
        assert len(calls_of(stack, "calls.end")) == 1


async def test_a_person_on_two_devices_is_one_person_in_the_call(tmp_path):
    async with linked_stack(tmp_path, env={"REC_JOIN_URL": JOIN}) as stack:
        meeting = stack.meeting_id
        call = (await until(lambda: stack.slack.call_in(CHANNEL), message="the call"))[0]
        laptop = (await stack.control(f"meetings/{meeting}/join", {"name": "Carol", "custom_id": "carol"}))
        phone = (await stack.control(f"meetings/{meeting}/join", {"name": "Carol", "custom_id": "carol"}))
        await until(lambda: names(call) == ["Ann", "Carol"], message="Carol in the call")
        await stack.control(f"meetings/{meeting}/leave", {"participant_id": laptop["participant_id"]})
        await stack.join(meeting, "Dan")
        await until(lambda: names(call) == ["Ann", "Carol", "Dan"], message="Dan in the call")
        assert names(call) == ["Ann", "Carol", "Dan"]  # Carol is still there, on her phone
        await stack.control(f"meetings/{meeting}/leave", {"participant_id": phone["participant_id"]})
        await until(lambda: names(call) == ["Ann", "Dan"], message="Carol gone")
        joined = [name for kind, who in call["changes"] if kind in ("add", "joined") for name in who]
        assert joined.count("Carol") == 1
