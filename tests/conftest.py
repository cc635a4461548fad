"""Shared fixtures: the emulator on a real loopback port, with zero delays unless a test sets them."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.asgi_server import BackgroundServer
from bot.emulator.app import Credentials, Emulator
from bot.emulator.state import Timing
from bot.platform.client import PlatformClient

SHARED = Path(__file__).resolve().parents[2] / "shared"
SPECS = SHARED / "specs"


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
