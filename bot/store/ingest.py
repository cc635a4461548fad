"""Webhook deliveries verified and written durably in a process of their own.

The web process reads a delivery's body and hands it, with its signature headers and the key to check
them with, to the ingest process over a pipe. That process verifies the signature (RSA), checks that the
body names an event, writes every delivery that is waiting in one transaction, commits once (fsynced:
`synchronous = FULL`), and only then answers each of them. While it commits, new deliveries queue in
the pipe and go in the next group, so under load one fsync serves many deliveries, and at low load a
delivery waits for nothing but its own commit.

Why a process and not a thread: RSA verification and every call into the database let go of the GIL,
and winning it back from a busy event loop takes up to the interpreter's switch interval (5 ms). Under
wrk, a verification that costs 31 µs alone took milliseconds, and a group's look-ups 4.2 ms against
0.2 ms alone. In its own process neither waits for the other, and the web process keeps a core for HTTP.

If the ingest process dies, what it was asked and had not answered is answered StoreBusy (the route
says 503, the platform retries, and a delivery stored after all is recognised by its id); the next
delivery starts it again. It exits when its pipe closes, so it never outlives the web process by more
than the group it is writing.
"""

from __future__ import annotations

import asyncio
import logging
import os
import pickle
import signal
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, cast

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from bot import logs, metrics
from bot.platform.webhooks import FLAVOUR_PREFIX, SignatureError, WebhookParseError
from bot.store.engine import StoreBusy

if TYPE_CHECKING:
    from bot.store.deliveries import DeliveryQueue

log = logging.getLogger(__name__)

_LENGTH = struct.Struct("<I")
DELIVERY_HEADERS = {f"{prefix}-{name}".encode() for prefix in FLAVOUR_PREFIX.values()
            for name in ("signature", "uuid", "webhook-id")}  # all that verification and storage read
_ERRORS = {"signature": SignatureError, "parse": WebhookParseError, "busy": StoreBusy}
_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # where `bot` is importable
RESTART_AFTER = 1.0  # seconds: a process that exited is not started again sooner (a database that cannot open)


def _frame(message: object) -> bytes:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return _LENGTH.pack(len(data)) + data


def _frames(buffer: bytearray) -> list[Any]:
    """Take every whole frame off the front of `buffer`."""
    messages, start = [], 0
    while len(buffer) - start >= 4:
        (size,) = _LENGTH.unpack_from(buffer, start)
        if len(buffer) - start - 4 < size:
            break
        messages.append(pickle.loads(buffer[start + 4:start + 4 + size]))
        start += 4 + size
    del buffer[:start]
    return messages


# -- the web process's side ----------------------------------------------------------------


class IngestWriter:
    """Stores verified deliveries through the ingest process, started at start (or by the first delivery
    after it exited)."""

    def __init__(self, database: str):
        self.database = database
        self._child: _Child | None = None
        self._starting: asyncio.Future[_Child] | None = None
        self._exited_at = -RESTART_AFTER
        self._closed = False

    async def start(self) -> None:
        """Start the ingest process ahead of the first delivery, which would otherwise wait for it."""
        try:
            await self._start()
        except StoreBusy as exc:
            log.error("%s", exc)

    async def add(self, key: RSAPublicKey, headers: Mapping[str, str], body: bytes, *, account: str = "",
                  received_at: float) -> str:
        """Verify one delivery with `key` and store it durably; returns the event it names. Raises
        SignatureError, WebhookParseError or StoreBusy."""
        if self._closed:
            raise StoreBusy("recbot is stopping")
        child = self._child if self._child is not None and self._child.alive else await self._start()
        return await child.submit(key, dict(headers), body, account, received_at)

    async def _start(self) -> _Child:
        if self._starting is None:  # the requests that arrive meanwhile wait for the same start
            self._starting = asyncio.ensure_future(self._spawn())
        try:
            return await asyncio.shield(self._starting)
        finally:
            if self._starting is not None and self._starting.done():
                self._starting = None

    async def _spawn(self) -> _Child:
        if time.monotonic() - self._exited_at < RESTART_AFTER:
            raise StoreBusy("the webhook ingest process exited a moment ago")
        loop = asyncio.get_running_loop()
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [_ROOT, os.environ.get("PYTHONPATH")]))}
        try:
            _, child = await loop.subprocess_exec(
                lambda: _Child(loop, on_exit=self._exited), sys.executable, "-m", "bot.store.ingest",
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=None, env=env,
                start_new_session=True)  # a Ctrl-C in a terminal is for the web process, which then closes the pipe
        except OSError as exc:
            self._exited_at = time.monotonic()
            raise StoreBusy(f"cannot start the webhook ingest process: {exc}") from exc
        try:
            await child.open(self.database)
        except StoreBusy:
            await child.close()
            raise
        self._child = child
        return child

    def _exited(self, child: _Child) -> None:
        self._exited_at = time.monotonic()
        if self._child is child:
            self._child = None

    async def aclose(self) -> None:
        """Let the ingest process finish what it was given, then wait for it to exit."""
        self._closed = True
        if self._starting is not None:  # a start under way finishes first, so that what it starts is closed
            await asyncio.gather(self._starting, return_exceptions=True)
        child, self._child = self._child, None
        if child is not None:
            await child.close()


