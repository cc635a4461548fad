"""The demo in a real browser: Playwright driving Debian's Chromium (never a downloaded browser)."""

import asyncio
import io
import shutil
import wave

import pytest

from bot.web import Options
from bot.workbench.demo import start_demo
from bot.workbench.stack import TEST_SCALE
from tests.browser.shots import SCREENSHOTS
from tests.conftest import ALICE, BOB
from tests.e2e.helpers import run

ARTIFACTS = SCREENSHOTS  # a temporary folder, never the checkout: a shot named like a docs/*.png refreshes it
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it "
                                                          "with apt-get install chromium)")


@pytest.fixture
async def page(tmp_path, request):
    from playwright.async_api import async_playwright

    fast = Options(slack_scale=TEST_SCALE, card_interval=0.2) if "fast" in request.keywords else None
    stack, workbench, url = await start_demo("127.0.0.1", _port(), str(tmp_path / "demo.sqlite3"), options=fast)
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = await browser.new_page(viewport={"width": 1400, "height": 900})
        await page.goto(url)
        page.stack = stack
        yield page
        await browser.close()
    await workbench.stop()
    await stack.stop()


def _port() -> int:
    import socket

    while True:  # the demo takes four ports in a row
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            base = s.getsockname()[1]
        if base + 3 < 65535 and all(_free(base + i) for i in range(4)):
            return base


def _free(port: int) -> bool:
    import socket

    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


async def send(page, text: str) -> None:
    await page.fill("#text", text)
    await page.press("#text", "Enter")


async def everyone_leaves(page, *, session_end: float, notes_delay: float) -> None:
    """Shorter waits than the demo's, then each person's Leave in the meeting panel."""
    await page.stack.control("timing", {"empty_stop": 0.3, "session_end": session_end, "notes_delay": notes_delay})
    leave = page.locator("#meeting button", has_text="Leave")
    while await leave.count():
        await leave.first.click()
        await page.wait_for_timeout(300)


async def test_a_recording_from_start_to_stitched_file(page):
    meeting = page.stack.emulator.platform.meetings
    (meeting_id,) = meeting
    await send(page, f"/rec link {meeting_id}")
    await page.get_by_text("Linked this channel to").last.wait_for()
    await send(page, "/rec start")
    pause = page.locator("#messages .actions button", has_text="Pause")
    await pause.wait_for(timeout=15000)
    await page.wait_for_timeout(1500)
    await page.screenshot(path=str(ARTIFACTS / "1-recording.png"))
    await pause.click()
    await page.locator("#messages .block-header", has_text="Paused").wait_for(timeout=10000)
    await send(page, "/rec resume")
    await page.locator("#messages .block-header", has_text="Recording").wait_for(timeout=10000)
    await page.wait_for_timeout(1500)
    await send(page, "/rec stop")
    await page.locator("#messages .block-header", has_text="Uploaded").wait_for(timeout=20000)
    link = page.locator(".thread a", has_text="Download the recording")  # its thread opens by itself
    await link.wait_for(timeout=10000)
    await page.locator(".thread", has_text="Recorded").first.wait_for()
    await page.evaluate("document.getElementById('messages').scrollTop = 1e9")
    await page.screenshot(path=str(ARTIFACTS / "workbench.png"))
    href = await link.get_attribute("href")
    response = await page.request.get(href)
    assert response.ok
    with wave.open(io.BytesIO(await response.body())) as wav:
        assert wav.getnframes() / wav.getframerate() > 1.0
    assert await page.locator("#messages audio").count() >= 1


