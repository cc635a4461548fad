"""Run an ASGI app on a real loopback port inside the current event loop (tests, demo, benches)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import Literal

import uvicorn

from bot.errors import RecbotError


class _QuietServer(uvicorn.Server):
    """Leaves signals to whoever owns the process: several servers share one loop here."""

    @contextlib.contextmanager
    def capture_signals(self):
        yield


class BackgroundServer:
    def __init__(self, app, host: str = "127.0.0.1", port: int = 0, *, lifespan: Literal["auto", "on", "off"] = "on"):
        self.app, self.host = app, host
        self.port = port or _free_port(host)
        self.config = uvicorn.Config(app, host=host, port=self.port, log_level="warning", lifespan=lifespan,
                                     access_log=False)
        self.server: _QuietServer | None = None
        self.task: asyncio.Task | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> BackgroundServer:
        self.server = _QuietServer(self.config)  # a stopped server cannot be started again: a new one each time
        self.task = asyncio.create_task(self.server.serve())
        while not self.server.started:
            if self.task.done():
                await self.task
                raise RuntimeError(f"server on {self.url} did not start")
            await asyncio.sleep(0.01)
        return self

    async def stop(self) -> None:
        if self.server is not None:
            self.server.should_exit = True
        if self.task:
            await self.task
            self.task = None

    async def __aenter__(self) -> BackgroundServer:
        return await self.start()

    async def __aexit__(self, *exc) -> None:
        await self.stop()


class PortBusy(RecbotError):
    """A port recbot was told to listen on is taken; the message says which and how to choose another."""


def claim_port(host: str, port: int, how_to_change: str) -> None:
    """Fail early, in one line, when `host:port` cannot be listened on."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
        try:
            s.bind((host, port))
        except OSError as exc:
            raise PortBusy(f"cannot listen on {host}:{port} ({exc.strerror or exc}); {how_to_change}") from None


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]
