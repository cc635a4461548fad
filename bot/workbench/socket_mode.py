"""Slack's side of Socket Mode, for the workbench and the tests.

`apps.connections.open` (with the app-level `xapp-` token) hands out a one-use WebSocket URL; the
socket says `hello`, then carries envelopes (`slash_commands`, `interactive`, `events_api`), each
with an `envelope_id` that the app acks, optionally with a payload (a command's reply). As Slack
does, an envelope not acked within `ack_timeout` is sent again (`retry_attempt`, `retry_reason`),
an envelope sent while no socket is open waits for the next one, `disconnect` asks the app to
reconnect (`refresh_requested`, `warning`) before the old socket closes, and `drop` loses the
connection without a word.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

APP_ID = "A0REC"


@dataclass
class Envelope:
    id: str
    type: str
    payload: dict[str, Any]
    attempts: int = 0
    acked: asyncio.Future = field(default_factory=lambda: asyncio.get_running_loop().create_future())

    def message(self) -> str:
        body: dict[str, Any] = {"envelope_id": self.id, "type": self.type, "payload": self.payload,
                                "accepts_response_payload": self.type == "slash_commands"}
        if self.type == "events_api":
            body |= {"retry_attempt": self.attempts - 1, "retry_reason": "timeout" if self.attempts > 1 else ""}
        elif self.attempts > 1:
            body |= {"retry_attempt": self.attempts - 1, "retry_reason": "timeout"}
        return json.dumps(body)


class SocketHub:
    def __init__(self, app_token: str = "xapp-1-A0REC-workbench", *, ack_timeout: float = 3.0, retries: int = 3,
                 close_after_disconnect: float = 0.5):
        self.app_token = app_token
        self.ack_timeout, self.retries, self.close_after_disconnect = ack_timeout, retries, close_after_disconnect
        self.tickets: set[str] = set()
        self.sockets: dict[str, WebSocket] = {}  # open connections, newest last
        self.waiting: list[Envelope] = []  # sent while no socket was open
        self.envelopes: dict[str, Envelope] = {}
        self.deliveries: list[dict[str, Any]] = []  # every envelope sent, with its attempt
        self.opened = 0  # connections opened so far
        self.ignore_acks = 0  # faults: this many acks are lost on the way, so the envelope is sent again
        self._ids = itertools.count(1)
        self.connected = asyncio.Event()

    # -- apps.connections.open and the socket ---------------------------------------------

    def open(self, token: str, base_url: str) -> dict[str, Any]:
        if token.startswith(("xoxb-", "xoxp-", "xoxe.")):  # bot and user tokens, rotating or not
            return {"ok": False, "error": "not_allowed_token_type"}
        if token != self.app_token:
            return {"ok": False, "error": "invalid_auth"}
        ticket = secrets.token_urlsafe(12)
        self.tickets.add(ticket)
        ws = base_url.replace("http://", "ws://", 1).replace("https://", "wss://", 1).rstrip("/")
        return {"ok": True, "url": f"{ws}/socket/{ticket}"}

    def hello(self) -> dict[str, Any]:
        return {"type": "hello", "num_connections": len(self.sockets),
                "debug_info": {"host": "workbench", "build_number": 1, "approximate_connection_time": 18060},
                "connection_info": {"app_id": APP_ID}}

    def goodbye(self, reason: str) -> dict[str, Any]:
        return {"type": "disconnect", "reason": reason, "num_connections": len(self.sockets),
                "debug_info": {"host": "workbench"}, "connection_info": {"app_id": APP_ID}}

    async def endpoint(self, websocket: WebSocket) -> None:
        ticket = websocket.path_params["ticket"]
        if ticket not in self.tickets:
            await websocket.close(code=4001)  # an unknown or already used URL
            return
        self.tickets.discard(ticket)
        await websocket.accept()
        self.opened += 1
        self.sockets[ticket] = websocket
        await websocket.send_text(json.dumps(self.hello()))
        self.connected.set()
        waiting, self.waiting = self.waiting, []
        for envelope in waiting:
            await self._send(envelope)
        try:
            while True:
                self._on_ack(await websocket.receive_text())
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            self.sockets.pop(ticket, None)
            if not self.sockets:
                self.connected.clear()

    def _on_ack(self, text: str) -> None:
        try:
            ack = json.loads(text)
        except ValueError:
            return
        envelope = self.envelopes.get(str(ack.get("envelope_id")))
        if envelope is None or envelope.acked.done():
            return
        if self.ignore_acks > 0:
            self.ignore_acks -= 1
            return
        envelope.acked.set_result(ack.get("payload"))

    # -- what Slack sends -------------------------------------------------------------------

    async def send(self, kind: str, payload: dict[str, Any], timeout: float = 15.0) -> dict[str, Any] | None:
        """Send one envelope and wait for its ack; returns the ack's payload (None for a bare ack)."""
        envelope = Envelope(f"env-{next(self._ids)}-{secrets.token_hex(4)}", kind, payload)
        self.envelopes[envelope.id] = envelope
        deadline = time.monotonic() + timeout
        while True:
            if envelope not in self.waiting:  # one waiting for a socket goes out when one opens
                await self._send(envelope)
            try:
                return await asyncio.wait_for(asyncio.shield(envelope.acked),
                                              min(self.ack_timeout, max(0.0, deadline - time.monotonic())))
            except TimeoutError:
                if envelope.attempts > self.retries or time.monotonic() >= deadline:
                    raise TimeoutError(f"envelope {envelope.id} ({kind}) was never acked") from None

    async def _send(self, envelope: Envelope) -> None:
        socket = next(reversed(self.sockets.values()), None)
        if socket is None:
            self.waiting.append(envelope)
            return
        envelope.attempts += 1
        self.deliveries.append({"envelope_id": envelope.id, "type": envelope.type, "attempt": envelope.attempts,
                                "at": time.time()})
        try:
            await socket.send_text(envelope.message())
        except Exception:  # the socket went away under us: the next one gets it
            envelope.attempts -= 1
            self.waiting.append(envelope)

    async def disconnect(self, reason: str = "refresh_requested") -> None:
        """Ask every open socket to reconnect, then close them after a moment, as Slack does."""
        old = list(self.sockets.items())
        for _, socket in old:
            with contextlib.suppress(Exception):
                await socket.send_text(json.dumps(self.goodbye(reason)))
        await asyncio.sleep(self.close_after_disconnect)
        for ticket, socket in old:
            self.sockets.pop(ticket, None)
            with contextlib.suppress(Exception):
                await socket.close(code=1001)

    async def drop(self) -> None:
        """The connection is lost: no disconnect message, the socket simply closes."""
        old = list(self.sockets.items())
        self.sockets.clear()
        self.connected.clear()
        for _, socket in old:
            with contextlib.suppress(Exception):
                await socket.close(code=1011)