async def test_a_non_controller_is_refused(page):
    await send(page, "/rec start")
    await page.locator("#messages .actions button", has_text="Stop").wait_for(timeout=15000)
    stop = await page.locator("#messages .actions button", has_text="Stop").first.element_handle()
    await page.select_option("#user", "U0BOB")
    await send(page, "/rec stop")
    refusal = page.locator("#ephemeral", has_text="Only this channel's controllers")
    await refusal.wait_for(timeout=10000)
    # the page was redrawn meanwhile; the button it did not change is the same node, so a click that a
    # redraw falls between (its press before, its release after) still lands
    assert await stop.evaluate("b => b.isConnected")
    await page.locator("#messages .actions button", has_text="Stop").first.click()
    refusals = page.locator("#ephemeral .ephemeral", has_text="Only this channel's controllers")
    for _ in range(100):  # the click's answer comes at Slack's pace for one person: wait for it, not for a time
        if await refusals.count() >= 2:
            break
        await page.wait_for_timeout(100)
    await page.screenshot(path=str(ARTIFACTS / "3-refused.png"))
    assert await refusals.count() >= 2
    statuses = [r.status.value for r in page.stack.emulator.platform.recordings.values()]
    assert "UPLOADING" not in statuses and "UPLOADED" not in statuses


async def test_mentions_typed_as_at_names_and_a_new_meeting(page):
    await send(page, '/rec new "Design review"')
    await page.get_by_text("Created and linked this channel to").last.wait_for(timeout=10000)
    await page.locator("#meeting", has_text="Design review").wait_for(timeout=15000)  # the panel follows
    await page.fill("#join-name", "Cleo")
    await page.press("#join-name", "Enter")
    await page.locator("#meeting", has_text="Cleo").wait_for(timeout=15000)
    await send(page, "/rec allow @bob")
    await page.locator("#ephemeral", has_text="can now start, resume and stop").wait_for(timeout=10000)
    await page.select_option("#user", BOB)
    await send(page, "/rec start")
    await page.locator("#messages .block-header", has_text="Design review").wait_for(timeout=15000)
    recordings = list(page.stack.emulator.platform.recordings.values())
    assert [r.meeting_id for r in recordings] == [page.stack.runtime.store.link("C0DEMO").meeting_id]
    assert page.stack.runtime.store.recordings_of_meeting(recordings[0].meeting_id)[0].started_by == BOB
    await page.screenshot(path=str(ARTIFACTS / "4-mentions-and-new.png"))


@pytest.mark.fast
async def test_the_thread_after_twenty_pauses(page):
    stack = page.stack
    await run(stack, ALICE, "start")
    await page.locator("#messages .actions button", has_text="Pause").wait_for(timeout=15000)
    for n in range(20):  # about 0.6 s recorded and 0.6 s paused each time, so the ledger shows real times
        await asyncio.sleep(0.6)
        await run(stack, BOB if n % 2 else ALICE, "pause", timeout=10)
        await asyncio.sleep(0.6)
        await run(stack, ALICE, "resume", timeout=10)
    await run(stack, ALICE, "stop")
    await page.locator("#messages .block-header", has_text="Uploaded").wait_for(timeout=30000)
    ready = page.locator(".thread", has_text="is ready")
    await ready.wait_for(timeout=20000)
    await page.locator(".thread a", has_text="Download the recording").wait_for()
    assert stack.slack.refusals == []
    await page.locator(".thread .msg", has_text="is ready").last.evaluate("e => e.scrollIntoView({block: 'start'})")
    await page.screenshot(path=str(ARTIFACTS / "thread-20-pauses.png"))


async def test_after_the_meeting_marks_transcript_and_summary_in_the_thread(page):
    """The demo's whole path: record, mark, pause, stop, everyone leaves; then the file with its marks and
    who was there, the transcript and the summary, all in the recording's thread."""
    await send(page, "/rec start")
    await page.locator("#messages .actions button", has_text="Mark").wait_for(timeout=15000)
    await page.wait_for_timeout(1200)
    await send(page, "/rec mark the decision")
    await page.locator("#ephemeral", has_text="Marked #1").wait_for(timeout=10000)
    await page.locator("#messages .actions button", has_text="Pause").first.click()
    await page.locator("#messages .block-header", has_text="Paused").wait_for(timeout=10000)
    await send(page, "/rec stop")
    await page.locator("#messages .block-header", has_text="Uploaded").wait_for(timeout=20000)
    await everyone_leaves(page, session_end=0.6, notes_delay=0.3)
    # It was paused: the summary is held for a controller, and the transcript is recbot's own copy
    await page.locator(".thread", has_text="summary of #1's session is not posted").first.wait_for(timeout=15000)
    await page.locator(".thread", has_text="The transcript of #1").first.wait_for(timeout=15000)
    thread = page.locator(".thread").first
    assert "the decision" in await thread.inner_text() and "Present while it recorded" in await thread.inner_text()
    await page.evaluate("document.getElementById('messages').scrollTop = 1e9")
    await page.screenshot(path=str(ARTIFACTS / "after-the-meeting.png"))


