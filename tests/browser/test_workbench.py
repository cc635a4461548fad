"""The demo in a real browser: Playwright driving Debian's Chromium (never a downloaded browser)."""

import io
import shutil
import wave
from pathlib import Path

import pytest

from bot.workbench.demo import start_demo

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
DOCS = Path(__file__).resolve().parents[2] / "docs"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it "
                                                          "with apt-get install chromium)")


@pytest.fixture
async def page(tmp_path):
    from playwright.async_api import async_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    stack, workbench, url = await start_demo("127.0.0.1", 0 or _port(), str(tmp_path / "demo.sqlite3"))
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
    toggle = page.locator(".thread-toggle").first
    await toggle.click()
    link = page.locator(".thread a", has_text="Download the recording")
    await link.wait_for(timeout=10000)
    await page.locator(".thread", has_text="Recorded").first.wait_for()
    await page.evaluate("document.getElementById('messages').scrollTop = 1e9")
    await page.screenshot(path=str(ARTIFACTS / "2-uploaded.png"))
    DOCS.mkdir(exist_ok=True)
    shutil.copy(ARTIFACTS / "2-uploaded.png", DOCS / "workbench.png")
    href = await link.get_attribute("href")
    response = await page.request.get(href)
    assert response.ok
    with wave.open(io.BytesIO(await response.body())) as wav:
        assert wav.getnframes() / wav.getframerate() > 1.0
    assert await page.locator("#messages audio").count() >= 1


async def test_a_non_controller_is_refused(page):
    await send(page, "/rec start")
    await page.locator("#messages .actions button", has_text="Stop").wait_for(timeout=15000)
    await page.select_option("#user", "U0BOB")
    await send(page, "/rec stop")
    refusal = page.locator("#ephemeral", has_text="Only this channel's controllers")
    await refusal.wait_for(timeout=10000)
    await page.locator("#messages .actions button", has_text="Stop").first.click()
    await page.wait_for_timeout(1000)
    await page.screenshot(path=str(ARTIFACTS / "3-refused.png"))
    assert await page.locator("#ephemeral .ephemeral", has_text="Only this channel's controllers").count() >= 2
    statuses = [r.status.value for r in page.stack.emulator.platform.recordings.values()]
    assert "UPLOADING" not in statuses and "UPLOADED" not in statuses