class _Child(asyncio.SubprocessProtocol):
    """The pipe to one ingest process: requests out in frames, answers matched back by number."""

    def __init__(self, loop: asyncio.AbstractEventLoop, *, on_exit: Callable[[_Child], None]):
        self.loop, self.on_exit = loop, on_exit
        self.transport: asyncio.SubprocessTransport | None = None
        self._stdin: asyncio.WriteTransport | None = None
        self.alive = True
        self._pending: dict[int, asyncio.Future[str]] = {}
        self._numbers = iter(range(1, 1 << 62))
        self._keys: dict[int, tuple[RSAPublicKey, int]] = {}  # by id(key); held, so the id is not reused
        self._in = bytearray()
        self._exited = loop.create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.SubprocessTransport, transport)
        self._stdin = cast(asyncio.WriteTransport, self.transport.get_pipe_transport(0))

    def send(self, message: object) -> None:
        """Write a frame at once. Held to the end of the loop's turn (one write for all), a delivery waited
        for the rest of the turn's work, a few ms under load, while the ingest process sat idle: ingest rose
        from 52-59% to 59-62% of bare Starlette without the wait."""
        if self.alive and self._stdin is not None:
            self._stdin.write(_frame(message))

    async def open(self, database: str) -> None:
        """Have it open the database (the path travels over the pipe: a PostgreSQL URL may hold a password),
        and wait until it has: a delivery that comes after waits for no imports and no connection."""
        opened = self._pending[0] = self.loop.create_future()
        self.send(("config", database))
        await opened

    async def submit(self, key: RSAPublicKey, headers: dict[str, str], body: bytes, account: str,
                     received_at: float) -> str:
        if not self.alive:
            raise StoreBusy("the webhook ingest process exited")
        known = self._keys.get(id(key))
        if known is None or known[0] is not key:
            known = self._keys[id(key)] = (key, len(self._keys) + 1)
            der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
            self.send(("key", known[1], der))
        number = next(self._numbers)
        done: asyncio.Future[str] = self.loop.create_future()
        self._pending[number] = done
        self.send(("add", number, known[1], headers, body, account, received_at))
        try:
            return await done
        finally:
            self._pending.pop(number, None)

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        self._in += data
        for answers in _frames(self._in):
            for number, kind, value in answers:
                done = self._pending.pop(number, None)
                if done is None or done.done():  # the request went away meanwhile
                    continue
                if kind == "ok":
                    done.set_result(value)
                else:
                    done.set_exception(_ERRORS[kind](value))

    def process_exited(self) -> None:
        self.alive = False
        code = self.transport.get_returncode() if self.transport else None
        if code:
            log.error("the webhook ingest process exited with %s; it starts again with the next delivery", code)
        if self.transport is not None:
            metrics.process_exited(self.transport.get_pid())
        for done in self._pending.values():
            if not done.done():
                done.set_exception(StoreBusy("the webhook ingest process exited"))
        self._pending.clear()
        self.on_exit(self)
        if not self._exited.done():
            self._exited.set_result(code)

    async def close(self, timeout: float = 10.0) -> None:
        if self.transport is None:
            return
        pipe = self.transport.get_pipe_transport(0)
        if pipe is not None:
            pipe.close()  # end of input: it writes what it has, answers, and exits
        try:
            await asyncio.wait_for(asyncio.shield(self._exited), timeout)
        except TimeoutError:
            log.warning("the webhook ingest process did not exit in %.0f s; killing it", timeout)
            self.transport.kill()
            await self._exited
        self.transport.close()


