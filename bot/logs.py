"""recbot's log lines: text (the default), or one JSON object a line (REC_LOG_FORMAT=json) for a log stack to
index, with what is known of the work under way: the workspace, channel, recording and request.

That context travels in a ContextVar: set where a request comes in (the Slack middleware, the webhook door),
where a recording is acted on (`Actions.serial`) and where an outbox row is sent. asyncio copies the context
into each task it starts, so a reply sent after the ack still carries its request's fields, and a field set
in one task never leaks into another.

Secrets never reach a line: the scrubber of `bot.logging_filter` cleans every record's message and traceback
where the record is made, before any formatter sees it; the context holds ids only.
"""

from __future__ import annotations

import itertools
import json
import logging
import secrets
from contextvars import ContextVar, Token
from datetime import UTC, datetime

TEXT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

_PREFIX = secrets.token_hex(3)
_numbers = itertools.count(1)
_context: ContextVar[dict[str, str]] = ContextVar("log_context", default={})  # noqa: B039  (never mutated)


def bind(**fields: str | None) -> Token:
    """Add fields (the ones given and not None) to the context of the work under way; returns the token
    that `unbind` takes to put the context back."""
    return _context.set(_context.get() | {k: v for k, v in fields.items() if v})


def unbind(token: Token) -> None:
    _context.reset(token)


def request_id() -> str:
    """A short id for a request that has none of its own (Slack sends none with a command): this process's
    start and a count, unique across replicas in practice and cheaper than random bytes on every request."""
    return f"{_PREFIX}-{next(_numbers):x}"


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (UTC, ISO 8601), level, logger, message, the context's fields, and the
    traceback (already scrubbed) when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        line = {"time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
                "level": record.levelname, "logger": record.name, "message": record.getMessage()}
        line |= _context.get()
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exception"] = record.exc_text
        return json.dumps(line, ensure_ascii=False, default=str)


def configure(log_format: str | None) -> None:
    """The root logger's one handler, on standard error, in `text` or `json` (anything else: text; the
    setting itself is checked with the others, by `bot.config`)."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if (log_format or "").strip().lower() == "json" else logging.Formatter(TEXT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
