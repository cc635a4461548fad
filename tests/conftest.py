"""Shared fixtures: the emulator on a real loopback port, with zero delays unless a test sets them."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import socket
import subprocess
import sys
import time
import traceback
from pathlib import Path

import pytest

from bot.asgi_server import BackgroundServer
from bot.emulator.app import Credentials, Emulator
from bot.emulator.state import Timing
from bot.platform.client import PlatformClient
from tests.pg import CLUSTER

SHARED = Path(__file__).resolve().parents[2] / "shared"
SPECS = SHARED / "specs"

# -- both engines: these run on SQLite and on a throwaway PostgreSQL cluster (tests/pg.py) ------------
ON_BOTH = ("tests/store/", "tests/e2e/", "tests/many/", "tests/test_service.py", "tests/test_decisions.py")
ENGINE = {"name": "sqlite"}


def pytest_generate_tests(metafunc):
    path = str(Path(metafunc.definition.fspath).relative_to(Path(__file__).resolve().parents[1]))
    if path.startswith(ON_BOTH):
        if "engine" not in metafunc.fixturenames:
            metafunc.fixturenames.insert(0, "engine")  # first, so that every fixture builds on its engine
        only = metafunc.definition.get_closest_marker("engines")  # a race that one engine cannot have
        metafunc.parametrize("engine", list(only.args) if only else ["sqlite", "postgres"], indirect=True)


@pytest.fixture
def engine(request):
    """The engine of this test's store; fixtures that build a store depend on it."""
    name = getattr(request, "param", "sqlite")
    if name == "postgres":
        request.getfixturevalue("postgres")
    ENGINE["name"] = name
    yield name
    ENGINE["name"] = "sqlite"


@pytest.fixture
def postgres():
    """The throwaway cluster. Without Debian's `postgresql` on the machine (a developer's, say) the
    PostgreSQL half is skipped, saying so; `.ci/run` installs it. Installed but failing to start is a
    failure, never a skip."""
    if not CLUSTER.available:
        pytest.skip("PostgreSQL is not installed here (apt-get install postgresql; .ci/run installs it)")
    try:
        CLUSTER.start()
    except RuntimeError as exc:
        pytest.fail(str(exc))
    return CLUSTER


def database(tmp_path, name: str = "recbot.sqlite3") -> str:
    """Where a test's store lives: a SQLite file in its folder, or a fresh PostgreSQL database."""
    return CLUSTER.new_database() if ENGINE["name"] == "postgres" else str(tmp_path / name)


def pytest_sessionfinish(session, exitstatus):
    CLUSTER.stop()


# -- a test run leaves the checkout as it found it (tests/test_checkout.py) ----------------------------
ROOT = Path(__file__).resolve().parents[1]
TOOL_CACHES = {".venv", ".pytest_cache", ".ruff_cache", ".mypy_cache", ".hypothesis", "__pycache__"}


def checkout_state() -> dict[str, tuple] | None:
    """What `git status` shows, ignored files included, with each file's size and time; None outside git."""
    import subprocess

    try:
        out = subprocess.run(["git", "status", "--porcelain=v1", "-z", "--ignored", "--untracked-files=normal"],
                             cwd=ROOT, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    state = {}
    for entry in filter(None, out.stdout.split("\0")):
        code, path = entry[:2], entry[3:]
        parts = Path(path).parts
        if TOOL_CACHES & set(parts) or parts[0].endswith(".egg-info"):
            continue
        try:
            st = (ROOT / path).stat()
            state[path] = (code, st.st_mtime_ns, st.st_size)
        except OSError:
            state[path] = (code,)
    return state


def pytest_sessionstart(session):
    session.config.started = time.time()
    session.config.checkout_at_start = checkout_state()


def pytest_collection_modifyitems(session, config, items):
    """Marks the browser and PostgreSQL tests (`-m "not browser and not postgres"` leaves them out); the
    checkout's check runs last, so that it sees what every other test did."""
    for item in items:
        if item.nodeid.startswith("tests/browser/"):
            item.add_marker(pytest.mark.browser)
        params = getattr(item, "callspec", None) and item.callspec.params
        if "postgres" in item.fixturenames or (params and params.get("engine") == "postgres"):
            item.add_marker(pytest.mark.postgres)
    last = [item for item in items if item.nodeid.startswith("tests/test_checkout.py")]
    items[:] = [item for item in items if item not in last] + last


TESTS = str(Path(__file__).resolve().parent)
APP = str(Path(__file__).resolve().parents[1] / "bot")
STORE = str(Path(APP) / "store")
ASYNC = inspect.CO_COROUTINE | inspect.CO_ASYNC_GENERATOR


@pytest.fixture(autouse=True)
def loop_never_waits_for_the_store():
    """Fails a test in which the app's async code ran a statement on the event loop's thread (the loop
    would wait for the database) instead of on the store's. Tests themselves may look in the store, or
    call the app's plain functions, from the loop."""
    from bot.store import engine as store_engine

    seen: list[str] = []

    def watch() -> None:
        if asyncio._get_running_loop() is None:
            return
        frame = sys._getframe(1)
        while frame is not None:
            where, code = frame.f_code.co_filename, frame.f_code
            if where.startswith(TESTS):
                return  # a test called it (directly, or through the app's plain functions)
            if where.startswith(APP) and not where.startswith(STORE) and code.co_flags & ASYNC:
                break  # the app's async code reached the store without leaving the loop's thread
            frame = frame.f_back
        if len(seen) < 3:
            seen.append("".join(traceback.format_stack(limit=14)[:-1]))

    store_engine.watch = watch
    yield
    store_engine.watch = None
    if seen:
        pytest.fail("the event loop waited for the store:\n" + "\n".join(seen), pytrace=False)


def gone_owner() -> str:
    """A lease's owner that was a process of this host and is gone (one killed before its restart)."""
    killed = subprocess.Popen([sys.executable, "-c", "pass"])
    killed.wait()
    return f"{socket.gethostname()}:{killed.pid}:0"


def shared_spec(name: str) -> Path:
    """A file of ../shared/specs/, or a skip that says why when the folder is absent."""
    path = SPECS / name
    if not path.exists():
        pytest.skip(f"{path} is absent: the shared specs live beside the project, not in it")
    return path


@pytest.fixture
async def emulator():
    emu = Emulator(timing=Timing(start_delay=0, upload_delay=0, empty_stop=60, session_end=60))
    server = BackgroundServer(emu.app)
    emu.platform.public_url = server.url
    async with server:
        emu.url = server.url
        yield emu


@contextlib.contextmanager
def served(app, lifespan: str = "on"):
    """For a plain (not async) test: the app on a loopback port, in a thread with its own event loop, and an
    httpx.Client on it: real HTTP into the real app, as Slack and the platform send it."""
    import threading

    import httpx

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="served", daemon=True)
    thread.start()
    server = BackgroundServer(app, lifespan=lifespan)
    try:
        asyncio.run_coroutine_threadsafe(server.start(), loop).result(30)
        with httpx.Client(base_url=server.url, timeout=30) as client:
            yield client
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()