async def test_what_is_said_while_paused_stays_off_the_record(page):
    """A participant says something while it records, something while it is paused, then something after;
    the thread has recbot's own transcript with the withheld count, and `/rec find` finds the recorded line
    at its place in the file but never the paused one."""
    async def say(text: str) -> None:
        box = page.locator("#meeting form.say input").first
        await box.fill(text)
        await box.press("Enter")
        await page.wait_for_timeout(300)

    await send(page, "/rec start")
    pause = page.locator("#messages .actions button", has_text="Pause")
    await pause.wait_for(timeout=15000)
    await page.wait_for_timeout(800)
    await say("budget approved")
    await page.wait_for_timeout(1500)
    await pause.first.click()
    await page.locator("#messages .block-header", has_text="Paused").wait_for(timeout=10000)
    await say("salaries are frozen")
    await page.locator("#messages .actions button", has_text="Resume").first.click()
    await page.locator("#messages .block-header", has_text="Recording").wait_for(timeout=10000)
    await page.wait_for_timeout(500)
    await say("launch on tuesday")
    await page.wait_for_timeout(1500)
    await send(page, "/rec stop")
    await page.locator("#messages .block-header", has_text="Uploaded").wait_for(timeout=20000)
    await everyone_leaves(page, session_end=0.6, notes_delay=0.3)
    copy = page.locator(".thread .msg", has_text="said while nothing was recording").first
    await copy.wait_for(timeout=15000)
    assert "left out" in await copy.inner_text()
    async with page.context.expect_page() as opened:
        await copy.locator(".file a").click()
    text = await (await opened.value).locator("body").inner_text()
    assert "budget approved" in text and "launch on tuesday" in text and "salaries" not in text
    await send(page, "/rec find budget")
    await page.locator("#ephemeral", has_text="budget approved").wait_for(timeout=10000)
    await send(page, "/rec find salaries")
    await page.locator("#ephemeral", has_text="Nothing recorded in this channel's meetings matches").wait_for(
        timeout=10000)
    assert "salaries" not in await page.locator("#messages").inner_text()
    await page.screenshot(path=str(ARTIFACTS / "off-the-record.png"))


async def test_add_to_slack_for_a_second_workspace_from_the_demo_page(page):
    """The Beta workspace: "Add to Slack" on the page, Slack's page, back to recbot's; then bea in #beta."""
    add = page.locator("#workspaces a", has_text="Add to Slack")
    assert await add.count() == 1  # Demo and Other are installed at start; Beta is not
    async with page.context.expect_page() as opened:
        await add.click()
    install = await opened.value
    await install.wait_for_load_state()
    await install.locator("a[href*='oauth/v2/authorize']").click()
    await install.get_by_text("Allow in Beta").click()
    await install.get_by_text("recbot is installed in Beta").wait_for(timeout=10000)
    await install.screenshot(path=str(ARTIFACTS / "6-installed.png"))
    await install.close()
    await add.wait_for(state="detached", timeout=10000)  # the page now shows Beta installed
    await page.select_option("#user", "U0BEA")
    await page.locator("#tab-channel", has_text="# beta").wait_for()
    await send(page, '/rec new "Beta sync"')
    await page.get_by_text("Created and linked this channel to").last.wait_for(timeout=10000)
    await page.fill("#join-name", "Dana")
    await page.press("#join-name", "Enter")
    await page.locator("#meeting", has_text="Dana").wait_for(timeout=15000)
    await send(page, "/rec start")
    await page.locator("#messages .block-header", has_text="Beta sync").wait_for(timeout=15000)
    await page.screenshot(path=str(ARTIFACTS / "second-workspace.png"))
    posts = [c for c in page.stack.slack.calls if c["method"] == "chat.postMessage" and c["ok"]
             and c["args"].get("channel") == "C0BETA"]
    assert posts and {c["team"] for c in posts} == {"T0BETA"}  # Beta's own token
    assert not [m for m in page.stack.slack.channel("C0DEMO") if m.team == "T0BETA"]  # nothing of Beta's in #demo


