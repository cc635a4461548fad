"""The meeting's Slack call with two recbot processes on one PostgreSQL database: added once, posted
once, each person once, ended once, whichever process hears what."""

from tests.conftest import ALICE, BOB, CHANNEL, make_stack, until
from tests.e2e.helpers import run, started
from tests.multi.test_two_processes import second_process, via


async def test_two_processes_show_one_call_and_end_it_once(tmp_path, postgres):
    env = {"REC_DATABASE": postgres.new_database(), "REC_JOIN_URL": "https://meet.example.com/m/{meeting_id}"}
    async with make_stack(tmp_path, env=env) as s:
        async with second_process(s) as (_, port):
            meeting = await s.new_meeting("Two processes")
            await s.join(meeting, "Ann")
            s.meeting_id = meeting
            await run(s, ALICE, f"link {meeting}")
            with via(s, port):
                await run(s, BOB, f"link {meeting}", channel="C0BETA")  # a second channel: the same call
            call = (await until(lambda: s.slack.call_in(CHANNEL), message="the call"))[0]
            await until(lambda: s.slack.call_in("C0BETA"), message="the call in the second channel")
            for name in ("Carol", "Dan", "Erin"):
                await s.join(meeting, name)
            await until(lambda: sorted(u["display_name"] for u in call["users"]) == ["Ann", "Carol", "Dan", "Erin"],
                        message="everyone in the call")
            with via(s, port):
                await started(s, ALICE)
            await until(lambda: call["title"].endswith("● Recording"), message="the title says it records")
            await s.control(f"meetings/{meeting}/end")
            await until(lambda: call["ended"], message="the call ended")
            await until(lambda: not {"pending", "sending"} & set(s.runtime.store.outbox.counts()), timeout=10,
                        message="both outboxes drained")
            ok = [c for c in s.slack.calls if c["ok"]]
            assert sum(c["method"] == "calls.add" for c in ok) == 1
            assert sum(c["method"] == "calls.end" for c in ok) == 1
            assert s.slack.call_in(CHANNEL) == s.slack.call_in("C0BETA") == [call]
            joined = [name for kind, who in call["changes"] if kind in ("add", "joined") for name in who]
            assert sorted(joined) == ["Ann", "Carol", "Dan", "Erin"]  # each person once


async def test_a_step_slack_sends_to_both_processes_acts_once(tmp_path, postgres):
    async with make_stack(tmp_path, env={"REC_DATABASE": postgres.new_database()}) as s:
        async with second_process(s) as (_, port):
            meeting = await s.new_meeting("Steps")
            await s.join(meeting, "Ann")
            await run(s, ALICE, f"link {meeting}")
            event, _ = await s.run_step("start_recording", user=ALICE)
            with via(s, port):
                await s.event(event)  # Slack's retry, to the other process
            execution = s.slack.executions[event["function_execution_id"]]
            await until(lambda: execution["state"] == "completed", message="the step's end")
            await until(lambda: not {"pending", "sending"} & set(s.runtime.store.outbox.counts()), timeout=10,
                        message="both outboxes drained")
            assert len(s.runtime.store.recordings_of_meeting(meeting)) == 1
            assert s.slack.count("functions.completeSuccess") == 1