def client_for(emu: Emulator, flavour: str, **kwargs) -> PlatformClient:
    c: Credentials = emu.creds
    if flavour == "dyte":
        return PlatformClient("dyte", f"{emu.url}/v2", org_id=c.org_id, api_key=c.api_key, **kwargs)
    return PlatformClient("realtimekit", f"{emu.url}/client/v4/accounts/{c.account_id}/realtime/kit/{c.app_id}",
                          token=c.token, **kwargs)


@pytest.fixture(params=["dyte", "realtimekit"])
async def platform(request, emulator):
    client = client_for(emulator, request.param, timeout=2.0)
    yield client
    await client.aclose()


# -- the whole stack: emulator, fake Slack, and the real bot on loopback ------------------------

ALICE, BOB, ADMIN, EVE = "U0ALICE", "U0BOB", "U0ADMIN", "U0EVE"  # EVE is from another workspace
CHANNEL = "C0DEMO"


async def until(predicate, timeout: float = 5.0, message: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {message}")
        await asyncio.sleep(0.02)


def make_stack(tmp_path, **kwargs):
    from bot.workbench.stack import Stack

    stack = Stack(database(tmp_path), **kwargs)
    stack.slack.add_user(ALICE, "alice")
    stack.slack.add_user(BOB, "bob")
    stack.slack.add_user(ADMIN, "admin", admin=True)
    stack.slack.add_user(EVE, "eve", team_id="T0OTHER")
    return stack


@pytest.fixture
async def stack(tmp_path, engine):
    async with make_stack(tmp_path) as s:
        yield s


@pytest.fixture
async def linked(stack):
    """A channel linked by Alice to a meeting that Ann and Ben have joined."""
    meeting = await stack.new_meeting("Weekly sync")
    await stack.join(meeting, "Ann")
    await stack.join(meeting, "Ben")
    response = await stack.command(ALICE, f"link {meeting}")
    assert response.status_code == 200
    await until(lambda: stack.runtime.store.link(CHANNEL), message="the link")
    await until(lambda: stack.slack.ephemeral_for(ALICE), message="the link's reply")  # so no test reads it as its own
    stack.meeting_id = meeting
    return stack


@contextlib.asynccontextmanager
async def linked_stack(tmp_path, **kwargs):
    """A stack built with `kwargs`, its channel linked by Alice to a meeting Ann has joined."""
    async with make_stack(tmp_path, **kwargs) as stack:
        meeting = await stack.new_meeting("m")
        await stack.join(meeting, "Ann")
        await stack.command(ALICE, f"link {meeting}")
        await until(lambda: stack.runtime.store.link(CHANNEL), message="the link")
        await until(lambda: stack.slack.ephemeral_for(ALICE), message="the link's reply")
        stack.meeting_id = meeting
        yield stack


def pytest_terminal_summary(terminalreporter):
    """One line at the end of the run when the spec-conformance tests could not run; one saying where the
    browser tests' screenshots are."""
    shots, started = sys.modules.get("tests.browser.shots"), terminalreporter.config.started
    if shots and any(p.stat().st_mtime >= started for p in shots.SCREENSHOTS.glob("*.png")):
        terminalreporter.write_line(f"screenshots: {shots.SCREENSHOTS} (python -m tests.browser.refresh_docs "
                                    f"copies them into docs/)")
    if not SPECS.exists():
        terminalreporter.write_line(
            f"note: the spec tests were skipped: put the Dyte v2 OpenAPI spec and Slack's manifest schemas in "
            f"{SPECS} (the project's shared/specs folder beside the clone) to run them")