@pytest.mark.parametrize(("width", "height"), [(1280, 800), (1920, 1080)])
async def test_the_first_hour_at_a_laptops_size_and_a_desktops(page, width, height):
    """What a newcomer sees: one header line, a page the window's height, the hint clear of the sidebar, none
    of the demo's own set-up messages, /rec help whole from its top; then, everyone gone, the panel says what
    it waits for, the finished card's thread opens by itself and follows its new replies, in time order, and
    the players know the file's length."""
    await page.set_viewport_size({"width": width, "height": height})
    await page.wait_for_timeout(600)
    layout = await page.evaluate("""() => {
        const box = (el) => el.getBoundingClientRect(), header = document.querySelector("header");
        const hint = document.createRange(); hint.selectNodeContents(document.getElementById("hint"));
        return {pageHeight: document.documentElement.scrollHeight, pageWidth: document.documentElement.scrollWidth,
                header: box(header).height, wrapped: [...header.children].filter((e) => box(e).height > 30).length,
                hintLeft: hint.getBoundingClientRect().left, navRight: box(document.querySelector("nav")).right};
    }""")
    assert layout["pageHeight"] <= height and layout["pageWidth"] <= width, layout  # nothing below or beside
    assert layout["header"] < 50 and layout["wrapped"] == 0, layout  # one line
    assert layout["hintLeft"] >= layout["navRight"] + 8, layout
    assert await page.locator("#ephemeral .msg, #ephemeral .folded").count() == 0  # the demo's own set-up: gone
    favicon = await page.request.get(page.url + "favicon.ico")
    assert favicon.ok and favicon.headers["content-type"].startswith("image/")

    await send(page, "/rec help")
    helped = page.locator("#ephemeral .ephemeral", has_text="/rec commands")
    await helped.wait_for(timeout=10000)
    await page.wait_for_timeout(300)
    top, box = await helped.evaluate("e => [e.getBoundingClientRect().top, "
                                     "e.parentElement.getBoundingClientRect().top]")
    assert top >= box, "the top of /rec help is cut off"
    await page.screenshot(path=str(ARTIFACTS / f"help-{width}x{height}.png"))

    await send(page, "/rec start")
    await page.locator("#messages .actions button", has_text="Mark").wait_for(timeout=15000)
    assert await page.locator("#ephemeral .folded", has_text="1 earlier message").count() == 1  # help, folded
    await page.wait_for_timeout(1200)
    await send(page, "/rec stop")
    await page.locator("#messages .block-header", has_text="Uploaded").wait_for(timeout=20000)
    await everyone_leaves(page, session_end=4, notes_delay=0.5)
    await page.locator("#session", has_text="transcript and summary expected in about").wait_for(timeout=15000)
    await page.locator("#session", has_text="the session ended").wait_for(timeout=10000)
    summary = page.locator(".thread .msg", has_text="The summary of #1")  # never a click on "replies"
    await summary.wait_for(timeout=15000)
    await page.wait_for_timeout(800)
    seen = await summary.evaluate("""e => { const m = document.getElementById("messages").getBoundingClientRect(),
        r = e.getBoundingClientRect(); return r.top < m.bottom && r.bottom > m.top; }""")
    assert seen, "the thread's newest reply is out of view"
    order = await page.evaluate("[...document.querySelectorAll('#messages > .msg')].map((e) => Number(e.dataset.ts))")
    assert order == sorted(order) and len(order) >= 2  # the "also sent to the channel" one at its place
    lengths = await page.evaluate("""() => Promise.all([...document.querySelectorAll("audio")].map((a) =>
        a.readyState >= 1 ? a.duration : new Promise((ok) => a.addEventListener("loadedmetadata",
                                                                               () => ok(a.duration)))))""")
    assert len(lengths) >= 2 and all(n > 1 for n in lengths), lengths
    await page.screenshot(path=str(ARTIFACTS / f"workbench-{width}x{height}.png"))