# -- the ingest process ----------------------------------------------------------------------


def main() -> None:
    """`python -m bot.store.ingest`: frames in on standard input, answers out on standard output."""
    from urllib.parse import urlsplit

    from cryptography.hazmat.primitives.serialization import load_der_public_key

    from bot.logging_filter import install_secret_filter
    from bot.platform.webhooks import event_name, verify
    from bot.store.databases import open_database
    from bot.store.deliveries import DeliveryQueue

    logs.configure(os.environ.get("REC_LOG_FORMAT"))  # as the web process logs
    for stop in (signal.SIGINT, signal.SIGTERM):  # it stops when its pipe closes, after the group it is writing
        signal.signal(stop, signal.SIG_IGN)
    answers_fd = os.dup(1)
    os.dup2(2, 1)  # a stray print goes to the log, never into the answers
    buffer, keys, deliveries = bytearray(), dict[int, RSAPublicKey](), None
    while chunk := os.read(0, 1 << 20):
        buffer += chunk
        answers, group = [], []
        for message in _frames(buffer):
            if message[0] == "config":
                install_secret_filter([urlsplit(message[1]).password or ""])  # the scrubber, here too
                try:
                    deliveries = DeliveryQueue(open_database(message[1], busy_timeout=5.0, synchronous="FULL"))
                except StoreBusy as exc:
                    _write_all(answers_fd, _frame([(0, "busy", str(exc))]))
                    raise SystemExit(1) from exc
                answers.append((0, "ok", "open"))
                continue
            if message[0] == "key":
                keys[message[1]] = cast(RSAPublicKey, load_der_public_key(message[2]))
                continue
            _, number, key, headers, body, account, received_at = message
            try:
                delivery = verify(headers, body, keys[key])
                event = event_name(body)
            except (SignatureError, WebhookParseError) as exc:
                kind = "signature" if isinstance(exc, SignatureError) else "parse"
                metrics.INGEST.labels(kind).inc()
                answers.append((number, kind, str(exc)))
                continue
            group.append((number, event, {"delivery_id": delivery.delivery_id, "body_hash": delivery.body_hash,
                                   "flavour": delivery.flavour, "webhook_id": delivery.webhook_id, "body": body,
                                   "account": account, "received_at": received_at}))
        if group:
            answers += _store(deliveries, group)
        if answers:
            try:
                _write_all(answers_fd, _frame(answers))
            except BrokenPipeError:  # the web process is gone: what was stored stays stored
                return


def _store(deliveries: DeliveryQueue | None,
           group: list[tuple[int, str, dict[str, Any]]]) -> list[tuple[int, str, str]]:
    """Store a group in one commit; each answer is ok with the delivery's event (the door counts it by
    event), or busy."""
    started = time.perf_counter()
    try:
        if deliveries is None:
            raise StoreBusy("the database was not opened")
        deliveries.add_many([delivery for _, _, delivery in group])
    except StoreBusy as exc:
        log.error("could not store %d webhook deliveries: %s", len(group), exc)
        metrics.INGEST.labels("busy").inc(len(group))
        return [(number, "busy", str(exc)) for number, _, _ in group]
    except Exception as exc:  # never leave a request waiting
        log.exception("storing webhook deliveries failed")
        metrics.INGEST.labels("busy").inc(len(group))
        return [(number, "busy", type(exc).__name__) for number, _, _ in group]
    metrics.INGEST_COMMIT.observe(time.perf_counter() - started)
    metrics.INGEST.labels("stored").inc(len(group))
    return [(number, "ok", event) for number, event, _ in group]


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


if __name__ == "__main__":
    main()
