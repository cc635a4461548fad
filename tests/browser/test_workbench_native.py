"""The workbench shows the meeting as Slack shows a call (title, people, Join, its end), and its Workflow box
runs recbot's steps as a chosen person or as a scheduled trigger, in a real browser."""

from tests.browser.test_workbench import ARTIFACTS, page, pytestmark  # noqa: F401 (the fixture, and the skip)


async def test_the_call_and_workflow_steps_in_the_workbench(page):  # noqa: F811
    (meeting_id,) = page.stack.emulator.platform.meetings
    call = page.locator("#messages .call")
    await call.wait_for(timeout=15000)
    await page.locator("#messages .call .person", has_text="Ben").wait_for(timeout=10000)
    assert "Demo meeting" in await call.inner_text() and "Ann" in await call.inner_text()
    join = call.locator("a.join")
    assert meeting_id in await join.get_attribute("href")

    await page.select_option("#wf-step", "start_recording")
    await page.select_option("#wf-by", "U0ALICE")
    await page.click("#workflow button")
    await page.locator("#steps .step.completed").first.wait_for(timeout=15000)
    await page.locator("#messages .call-title", has_text="● Recording").wait_for(timeout=15000)

    await page.select_option("#wf-step", "stop_recording")
    await page.select_option("#wf-by", "")  # a scheduled trigger: this channel has not allowed workflows
    await page.click("#workflow button")
    await page.locator("#steps .step.failed", has_text="workflows on").wait_for(timeout=15000)
    await page.screenshot(path=str(ARTIFACTS / "call-and-workflow.png"))

    await page.click("#end")
    await page.locator("#messages .call", has_text="Ended").wait_for(timeout=20000)
