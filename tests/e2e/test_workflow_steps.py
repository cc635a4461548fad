"""Workflow Builder steps as Slack runs them: a signed `function_executed` in, functions.complete* out.
Each step does what the command would, with the same permissions, for whoever ran the workflow, and
nothing an input says about who that was is believed."""

from bot.models import Status
from tests.conftest import ADMIN, ALICE, BOB, CHANNEL, EVE, linked_stack, until
from tests.e2e.helpers import card_of, recordings, run, started, status_is, thread_texts


async def finished(stack, event) -> dict:
    execution = stack.slack.executions[event["function_execution_id"]]
    await until(lambda: execution["state"] != "running", message="the step's end")
    return execution


async def test_a_step_run_by_a_controller_starts_and_completes_with_the_recording(linked):
    stack = linked
    event, answer = await stack.run_step("start_recording", user=ALICE)
    assert answer.status_code == 200
    done = await finished(stack, event)
    assert done["state"] == "completed", done
    [rec] = recordings(stack)
    assert done["outputs"]["recording_id"] == rec.id and done["outputs"]["status"] in ("INVOKED", "RECORDING")
    await status_is(stack, rec.id, Status.RECORDING)
    # the thread and the card follow at the channel's pace, through the outbox
    await until(lambda: any("requested by <@U0ALICE> via workflow" in t for t in thread_texts(stack, rec)),
                message="the thread saying who asked, via workflow")
    await until(lambda: "via workflow" in str(card_of(stack, rec).blocks), message="the card saying via workflow")


async def test_pause_for_minutes_resume_and_stop_steps(linked):
    stack = linked
    rec = await started(stack, ALICE)
    event, _ = await stack.run_step("pause_recording", user=BOB, inputs={"minutes": 5})  # anyone may pause
    done = await finished(stack, event)
    assert done["state"] == "completed" and done["outputs"] == {"recording_id": rec.id, "status": "PAUSED"}
    assert stack.runtime.store.recording(rec.id).pause_until is not None  # a timed pause
    event, _ = await stack.run_step("resume_recording", user=ALICE)
    assert (await finished(stack, event))["outputs"]["status"] == "RECORDING"
    event, _ = await stack.run_step("stop_recording", user=ALICE)
    assert (await finished(stack, event))["state"] == "completed"
    await status_is(stack, rec.id, Status.UPLOADED)
    # the thread's replies come at the channel's pace (about one a second)
    await until(lambda: any("paused by <@U0BOB> via workflow" in t for t in thread_texts(stack, rec))
                and any("stopped by <@U0ALICE> via workflow" in t for t in thread_texts(stack, rec)),
                message="the thread's replies")


async def test_a_members_step_cannot_start_and_a_typed_in_controller_changes_nothing(linked):
    stack = linked
    event, _ = await stack.run_step("start_recording", user=BOB, inputs={"user_id": ALICE, "user": ALICE})
    done = await finished(stack, event)
    assert done["state"] == "failed" and "controllers" in done["error"]
    assert recordings(stack) == []


async def test_a_step_nobody_ran_acts_only_where_the_channel_allowed_workflows(linked):
    stack = linked
    event, _ = await stack.run_step("start_recording", inputs={"user_id": ALICE})  # a scheduled trigger
    done = await finished(stack, event)
    assert done["state"] == "failed" and "/rec settings workflows on" in done["error"]
    assert recordings(stack) == []
    rec = await started(stack, ALICE)
    event, _ = await stack.run_step("pause_recording")  # a pause is always allowed
    assert (await finished(stack, event))["outputs"] == {"recording_id": rec.id, "status": "PAUSED"}
    await until(lambda: any("paused by a workflow" in t for t in thread_texts(stack, rec)), message="the reply")

    _, refused = await run(stack, BOB, "settings workflows on")
    assert "controllers" in refused
    await run(stack, ALICE, "settings workflows on")
    event, _ = await stack.run_step("stop_recording")
    assert (await finished(stack, event))["state"] == "completed"
    await status_is(stack, rec.id, Status.UPLOADED)
    audit = stack.runtime.store.audit_log(CHANNEL)
    assert any(a["action"] == "settings" and a["target"] == "workflows" and a["user_id"] == ALICE for a in audit)
    assert any(a["action"] == "workflow:stop" and a["user_id"] is None and "workflow Wx" in (a["detail"] or "")
               for a in audit)


async def test_steps_fail_in_words_when_the_command_would(linked):
    stack = linked
    event, _ = await stack.run_step("pause_recording", user=ALICE)
    assert "Nothing to pause" in (await finished(stack, event))["error"]
    event, _ = await stack.run_step("start_recording", "C0ELSEWHERE", user=ADMIN)
    assert "not linked" in (await finished(stack, event))["error"]
    event, _ = await stack.run_step("pause_recording", user=ALICE, inputs={"minutes": 0})
    assert "1 to 1440 minutes" in (await finished(stack, event))["error"]


async def test_a_step_slack_sends_again_acts_once(linked):
    stack = linked
    event, _ = await stack.run_step("start_recording", user=ALICE)
    again = await stack.event(event)  # Slack's retry: the same execution, a new delivery
    assert again.status_code == 200
    await finished(stack, event)
    await stack.stop_bot()
    await stack.start_bot()
    await stack.event(event)  # and once more, to another process start
    await until(lambda: recordings(stack), message="the recording")
    await until(lambda: not {"pending", "sending"} & set(stack.runtime.store.outbox.counts()), message="drained")
    assert len(recordings(stack)) == 1
    assert stack.slack.count("functions.completeSuccess") == 1


async def test_a_step_whose_end_slack_asks_to_wait_for_ends_once_after_the_wait(linked):
    stack = linked
    stack.slack.faults.retry_after = 1
    stack.slack.faults.next_mode, stack.slack.faults.next_count = "429", 1  # the next Slack call: the step's end
    event, _ = await stack.run_step("pause_recording", user=BOB)  # nothing to pause: it fails, in words
    done = await finished(stack, event)
    assert done["state"] == "failed" and "Nothing to pause" in done["error"]
    assert stack.slack.faults.counts["429"] == 1 and stack.slack.count("functions.completeError") == 1
    refused = [c for c in stack.slack.calls if c["method"] == "functions.completeError" and not c["ok"]]
    assert len(refused) == 1  # the first try, answered 429


async def test_steps_over_socket_mode(tmp_path):
    async with linked_stack(tmp_path, socket_mode=True) as stack:
        event, answer = await stack.run_step("start_recording", user=ALICE)
        assert answer.status_code == 200  # the envelope acked
        done = await finished(stack, event)
        assert done["state"] == "completed" and done["outputs"]["recording_id"] == recordings(stack)[0].id
        event, _ = await stack.run_step("stop_recording", user=BOB)
        assert "controllers" in (await finished(stack, event))["error"]


async def test_an_admin_of_another_workspace_running_a_workflow_here_is_not_a_controller_here(linked):
    """Eve, from another workspace (a Slack Connect channel), is an admin there: a workflow she runs in this
    workspace carries this workspace's team, so only her own record can say whose admin she is."""
    stack = linked
    rec = await started(stack, ALICE)
    stack.slack.users[EVE]["is_admin"] = True
    event, _ = await stack.run_step("stop_recording", user=EVE, team=stack.slack.team_id)
    done = await finished(stack, event)
    assert done["state"] == "failed" and "controllers" in done["error"], done
    assert stack.runtime.store.recording(rec.id).status is Status.RECORDING
